"""Bulk invitation pace: `Sender` against the fake Smile on 127.0.0.1, measured at the fake.

Sends N invites (ledger on SQLite, FULL sync) with the default pacing and prints, per
concurrency: wall time, achieved invites/s, and the most requests the fake saw inside any one
second (Smile's limit is 20). The ideal time for N sends at the default 19/s is (N-1)/19 s.

    .venv/bin/python benchmarks/invite_bench.py [--people 200] [--latency 0.05]

``--latency`` makes the fake answer each request that many seconds late, as a distant Smile
would: concurrency is what keeps the pace then.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flipgen.invites.pacing import Pacer  # noqa: E402
from flipgen.invites.people import Person  # noqa: E402
from flipgen.invites.send import Sender  # noqa: E402
from flipgen.smile import Credentials, SmileClient  # noqa: E402
from flipgen.store import open_store  # noqa: E402
from tests.support.fake_smile import FakeSmile  # noqa: E402


def max_per_second(times: list[float]) -> int:
    return max((sum(1 for t in times if s <= t < s + 1.0) for s in times), default=0)


async def one_run(fake: FakeSmile, root: Path, people: list[Person], template_id: str, concurrency: int) -> float:
    store = open_store(f"sqlite:///{root / f'c{concurrency}.db'}", root)
    client = SmileClient(Credentials(fake.key, fake.secret, fake.url), retries=0)
    sender = Sender(client, store, Pacer(), "bench", "Bench", template_id, "wtpl-bench", concurrency=concurrency)
    started = time.perf_counter()
    try:
        report = await sender.run(people)
    finally:
        await client.aclose()
        store.close()
    assert report.sent == len(people), report
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    people = [Person(i + 2, f"p{i}@example.com", f"Person {i}") for i in range(args.people)]
    ideal = (args.people - 1) / 19
    print(f"{args.people} invites, fake latency {args.latency * 1000:.0f} ms, ideal {ideal:.2f} s at 19/s")
    for concurrency in (1, 4, 8):
        with FakeSmile() as fake, tempfile.TemporaryDirectory() as tmp:
            template_id = fake.create_template()["id"]
            fake.fail_next(hang=args.latency, times=args.people, path="/invites")
            seconds = asyncio.run(one_run(fake, Path(tmp), people, template_id, concurrency))
            peak = max_per_second(fake.times("/invites"))
            assert not fake.violations, fake.violations
        print(
            f"concurrency {concurrency}: {seconds:6.2f} s, {args.people / seconds:5.1f} invites/s, "
            f"peak {peak} requests in one second (limit 20)"
        )


if __name__ == "__main__":
    main()
