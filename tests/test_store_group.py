"""Group commit: concurrent writes share a transaction, fail alone, and are acknowledged only once durable."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event

from flipgen.store import Store, open_store
from flipgen.store import applications as apps
from flipgen.store.group import GroupCommitter
from tests.support.db import another_writer, inserts_into


def _count(store: Store) -> int:
    with store.read() as conn:
        return len(apps.list_applications(conn))


def test_writes_waiting_together_share_one_transaction(store: Store) -> None:
    group = GroupCommitter(store)
    gate = threading.Event()
    started = threading.Event()

    def blocker(conn: Connection) -> str:
        started.set()
        gate.wait(10)
        return apps.create(conn, site="first").id

    first = group.submit(blocker)
    assert started.wait(10)
    waiting = [group.submit(lambda conn, i=i: apps.create(conn, site=f"s{i}").id) for i in range(20)]
    gate.set()
    ids = [f.result(10) for f in [first, *waiting]]
    group.close()
    assert len(set(ids)) == 21 and _count(store) == 21
    assert group.batches == 2  # the first alone, then all twenty that queued behind it


def test_a_failing_write_rolls_back_alone(store: Store) -> None:
    group = GroupCommitter(store)
    gate = threading.Event()
    group.submit(lambda conn: gate.wait(10))

    def bad(conn: Connection) -> None:
        apps.create(conn, site="bad")
        raise ValueError("refused")

    good1 = group.submit(lambda conn: apps.create(conn, site="good").id)
    failing = group.submit(bad)
    good2 = group.submit(lambda conn: apps.create(conn, site="good").id)
    gate.set()
    assert good1.result(10) and good2.result(10)
    with pytest.raises(ValueError, match="refused"):
        failing.result(10)
    group.close()
    with store.read() as conn:
        assert sorted(a.site for a in apps.list_applications(conn)) == ["good", "good"]


def test_a_result_is_only_handed_back_after_commit(store: Store) -> None:
    async def main() -> list[str]:
        made = await asyncio.gather(*(store.awrite(lambda conn: apps.create(conn, site="a")) for _ in range(30)))
        # Visible to a new connection the moment the awaits returned: committed, not merely executed.
        seen = await store.aread(lambda conn: {a.id for a in apps.list_applications(conn)})
        assert {m.id for m in made} <= seen
        return [m.id for m in made]

    assert len(set(asyncio.run(main()))) == 30
    assert store.committer.batches <= 30


def test_a_failed_commit_fails_every_write_of_the_batch(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    group = GroupCommitter(store)

    class Broken:
        def __enter__(self) -> None:
            raise OSError("disk full")

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(store, "write_kept", lambda: Broken())
    with pytest.raises(OSError, match="disk full"):
        group.run(lambda conn: apps.create(conn, site="x"))
    group.close()


WRITER = """
import asyncio, sys
from pathlib import Path
from flipgen.store import open_store
from flipgen.store import applications as apps

store = open_store(sys.argv[1], Path(sys.argv[2]))

async def visitor() -> None:
    while True:
        if sys.argv[3] == "combined":
            app = await store.awrite_combined(apps.create_many, apps.NewApplication("durable"))
        else:
            app = await store.awrite(lambda c: apps.create(c, site="durable"))
        sys.stdout.write(app.id + "\\n")
        sys.stdout.flush()

async def main() -> None:
    await asyncio.gather(*(visitor() for _ in range(40)))

asyncio.run(main())
"""


@pytest.mark.parametrize("how", ["awrite", "combined"])
def test_every_acknowledged_write_survives_kill_9(db_url: str, tmp_path: Path, how: str) -> None:
    import signal
    import subprocess
    import sys
    import time

    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, db_url, str(tmp_path), how], stdout=subprocess.PIPE, text=True)
        for _ in range(2)  # two workers, as a server runs
    ]
    acknowledged: list[str] = []
    deadline = time.monotonic() + 30
    for proc in procs:
        assert proc.stdout is not None
        while len(acknowledged) < 100 * (procs.index(proc) + 1) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "writer died"
            acknowledged.append(line.strip())
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
    for proc in procs:
        rest, _ = proc.communicate(timeout=30)
        # Whole lines only: a line cut by the kill was not acknowledged.
        acknowledged += [line for line in rest.split("\n") if len(line) == len(acknowledged[0])]
    assert len(acknowledged) >= 200
    with open_store(db_url, tmp_path) as store, store.read() as conn:
        stored = [a.id for a in apps.list_applications(conn, site="durable")]
    assert len(stored) == len(set(stored))
    assert set(acknowledged) <= set(stored)


def test_the_writer_survives_a_write_that_raises_system_exit(store: Store) -> None:
    group = GroupCommitter(store)

    def leave(conn: Connection) -> None:
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        group.run(leave)
    assert group.run(lambda conn: apps.create(conn, site="after").site) == "after"
    group.close()


# --------------------------------------------------------------------------- combined writes on the loop


def _sqlite(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'combined.db'}", tmp_path)


def test_starts_queued_in_one_loop_turn_share_one_insert_and_one_commit(tmp_path: Path) -> None:
    with _sqlite(tmp_path) as store, inserts_into(store, "applications") as inserts:

        async def main() -> list[apps.Application]:
            new = [apps.NewApplication(f"site-{i}", {"i": str(i)}, first_screen="a") for i in range(20)]
            return await asyncio.gather(*(store.awrite_combined(apps.create_many, n) for n in new))

        made = asyncio.run(main())
        assert [a.site for a in made] == [f"site-{i}" for i in range(20)]  # each caller gets its own row
        assert inserts == [20] and store.committer.batches == 1
        with store.read() as conn:
            assert {a.id: a.params for a in apps.list_applications(conn)} == {a.id: a.params for a in made}
            assert [(v.application_id, v.screen) for v in apps.visits(conn, app_ids=[made[7].id])] == [
                (made[7].id, "a")
            ]


def test_a_healthy_batch_runs_no_savepoint_and_a_failing_one_is_retried_with_them(tmp_path: Path) -> None:
    statements: list[str] = []

    def many(conn: Connection, items: Sequence[str]) -> list[str]:
        if "bad" in items:
            raise ValueError("refused")
        return [a.id for a in apps.create_many(conn, [apps.NewApplication(item) for item in items])]

    with _sqlite(tmp_path) as store:
        event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2].split()[0]))

        async def main(names: list[str]) -> list[str | BaseException]:
            return await asyncio.gather(*(store.awrite_combined(many, n) for n in names), return_exceptions=True)

        assert all(isinstance(r, str) for r in asyncio.run(main(["a", "b", "c"])))
        assert "SAVEPOINT" not in statements  # the fast way: one call, no SAVEPOINT per item
        first, failed = asyncio.run(main(["d", "bad"]))
        assert isinstance(failed, ValueError) and isinstance(first, str)
        assert "SAVEPOINT" in statements and "ROLLBACK" in statements  # the careful way, after a rollback
        assert sorted(a.site for a in _all(store)) == ["a", "b", "c", "d"]


def test_a_combined_item_that_fails_fails_alone(tmp_path: Path) -> None:
    def many(conn: Connection, items: Sequence[str]) -> list[str]:
        made = apps.create_many(conn, [apps.NewApplication(item) for item in items])
        if "bad" in items:
            raise ValueError("refused")
        return [a.id for a in made]

    with _sqlite(tmp_path) as store:

        async def main() -> list[str | BaseException]:
            names = ["good", "bad", "good"]
            return await asyncio.gather(*(store.awrite_combined(many, n) for n in names), return_exceptions=True)

        first, failed, third = asyncio.run(main())
        assert isinstance(failed, ValueError)
        with store.read() as conn:
            stored = {a.id: a.site for a in apps.list_applications(conn)}
        assert stored == {first: "good", third: "good"}  # the retried items, not the refused one


def test_the_loop_keeps_serving_while_another_writer_holds_the_lock(tmp_path: Path) -> None:
    with _sqlite(tmp_path) as store, another_writer(store) as release:

        async def main() -> tuple[int, int]:
            ticks = 0
            write = asyncio.ensure_future(store.awrite_combined(apps.create_many, apps.NewApplication("waits")))
            for _ in range(20):
                await asyncio.sleep(0.005)
                ticks += 1
            assert not write.done()  # still waiting for the lock, yet the loop ran every tick
            release.set()
            made = await asyncio.wait_for(write, 10)
            assert made.site == "waits"
            return ticks, _count(store)

        assert asyncio.run(main()) == (20, 1)


def test_a_failed_transaction_fails_its_batch_and_the_next_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _sqlite(tmp_path) as store:
        real = store.write_now
        broken = [True]

        def write_now() -> Any:
            if broken.pop() if broken else False:
                raise OSError("disk full")
            return real()

        monkeypatch.setattr(store, "write_now", write_now)

        async def main() -> tuple[list[Any], apps.Application]:
            first = await asyncio.gather(
                *(store.awrite_combined(apps.create_many, apps.NewApplication("x")) for _ in range(3)),
                return_exceptions=True,
            )
            return first, await store.awrite_combined(apps.create_many, apps.NewApplication("after"))

        first, after = asyncio.run(main())
        assert all(isinstance(e, OSError) for e in first)
        assert after.site == "after" and _count(store) == 1


def test_a_loop_that_closed_with_a_flush_pending_does_not_stall_the_next_one(tmp_path: Path) -> None:
    with _sqlite(tmp_path) as store:

        async def abandoned() -> None:  # the loop ends (a server shutting down) while its write waits
            write = asyncio.ensure_future(store.awrite_combined(apps.create_many, apps.NewApplication("lost")))
            await asyncio.sleep(0.01)
            write.cancel()

        with another_writer(store):
            asyncio.run(abandoned())

        async def later() -> apps.Application:
            return await asyncio.wait_for(store.awrite_combined(apps.create_many, apps.NewApplication("next")), 10)

        assert asyncio.run(later()).site == "next"
        assert [a.site for a in _all(store)] == ["next"]  # the cancelled start was never written


def _all(store: Store) -> list[apps.Application]:
    with store.read() as conn:
        return apps.list_applications(conn)


def test_write_now_writes_when_free_and_never_waits_on_sqlite(store: Store) -> None:
    with store.write_now() as conn:
        assert conn is not None
        apps.create(conn, site="now")
    assert _count(store) == 1
    if store.backend == "sqlite":
        with another_writer(store), store.write_now() as busy:
            assert busy is None  # the lock is taken: no waiting, no transaction
