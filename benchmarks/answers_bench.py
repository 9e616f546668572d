"""Durable submissions per second, SQLite and PostgreSQL, 2 workers, beside a same-run floor.

One *submission* is the work of one visitor: the application is created, its answers saved,
then submitted: three durable write transactions. Three loops measure it, each with 2 worker
processes for the same number of seconds, on a fresh database:

- **floor**: a bare loop of the same three statements (INSERT, UPDATE answers, UPDATE status)
  on the driver (sqlite3 / psycopg), same durability settings (SQLite: WAL, synchronous=FULL,
  BEGIN IMMEDIATE; PostgreSQL: synchronous_commit on), nothing else;
- **store**: the same through `flipgen.store` (SQLAlchemy Core, listeners, idempotency checks),
  one visitor per worker, one transaction per write;
- **grouped**: the same through `Store.awrite` (group commit) with 200 concurrent visitors
  (100 per worker) writing as fast as they can: throughput (latency = clients / throughput);
- **paced**: 200 visitors each writing once per ``--think`` second (an open load of 200
  writes/s): the p99 of one write, the latency a visitor feels at that load;
- **http** (with ``--http``): the same through the server's endpoints with 200 concurrent
  clients (see `http_flow`), which also gives the p99 latency.

    python benchmarks/answers_bench.py                   # both backends, floor + store
    python benchmarks/answers_bench.py --http            # + through HTTP
    python benchmarks/answers_bench.py --backend sqlite --seconds 3

Targets (issue 10): HTTP on SQLite ≥ 0.5× the floor; p99 ≤ 50 ms at 200 concurrent clients.
PostgreSQL must answer on 127.0.0.1:5432/test (FLIPGEN_BENCH_POSTGRES_URL overrides); the
bench works in its own schema and drops it. Read the same-run ratios, not absolute numbers:
the machine's cores are shared.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing as mp
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402

from flipgen.store import applications as apps  # noqa: E402
from flipgen.store import open_store  # noqa: E402

POSTGRES_URL = os.environ.get("FLIPGEN_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ANSWERS = {
    "full_name": "Zoë Example-Person",
    "email": "zoe@example.com",
    "work_type": "employed",
    "monthly_income": 4200,
    "consent": True,
}
Loop = Callable[[str, float], list[float]]


# ---------------------------------------------------------------------------------------- loops
# Each runs in its own process until the deadline and returns one latency (s) per submission.


def floor_sqlite(url: str, deadline: float) -> list[float]:
    import sqlite3

    con = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000", "foreign_keys=ON"):
        con.execute(f"PRAGMA {pragma}")
    answers = json.dumps(ANSWERS)
    latencies = []
    while (start := time.perf_counter()) < deadline:
        app_id, now = secrets.token_urlsafe(18), datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
        for sql, args in (
            (
                "INSERT INTO applications (id, site, status, answers, params, accounts, uploads, created_at, updated_at)"
                " VALUES (?, 'bench', 'started', '{}', '{}', 0, 0, ?, ?)",
                (app_id, now, now),
            ),
            ("UPDATE applications SET answers = ?, updated_at = ? WHERE id = ?", (answers, now, app_id)),
            (
                "UPDATE applications SET status = 'submitted', submitted_at = ?, updated_at = ? WHERE id = ?",
                (now, now, app_id),
            ),
        ):
            con.execute("BEGIN IMMEDIATE")
            con.execute(sql, args)
            con.execute("COMMIT")
        latencies.append(time.perf_counter() - start)
    con.close()
    return latencies


def floor_postgres(url: str, deadline: float) -> list[float]:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    con = psycopg.connect(
        host=u.host, port=u.port, user=u.username, dbname=u.database, options=str(u.query.get("options", ""))
    )
    answers = json.dumps(ANSWERS)
    latencies = []
    while (start := time.perf_counter()) < deadline:
        app_id, now = secrets.token_urlsafe(18), datetime.now(UTC)
        for sql, args in (
            (
                "INSERT INTO applications (id, site, status, answers, params, accounts, uploads, created_at, updated_at)"
                " VALUES (%s, 'bench', 'started', '{}', '{}', 0, 0, %s, %s)",
                (app_id, now, now),
            ),
            ("UPDATE applications SET answers = %s, updated_at = %s WHERE id = %s", (answers, now, app_id)),
            (
                "UPDATE applications SET status = 'submitted', submitted_at = %s, updated_at = %s WHERE id = %s",
                (now, now, app_id),
            ),
        ):
            with con.transaction():
                con.execute(sql, args)
        latencies.append(time.perf_counter() - start)
    con.close()
    return latencies


def store_loop(url: str, deadline: float) -> list[float]:
    store = open_store(url, Path(tempfile.gettempdir()), migrate=False)
    latencies = []
    while (start := time.perf_counter()) < deadline:
        with store.write() as conn:
            app = apps.create(conn, site="bench", first_screen="about-you")
        with store.write() as conn:
            apps.save_answers(conn, app.id, ANSWERS, screen="about-you", next_screen="done")
        with store.write() as conn:
            apps.submit(conn, app.id)
        latencies.append(time.perf_counter() - start)
    store.close()
    return latencies


def grouped_loop(url: str, deadline: float, clients: int, think: float = 0.0) -> list[float]:
    """``clients`` concurrent visitors in this process, writing through `Store.awrite` (group commit).

    With ``think`` = 0 each visitor submits as fast as it can and one latency per submission is
    returned; otherwise each visitor waits ``think`` seconds between writes (an open load of
    clients/think writes per second) and one latency per write is returned.
    """
    import asyncio
    import random

    store = open_store(url, Path(tempfile.gettempdir()), migrate=False)
    latencies: list[float] = []

    async def write(fn: Callable[[Any], Any]) -> Any:
        start = time.perf_counter()
        result = await store.awrite(fn)
        if think:
            latencies.append(time.perf_counter() - start)
            await asyncio.sleep(think)
        return result

    async def visitor() -> None:
        await asyncio.sleep(random.uniform(0, think))  # spread the visitors over the think time
        while (start := time.perf_counter()) < deadline:
            app = await write(lambda c: apps.create(c, site="bench", first_screen="about-you"))
            await write(lambda c, a=app: apps.save_answers(c, a.id, ANSWERS, screen="about-you", next_screen="done"))
            await write(lambda c, a=app: apps.submit(c, a.id))
            if not think:
                latencies.append(time.perf_counter() - start)

    async def main() -> None:
        await asyncio.gather(*(visitor() for _ in range(clients)))

    asyncio.run(main())
    store.close()
    return latencies


# -------------------------------------------------------------------------------------- harness


def _worker(loop: Loop, url: str, start_at: float, seconds: float, out: Any) -> None:
    time.sleep(max(0.0, start_at - time.time()))
    deadline = time.perf_counter() + seconds
    out.put(loop(url, deadline))


def run_workers(loop: Loop, url: str, seconds: float) -> dict[str, float]:
    """Run ``loop`` in WORKERS processes for ``seconds``; submissions/s and latency percentiles."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    start_at = time.time() + 0.5  # every worker starts together, after its imports
    procs = [ctx.Process(target=_worker, args=(loop, url, start_at, seconds, queue)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    latencies = [lat for _ in procs for lat in queue.get(timeout=seconds + 60)]
    for p in procs:
        p.join()
    return summary(latencies, seconds)


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

    return {
        "per_s": len(latencies) / seconds,
        "n": len(latencies),
        "p50_ms": statistics.median(ordered) * 1000 if ordered else float("nan"),
        "p99_ms": pct(0.99),
    }


@contextmanager
def database(backend: str) -> Any:
    """A fresh, upgraded database URL for one measurement."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="answers-bench-") as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            open_store(url, Path(tmp)).close()
            yield url
        return
    schema = f"bench_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
        open_store(url, Path(tempfile.gettempdir())).close()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def fmt(name: str, r: dict[str, float], floor: dict[str, float] | None) -> str:
    if name == "paced":
        return f"  {name:<8} {r['per_s']:8.1f} writes/s offered      (p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms per write)"
    ratio = f"  {r['per_s'] / floor['per_s']:.2f}× floor" if floor else ""
    return (
        f"  {name:<8} {r['per_s']:8.1f} submissions/s  (n={int(r['n'])}, "
        f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms){ratio}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--http", action="store_true", help="also measure through the HTTP endpoints")
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (grouped, paced, http)")
    parser.add_argument("--think", type=float, default=1.0, help="paced: seconds each client waits between writes")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        floor_loop = floor_sqlite if backend == "sqlite" else floor_postgres
        loops: dict[str, Callable[[str], dict[str, float]]] = {
            "floor": lambda url, f=floor_loop: run_workers(f, url, args.seconds),  # type: ignore[misc]
            "store": lambda url: run_workers(store_loop, url, args.seconds),
            "grouped": lambda url: run_workers(
                functools.partial(grouped_loop, clients=args.clients // WORKERS), url, args.seconds
            ),
            "paced": lambda url: run_workers(
                functools.partial(grouped_loop, clients=args.clients // WORKERS, think=args.think), url, args.seconds
            ),
        }
        if args.http:
            from answers_http import http_measure  # noqa: PLC0415 - needs the server's endpoints

            loops["http"] = lambda url: http_measure(url, args.seconds, args.clients)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in loops}
        for _ in range(args.rounds):
            for name, measure in loops.items():
                with database(backend) as url:
                    results[name].append(measure(url))
        medians = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in results.items()}
        print(f"{backend}: {WORKERS} workers, {args.seconds:g} s × {args.rounds} rounds (medians)")
        for name, r in medians.items():
            print(fmt(name, r, None if name == "floor" else medians["floor"]))


if __name__ == "__main__":
    main()
