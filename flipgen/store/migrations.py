"""Versioned schema migrations: an ordered registry any module can add to, applied once each.

A migration is a function of a Connection, registered under an id that never changes
(``"applications.0001"``). `upgrade()` applies the ones the database has not seen, in order,
inside one write transaction that holds a lock (PostgreSQL advisory lock; SQLite's
`BEGIN IMMEDIATE`), and records each id in `schema_version`. Two workers starting at once
therefore apply each migration exactly once: the second waits, then finds nothing to do.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, MetaData, String, Table, insert, inspect, select, text

from .engine import Store
from .types import UTCDateTime

__all__ = ["Migration", "metadata", "migration", "registered", "upgrade", "status", "MIGRATION_MODULES"]

# Every table of the store is declared on this one MetaData (tests and `db status` list them).
metadata = MetaData()

# Modules imported before an upgrade so their `@migration`s are registered, in this order.
# A feature with tables adds its module here (one line).
MIGRATION_MODULES: list[str] = [
    "flipgen.store.applications",
    "flipgen.invites.ledger",
    "flipgen.webhooks.outbox",  # webhook tables, and the outbox listener on application changes
    "flipgen.server.budget",  # mint_budget: the per-site daily mint count
]

schema_version = Table(
    "schema_version",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("description", String(200), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=False),
)


@dataclass(frozen=True)
class Migration:
    id: str
    description: str
    apply: Callable[[Connection], None]


_registry: dict[str, Migration] = {}


def migration(id: str, description: str) -> Callable[[Callable[[Connection], None]], Callable[[Connection], None]]:
    """Register the decorated function as migration ``id`` (applied after every earlier registration)."""

    def register(fn: Callable[[Connection], None]) -> Callable[[Connection], None]:
        existing = _registry.get(id)
        # Re-importing a module re-registers harmlessly; two different functions under one id
        # would silently skip one of them.
        if existing is not None and existing.apply.__qualname__ != fn.__qualname__:
            raise RuntimeError(f"migration id {id!r} registered twice")
        _registry[id] = Migration(id, description, fn)
        return fn

    return register


def registered() -> list[Migration]:
    """Every known migration, in the order they apply."""
    for module in MIGRATION_MODULES:
        importlib.import_module(module)
    return list(_registry.values())


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # Transaction-scoped, keyed by schema so parallel test schemas do not wait on each other.
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('flipgen.migrate:' || current_schema()))"))
    # SQLite: the write transaction began with BEGIN IMMEDIATE, which already excludes other writers.


def _applied(conn: Connection) -> dict[str, datetime]:
    rows = conn.execute(select(schema_version.c.id, schema_version.c.applied_at))
    return {row.id: row.applied_at for row in rows}


def upgrade(store: Store) -> list[str]:
    """Apply every pending migration; return the ids applied (empty when up to date)."""
    migrations = registered()
    with store.read() as conn:
        if schema_version.name in _table_names(conn) and set(_applied(conn)) >= {m.id for m in migrations}:
            return []
    done: list[str] = []
    with store.write() as conn:
        _lock(conn)
        schema_version.create(conn, checkfirst=True)
        applied = _applied(conn)
        for m in migrations:
            if m.id in applied:
                continue
            m.apply(conn)
            conn.execute(
                insert(schema_version).values(id=m.id, description=m.description, applied_at=datetime.now(UTC))
            )
            done.append(m.id)
    return done


def status(store: Store) -> list[tuple[Migration, datetime | None]]:
    """Each known migration with the time it was applied, or None when pending."""
    migrations = registered()
    with store.read() as conn:
        applied = _applied(conn) if schema_version.name in _table_names(conn) else {}
    return [(m, applied.get(m.id)) for m in migrations]


def unknown_applied(store: Store) -> list[str]:
    """Ids recorded in the database that this flipgen does not know (a newer version wrote them)."""
    known = {m.id for m in registered()}
    with store.read() as conn:
        if schema_version.name not in _table_names(conn):
            return []
        return sorted(set(_applied(conn)) - known)


def _table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())
