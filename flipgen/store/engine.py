"""Opening the application store: SQLite by default, PostgreSQL by URL.

Every write runs in `Store.write()`. On SQLite that transaction starts with `BEGIN IMMEDIATE`, so
two writers never both read and then collide on upgrade to a write lock (SQLITE_BUSY mid
transaction cannot be retried by the busy handler); reads start with a plain deferred `BEGIN`.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from ..errors import UserError

if TYPE_CHECKING:
    from .group import GroupCommitter

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["Store", "WriterQueue", "open_store", "default_url", "insert_many", "sqlite_driver", "ENV_VAR"]

ENV_VAR = "FLIPGEN_DATABASE_URL"
DATA_DIR = ".flipgen"
DB_NAME = "flipgen.db"
# How long a writer waits for SQLite's write lock before giving up (milliseconds).
BUSY_TIMEOUT_MS = 30_000
_WRITE = "flipgen_write"
T = TypeVar("T")
I = TypeVar("I")


class WriterQueue:
    """Makes SQLite writers wait in the kernel for each other, not in SQLite's busy handler.

    SQLite's busy handler polls with growing sleeps (1, 2, 5 … 100 ms): with two worker
    processes the waiting one oversleeps while the lock sits free, which halved throughput and
    pushed p99 into seconds in benchmarks/answers_bench.py. A blocking `flock` on a side file
    wakes the next writer the moment the lock is released (the kernel also releases it if a
    process dies). A thread lock orders the threads of one process, since `flock` only
    excludes other open files. Where `fcntl` is missing (Windows) only the thread lock applies.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._pid = -1
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._held = threading.local()

    @contextmanager
    def hold(self) -> Iterator[None]:
        self._acquire(wait=True)
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def hold_if_free(self) -> Iterator[bool]:
        """`hold` only if no writer has the lock this instant; yields whether it was taken."""
        taken = self._acquire(wait=False)
        try:
            yield taken
        finally:
            if taken:
                self._release()

    def _acquire(self, *, wait: bool) -> bool:
        if getattr(self._held, "active", False):
            raise RuntimeError("store.write() inside store.write() in one thread would deadlock; use one transaction")
        if self._pid != os.getpid():  # a forked child needs its own file description and thread lock
            self._pid, self._threads, self._fd = os.getpid(), threading.Lock(), None
        if not self._threads.acquire(blocking=wait):
            return False
        try:
            if fcntl is not None and self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            if fcntl is not None and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._threads.release()
            return False
        except BaseException:
            self._threads.release()
            raise
        self._held.active = True
        return True

    def _release(self) -> None:
        self._held.active = False
        try:
            if fcntl is not None and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


class Store:
    """An open database: `read()` and `write()` give a Connection inside one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{_WRITE: True})
        database = engine.url.database
        self._queue = WriterQueue(Path(f"{database}-writer.lock")) if engine.dialect.name == "sqlite" else None
        self._committer: GroupCommitter | None = None
        self._kept: tuple[int, Connection] | None = None

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        """The URL with any password masked: the only form of it that may be printed."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (`BEGIN IMMEDIATE` on SQLite), committed on success, rolled back on error."""
        if self._queue is None:
            with self._writer.begin() as conn:
                yield conn
            return
        with self._queue.hold(), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def write_now(self) -> Iterator[Connection | None]:
        """`write()` if SQLite's write lock is free right now, else None: it never waits for
        another writer. (PostgreSQL's writers do not queue behind one lock: always `write()`.)
        Made for the event loop's own small writes (`GroupCommitter.acombined`); on SQLite it
        uses the connection that `write_kept` uses."""
        if self._queue is None:
            with self.write() as conn:
                yield conn
            return
        with self._queue.hold_if_free() as taken:
            if not taken:
                yield None
                return
            with self._kept_transaction() as conn:
                yield conn

    @contextmanager
    def write_kept(self) -> Iterator[Connection]:
        """`write()`, on SQLite on one connection kept open between transactions (the write lock
        lets one thread in at a time): taking a connection from the pool and handing it back
        cost more than the small writes of the group committer and the event loop."""
        if self._queue is None:
            with self.write() as conn:
                yield conn
            return
        with self._queue.hold(), self._kept_transaction() as conn:
            yield conn

    @contextmanager
    def _kept_transaction(self) -> Iterator[Connection]:
        kept = self._kept
        if kept is None or kept[0] != os.getpid():  # first use, or a forked child
            kept = self._kept = (os.getpid(), self._writer.connect())
        conn = kept[1]
        try:
            with conn.begin():
                yield conn
        except (SQLAlchemyError, sqlite3.Error, OSError):
            self._kept = None  # the database failed, not the caller's code: the next one connects anew
            conn.close()
            raise

    @property
    def committer(self) -> GroupCommitter:
        """This process's group committer (created on first use)."""
        if self._committer is None:
            from .group import GroupCommitter

            self._committer = GroupCommitter(self)
        return self._committer

    async def awrite(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in a write transaction, off the event loop; return after the COMMIT.

        The way for request handlers to write. On SQLite, concurrent writes share a transaction
        (group commit, see `flipgen.store.group`): an exception from ``fn`` rolls back only
        ``fn``'s own changes, and ``fn`` may then run twice, so it must only touch the database.
        PostgreSQL takes concurrent transactions itself (and flushes concurrent commits
        together), so there each call is its own transaction on a thread.
        """
        if self._queue is not None:
            return await self.committer.arun(fn)

        def call() -> T:
            with self.write() as conn:
                return fn(conn)

        return await asyncio.to_thread(call)

    async def awrite_combined(self, many: Callable[[Connection, Sequence[I]], Sequence[T]], item: I) -> T:
        """`awrite` of ``many(conn, [item])[0]``, for a write that comes in bursts (a new application
        per mint): on SQLite, the items written together go to ``many`` in one call (one
        `executemany`), and an exception from it is retried item by item, so it fails only its own."""
        if self._queue is not None:
            return await self.committer.acombined(many, item)

        def call() -> T:
            with self.write() as conn:
                (result,) = many(conn, [item])
                return result

        return await asyncio.to_thread(call)

    async def aread(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in a read transaction on a worker thread."""

        def call() -> T:
            with self.read() as conn:
                return fn(conn)

        return await asyncio.to_thread(call)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: a consistent snapshot that never takes SQLite's write lock."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        if self._committer is not None:
            self._committer.close()
        if self._kept is not None and self._kept[0] == os.getpid():
            self._kept[1].close()
        self._kept = None
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def insert_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (mappings that all name the same columns) into ``table`` in one statement.

    On SQLite this runs straight on the sqlite3 connection (one `executemany`), each value
    converted by its column type's own SQLAlchemy bind processor, and a value object shared by
    several rows (a burst's one timestamp) converted once. SQLAlchemy's per-row parameter
    processing cost ~55 µs a row, most of a mint's write (benchmarks/store_bench.py). Python-side
    column defaults are not applied there, so a row must name every such column (checked).
    Elsewhere it is SQLAlchemy's own `insert(table)` with the rows.
    """
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), list(rows))
        return
    sql, names, processed = _sqlite_insert(conn, table, tuple(rows[0]))
    converted: dict[Any, Any] = {}
    params = []
    for row in rows:
        values = [row[name] for name in names]
        for i, process in processed:
            raw = values[i]
            if raw is None:
                continue
            # Per column: every row is alive until the statement ran, so an id names one object,
            # and falsy values of one type (``{}``, ``""``) are equal and convert alike.
            key = (i, id(raw) if raw else type(raw))
            if key not in converted:
                converted[key] = process(raw)
            values[i] = converted[key]
        params.append(values)
    sqlite_driver(conn).executemany(sql, params)


def sqlite_driver(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under ``conn``, for a hot statement that SQLAlchemy's per-call work
    would dominate; inside ``conn``'s transaction like any other statement."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection), "sqlite_driver() needs a SQLite store"
    return driver


_Insert = tuple[str, tuple[str, ...], list[tuple[int, Callable[[Any], Any]]]]
_SQLITE_INSERTS: dict[tuple[str, tuple[str, ...]], _Insert] = {}


def _sqlite_insert(conn: Connection, table: Table, keys: tuple[str, ...]) -> _Insert:
    """The INSERT of ``keys`` into ``table`` (``?`` parameters), and the bind processor of each
    column that has one, by position."""
    found = _SQLITE_INSERTS.get((table.name, keys))
    if found is None:
        dialect = conn.dialect
        defaulted = {c.name for c in table.columns if c.default is not None} - set(keys)
        if defaulted:
            raise ValueError(
                f"insert_many into {table.name} must give {sorted(defaulted)} (their defaults are Python's)"
            )
        processors = [table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in keys]
        processed: list[tuple[int, Callable[[Any], Any]]] = [
            (i, process) for i, process in enumerate(processors) if process is not None
        ]
        sql = str(insert(table).compile(dialect=dialect, column_keys=list(keys)))
        found = _SQLITE_INSERTS[(table.name, keys)] = (sql, keys, processed)
    return found


def default_url(project_root: Path) -> str:
    """`sqlite:///<project>/.flipgen/flipgen.db`."""
    return URL.create("sqlite", database=str(project_root / DATA_DIR / DB_NAME)).render_as_string()


def open_store(url: str | None, project_root: Path, *, migrate: bool = True) -> Store:
    """Open (and by default upgrade) the store at ``url``, else $FLIPGEN_DATABASE_URL, else the project's SQLite file."""
    text = url or os.environ.get(ENV_VAR) or default_url(project_root)
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise UserError(
            f"not a database URL: {_mask(text)!r}; use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed, project_root)
    elif parsed.get_backend_name() == "postgresql":
        engine = _postgres_engine(parsed)
    else:
        raise UserError(f"unsupported database {parsed.get_backend_name()!r}: flipgen stores into SQLite or PostgreSQL")
    store = Store(engine)
    try:
        if engine.dialect.name == "sqlite":
            _ensure_wal(Path(str(engine.url.database)))
        with engine.connect():
            pass
    except (SQLAlchemyError, sqlite3.Error) as exc:
        engine.dispose()
        reason = _mask(str(getattr(exc, "orig", exc)), parsed).strip().splitlines()[0]
        raise UserError(f"cannot open the database {store.display_url}: {reason}") from None
    if migrate:
        from .migrations import upgrade

        upgrade(store)
    return store


def _mask(text: str, url: URL | None = None) -> str:
    """Remove a password from an error message or URL text before it is shown."""
    if url is None:
        try:
            url = make_url(text)
        except ArgumentError:
            return "<unparseable URL>"
        return url.render_as_string(hide_password=True)
    if url.password:
        text = text.replace(str(url.password), "***")
    return text


def _ensure_wal(path: Path) -> None:
    """Switch the SQLite file to WAL once, one opener at a time.

    The switch needs an exclusive lock, and SQLite may answer "database is locked" at once
    (without waiting out the busy timeout) when several workers open a new file together.
    WAL is a property of the file, so doing it here under a side-file lock that nothing else
    takes leaves every later connection nothing to change.
    """
    with open(f"{path}-open.lock", "a+b") as fd:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
            finally:
                connection.close()
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _sqlite_engine(url: URL, project_root: Path) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise UserError("the store needs a SQLite file (sqlite:///path/to/file.db), not an in-memory database")
    path = Path(database)
    if not path.is_absolute():
        path = project_root / path
    if url == make_url(default_url(project_root)):
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise UserError(f"cannot open the database {path}: the folder {path.parent} does not exist")
    engine = create_engine(url.set(database=str(path)), connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (SQLAlchemy's documented recipe) so we choose its kind.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # open_store made the file WAL (_ensure_wal); only a file replaced behind our back isn't.
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit that returned survives power loss, not only a crash of the process.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


def _postgres_engine(url: URL) -> Engine:
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    try:
        # pre_ping: a worker outliving a database restart gets a fresh connection, not an error.
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    except (ImportError, NoSuchModuleError):
        raise UserError(
            "PostgreSQL support is not installed: pip install 'flipgen[postgres]' (psycopg 3 and its pool)"
        ) from None
