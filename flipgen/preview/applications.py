"""The preview index's "Latest test applications": what a submission looks like, as stored.

`flipgen serve` keeps applications in a throwaway database (a temporary folder removed when
the preview stops), so a marketer can try a journey and see exactly what the server kept:
status, params and every answer under its field label.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from flipgen.manifest import Manifest
from flipgen.store import Store
from flipgen.store import applications as apps

__all__ = ["latest_applications_html"]

SHOWN = 10


def _labels(manifest: Manifest, site: str) -> dict[str, str]:
    entry = manifest.sites.get(site)
    journey: Mapping[str, Any] = (entry.journey if entry is not None else None) or {}
    return {f["id"]: f.get("label") or f["id"] for s in journey.get("screens", []) for f in s.get("fields") or []}


def _value(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def latest_applications_html(store: Store, manifest: Manifest) -> str:
    """The newest test applications with their answers, as an HTML fragment (all text escaped)."""
    table = apps.applications
    with store.read() as conn:
        rows = conn.execute(select(table).order_by(table.c.created_at.desc(), table.c.id).limit(SHOWN)).all()
    if not rows:
        return (
            "<h2>Latest test applications</h2><p class='fg-note'>None yet. Go through a journey: "
            "each screen's answers appear here as they are saved.</p>"
        )
    items = []
    for row in rows:
        app = apps.Application.from_row(row)
        labels = _labels(manifest, app.site)
        answers = "".join(
            f"<dt>{html.escape(labels.get(k, k))}</dt><dd>{html.escape(_value(v))}</dd>" for k, v in app.answers.items()
        )
        params = ", ".join(f"{k}={v}" for k, v in app.params.items())
        items.append(
            f"<li><p><strong>{html.escape(app.site)}</strong> · {html.escape(app.state())} · "
            f"{app.created_at:%Y-%m-%d %H:%M:%S} UTC"
            + (f" · params {html.escape(params)}" if params else "")
            + f"</p><dl class='fg-answers'>{answers or '<dt>answers</dt><dd>none saved yet</dd>'}</dl></li>"
        )
    return (
        "<h2>Latest test applications</h2><p class='fg-note'>Stored in a throwaway database for this "
        f"preview only (newest first, at most {SHOWN}).</p><ul class='fg-apps'>{''.join(items)}</ul>"
    )
