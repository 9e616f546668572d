"""Group commit: concurrent writes of one process share a transaction, so they share its fsync.

A durable commit costs a disk flush, and SQLite lets one writer in at a time: one transaction
per request caps a server at one flush per request. `GroupCommitter` runs every write handed to
it on one writer thread; the writes waiting while a transaction commits go together into the
next one, each inside its own SAVEPOINT, so one that raises is rolled back alone and the others
still commit. A caller gets its result only after the COMMIT returned: an acknowledged write is
on disk, exactly as with `store.write()`. If the COMMIT itself fails, every write of that batch
fails (and none was acknowledged).
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection

from .engine import Store

__all__ = ["GroupCommitter"]

T = TypeVar("T")
# Bounds one transaction's work (and the lock hold time the other worker waits through).
MAX_BATCH = 64


@dataclass
class _Job:
    fn: Callable[[Connection], Any]
    future: Future[Any] = field(default_factory=Future)


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

    def submit(self, fn: Callable[[Connection], T]) -> Future[T]:
        """Queue ``fn``; the future resolves after its transaction committed (or with its exception)."""
        self._ensure_thread()
        job = _Job(fn)
        self._jobs.put(job)
        return job.future

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
            batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            with self.store.write() as conn:
                for job in batch:
                    savepoint = conn.begin_nested()
                    try:
                        result = job.fn(conn)
                    except BaseException as exc:  # noqa: BLE001 - handed to the caller; the writer thread must live on
                        savepoint.rollback()
                        outcomes.append((job, None, exc))
                    else:
                        savepoint.commit()
                        outcomes.append((job, result, None))
        except BaseException as exc:  # noqa: BLE001 - BEGIN/COMMIT failed: nothing of the batch is durable
            for job in batch:
                job.future.set_exception(exc)
            return
        self.batches += 1
        for job, result, error in outcomes:
            if error is None:
                job.future.set_result(result)
            else:
                job.future.set_exception(error)
