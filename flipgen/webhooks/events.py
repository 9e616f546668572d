"""The outbound events flipgen sends: names, payload shape, and the message id.

A payload is ``{"type", "timestamp", "data"}`` (the Standard Webhooks recommendation). ``data``
always holds the ``application``: its id, site, status, timestamps, the answers keyed by
field id, their ``labels`` (added when the body is first rendered, from the built site), the
params, the Smile user id and the accounts/uploads counts. Account events add ``account``;
``data.revoked`` adds ``revoked``. docs/webhooks.md shows a full example.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..schema import WEBHOOK_EVENTS
from ..store.applications import Application

__all__ = ["WEBHOOK_EVENTS", "application_data", "new_event", "new_msg_id", "render_body", "iso"]


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, to the second; None stays None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_msg_id() -> str:
    """A fresh ``webhook-id``: unique per event, shared by its retries and by every endpoint."""
    return "msg_" + uuid.uuid4().hex


def application_data(app: Application) -> dict[str, Any]:
    """What a receiver learns about an application (never an IP address or user agent: none is stored)."""
    return {
        "id": app.id,
        "site": app.site,
        "status": app.status,
        "locale": app.locale,
        "created_at": iso(app.created_at),
        "updated_at": iso(app.updated_at),
        "submitted_at": iso(app.submitted_at),
        "completed_at": iso(app.completed_at),
        "answers": dict(app.answers),
        "params": dict(app.params),
        "smile_user_id": app.smile_user_id,
        "accounts": app.accounts,
        "uploads": app.uploads,
    }


def new_event(
    event_type: str, app: Application, extra: Mapping[str, Any] | None = None, now: datetime | None = None
) -> dict[str, Any]:
    if event_type not in WEBHOOK_EVENTS:
        raise ValueError(f"unknown webhook event {event_type!r}")
    data: dict[str, Any] = {"application": application_data(app)}
    data.update(extra or {})
    return {"type": event_type, "timestamp": iso(now or datetime.now(UTC)), "data": data}


def render_body(event: Mapping[str, Any], labels: Mapping[str, str]) -> bytes:
    """The exact JSON bytes sent: the event with the labels of the answered fields added."""
    body = json.loads(json.dumps(event))  # a deep copy that is plain JSON
    application = body.get("data", {}).get("application")
    if isinstance(application, dict):
        answers = application.get("answers") or {}
        application["labels"] = {key: labels[key] for key in answers if key in labels}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
