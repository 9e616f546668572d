"""The invite ledger: one row per (email, site) in the application store.

A row is written *before* ``POST /invites`` (state ``pending``), then marked ``sent`` with
Smile's invite id, or ``failed`` with Smile's refusal. A run killed between the two leaves
``pending`` rows; the next run asks Smile (``GET /invites``) whether those went out before
sending them again, so nobody gets the same invitation twice. Smile's own status
(``INVITED`` … ``LINKED``) is kept beside it, from ``GET /invites`` and the
``INVITE_INVITED``/``INVITE_LINKED`` webhooks.

Every function takes the Connection of a transaction the caller opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    delete,
    insert,
    or_,
    select,
    update,
)

from ..store import applications as apps
from ..store.migrations import metadata, migration
from ..store.types import UTCDateTime
from .people import Person, normalise_email

__all__ = [
    "Invite",
    "STATES",
    "invites",
    "get",
    "rows",
    "record_attempt",
    "mark_sent",
    "mark_failed",
    "apply_smile_invite",
    "apply_event",
    "link_applications",
]

STATES = ("pending", "sent", "failed")

invites = Table(
    "invites",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(200), nullable=False),  # normalised: trimmed, lower case
    Column("site", String(63), nullable=False),
    Column("full_name", String(200), nullable=False),
    Column("first_name", String(64)),
    Column("last_name", String(64)),
    Column("template", String(64), nullable=False),  # the template's name
    Column("template_id", String(64), nullable=False),
    Column("wink_template_id", String(64)),
    Column("state", String(16), nullable=False),
    Column("error", String(500)),
    Column("smile_invite_id", String(100)),
    Column("smile_user_id", String(100)),
    Column("smile_status", String(32)),
    Column("application_id", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Column("linked_at", UTCDateTime()),
    CheckConstraint("state IN ('pending', 'sent', 'failed')", name="invites_state"),
    Index("invites_email_site", "email", "site", unique=True),
    Index("invites_smile_invite", "smile_invite_id"),
    Index("invites_smile_user", "smile_user_id"),
)


@migration("invites.0001", "the invite ledger: one row per email and site")
def _create_table(conn: Connection) -> None:
    invites.create(conn)


@apps.on_delete
def _forget(conn: Connection, removed: list[apps.Application]) -> None:
    """An application deleted, purged or erased takes its invites along: nothing of the person stays."""
    ids = [a.id for a in removed]
    users = [a.smile_user_id for a in removed if a.smile_user_id]
    for start in range(0, max(len(ids), len(users)), 500):  # bounded IN lists on both backends
        ids_part, users_part = ids[start : start + 500], users[start : start + 500]
        conn.execute(
            delete(invites).where(or_(invites.c.application_id.in_(ids_part), invites.c.smile_user_id.in_(users_part)))
        )


@dataclass(frozen=True)
class Invite:
    email: str
    site: str
    full_name: str
    template: str
    state: str
    smile_status: str | None
    smile_invite_id: str | None
    smile_user_id: str | None
    application_id: str | None
    error: str | None
    sent_at: datetime | None
    linked_at: datetime | None
    template_id: str


def _invite(row: Any) -> Invite:
    return Invite(
        email=row.email,
        site=row.site,
        full_name=row.full_name,
        template=row.template,
        state=row.state,
        smile_status=row.smile_status,
        smile_invite_id=row.smile_invite_id,
        smile_user_id=row.smile_user_id,
        application_id=row.application_id,
        error=row.error,
        sent_at=row.sent_at,
        linked_at=row.linked_at,
        template_id=row.template_id,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def get(conn: Connection, email: str, site: str) -> Invite | None:
    row = conn.execute(select(invites).where(invites.c.email == normalise_email(email), invites.c.site == site)).first()
    return _invite(row) if row is not None else None


def rows(conn: Connection, *, site: str | None = None) -> list[Invite]:
    """Every row (of one site), oldest first."""
    query = select(invites).order_by(invites.c.id)
    if site is not None:
        query = query.where(invites.c.site == site)
    return [_invite(r) for r in conn.execute(query)]


def record_attempt(
    conn: Connection, person: Person, *, site: str, template: str, template_id: str, wink_template_id: str | None
) -> None:
    """Write (or reset) the row as ``pending`` just before its ``POST /invites``."""
    values = {
        "full_name": person.full_name,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "template": template,
        "template_id": template_id,
        "wink_template_id": wink_template_id,
        "state": "pending",
        "error": None,
        "updated_at": _now(),
    }
    done = conn.execute(
        update(invites).where(invites.c.email == person.key, invites.c.site == site).values(**values)
    ).rowcount
    if not done:
        conn.execute(insert(invites).values(email=person.key, site=site, created_at=values["updated_at"], **values))


def mark_sent(conn: Connection, email: str, site: str, invite: Mapping[str, Any]) -> None:
    """Smile accepted the invite: keep its id, user and status."""
    now = _now()
    conn.execute(
        update(invites)
        .where(invites.c.email == normalise_email(email), invites.c.site == site)
        .values(
            state="sent",
            error=None,
            smile_invite_id=_text(invite.get("id")),
            smile_user_id=_text(invite.get("userId")),
            smile_status=_text(invite.get("status")) or "INVITED",
            sent_at=now,
            updated_at=now,
        )
    )


def mark_failed(conn: Connection, email: str, site: str, error: str) -> None:
    """Smile refused the invite (a rerun tries it again)."""
    conn.execute(
        update(invites)
        .where(invites.c.email == normalise_email(email), invites.c.site == site)
        .values(state="failed", error=error[:500], updated_at=_now())
    )


def apply_smile_invite(conn: Connection, invite: Mapping[str, Any]) -> int:
    """Bring rows up to date with one Invite from ``GET /invites``; returns the rows changed.

    A row known by its Smile id takes the status; a ``pending`` row for the same email and
    template (a run killed mid-request) becomes ``sent``: Smile did send it.
    """
    invite_id, status = _text(invite.get("id")), _text(invite.get("status"))
    email, template_id = _text(invite.get("email")), _text(invite.get("templateId"))
    changed = 0
    if invite_id and status:
        changed += conn.execute(
            update(invites)
            .where(invites.c.smile_invite_id == invite_id, invites.c.smile_status.is_distinct_from(status))
            .values(smile_status=status, updated_at=_now())
        ).rowcount
    if invite_id and email and template_id:
        pending = conn.execute(
            select(invites.c.site).where(
                invites.c.email == normalise_email(email),
                invites.c.template_id == template_id,
                invites.c.state == "pending",
            )
        ).all()
        for row in pending:
            mark_sent(conn, email, row.site, invite)
            changed += 1
    return changed


def apply_event(conn: Connection, event: Mapping[str, Any]) -> bool:
    """Apply a Smile ``INVITE_INVITED``/``INVITE_LINKED`` webhook event; True when a row changed.

    Called by the webhook processor. ``INVITE_LINKED`` also links the invite to the
    application of the same Smile user, when the invited person went through a flipgen site.
    """
    kind = event.get("type")
    data = event.get("data")
    if kind not in ("INVITE_INVITED", "INVITE_LINKED") or not isinstance(data, Mapping):
        return False
    invite_id, user_id = _text(data.get("inviteId")), _text(data.get("userId"))
    if not invite_id:
        return False
    values: dict[str, Any] = {"updated_at": _now()}
    if kind == "INVITE_LINKED":
        values.update(smile_status="LINKED", linked_at=_event_time(event))
        application = _application_of(conn, user_id)
        if application is not None:
            values["application_id"] = application
    else:
        # An INVITED event arriving after LINKED (delivery is not ordered) must not undo it.
        values["smile_status"] = "INVITED"
    query = update(invites).where(invites.c.smile_invite_id == invite_id)
    if kind == "INVITE_INVITED":
        query = query.where(invites.c.smile_status.is_distinct_from("LINKED"))
    if user_id:
        values["smile_user_id"] = user_id
    return bool(conn.execute(query.values(**values)).rowcount)


def link_applications(conn: Connection) -> int:
    """Link rows to applications created since (same Smile user); returns how many were linked."""
    applications = apps.applications
    linked = 0
    query = select(invites.c.id, invites.c.smile_user_id).where(
        invites.c.application_id.is_(None),
        invites.c.smile_user_id.is_not(None),
        invites.c.smile_user_id.in_(select(applications.c.smile_user_id)),
    )
    for row in conn.execute(query).all():
        application = _application_of(conn, row.smile_user_id)
        if application is not None:
            conn.execute(update(invites).where(invites.c.id == row.id).values(application_id=application))
            linked += 1
    return linked


def _application_of(conn: Connection, user_id: str | None) -> str | None:
    if not user_id:
        return None
    found = apps.find_by_smile_user(conn, user_id)
    return found.id if found is not None else None


def _event_time(event: Mapping[str, Any]) -> datetime:
    created = event.get("createdAt")
    if isinstance(created, str):
        try:
            return datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    return _now()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
