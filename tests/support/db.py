"""Database fixtures: every store test runs on SQLite and on PostgreSQL.

`db_url` gives a URL for an empty database: a SQLite file in tmp_path, or a fresh PostgreSQL
schema with a random name on 127.0.0.1:5432/test (search_path set through the URL's libpq
`options`), dropped afterwards. PostgreSQL not answering is a failure, never a skip: CI has one.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from flipgen.store import Store, engine, open_store

__all__ = ["another_writer", "db_url", "inserts_into", "store", "postgres_schema"]

POSTGRES_URL = os.environ.get("FLIPGEN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_schema() -> Iterator[str]:
    """Create a uniquely named schema, yield a URL whose connections use it, drop it afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required for the store tests and did not answer: {exc.orig}")
    try:
        yield f"{POSTGRES_URL}?options={quote(f'-csearch_path={name}')}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from postgres_schema()


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[Store]:
    """An upgraded store on each backend."""
    s = open_store(db_url, tmp_path)
    try:
        yield s
    finally:
        s.close()


@contextmanager
def another_writer(store: Store) -> Iterator[threading.Event]:
    """Another thread holds ``store``'s write lock, as a long write (a purge, say) would, until the
    yielded event is set or the block ends."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.write():
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10), "the other writer never got the lock"
        yield release
    finally:
        release.set()
        thread.join()


@contextmanager
def inserts_into(store: Store, table: str) -> Iterator[list[int]]:
    """Rows per INSERT statement into ``table`` while the block runs, whichever way the statement
    reaches the driver: through SQLAlchemy, or `insert_many`'s own `executemany` on SQLite."""
    seen: list[int] = []
    prefix = f"INSERT INTO {table} "

    def count(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if statement.startswith(prefix):
            seen.append(len(params) if executemany else 1)

    class Recording:
        def __init__(self, driver: Any) -> None:
            self.driver = driver

        def executemany(self, sql: str, rows: Iterable[Any]) -> Any:
            rows = list(rows)
            if sql.startswith(prefix):
                seen.append(len(rows))
            return self.driver.executemany(sql, rows)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.driver, name)

    real = engine.sqlite_driver
    event.listen(store.engine, "before_cursor_execute", count)
    engine.sqlite_driver = lambda conn: Recording(real(conn))  # type: ignore[assignment,return-value]
    try:
        yield seen
    finally:
        engine.sqlite_driver = real
        event.remove(store.engine, "before_cursor_execute", count)
