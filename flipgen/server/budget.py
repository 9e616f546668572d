"""The per-site mint budget: at most ``token.max_users_per_day`` new Smile users a UTC day.

Every mint creates a Smile user the customer pays for; the budget caps what a flood of
requests can cost. Counted in Redis when configured (:mod:`.shared`), else in the application
store (one row per site and day, so every worker and host sharing the database agrees), else
in process. Past the budget the endpoint answers 429 ``budget_exhausted`` and logs one
warning line an hour per site.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

import anyio.to_thread
from sqlalchemy import Column, Connection, Integer, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from flipgen.store.engine import Store
from flipgen.store.migrations import metadata, migration

__all__ = ["Budget", "MemoryBudget", "StoreBudget", "Unavailable", "mint_budget"]

WARN_EVERY = 3600.0


class Unavailable(Exception):
    """A shared counter cannot be asked and the server is configured to fail closed."""


class Budget(Protocol):
    async def spend(self, site: str, limit: int) -> bool:
        """Count one mint for ``site`` today; False (and nothing counted) when over ``limit``."""
        ...

    async def first_warning(self, site: str) -> bool:
        """True at most once an hour per site: whether to log the exhausted-budget warning."""
        ...

    async def aclose(self) -> None: ...


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


class _Warnings:
    def __init__(self) -> None:
        self._warned: dict[str, float] = {}

    async def first_warning(self, site: str) -> bool:
        now = time.monotonic()
        if now - self._warned.get(site, -WARN_EVERY) < WARN_EVERY:
            return False
        self._warned[site] = now
        return True


class MemoryBudget(_Warnings):
    """Counts in this process (one worker); days are UTC."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[tuple[str, str], int] = {}

    async def spend(self, site: str, limit: int) -> bool:
        key = (site, today())
        if self.counts.get(key, 0) >= limit:
            return False
        if len(self.counts) > 10_000:  # yesterday's counters are of no use
            self.counts = {k: v for k, v in self.counts.items() if k[1] == key[1]}
        self.counts[key] = self.counts.get(key, 0) + 1
        return True

    async def aclose(self) -> None:
        return None


mint_budget = Table(
    "mint_budget",
    metadata,
    Column("site", String(200), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("mints", Integer, nullable=False),
)


@migration("server.0001", "mint_budget: mints per site and UTC day")
def _create(conn: Connection) -> None:
    mint_budget.create(conn)


def spend_in(conn: Connection, site: str, day: str, limit: int) -> bool:
    """One mint counted in the store, in the caller's write transaction; False when over."""
    row = mint_budget.c
    counted = conn.execute(
        update(mint_budget).where(row.site == site, row.day == day, row.mints < limit).values(mints=row.mints + 1)
    )
    if counted.rowcount == 1:
        return True
    exists = conn.execute(select(row.mints).where(row.site == site, row.day == day)).first()
    if exists is not None or limit < 1:
        return False
    conn.execute(insert(mint_budget).values(site=site, day=day, mints=1))
    return True


class StoreBudget(_Warnings):
    """Counts in the application store (SQLite or PostgreSQL), shared by every worker using it."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def _spend(self, site: str, limit: int) -> bool:
        day = today()
        for _ in range(3):  # two workers inserting the day's first row at once: one retries
            try:
                with self.store.write() as conn:
                    return spend_in(conn, site, day, limit)
            except IntegrityError:
                continue
        return False

    async def spend(self, site: str, limit: int) -> bool:
        # The store is synchronous: a worker thread keeps the event loop free meanwhile.
        return await anyio.to_thread.run_sync(self._spend, site, limit)

    async def aclose(self) -> None:
        return None  # the store is the app's: it closes it
