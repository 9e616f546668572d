"""Exporting applications: CSV for spreadsheets, JSON Lines for programs.

CSV: one row per application, one column per field in screen order, then params, status,
timestamps and counts. Text cells that a spreadsheet would run as a formula (starting with
`=`, `+`, `-`, `@`, tab or CR) get a leading `'`, as OWASP recommends; numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..store.applications import Application
from ..webhooks.status import Verified
from .layout import SiteLayout

__all__ = ["Column", "columns_for", "write_csv", "write_jsonl", "as_record", "cell", "neutralise", "iso"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    id: str
    label: str
    kind: str  # "meta", "answer" or "param"


_HEAD = [Column("id", "Application", "meta"), Column("site", "Site", "meta")]
_TAIL = [
    Column("status", "Status", "meta"),
    Column("locale", "Locale", "meta"),
    Column("created_at", "Created", "meta"),
    Column("updated_at", "Updated", "meta"),
    Column("submitted_at", "Submitted", "meta"),
    Column("completed_at", "Completed", "meta"),
    Column("accounts", "Accounts", "meta"),
    Column("uploads", "Uploads", "meta"),
    Column("smile_user_id", "Smile user", "meta"),
    # What Smile's webhooks verified (flipgen.webhooks.status).
    Column("verified_accounts", "Verified accounts", "verified"),
    Column("data_revoked", "Data revoked", "verified"),
]


def columns_for(apps: Sequence[Application], layouts: dict[str, SiteLayout]) -> list[Column]:
    """Fields of each site present (screen order, sites by slug), answers no site declares, then params."""
    sites = sorted({a.site for a in apps})
    answers: dict[str, str] = {}
    params: list[str] = []
    for slug in sites:
        layout = layouts.get(slug)
        if layout is not None:
            for field_id, label in layout.fields.items():
                answers.setdefault(field_id, label)
            params.extend(p for p in layout.params if p not in params)
    for key in sorted({k for a in apps for k in a.answers} - set(answers)):
        answers[key] = key
    params.extend(sorted({k for a in apps for k in a.params} - set(params)))
    return [
        *_HEAD,
        *(Column(f, label, "answer") for f, label in answers.items()),
        *(Column(p, p, "param") for p in params),
        *_TAIL,
    ]


def iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z") if value is not None else ""


def neutralise(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, list):
        return neutralise("; ".join(cell(v) for v in value))
    if isinstance(value, dict):
        return neutralise(json.dumps(value, ensure_ascii=False))
    return neutralise(str(value))


def _value(app: Application, column: Column, now: datetime, verified: Mapping[str, Verified]) -> Any:
    if column.kind == "verified":
        state = verified.get(app.id, Verified())
        return state.summary() if column.id == "verified_accounts" else state.revoked
    if column.kind == "answer":
        return app.answers.get(column.id)
    if column.kind == "param":
        return app.params.get(column.id)
    if column.id == "status":
        return app.state(now)
    return getattr(app, column.id)


def write_csv(
    out: io.TextIOBase | Any,
    apps: Iterable[Application],
    columns: list[Column],
    *,
    header: str = "both",
    now: datetime,
    verified: Mapping[str, Verified] | None = None,
) -> None:
    """Write CSV to the text stream ``out`` (opened with newline=""); ``header`` is `both` or `ids`."""
    writer = csv.writer(out, lineterminator="\r\n")
    if header == "both":
        writer.writerow([neutralise(c.label) for c in columns])
    writer.writerow([c.id if c.kind != "param" else f"params.{c.id}" for c in columns])
    for app in apps:
        writer.writerow([cell(_value(app, c, now, verified or {})) for c in columns])


def as_record(
    app: Application, columns: list[Column], now: datetime, verified: Mapping[str, Verified] | None = None
) -> dict[str, Any]:
    """The JSON object of one application: answers in screen order, values exactly as stored."""
    order = [c.id for c in columns if c.kind == "answer"]
    answers = {k: app.answers[k] for k in order if k in app.answers}
    answers.update((k, v) for k, v in app.answers.items() if k not in answers)
    return {
        "id": app.id,
        "site": app.site,
        "status": app.state(now),
        "locale": app.locale,
        "answers": answers,
        "params": app.params,
        "created_at": iso(app.created_at),
        "updated_at": iso(app.updated_at),
        "submitted_at": iso(app.submitted_at) or None,
        "completed_at": iso(app.completed_at) or None,
        "accounts": app.accounts,
        "uploads": app.uploads,
        "smile_user_id": app.smile_user_id,
        "verified": (verified or {}).get(app.id, Verified()).as_json(),
    }


def write_jsonl(
    out: io.TextIOBase | Any,
    apps: Iterable[Application],
    columns: list[Column],
    *,
    now: datetime,
    verified: Mapping[str, Verified] | None = None,
) -> None:
    for app in apps:
        out.write(json.dumps(as_record(app, columns, now, verified), ensure_ascii=False) + "\n")
