"""`flipgen serve`: the preview server (SPEC §7).

* :mod:`.builder` renders sites in memory, keeping each site's last good output.
* :mod:`.watcher` turns watchdog events into debounced batches of changed paths.
* :mod:`.app` is the Starlette app: token endpoint, live-reload stream, files from memory.
* :mod:`.session` wires them together; :func:`serve` is the command's body.
"""

from __future__ import annotations

from .app import PreviewApp, inject
from .builder import Builder, Snapshot
from .session import serve

__all__ = ["Builder", "PreviewApp", "Snapshot", "inject", "serve"]
