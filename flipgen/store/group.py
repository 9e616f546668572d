"""Group commit: concurrent writes of one process share a transaction, so they share its fsync.

A durable commit costs a disk flush, and SQLite lets one writer in at a time: one transaction
per request caps a server at one flush per request. `GroupCommitter` runs every write handed to
it on one writer thread; the writes waiting while a transaction commits go together into the
next one. They run one after another with no SAVEPOINT; if one raises, the transaction is rolled
back and the batch runs again with each write inside its own SAVEPOINT, so the one that raises is
rolled back alone and the others still commit (a write may therefore run twice; it must only
touch the database). A caller gets its result only after the COMMIT returned: an acknowledged write is
on disk, exactly as with `store.write()`. If the COMMIT itself fails, every write of that batch
fails (and none was acknowledged).

Writes of one kind can also share their statements (`acombined`): consecutive jobs that name
the same ``many(conn, items)`` function run as one call of it, so a burst of new applications is
one `executemany` rather than one INSERT (and one SAVEPOINT) each. Per-statement overhead in
SQLAlchemy and the driver is most of a small write's cost.

These are written without the thread: the items queued during one turn of the event loop are
written on the loop thread itself, once the write lock is free (the loop looks again every half
millisecond while another writer has it, and serves requests meanwhile). A writer thread in a
busy server waits for the GIL after every SQLite call (the loop thread keeps it for up to the
5 ms switch interval), so a ten-row transaction took 2–8 ms while holding the lock that the
other worker processes queue behind: `benchmarks/token_bench.py` measured 1.3k mints/s with one
worker or two. On the loop the same transaction takes a fraction of a millisecond. Each
``many`` runs once with no SAVEPOINT (they cost as much as the INSERTs); if one raises, the
transaction is rolled back and the batch runs again carefully, each run in a SAVEPOINT and, if
it still fails, each item alone, so one bad item fails only its own caller.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Connection

from .engine import Store

__all__ = ["GroupCommitter"]

T = TypeVar("T")
I = TypeVar("I")
Many = Callable[[Connection, Sequence[Any]], Sequence[Any]]
# Bounds one transaction's work (and the lock hold time the other worker waits through).
MAX_BATCH = 64
# `acombined`: while another writer holds the lock, the loop looks again every LOOP_RETRY
# seconds, and after LOOP_TRIES looks (20 ms) every LOOP_RETRY_LATER.
LOOP_RETRY = 0.0005
LOOP_TRIES = 40
LOOP_RETRY_LATER = 0.002


class _Outcome(Protocol):
    """Where a job's result goes: a concurrent Future (`submit`) or an asyncio one (`acombined`)."""

    def set_result(self, result: Any, /) -> None: ...
    def set_exception(self, exception: BaseException, /) -> None: ...
    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...


@dataclass
class _Job:
    fn: Callable[[Connection], Any] | None
    future: _Outcome
    many: Many | None = None  # set for a combinable job: ``many(conn, [item, …])`` runs it
    item: Any = None


class _Retry(Exception):
    """A write raised on the fast way (no SAVEPOINTs): roll back, and write the batch again carefully."""


class GroupCommitter:
    """Runs write functions ``fn(conn)`` on one writer thread, batching those that arrive together."""

    def __init__(self, store: Store, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = -1
        self._start_lock = threading.Lock()
        self.batches = 0  # committed transactions, for benchmarks and tests
        self._soon: list[_Job] = []  # `acombined` jobs waiting for this loop turn's flush
        self._flush_loop: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on

    def submit(self, fn: Callable[[Connection], T]) -> Future[T]:
        """Queue ``fn``; the future resolves after its transaction committed (or with its exception)."""
        self._ensure_thread()
        future: Future[T] = Future()
        self._jobs.put(_Job(fn, future))
        return future

    async def acombined(self, many: Callable[[Connection, Sequence[I]], Sequence[T]], item: I) -> T:
        """Queue ``item`` for ``many`` (which returns one result per item, in order); the items queued
        in one turn of the loop run as one call, written on the loop thread (see the module's docstring)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._soon.append(_Job(None, future, many, item))
        if self._flush_loop is None or self._flush_loop.is_closed():  # (a closed loop never flushes)
            self._flush_loop = loop
            loop.call_soon(self._flush_soon, 0)
        return await future

    def _flush_soon(self, tries: int, careful: bool = False) -> None:
        """Write the queued items in one transaction if the lock is free, else look again soon.

        The fast way calls each ``many`` once with no SAVEPOINT; if a call raises, the whole
        transaction is rolled back and the batch goes again, carefully: each run in a SAVEPOINT
        and, if it still fails, each item alone (`_transact`), so only the bad item fails."""
        loop = asyncio.get_running_loop()
        batch = self._soon
        outcomes: Outcomes = []
        try:
            with self.store.write_now() as conn:
                if conn is None:  # another writer is committing: gather more, look again soon
                    delay = LOOP_RETRY if tries < LOOP_TRIES else LOOP_RETRY_LATER
                    loop.call_later(delay, self._flush_soon, tries + 1, careful)
                    return
                self._soon, self._flush_loop = [], None
                batch = [job for job in batch if not job.future.cancelled()]
                if careful:
                    _transact(conn, batch, outcomes)
                else:
                    _fast(conn, batch, outcomes)
        except _Retry:  # a combined call raised: nothing was written; again, carefully
            self._soon, self._flush_loop = batch + self._soon, loop
            loop.call_soon(self._flush_soon, 0, True)
            return
        except Exception as exc:  # noqa: BLE001 - BEGIN/COMMIT failed: nothing of the batch is durable
            if self._soon is batch:  # failed before taking the batch: later calls start a new one
                self._soon, self._flush_loop = [], None
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self.batches += 1
        _settle(outcomes)

    def run(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in the next group transaction and wait for the commit (from any thread but the writer's)."""
        return self.submit(fn).result()

    async def arun(self, fn: Callable[[Connection], T]) -> T:
        """`run` for asyncio code: the event loop keeps serving while the write waits for its commit."""
        return await asyncio.wrap_future(self.submit(fn))

    def close(self) -> None:
        """Finish the queued writes and stop the writer thread."""
        thread = self._thread
        if thread is not None and self._pid == os.getpid():
            self._jobs.put(None)
            thread.join()
        self._thread = None

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._start_lock:
            if self._thread is None or self._pid != os.getpid():  # first use, or a forked child
                self._jobs = queue.SimpleQueue()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name="flipgen-group-commit", daemon=True)
                self._thread.start()

    def _take_batch(self) -> tuple[list[_Job], bool]:
        """Block for one job, then take whatever else is already waiting; (batch, stop requested)."""
        first = self._jobs.get()
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _loop(self) -> None:
        stop = False
        while not stop:
            batch, stop = self._take_batch()
            batch = [job for job in batch if cast(Future[Any], job.future).set_running_or_notify_cancel()]
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[_Job]) -> None:
        """The batch in one transaction: the fast way, and if a job raised, again carefully."""
        outcomes: Outcomes = []
        try:
            try:
                with self.store.write_kept() as conn:
                    _fast(conn, batch, outcomes)
            except _Retry:  # a job raised: nothing was written; each job in its own SAVEPOINT now
                outcomes = []
                with self.store.write_kept() as conn:
                    _transact(conn, batch, outcomes)
        except BaseException as exc:  # noqa: BLE001 - BEGIN/COMMIT failed: nothing of the batch is durable
            for job in batch:
                job.future.set_exception(exc)
            return
        self.batches += 1
        _settle(outcomes)


Outcomes = list[tuple[_Job, Any, BaseException | None]]


def _transact(conn: Connection, batch: list[_Job], outcomes: Outcomes) -> None:
    """Run the batch's jobs in the open transaction ``conn``, each run of combinable jobs as one call."""
    for run in _runs(batch):
        if len(run) == 1 or not _combined(conn, run, outcomes):
            for job in run:
                _alone(conn, job, outcomes)


def _fast(conn: Connection, batch: list[_Job], outcomes: Outcomes) -> None:
    """Every job of the batch with no SAVEPOINT (each run of combinable jobs as one call):
    `_Retry` if any raised, and the caller rolls the transaction back."""
    for run in _runs(batch):
        first = run[0]
        results: Sequence[Any]
        try:
            if first.many is None:
                assert first.fn is not None
                results = [first.fn(conn)]
            else:
                results = first.many(conn, [job.item for job in run])
        except BaseException:  # noqa: BLE001 - the careful pass gives each caller its own outcome
            raise _Retry from None
        if len(results) != len(run):
            raise _Retry
        outcomes.extend((job, result, None) for job, result in zip(run, results, strict=True))


def _settle(outcomes: Outcomes) -> None:
    """Hand each caller its result, once the COMMIT returned."""
    for job, result, error in outcomes:
        if error is None:
            job.future.set_result(result)
        else:
            job.future.set_exception(error)


def _runs(batch: list[_Job]) -> list[list[_Job]]:
    """The batch cut into runs: consecutive combinable jobs of one ``many``, or single jobs."""
    runs: list[list[_Job]] = []
    for job in batch:
        if runs and job.many is not None and runs[-1][-1].many is job.many:
            runs[-1].append(job)
        else:
            runs.append([job])
    return runs


def _alone(conn: Connection, job: _Job, outcomes: Outcomes) -> None:
    """Run one job inside its own SAVEPOINT: its exception undoes only its own changes."""
    savepoint = conn.begin_nested()
    try:
        result = job.fn(conn) if job.fn is not None else _only(job.many, conn, job.item)
    except BaseException as exc:  # noqa: BLE001 - handed to the caller; the writer thread must live on
        savepoint.rollback()
        outcomes.append((job, None, exc))
    else:
        savepoint.commit()
        outcomes.append((job, result, None))


def _combined(conn: Connection, run: list[_Job], outcomes: Outcomes) -> bool:
    """Run combinable jobs as one call inside one SAVEPOINT; False (and nothing done) if it raised."""
    many = run[0].many
    assert many is not None
    savepoint = conn.begin_nested()
    try:
        results = many(conn, [job.item for job in run])
        if len(results) != len(run):
            raise RuntimeError(f"{many.__qualname__} returned {len(results)} results for {len(run)} items")
    except BaseException:  # noqa: BLE001 - retried one by one, so each caller gets its own outcome
        savepoint.rollback()
        return False
    savepoint.commit()
    outcomes.extend((job, result, None) for job, result in zip(run, results, strict=True))
    return True


def _only(many: Many | None, conn: Connection, item: Any) -> Any:
    assert many is not None
    (result,) = many(conn, [item])
    return result
