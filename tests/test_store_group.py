"""Group commit: concurrent writes share a transaction, fail alone, and are acknowledged only once durable."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection

from flipgen.store import Store, open_store
from flipgen.store import applications as apps
from flipgen.store.group import GroupCommitter


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

    monkeypatch.setattr(store, "write", lambda: Broken())
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
        app = await store.awrite(lambda c: apps.create(c, site="durable"))
        sys.stdout.write(app.id + "\\n")
        sys.stdout.flush()

async def main() -> None:
    await asyncio.gather(*(visitor() for _ in range(40)))

asyncio.run(main())
"""


def test_every_acknowledged_write_survives_kill_9(db_url: str, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, db_url, str(tmp_path)], stdout=subprocess.PIPE, text=True)
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
        acknowledged += [line for line in rest.split("\n") if len(line) == 24]
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
