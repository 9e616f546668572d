"""CPU per application start through `Store.awrite_combined`, as a token-server worker writes them.

Each process runs an event loop that starts ``--per-turn`` applications at once (as concurrent
mints do), waits for them, and starts the next burst, for ``--seconds``; all processes write one
SQLite file, as ``uvicorn --workers N`` does. Printed: transactions and starts per second, and
the CPU per start with the cost of the loop's own task juggling (the same bursts of empty
coroutines) taken off::

    python benchmarks/store_bench.py                   # 1 and 2 processes, 10 starts a turn
    python benchmarks/store_bench.py --processes 2 --per-turn 1 4 10 20

Without the per-start CPU this shows, `benchmarks/token_bench.py` cannot say what the store
costs a mint: there the store shares two cores with wrk, the upstream and the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _worker(path: str, per_turn: int, seconds: float, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import flipgen.webhooks.outbox  # noqa: F401 - its change listener runs in every start, as in the server
    from flipgen.store import applications as apps
    from flipgen.store import open_store

    store = open_store(f"sqlite:///{path}", Path(path).parent)

    async def burst() -> None:
        new = [apps.NewApplication("acme-income", {}, None, f"user-{i}", "about-you") for i in range(per_turn)]
        await asyncio.gather(*(store.awrite_combined(apps.create_many, n) for n in new))

    async def empty_burst() -> None:
        async def nothing() -> None:
            return None

        await asyncio.gather(*(nothing() for _ in range(per_turn)))

    async def main() -> None:
        for _ in range(50):
            await burst()
        batches = store.committer.batches
        cpu, wall, turns = time.process_time(), time.perf_counter(), 0
        while time.perf_counter() - wall < seconds:
            await burst()
            turns += 1
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        base = time.process_time()
        for _ in range(turns):
            await empty_burst()
        base = time.process_time() - base
        results.put(
            (turns * per_turn / wall, (store.committer.batches - batches) / wall, (cpu - base) / (turns * per_turn))
        )

    asyncio.run(main())
    store.close()


def measure(processes: int, per_turn: int, seconds: float) -> tuple[float, float, float]:
    """(starts/s, transactions/s, median CPU µs per start) over all processes."""
    from flipgen.store import open_store

    with tempfile.TemporaryDirectory() as work:
        path = str(Path(work) / "bench.db")
        open_store(f"sqlite:///{path}", Path(work)).close()
        results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        procs = [
            multiprocessing.Process(target=_worker, args=(path, per_turn, seconds, results)) for _ in range(processes)
        ]
        for proc in procs:
            proc.start()
        got = [results.get(timeout=seconds + 60) for _ in procs]
        for proc in procs:
            proc.join()
    return sum(g[0] for g in got), sum(g[1] for g in got), statistics.median(g[2] for g in got) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--per-turn", type=int, nargs="+", default=[10])
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    for processes in args.processes:
        for per_turn in args.per_turn:
            starts, transactions, cpu = measure(processes, per_turn, args.seconds)
            print(
                f"{processes} process(es), {per_turn:3d} starts a turn: {starts:7.0f} starts/s, "
                f"{transactions:6.0f} transactions/s, {cpu:5.0f} µs CPU per start",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
