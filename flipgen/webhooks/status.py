"""What Smile's webhooks verified about an application, for `flipgen applications show/export`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, type_coerce

from ..store.applications import Application
from ..store.types import UTCDateTime
from .events import iso
from .inbound import AccountState
from .tables import smile_accounts, smile_events

__all__ = ["Verified", "verified_for"]

_NOUN = {"account": "account", "archive": "upload"}


@dataclass(frozen=True)
class Verified:
    """The accounts and uploads Smile reported for one application's Smile user."""

    accounts: list[AccountState] = field(default_factory=list)
    session_completed_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        """The person took back access to some of their data (ACCOUNT_DISCONNECTED / ARCHIVE_REVOKED)."""
        return any(a.revoked for a in self.accounts)

    def summary(self) -> str:
        """One line: `sss_ph connected; nbi_ph failed (INVALID_CREDENTIALS); upload revoked`."""
        parts = []
        for a in self.accounts:
            name = ", ".join(a.providers) or _NOUN.get(a.kind, a.kind)
            parts.append(f"{name} {a.status}" + (f" ({a.error_code})" if a.error_code else ""))
        return "; ".join(parts)

    def lines(self) -> list[str]:
        """The `show` section."""
        if not self.accounts and self.session_completed_at is None:
            return ["Verified accounts: none reported by Smile yet"]
        out = ["Verified accounts (from Smile's webhooks)"]
        for a in self.accounts:
            providers = ", ".join(a.providers) or "-"
            error = f" ({a.error_code})" if a.error_code else ""
            out.append(f"  {_NOUN.get(a.kind, a.kind):<8} {a.id:<24} {providers:<16} {a.status}{error}  {iso(a.at)}")
        out.append(f"  Data revoked: {'yes' if self.revoked else 'no'}")
        if self.session_completed_at is not None:
            out.append(f"  Smile session completed {iso(self.session_completed_at)}; its data is stored")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "accounts": [
                {
                    "kind": _NOUN.get(a.kind, a.kind),
                    "id": a.id,
                    "status": a.status,
                    "providers": a.providers,
                    "error_code": a.error_code,
                    "at": iso(a.at),
                }
                for a in self.accounts
            ],
            "data_revoked": self.revoked,
            "session_completed_at": iso(self.session_completed_at),
        }


def verified_for(conn: Connection, applications: Sequence[Application]) -> dict[str, Verified]:
    """``Verified`` of each application (by id) that has a Smile user; two queries for any number."""
    users = {a.smile_user_id for a in applications if a.smile_user_id}
    if not users:
        return {}
    a, e = smile_accounts.c, smile_events.c
    states: dict[str, list[AccountState]] = {}
    for r in conn.execute(select(smile_accounts).where(a.user_id.in_(users)).order_by(a.event_at, a.kind, a.id)):
        state = AccountState(r.kind, r.id, r.status, list(r.providers or []), r.error_code, r.event_at)
        states.setdefault(r.user_id, []).append(state)
    sessions: dict[str, datetime] = dict(
        conn.execute(
            select(e.user_id, type_coerce(func.max(func.coalesce(e.created_at, e.received_at)), UTCDateTime()))
            .where(e.user_id.in_(users), e.type == "USER_SESSION_COMPLETED")
            .group_by(e.user_id)
        ).all()
    )
    return {
        app.id: Verified(states.get(app.smile_user_id, []), sessions.get(app.smile_user_id))
        for app in applications
        if app.smile_user_id
    }
