"""What `flipgen webhooks` does to the outbox: list deliveries, retry one, replay a period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, func, insert, select, update

from ..store import Store
from .outbox import endpoint_id, subscribes
from .tables import webhook_deliveries, webhook_endpoints

__all__ = ["Delivery", "Endpoint", "get_delivery", "list_deliveries", "list_endpoints", "retry", "replay"]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Delivery:
    id: int
    msg_id: str
    event_type: str
    site: str | None
    application_id: str | None
    url: str | None
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    events: list[str]
    sites: list[str] | None
    configured: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    pending: int
    failed: int


def _deliveries() -> Select[Any]:
    d, e = webhook_deliveries.c, webhook_endpoints.c
    return select(
        d.id,
        d.msg_id,
        d.event_type,
        d.site,
        d.application_id,
        e.url,
        d.status,
        d.attempts,
        d.last_status,
        d.last_error,
        d.created_at,
        d.next_attempt_at,
        d.delivered_at,
    ).select_from(webhook_deliveries.outerjoin(webhook_endpoints, e.id == d.endpoint_id))


def list_deliveries(store: Store, *, failed: bool = False, limit: int = 50) -> list[Delivery]:
    """The most recent deliveries, newest last (``failed``: only those given up)."""
    d = webhook_deliveries.c
    query = _deliveries().order_by(d.id.desc()).limit(limit)
    if failed:
        query = query.where(d.status == "failed")
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [Delivery(**row._asdict()) for row in reversed(rows)]


def list_endpoints(store: Store) -> list[Endpoint]:
    """Every endpoint the outbox knows, with its queue (pending) and given-up (failed) counts."""
    d, e = webhook_deliveries.c, webhook_endpoints.c
    with store.read() as conn:
        counts = {
            (row.endpoint_id, row.status): row.n
            for row in conn.execute(
                select(d.endpoint_id, d.status, func.count().label("n")).group_by(d.endpoint_id, d.status)
            )
        }
        rows = conn.execute(select(webhook_endpoints).order_by(e.url)).all()
    return [
        Endpoint(
            r.id,
            r.url,
            list(r.events),
            list(r.sites) if r.sites is not None else None,
            r.configured,
            r.disabled_at,
            r.disabled_reason,
            counts.get((r.id, "pending"), 0) + counts.get((r.id, "sending"), 0),
            counts.get((r.id, "failed"), 0),
        )
        for r in rows
    ]


def retry(store: Store, delivery_id: int, *, now: datetime | None = None) -> Delivery | None:
    """Send a delivery again now (same ``webhook-id`` and body); re-enables its endpoint if a 410 disabled it.

    None when there is no such delivery. A delivered one is sent again too: the receiver asked for it.
    """
    now = now or _now()
    d, e = webhook_deliveries.c, webhook_endpoints.c
    with store.write() as conn:
        row = conn.execute(select(d.endpoint_id).where(d.id == delivery_id)).first()
        if row is None:
            return None
        conn.execute(
            update(webhook_deliveries)
            .where(d.id == delivery_id)
            .values(status="pending", next_attempt_at=now, attempts=0, claim=None, updated_at=now, delivered_at=None)
        )
        conn.execute(
            update(webhook_endpoints)
            .where(e.id == row.endpoint_id, e.disabled_at.is_not(None))
            .values(disabled_at=None, disabled_reason=None, updated_at=now)
        )
    return get_delivery(store, delivery_id)


def get_delivery(store: Store, delivery_id: int) -> Delivery | None:
    with store.read() as conn:
        row = conn.execute(_deliveries().where(webhook_deliveries.c.id == delivery_id)).first()
    return Delivery(**row._asdict()) if row is not None else None


def replay(store: Store, *, since: datetime, url: str | None = None, now: datetime | None = None) -> tuple[int, int]:
    """Queue every event since ``since`` again for each endpoint that subscribes to it now (or only ``url``).

    Each event keeps its ``webhook-id``, so a receiver that already has it can recognise the
    repeat. An event already queued for an endpoint is not queued twice. Returns (events, deliveries).
    """
    now = now or _now()
    d, e = webhook_deliveries.c, webhook_endpoints.c
    with store.write() as conn:
        endpoints = conn.execute(select(webhook_endpoints).where(e.configured.is_(True), e.disabled_at.is_(None))).all()
        if url is not None:
            endpoints = [row for row in endpoints if row.id == endpoint_id(url)]
        first = select(func.min(d.id).label("id")).where(d.created_at >= since).group_by(d.msg_id).subquery()
        events = conn.execute(
            select(d.msg_id, d.event_type, d.site, d.application_id, d.event, d.created_at)
            .join(first, first.c.id == d.id)
            .order_by(d.created_at, d.id)
        ).all()
        queued = {
            (row.msg_id, row.endpoint_id)
            for row in conn.execute(
                select(d.msg_id, d.endpoint_id).where(and_(d.created_at >= since, d.status.in_(("pending", "sending"))))
            )
        }
        rows = []
        for event in events:
            for endpoint in endpoints:
                if (event.msg_id, endpoint.id) in queued or not subscribes(endpoint, event.event_type, event.site):
                    continue
                rows.append(
                    {
                        "msg_id": event.msg_id,
                        "endpoint_id": endpoint.id,
                        "event_type": event.event_type,
                        "site": event.site,
                        "application_id": event.application_id,
                        "event": event.event,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        if rows:
            conn.execute(insert(webhook_deliveries), rows)
    return len(events), len(rows)
