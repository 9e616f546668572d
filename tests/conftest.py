"""Shared test helpers and fixtures for the whole suite.

Fixtures defined here (`browser`) reach every test by name. The plain helpers are imported:
``from tests.conftest import free_port, wait_for_port, assert_matches``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from flipgen.errors import Diagnostic

pytest_plugins = ["tests.support.db"]

# Headless Chromium in a container: no sandbox (root), no GPU, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any] | None = None, timeout: float = 20.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port`` (fail if ``proc`` exits first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early ({proc.returncode}): {proc.args}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


# Module scope, not session: a live sync Playwright keeps its event loop installed, which would
# break every later test in the run that uses asyncio or starts Playwright itself.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium under Playwright. Fails (never skips) when it cannot run."""
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.fail("Chromium is required for the browser tests: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def source_at(path: Path, line: int, col: int) -> str:
    """The file's text from ``line``:``col`` to the end of that line ("" past the end)."""
    lines = path.read_bytes().decode("utf-8", "replace").split("\n")
    return lines[line - 1][col - 1 :] if line <= len(lines) else ""


def assert_matches(path: Path, diagnostics: list[Diagnostic], expected: list[list[Any]]) -> None:
    """The diagnostics are exactly the expected ones: positions, text there, message, severity.

    Each expected row is ``[line, col, text_at_that_spot, *message_fragments]``, with a last
    fragment ``"warning"`` for a warning.
    """
    want = sorted((row[0], row[1]) for row in expected)
    got = sorted((d.line, d.col) for d in diagnostics)
    assert got == want, "\n".join(str(d) for d in diagnostics)
    unmatched = list(diagnostics)
    for line, col, text, *fragments in expected:
        severity = "warning" if fragments and fragments[-1] == "warning" else "error"
        fragments = [f for f in fragments if f != "warning"]
        assert source_at(path, line, col).startswith(text), (line, col, source_at(path, line, col))
        match = next(
            (
                d
                for d in unmatched
                if (d.line, d.col) == (line, col) and d.severity == severity and all(f in d.message for f in fragments)
            ),
            None,
        )
        assert match is not None, f"{line}:{col} {fragments} not in:\n" + "\n".join(str(d) for d in diagnostics)
        unmatched.remove(match)
    for d in diagnostics:
        assert d.file.endswith(path.name)
