"""The store engine and migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, func, insert, inspect, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.types import TypeDecorator

from flipgen.errors import UserError
from flipgen.store import Store, default_url, open_store
from flipgen.store import migrations as mig
from flipgen.store.engine import insert_many
from flipgen.store.types import JSONDocument, UTCDateTime


def test_default_store_is_sqlite_in_the_project_with_durable_settings(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        assert store.backend == "sqlite"
        assert (tmp_path / ".flipgen" / "flipgen.db").is_file()
        with store.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_environment_variable_chooses_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere.db"
    monkeypatch.setenv("FLIPGEN_DATABASE_URL", f"sqlite:///{target}")
    with open_store(None, tmp_path):
        pass
    assert target.is_file()
    assert not (tmp_path / ".flipgen").exists()


def test_sqlite_writes_hold_the_write_lock_from_begin_and_reads_do_not(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        other = sqlite3.connect(tmp_path / ".flipgen" / "flipgen.db", timeout=0.05, isolation_level=None)
        with store.read():
            other.execute("BEGIN IMMEDIATE")  # a reader leaves the write lock free
            other.execute("ROLLBACK")
        with store.write():
            # BEGIN IMMEDIATE already took the lock, before any statement ran.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        other.close()


def test_write_rolls_back_on_error(store: Store) -> None:
    from flipgen.store import applications as apps

    with pytest.raises(RuntimeError), store.write() as conn:
        apps.create(conn, site="s")
        raise RuntimeError("boom")
    with store.read() as conn:
        assert apps.list_applications(conn) == []


def test_upgrade_records_every_migration_once(store: Store) -> None:
    assert mig.upgrade(store) == []
    state = mig.status(store)
    assert state and all(applied is not None for _, applied in state)
    assert [m.id for m, _ in state][0] == "applications.0001"
    with store.read() as conn:
        tables = set(inspect(conn).get_table_names())
    assert {"schema_version", "applications", "application_screens"} <= tables


def test_status_of_an_empty_database_lists_pending_migrations(db_url: str, tmp_path: Path) -> None:
    with open_store(db_url, tmp_path, migrate=False) as store:
        assert all(applied is None for _, applied in mig.status(store))
        assert "applications.0001" in mig.upgrade(store)
        assert all(applied is not None for _, applied in mig.status(store))


@pytest.fixture
def extra_migration(monkeypatch: pytest.MonkeyPatch) -> Table:
    """A feature module registering its own table, as webhooks and invites will."""
    monkeypatch.setattr(mig, "_registry", dict(mig._registry))
    table = Table("extra_things", MetaData(), Column("n", Integer))

    @mig.migration("test.0001", "a table created exactly once")
    def create_extra(conn: Connection) -> None:
        table.create(conn)  # no checkfirst: a second run would fail
        conn.execute(insert(table).values(n=1))

    return table


def test_concurrent_upgrades_apply_each_migration_exactly_once(
    db_url: str, tmp_path: Path, extra_migration: Table
) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start_worker() -> None:
        try:
            barrier.wait()
            open_store(db_url, tmp_path).close()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start_worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_store(db_url, tmp_path) as store, store.read() as conn:
        assert conn.execute(select(func.count()).select_from(extra_migration)).scalar_one() == 1
        ids = [r.id for r in conn.execute(select(mig.schema_version.c.id))]
        assert sorted(ids) == sorted(set(ids)) and "test.0001" in ids


def test_unknown_applied_migration_is_reported(store: Store) -> None:
    with store.write() as conn:
        conn.execute(
            text("INSERT INTO schema_version (id, description, applied_at) VALUES ('future.0001', 'x', :t)"),
            {"t": "2030-01-01 00:00:00"},
        )
    assert mig.unknown_applied(store) == ["future.0001"]


def test_unreachable_postgres_is_a_user_error_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        open_store("postgresql+psycopg://flip:s3cr3t-pw@127.0.0.1:1/db", tmp_path)
    assert "s3cr3t-pw" not in info.value.message
    assert "cannot open the database postgresql+psycopg://flip:***@127.0.0.1:1/db" in info.value.message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nonsense", "not a database URL"),
        ("mysql://u:pw@127.0.0.1/db", "unsupported database 'mysql'"),
        ("sqlite://", "needs a SQLite file"),
        ("sqlite:////no/such/folder/x.db", "does not exist"),
    ],
)
def test_bad_urls_are_user_errors(tmp_path: Path, url: str, expected: str) -> None:
    with pytest.raises(UserError, match=expected):
        open_store(url, tmp_path)


def test_default_url_points_into_the_project(tmp_path: Path) -> None:
    assert default_url(tmp_path) == f"sqlite:///{tmp_path}/.flipgen/flipgen.db"


def test_a_nested_write_fails_fast_instead_of_deadlocking(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store, store.write():
        with pytest.raises(RuntimeError, match="inside store.write"), store.write():
            pass


WRITER = """
import sys, time
from pathlib import Path
from flipgen.store import open_store
from flipgen.store import applications as apps
store = open_store(None, Path(sys.argv[1]))
print("ready", flush=True)
with store.write() as conn:
    apps.create(conn, site="child")
print(f"wrote {time.time()}", flush=True)
"""


def test_sqlite_writers_in_other_processes_queue_on_the_writer_lock(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    with open_store(None, tmp_path) as store:
        assert store._queue is not None
        with store._queue.hold():  # only the queue, no SQLite transaction: the child must wait here
            child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            time.sleep(0.5)
            assert child.poll() is None
            released = time.time()
        out, _ = child.communicate(timeout=30)
        assert child.returncode == 0
        assert float(out.split()[-1]) >= released


def test_application_ids_are_safe_on_a_command_line_and_in_a_spreadsheet() -> None:
    from flipgen.store.applications import new_id

    ids = {new_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 44 and i[0] not in "-=+@" and re.fullmatch("[0-9a-f]+", i) for i in ids)
    assert len({i[14:] for i in ids}) == 2000  # 120 random bits each, whatever the clock says


def test_application_ids_sort_by_creation_time() -> None:
    import time

    from flipgen.store.applications import new_id

    made = []
    for _ in range(5):
        made.append(new_id())
        time.sleep(0.002)
    assert made == sorted(made)
    assert abs(int(made[-1][:14], 16) / 1e6 - time.time()) < 60


# --------------------------------------------------------------------------- insert_many and write_now


_things = Table(
    "things",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(20), nullable=False),
    Column("doc", JSONDocument(), nullable=False),
    Column("at", UTCDateTime()),
    Column("count", Integer, nullable=False, default=0),
)


def test_insert_many_stores_what_sqlalchemy_would_on_both_backends(store: Store) -> None:
    at = datetime(2026, 12, 2, 15, 30, 1, 123456, tzinfo=UTC)
    shared = {"same": ["object", 1]}
    rows = [
        {"name": "a", "doc": shared, "at": at, "count": 1},
        {"name": "b", "doc": shared, "at": None, "count": 2},
        {"name": "c", "doc": {"ü": "ß"}, "at": at, "count": 0},
    ]
    with store.write() as conn:
        _things.create(conn)
        insert_many(conn, _things, rows)
        insert_many(conn, _things, [])  # nothing to do, no statement
        conn.execute(insert(_things), [{"name": "by-sqlalchemy", "doc": shared, "at": at}])
    with store.read() as conn:
        got = [tuple(r) for r in conn.execute(select(_things).order_by(_things.c.id))]
    assert got == [
        (1, "a", shared, at, 1),
        (2, "b", shared, None, 2),
        (3, "c", {"ü": "ß"}, at, 0),
        (4, "by-sqlalchemy", shared, at, 0),  # the same text, read back the same way
    ]


def test_insert_many_refuses_to_skip_a_python_side_default_on_sqlite(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'd.db'}", tmp_path) as store, store.write() as conn:
        _things.create(conn)
        with pytest.raises(ValueError, match=r"must give \['count'\]"):
            insert_many(conn, _things, [{"name": "x", "doc": {}}])


def test_the_kept_connection_survives_a_callers_error_and_not_a_database_error(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'k.db'}", tmp_path) as store:
        with store.write_now() as first:
            assert first is not None
            first.execute(text("CREATE TABLE t (x INTEGER)"))
        with store.write_kept() as second:
            assert second is first  # no pool round trip per small write, from the loop or the writer thread
            second.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(RuntimeError), store.write_now() as third:
            third.execute(text("INSERT INTO t VALUES (2)"))
            raise RuntimeError("the caller's code fails")
        with store.write_kept() as fourth:
            assert fourth is first and not first.closed  # rolled back, still good
            assert fourth.execute(text("SELECT x FROM t")).scalars().all() == [1]
        with pytest.raises(OperationalError), store.write_kept() as fifth:
            fifth.execute(text("INSERT INTO no_such_table VALUES (1)"))
        assert first.closed  # the database failed: this connection may be broken, so it goes
        with store.write_now() as sixth:
            assert sixth is not None and sixth is not first
            assert sixth.execute(text("SELECT x FROM t")).scalars().all() == [1]
    assert sixth.closed  # closing the store closes the kept connection


class _Shout(TypeDecorator[str]):
    impl = String(20)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.upper() + "!"


class _Whisper(TypeDecorator[str]):
    impl = String(20)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.lower() + "?"


def test_insert_many_converts_a_value_shared_by_two_columns_for_each_column(tmp_path: Path) -> None:
    voices = Table("voices", MetaData(), Column("loud", _Shout()), Column("quiet", _Whisper()))
    same = "Ab"
    with open_store(f"sqlite:///{tmp_path / 'v.db'}", tmp_path) as store, store.write() as conn:
        voices.create(conn)
        insert_many(conn, voices, [{"loud": same, "quiet": same}, {"loud": "", "quiet": ""}])
        got = conn.execute(text("SELECT loud, quiet FROM voices ORDER BY rowid")).all()
    assert [tuple(r) for r in got] == [("AB!", "ab?"), ("!", "?")]
