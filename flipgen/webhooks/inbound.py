"""Smile's events in: store first (de-duplicated on the event id), then process.

Storing and processing are separate transactions on purpose: once an event is stored, a bug
or a crash while processing loses nothing, and the delivery task processes what is left
(``process_pending``). Processing links the event to the application by Smile ``userId``:

- ``ACCOUNT_*`` and ``ARCHIVE_*`` set the state of that account or upload in ``smile_accounts``
  (a late-arriving older event never overwrites a newer state), update the application's
  counts, and queue ``account.connected`` / ``account.failed`` / ``data.revoked``;
- ``USER_SESSION_COMPLETED`` completes the application; its payload (forms, accounts and
  archives data) stays in ``smile_events`` so it outlives Smile's 60 days;
- ``INVITE_INVITED`` / ``INVITE_LINKED`` update the invitations ledger (``flipgen invite list``);
- every other type, known or not, is stored and otherwise left alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..store import Store
from ..store import applications as apps
from ..store.applications import Application
from .outbox import enqueue
from .tables import smile_accounts, smile_events

__all__ = [
    "MAX_BODY",
    "BadEvent",
    "AccountState",
    "account_states",
    "insert_event",
    "store_event",
    "apply_event",
    "record_failure",
    "process_event",
    "process_pending",
    "session_payload",
]

MAX_BODY = 5 * 1024 * 1024  # a USER_SESSION_COMPLETED payload can be large
MAX_PROCESS_ATTEMPTS = 5
REVOKED = ("disconnected", "revoked")


class BadEvent(ValueError):
    """A correctly signed body that is not a Smile event (not JSON, or no ``id``/``type``)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _user_id(event: dict[str, Any]) -> str | None:
    data = event.get("data")
    if not isinstance(data, dict):
        return None
    session = data.get("session")
    user = data.get("userId") or (session.get("userId") if isinstance(session, dict) else None)
    return str(user)[:100] if isinstance(user, str) and user else None


def parse(raw: bytes) -> dict[str, Any]:
    """The event in ``raw``; BadEvent when it is not one."""
    try:
        event = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadEvent("the body is not JSON") from None
    if not isinstance(event, dict):
        raise BadEvent("the body is not a JSON object")
    if not isinstance(event.get("id"), str) or not event["id"] or len(event["id"]) > 100:
        raise BadEvent("the event has no usable `id`")
    if not isinstance(event.get("type"), str) or not event["type"] or len(event["type"]) > 64:
        raise BadEvent("the event has no usable `type`")
    return event


def insert_event(conn: Connection, raw: bytes, now: datetime) -> tuple[str, str, bool]:
    """Insert a verified event unless its id is stored already; returns (id, type, stored_now)."""
    event = parse(raw)
    values = {
        "id": event["id"],
        "type": event["type"],
        "user_id": _user_id(event),
        "created_at": _parse_time(event.get("createdAt")),
        "received_at": now,
        "body": raw.decode("utf-8", errors="replace"),
        "attempts": 0,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # RETURNING says whether the row went in (rowcount is unreliable for upserts across drivers).
    stmt = dialect.insert(smile_events).values(values).on_conflict_do_nothing(index_elements=["id"])
    inserted = conn.execute(stmt.returning(smile_events.c.id)).first() is not None
    return event["id"], event["type"], inserted


def store_event(store: Store, raw: bytes, *, now: datetime | None = None) -> tuple[str, str, bool]:
    """Store a verified event once, in its own transaction; returns (id, type, stored_now)."""
    with store.write() as conn:
        return insert_event(conn, raw, now or _now())


@dataclass(frozen=True)
class Context:
    conn: Connection
    event: dict[str, Any]
    data: dict[str, Any]
    user_id: str
    at: datetime  # Smile's createdAt (else when we received it)
    now: datetime
    application: Application | None


def apply_event(conn: Connection, event_id: str, now: datetime) -> None:
    """Process one stored event in the caller's transaction (a processed event is skipped)."""
    # FOR UPDATE: two workers sweeping at once process an event once (SQLite: BEGIN IMMEDIATE).
    row = conn.execute(select(smile_events).where(smile_events.c.id == event_id).with_for_update()).first()
    if row is None or row.processed_at is not None:
        return
    _dispatch(conn, json.loads(row.body), row, now)
    conn.execute(
        update(smile_events)
        .where(smile_events.c.id == event_id)
        .values(processed_at=now, attempts=row.attempts + 1, error=None)
    )


def record_failure(conn: Connection, event_id: str, exc: BaseException) -> None:
    """Note on the event why processing failed (the sweeper tries again, a few times)."""
    conn.execute(
        update(smile_events)
        .where(smile_events.c.id == event_id)
        .values(attempts=smile_events.c.attempts + 1, error=f"{type(exc).__name__}: {exc}"[:500])
    )


def process_event(store: Store, event_id: str, *, now: datetime | None = None) -> None:
    """Apply one stored event in its own transaction; a failure is recorded on the event, then raised."""
    try:
        with store.write() as conn:
            apply_event(conn, event_id, now or _now())
    except Exception as exc:
        with store.write() as conn:
            record_failure(conn, event_id, exc)
        raise


def process_pending(store: Store, *, older_than: timedelta = timedelta(seconds=30), now: datetime | None = None) -> int:
    """Process stored events that were left unprocessed (a crash, a bug since fixed); returns how many."""
    now = now or _now()
    e = smile_events.c
    with store.read() as conn:
        ids = list(
            conn.execute(
                select(e.id)
                .where(e.processed_at.is_(None), e.received_at <= now - older_than, e.attempts < MAX_PROCESS_ATTEMPTS)
                .order_by(e.received_at)
                .limit(100)
            ).scalars()
        )
    done = 0
    for event_id in ids:
        try:
            process_event(store, event_id, now=now)
            done += 1
        except Exception:  # noqa: BLE001, S112 - recorded on the row; the others still get their turn
            continue
    return done


def _dispatch(conn: Connection, event: dict[str, Any], row: Any, now: datetime) -> None:
    handler = HANDLERS.get(str(event.get("type")))
    data = event.get("data")
    if handler is None or not isinstance(data, dict) or row.user_id is None:
        return
    application = apps.find_by_smile_user(conn, row.user_id)
    handler(Context(conn, event, data, row.user_id, row.created_at or row.received_at, now, application))


def _set_state(ctx: Context, kind: str, item_id: str, status: str) -> bool:
    """Upsert one account/upload state unless a newer event already set it; True when applied."""
    providers = ctx.data.get("providers")
    values = {
        "kind": kind,
        "id": item_id[:100],
        "user_id": ctx.user_id,
        "status": status,
        "providers": [str(p) for p in providers] if isinstance(providers, list) else [],
        "error_code": str(ctx.data["errorCode"])[:100] if ctx.data.get("errorCode") else None,
        "event_at": ctx.at,
        "updated_at": ctx.now,
    }
    dialect = postgresql if ctx.conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(smile_accounts).values(values)
    upsert = stmt.on_conflict_do_update(
        index_elements=["kind", "id"],
        set_={k: stmt.excluded[k] for k in values if k not in ("kind", "id")},
        where=stmt.excluded.event_at >= smile_accounts.c.event_at,
    )
    return ctx.conn.execute(upsert.returning(smile_accounts.c.id)).first() is not None


def _refresh_counts(ctx: Context) -> Application | None:
    if ctx.application is None:
        return None
    a = smile_accounts.c
    counts: dict[str, int] = dict(
        ctx.conn.execute(
            select(a.kind, func.count())
            .where(a.user_id == ctx.user_id, a.status.in_(("connected", "started", "analyzed")))
            .group_by(a.kind)
        ).all()
    )
    return apps.set_counts(
        ctx.conn, ctx.application.id, accounts=counts.get("account", 0), uploads=counts.get("archive", 0), now=ctx.now
    )


def _account(status: str, outbound: str | None) -> Callable[[Context], None]:
    def handle(ctx: Context) -> None:
        account_id = ctx.data.get("accountId")
        if not isinstance(account_id, str) or not _set_state(ctx, "account", account_id, status):
            return
        app = _refresh_counts(ctx)
        if app is None or outbound is None:
            return
        account = {"id": account_id, "providers": ctx.data.get("providers") or []}
        if status == "failed":
            account["error_code"] = ctx.data.get("errorCode")
        extra = {"revoked": {"kind": "account", **account}} if outbound == "data.revoked" else {"account": account}
        enqueue(ctx.conn, outbound, app, extra, now=ctx.now)

    return handle


def _archive(status: str) -> Callable[[Context], None]:
    def handle(ctx: Context) -> None:
        archive_id = ctx.data.get("archiveId")
        if not isinstance(archive_id, str) or not _set_state(ctx, "archive", archive_id, status):
            return
        app = _refresh_counts(ctx)
        if app is not None and status == "revoked":
            enqueue(ctx.conn, "data.revoked", app, {"revoked": {"kind": "archive", "id": archive_id}}, now=ctx.now)

    return handle


def _session_completed(ctx: Context) -> None:
    if ctx.application is not None:
        apps.complete(ctx.conn, ctx.application.id, now=ctx.now)


def _invite(ctx: Context) -> None:
    from ..invites import ledger  # the invite ledger: status, and the link to the application

    ledger.apply_event(ctx.conn, ctx.event)


HANDLERS: dict[str, Callable[[Context], None]] = {
    "ACCOUNT_CREATED": _account("created", None),
    "ACCOUNT_CONNECTED": _account("connected", "account.connected"),
    "ACCOUNT_FAILED": _account("failed", "account.failed"),
    "ACCOUNT_DISCONNECTED": _account("disconnected", "data.revoked"),
    "ARCHIVE_STARTED": _archive("started"),
    "ARCHIVE_ANALYZED": _archive("analyzed"),
    "ARCHIVE_FAILED": _archive("failed"),
    "ARCHIVE_REVOKED": _archive("revoked"),
    "USER_SESSION_COMPLETED": _session_completed,
    "INVITE_INVITED": _invite,
    "INVITE_LINKED": _invite,
}


@dataclass(frozen=True)
class AccountState:
    """One account or upload of a Smile user, as Smile's webhooks last described it."""

    kind: str
    id: str
    status: str
    providers: list[str] = field(default_factory=list)
    error_code: str | None = None
    at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.status in REVOKED


def account_states(conn: Connection, smile_user_id: str | None) -> list[AccountState]:
    """The verified accounts and uploads of a Smile user, oldest first (for `applications show/export`)."""
    if not smile_user_id:
        return []
    a = smile_accounts.c
    rows = conn.execute(select(smile_accounts).where(a.user_id == smile_user_id).order_by(a.event_at, a.kind, a.id))
    return [AccountState(r.kind, r.id, r.status, list(r.providers or []), r.error_code, r.event_at) for r in rows]


def session_payload(conn: Connection, smile_user_id: str | None) -> dict[str, Any] | None:
    """The ``payload`` of the user's latest ``USER_SESSION_COMPLETED`` (forms, accounts, archives)."""
    if not smile_user_id:
        return None
    e = smile_events.c
    body = conn.execute(
        select(e.body)
        .where(e.user_id == smile_user_id, e.type == "USER_SESSION_COMPLETED")
        .order_by(e.created_at.desc(), e.received_at.desc())
        .limit(1)
    ).scalar()
    if body is None:
        return None
    payload = json.loads(body).get("data", {}).get("payload")
    return payload if isinstance(payload, dict) else None
