"""Durable submissions per second, SQLite and PostgreSQL, 2 workers, beside a same-run floor.

One *submission* is the work of one visitor: the application is created, its answers saved,
then submitted: three durable write transactions. Each measurement runs 2 server or worker
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
- **http** (with ``--http``): the same through the server (`uvicorn --factory
  flipgen.server:app_from_env --workers 2`, `POST /api/applications`, `…/answers`, `…/submit`)
  with 200 concurrent visitors, each on its own keep-alive connection (an h11 client: httpx's
  shared pool stalls at this concurrency); **http-group** is the same server with its writes
  sent through `Store.awrite` (group commit); the **-paced** variants give the p99 of one
  request when each visitor waits ``--think`` seconds between requests.

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
    "monthly_income": "4200",  # as the browser sends it
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


# ----------------------------------------------------------------------------------------- http

SITE = """\
title: Bench
wink: {template_id: wtpl-bench}
params: [{name: ref}]
screens:
  - id: about-you
    type: form
    fields:
      - {id: full_name, type: text, label: Full name, required: true}
      - {id: email, type: email, label: Email, required: true}
      - {id: work_type, type: radio, label: Work, options: [employed, gig]}
      - {id: monthly_income, type: number, label: Income, min: 0}
      - {id: consent, type: consent, label: I agree, required: true}
    next: done
  - id: done
    type: end
"""


def grouped_app_from_env() -> Any:
    """The server with its application writes sent through `Store.awrite` (group commit on SQLite)."""
    import flipgen.server.applications as routes
    from flipgen.server import app_from_env

    async def in_transaction(app: Any, work: Callable[[Any], Any]) -> Any:
        return await app.store.awrite(work)

    routes.in_transaction = in_transaction
    return app_from_env()


@contextmanager
def http_server(url: str, factory: str, workers: int = WORKERS) -> Any:
    """`uvicorn --factory <factory> --workers 2` on the bench project and database."""
    import signal
    import socket
    import subprocess

    with tempfile.TemporaryDirectory(prefix="answers-bench-site-") as tmp:
        (Path(tmp) / "sites").mkdir()
        (Path(tmp) / "sites" / "bench.yaml").write_text(SITE, encoding="utf-8")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "FLIPGEN_TOKEN_PROJECT": tmp,
            "FLIPGEN_TOKEN_SANDBOX": "1",
            "FLIPGEN_TOKEN_RATE_LIMIT": "0",
            "FLIPGEN_TOKEN_LOG_LEVEL": "warning",
            "FLIPGEN_DATABASE_URL": url,
            "FLIPGEN_SECRET_KEY": secrets.token_urlsafe(32),
        }
        command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--no-access-log"]
        command += ["--app-dir", str(REPO / "benchmarks"), "--workers", str(workers)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        proc = subprocess.Popen(command, env=env, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited ({proc.returncode})")
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


class _Connection:
    """One visitor's keep-alive HTTP/1.1 connection, parsed by h11.

    httpx's shared pool stalls with a few dozen concurrent connections (50 clients got 43
    req/s from a server that wrk drives at 1400), which would measure the client, not the server.
    """

    def __init__(self, reader: Any, writer: Any, host: str) -> None:
        import h11

        self.reader, self.writer, self.host = reader, writer, host
        self.conn = h11.Connection(our_role=h11.CLIENT)

    @classmethod
    async def open(cls, base: str) -> _Connection:
        import asyncio
        from urllib.parse import urlsplit

        parts = urlsplit(base)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer, parts.netloc)

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        import h11

        data = json.dumps(body).encode()
        headers = [("host", self.host), ("content-type", "application/json"), ("content-length", str(len(data)))]
        self.writer.write(self.conn.send(h11.Request(method="POST", target=path, headers=headers)))
        self.writer.write(self.conn.send(h11.Data(data=data)) + self.conn.send(h11.EndOfMessage()))
        status, chunks = 0, []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self.conn.start_next_cycle()
                return status, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                raise RuntimeError("the server closed the connection")


async def _visitors(base: str, seconds: float, clients: int, think: float) -> tuple[int, list[float]]:
    """``clients`` visitors (start, save the form screen, submit), each pausing ``think`` s between requests.

    Each visitor has its own keep-alive connection, as a browser tab would. Counts what completes
    within ``seconds``; requests still in flight then are cancelled.
    """
    import asyncio
    import random

    latencies: list[float] = []
    submitted = 0

    async def visitor() -> None:
        nonlocal submitted
        http = await _Connection.open(base)

        async def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
            start = time.perf_counter()
            status, data = await http.post(path, body)
            latencies.append(time.perf_counter() - start)
            if status >= 300:
                raise RuntimeError(f"{path}: {status} {data.decode(errors='replace')}")
            if think:
                await asyncio.sleep(think)
            return dict(json.loads(data))

        await asyncio.sleep(random.uniform(0, think))
        while True:
            started = await call("/api/applications", {"site": "bench", "params": {"ref": "bench"}})
            path = f"/api/applications/{started['handle']}"
            await call(f"{path}/answers", {"site": "bench", "screen": "about-you", "answers": ANSWERS})
            await call(f"{path}/submit", {"site": "bench", "answers": ANSWERS})
            submitted += 1

    tasks = [asyncio.create_task(visitor()) for _ in range(clients)]
    done, _ = await asyncio.wait(tasks, timeout=seconds)
    counted = (submitted, list(latencies))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()  # a visitor that stopped early failed: show why
    return counted


def http_measure(url: str, seconds: float, clients: int, think: float, factory: str) -> dict[str, float]:
    """Submissions/s through HTTP (think = 0), or the p99 of one request under an open load (think > 0)."""
    import asyncio

    with http_server(url, factory) as base:
        asyncio.run(_visitors(base, 1.0, 4, 0.0))  # warm both workers' caches and connections
        submitted, latencies = asyncio.run(_visitors(base, seconds, clients, think))
    result = summary(latencies, seconds)
    if not think:
        result["per_s"] = submitted / seconds
        result["n"] = submitted
    return result


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
    if name.endswith("paced"):
        what = "requests" if name.startswith("http") else "writes"
        return (
            f"  {name:<16} {r['per_s']:8.1f} {what}/s         "
            f"(p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms per {what[:-1]})"
        )
    ratio = f"  {r['per_s'] / floor['per_s']:.2f}× floor" if floor else ""
    return (
        f"  {name:<16} {r['per_s']:8.1f} submissions/s  (n={int(r['n'])}, "
        f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms){ratio}"
    )


def measurements(args: argparse.Namespace, backend: str) -> dict[str, Callable[[str], dict[str, float]]]:
    """Name → function of a fresh database URL, for one backend."""
    floor_loop = floor_sqlite if backend == "sqlite" else floor_postgres
    per_worker = args.clients // WORKERS
    plain, grouped = "flipgen.server:app_from_env", "answers_bench:grouped_app_from_env"
    loops: dict[str, Callable[[str], dict[str, float]]] = {
        "floor": lambda url: run_workers(floor_loop, url, args.seconds),
        "store": lambda url: run_workers(store_loop, url, args.seconds),
        "grouped": lambda url: run_workers(functools.partial(grouped_loop, clients=per_worker), url, args.seconds),
        "paced": lambda url: run_workers(
            functools.partial(grouped_loop, clients=per_worker, think=args.think), url, args.seconds
        ),
    }
    if args.http:
        loops["http"] = lambda url: http_measure(url, args.seconds, args.clients, 0.0, plain)
        loops["http-paced"] = lambda url: http_measure(url, args.seconds, args.clients, args.think, plain)
        loops["http-group"] = lambda url: http_measure(url, args.seconds, args.clients, 0.0, grouped)
        loops["http-group-paced"] = lambda url: http_measure(url, args.seconds, args.clients, args.think, grouped)
    if args.only:
        wanted = {"floor", *args.only.split(",")}
        loops = {name: loop for name, loop in loops.items() if name in wanted}
    return loops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--http", action="store_true", help="also measure through the HTTP endpoints")
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (grouped, paced, http)")
    parser.add_argument("--think", type=float, default=1.0, help="paced: seconds each client waits between writes")
    parser.add_argument("--only", help="comma-separated measurements to run (the floor always runs)")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        loops = measurements(args, backend)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in loops}
        for _ in range(args.rounds):
            for name, measure in loops.items():
                with database(backend) as url:
                    results[name].append(measure(url))
        medians = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in results.items()}
        print(f"{backend}: {WORKERS} workers, {args.seconds:g} s × {args.rounds} rounds (medians)", flush=True)
        for name, r in medians.items():
            print(fmt(name, r, None if name == "floor" else medians["floor"]), flush=True)


if __name__ == "__main__":
    main()
