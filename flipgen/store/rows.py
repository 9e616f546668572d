"""The applications tables, their migration and their row types.

`flipgen.store.applications` works on these and re-exports every name here; import from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import CheckConstraint, Column, Connection, ForeignKey, Index, Integer, String, Table
from sqlalchemy.engine import Row

from .migrations import metadata, migration
from .types import JSONDocument, UTCDateTime

__all__ = [
    "ABANDONED_AFTER",
    "STATUSES",
    "Application",
    "ApplicationClosed",
    "Visit",
    "application_screens",
    "applications",
]

STATUSES = ("started", "submitted", "completed")
# `abandoned` is derived, never stored: a started application untouched for this long.
ABANDONED_AFTER = timedelta(hours=24)

applications = Table(
    "applications",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("site", String(63), nullable=False),
    Column("status", String(16), nullable=False),
    Column("answers", JSONDocument(), nullable=False),
    Column("params", JSONDocument(), nullable=False),
    Column("locale", String(35)),
    Column("smile_user_id", String(100)),
    Column("accounts", Integer, nullable=False, default=0),
    Column("uploads", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("submitted_at", UTCDateTime()),
    Column("completed_at", UTCDateTime()),
    CheckConstraint("status IN ('started', 'submitted', 'completed')", name="applications_status"),
    Index("applications_site_created", "site", "created_at"),
    Index("applications_created", "created_at"),
    Index("applications_smile_user", "smile_user_id"),
)

# One row per screen an application reached (first arrival only), for the funnel.
application_screens = Table(
    "application_screens",
    metadata,
    Column("application_id", String(64), ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True),
    Column("screen", String(50), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("reached_at", UTCDateTime(), nullable=False),
    Column("left_at", UTCDateTime()),
    # SQLite: the primary key is the table (one b-tree, not a rowid table plus its index).
    sqlite_with_rowid=False,
)


@migration("applications.0001", "applications and the screens they reached")
def _create_tables(conn: Connection) -> None:
    applications.create(conn)
    application_screens.create(conn)


class ApplicationClosed(Exception):
    """The answers of a submitted application cannot change (a retry with the same ones is fine)."""

    def __init__(self, application: Application) -> None:
        super().__init__(f"application {application.id} is {application.status}; its answers are final")
        self.application = application


@dataclass(frozen=True)
class Application:
    id: str
    site: str
    status: str
    answers: dict[str, Any]
    params: dict[str, Any]
    locale: str | None
    smile_user_id: str | None
    accounts: int
    uploads: int
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None = None
    completed_at: datetime | None = None

    def state(self, now: datetime | None = None) -> str:
        """The stored status, or `abandoned` for a started application left alone too long."""
        if self.status == "started" and self.updated_at < (now or datetime.now(UTC)) - ABANDONED_AFTER:
            return "abandoned"
        return self.status

    @classmethod
    def from_row(cls, row: Row[Any]) -> Application:
        return cls(**row._asdict())


@dataclass(frozen=True)
class Visit:
    application_id: str
    screen: str
    position: int
    reached_at: datetime
    left_at: datetime | None = field(default=None)
