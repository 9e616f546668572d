"""The transactional outbox: delivery rows written with the change that causes them, claimed once.

``enqueue(conn, event_type, application)`` runs inside the caller's transaction (the store
calls ``enqueue_all`` for every application change through ``applications.on_change``), so an event exists
exactly when its change was committed. The delivery task then ``claim``s due rows: on
PostgreSQL with ``SELECT … FOR UPDATE SKIP LOCKED``, on SQLite inside ``BEGIN IMMEDIATE``
(one writer at a time), so however many workers or hosts poll, each row goes to one of them.
A claimed row is ``sending`` until its lease (``next_attempt_at``) runs out; a worker that died
mid-send therefore hands the row to the next claim after the lease.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..schema import WebhookTarget
from ..store import Store
from ..store import applications as apps
from ..store.applications import Application
from ..store.engine import insert_many, sqlite_driver
from .events import new_event, new_msg_id
from .schedule import RetryPolicy
from .tables import smile_accounts, smile_events, webhook_deliveries, webhook_endpoints

__all__ = [
    "Claimed",
    "Outcome",
    "claim",
    "endpoint_id",
    "enqueue",
    "enqueue_all",
    "record",
    "subscribes",
    "sync_endpoints",
]

LEASE = timedelta(seconds=60)  # longer than any one attempt (the sender's timeouts add up to 20 s)


def _now() -> datetime:
    return datetime.now(UTC)


def endpoint_id(url: str) -> str:
    """A stable id for an endpoint URL (the table's key; deliveries name it)."""
    return "ep_" + hashlib.sha256(url.encode()).hexdigest()[:16]


def sync_endpoints(store: Store, targets: Sequence[WebhookTarget], *, now: datetime | None = None) -> None:
    """Make ``webhook_endpoints`` match ``flipgen.yaml``: upsert each target, mark the others unconfigured.

    Idempotent and safe when several workers start at once (an upsert, not read-then-write).
    A 410-disabled endpoint stays disabled: only ``flipgen webhooks retry`` re-enables it.
    """
    now = now or _now()
    e = webhook_endpoints.c
    with store.write() as conn:
        for target in targets:
            values = {
                "id": endpoint_id(target.url),
                "url": target.url,
                "events": list(target.events),
                "sites": list(target.sites) if target.sites is not None else None,
                "secret_env": target.secret_env,
                "allow_private": target.allow_private,
                "configured": True,
                "updated_at": now,
            }
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(webhook_endpoints).values(values)
            changes = {k: stmt.excluded[k] for k in values if k != "id"}
            conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=changes))
        keep = [endpoint_id(t.url) for t in targets]
        conn.execute(
            update(webhook_endpoints).where(e.id.not_in(keep), e.configured.is_(True)).values(configured=False)
        )


def subscribes(row: Any, event_type: str, site: str | None) -> bool:
    """Whether an endpoint row wants ``event_type`` of ``site``."""
    events = row.events or []
    if "all" not in events and event_type not in events:
        return False
    return row.sites is None or site in row.sites


_ENDPOINTS = select(webhook_endpoints).where(
    webhook_endpoints.c.configured.is_(True), webhook_endpoints.c.disabled_at.is_(None)
)


def _endpoints(conn: Connection) -> list[Any]:
    """The endpoints that take events. Every mint's write asks, so on SQLite the question goes
    straight to the driver: through SQLAlchemy it cost more than the mint's own INSERTs."""
    if conn.dialect.name != "sqlite":
        return list(conn.execute(_ENDPOINTS).all())
    rows = sqlite_driver(conn).execute(_ENDPOINTS_SQL).fetchall()
    return [_Endpoint(i, json.loads(events), None if sites is None else json.loads(sites)) for i, events, sites in rows]


_ENDPOINTS_SQL = str(
    _ENDPOINTS.with_only_columns(webhook_endpoints.c.id, webhook_endpoints.c.events, webhook_endpoints.c.sites).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
)


@dataclass(frozen=True)
class _Endpoint:
    """What `subscribes` reads of an endpoint row."""

    id: str
    events: list[str]
    sites: list[str] | None


def enqueue(
    conn: Connection,
    event_type: str,
    application: Application,
    extra: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Write one delivery per subscribed endpoint, in the caller's transaction; returns how many.

    Every endpoint gets the same ``webhook-id`` for one event, and keeps it on every retry.
    """
    return enqueue_all(conn, event_type, [(application, now or _now())], extra)


def enqueue_all(
    conn: Connection,
    event_type: str,
    changes: Sequence[tuple[Application, datetime]],
    extra: Mapping[str, Any] | None = None,
) -> int:
    """`enqueue` for several applications' events of one type, each at its own time: one query
    for the endpoints and one INSERT for every delivery (a burst of mints stays one statement)."""
    endpoints = _endpoints(conn) if changes else []
    rows = []
    for application, at in changes:
        targets = [r.id for r in endpoints if subscribes(r, event_type, application.site)]
        if not targets:
            continue
        event = new_event(event_type, application, extra, at)
        msg_id = new_msg_id()
        rows += [
            {
                "msg_id": msg_id,
                "endpoint_id": target,
                "event_type": event_type,
                "site": application.site,
                "application_id": application.id,
                "event": event,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": at,
                "created_at": at,
                "updated_at": at,
            }
            for target in targets
        ]
    insert_many(conn, webhook_deliveries, rows)
    return len(rows)


@apps.on_change
def _on_application_change(conn: Connection, event: str, changed: Sequence[Application]) -> None:
    # Each change's own time, so the event's timestamp is when it happened.
    enqueue_all(conn, event, [(application, application.updated_at) for application in changed])


@apps.on_delete
def _forget(conn: Connection, removed: list[Application]) -> None:
    """Deleting applications (delete, purge, a person's erasure) deletes what webhooks kept about them.

    Their deliveries go (queued ones included: they carry the answers), and the Smile events and
    account states of their Smile users, unless another application of the same user remains.
    """
    if not removed:
        return
    ids = [a.id for a in removed]
    conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.application_id.in_(ids)))
    users = {a.smile_user_id for a in removed if a.smile_user_id}
    if users:
        a = apps.applications.c
        kept = set(conn.execute(select(a.smile_user_id).where(a.smile_user_id.in_(users), a.id.not_in(ids))).scalars())
        gone = list(users - kept)
        if gone:
            conn.execute(delete(smile_events).where(smile_events.c.user_id.in_(gone)))
            conn.execute(delete(smile_accounts).where(smile_accounts.c.user_id.in_(gone)))


@dataclass(frozen=True)
class Claimed:
    """One delivery a worker holds, with everything needed to send it."""

    id: int
    claim: str
    msg_id: str
    attempts: int  # including this one
    url: str
    secret_env: str
    allow_private: bool
    endpoint_id: str
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: an HTTP status, or an error before/without one."""

    status: int | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status == 410


Render = Callable[[Mapping[str, Any], str | None], bytes]


def _nothing_due(store: Store, due: Select[Any]) -> bool:
    """On SQLite, whether a read finds nothing due. Every worker polls twice a second, mostly
    finding nothing, and a write transaction takes the one write lock that every mint's insert
    queues behind (from this thread of a busy worker, held through GIL waits): look first."""
    if store.backend != "sqlite":
        return False  # PostgreSQL: SKIP LOCKED claims without a global lock
    with store.read() as conn:
        return conn.execute(due.limit(1)).first() is None


def claim(store: Store, render: Render, *, limit: int, now: datetime | None = None) -> list[Claimed]:
    """Take up to ``limit`` due deliveries for this worker; no other worker gets them until the lease ends."""
    now = now or _now()
    d, e = webhook_deliveries.c, webhook_endpoints.c
    token = secrets.token_hex(8)
    due = (
        select(d.id)
        .where(d.status.in_(("pending", "sending")), d.next_attempt_at <= now)
        .order_by(d.next_attempt_at, d.id)
        .limit(limit)
    )
    if _nothing_due(store, due):
        return []
    with store.write() as conn:
        if conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list(conn.execute(due).scalars())
        if not ids:
            return []
        rows = conn.execute(
            select(d.id, d.msg_id, d.event, d.site, d.body, d.attempts, d.endpoint_id, e.url, e.secret_env)
            .add_columns(e.allow_private, e.configured, e.disabled_at)
            .select_from(webhook_deliveries.outerjoin(webhook_endpoints, e.id == d.endpoint_id))
            .where(d.id.in_(ids))
        ).all()
        claimed: list[Claimed] = []
        for row in rows:
            if row.url is None or not row.configured or row.disabled_at is not None:
                reason = "endpoint disabled" if row.disabled_at is not None else "endpoint no longer in flipgen.yaml"
                _finish(conn, row.id, now, status="failed", last_error=reason)
                continue
            body = row.body.encode() if row.body is not None else render(row.event, row.site)
            claimed.append(
                Claimed(
                    row.id,
                    token,
                    row.msg_id,
                    row.attempts + 1,
                    row.url,
                    row.secret_env,
                    row.allow_private,
                    row.endpoint_id,
                    body,
                )
            )
        if claimed:  # one executemany, not one round trip per row
            conn.execute(
                update(webhook_deliveries)
                .where(d.id == bindparam("_id"))
                .values(
                    status="sending",
                    claim=token,
                    attempts=d.attempts + 1,
                    next_attempt_at=now + LEASE,
                    body=bindparam("_body"),
                    updated_at=now,
                ),
                [{"_id": c.id, "_body": c.body.decode()} for c in claimed],
            )
        return claimed


def _finish(conn: Connection, delivery: int, now: datetime, **values: Any) -> None:
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery)
        .values(claim=None, updated_at=now, **values)
    )


def record(
    store: Store, results: Iterable[tuple[Claimed, Outcome]], policy: RetryPolicy, *, now: datetime | None = None
) -> None:
    """Write what each attempt got, all in one transaction (a batch of sends costs one commit)."""
    now = now or _now()
    d = webhook_deliveries.c
    rows: list[dict[str, Any]] = []
    gone: set[str] = set()
    for claimed, outcome in results:
        row = {
            "_id": claimed.id,
            "_claim": claimed.claim,
            "_status": "pending",
            "_last_status": outcome.status,
            "_last_error": outcome.error,
            "_delivered_at": None,
            "_next": now,
        }
        if outcome.ok:
            row.update(_status="delivered", _delivered_at=now, _last_error=None)
        elif outcome.gone:
            row.update(_status="failed", _last_error="410 Gone: the endpoint is disabled")
            gone.add(claimed.endpoint_id)
        else:
            delay = policy.delay(claimed.attempts, outcome.retry_after)
            if delay is None:
                row.update(_status="failed")
            else:
                row.update(_next=now + timedelta(seconds=delay))
        rows.append(row)
    if not rows:
        return
    with store.write() as conn:
        # Only while the row still carries this attempt's claim: a late result changes nothing.
        conn.execute(
            update(webhook_deliveries)
            .where(d.id == bindparam("_id"), d.claim == bindparam("_claim"))
            .values(
                status=bindparam("_status"),
                claim=None,
                last_status=bindparam("_last_status"),
                last_error=bindparam("_last_error"),
                delivered_at=bindparam("_delivered_at"),
                next_attempt_at=bindparam("_next"),
                updated_at=now,
            ),
            rows,
        )
        for endpoint in gone:
            _disable(conn, endpoint, now)


def _disable(conn: Connection, endpoint: str, now: datetime) -> None:
    """A 410 says "stop": disable the endpoint and fail what is still queued for it."""
    e, d = webhook_endpoints.c, webhook_deliveries.c
    conn.execute(
        update(webhook_endpoints)
        .where(e.id == endpoint, e.disabled_at.is_(None))
        .values(disabled_at=now, disabled_reason="answered 410 Gone", updated_at=now)
    )
    conn.execute(
        update(webhook_deliveries)
        .where(d.endpoint_id == endpoint, d.status == "pending")
        .values(status="failed", updated_at=now, last_error="endpoint disabled (410 Gone)")
    )
