"""Webhook throughput: Smile events verified and stored per second (inbound, 2 server workers), and
outbound deliveries per second to a fast local receiver (2 delivery workers), beside the answers
throughput of the same run (`answers_bench.store_loop`, 2 workers: one submission = 3 durable writes).

    python benchmarks/webhooks_bench.py                       # both backends
    python benchmarks/webhooks_bench.py --backend sqlite --seconds 3 --events 2000

- **inbound**: `flipgen token-server --workers 2` on a fresh database; `--clients` concurrent
  clients POST signed ACCOUNT_CONNECTED events (bodies and signatures made beforehand) for
  `--seconds`; events/s = 200 answers per second. Afterwards the stored rows are counted: every
  acknowledged event must be in the database, once.
- **outbound**: `--events` events are queued first; 2 worker processes (`DeliveryWorker`) drain
  the outbox to a receiver that answers 204 at once (its own process, asyncio, keep-alive);
  deliveries/s = events / time until the last one is recorded delivered.

Everything runs on 127.0.0.1; PostgreSQL on 127.0.0.1:5432/test (FLIPGEN_BENCH_POSTGRES_URL).
The machine's two cores are shared by the server, the client and the database: read the
same-run ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import answers_bench  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from flipgen.schema import WebhookTarget  # noqa: E402
from flipgen.store import applications as apps  # noqa: E402
from flipgen.store import open_store  # noqa: E402
from flipgen.webhooks.signing import new_whsec, smile_signature  # noqa: E402
from flipgen.webhooks.tables import smile_events, webhook_deliveries  # noqa: E402

SMILE_SECRET = "bench-smile-secret"
SITE = "title: Bench\nscreens:\n  - {id: about, type: form, fields: [{id: email, type: email, label: Email}], next: done}\n  - {id: done, type: end}\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


# ------------------------------------------------------------------------------------- inbound


def project(tmp: Path) -> Path:
    (tmp / "sites").mkdir(parents=True, exist_ok=True)
    (tmp / "sites" / "bench.yaml").write_text(SITE, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "flipgen.cli", "build", str(tmp), "-q"], check=True, cwd=REPO)
    return tmp


def signed_events(n: int) -> list[tuple[bytes, str]]:
    out = []
    for i in range(n):
        body = json.dumps(
            {
                "id": "et-" + uuid.uuid4().hex,
                "version": 1,
                "type": "ACCOUNT_CONNECTED",
                "createdAt": "2026-01-02T03:04:05Z",
                "data": {
                    "userId": f"tenant-{i % 997}",
                    "accountId": f"a-{i}",
                    "loginName": "x",
                    "providers": ["sss_ph"],
                },
            }
        ).encode()
        out.append((body, smile_signature(body, SMILE_SECRET)))
    return out


async def post_events(port: int, events: list[tuple[bytes, str]], seconds: float, clients: int) -> list[float]:
    url = f"http://127.0.0.1:{port}/api/smile/webhook"
    latencies: list[float] = []
    queue = iter(events)
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

        async def one_client() -> None:
            while time.perf_counter() < deadline:
                body, signature = next(queue)
                start = time.perf_counter()
                response = await client.post(url, content=body, headers={"smile-signature": signature})
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies


def inbound(url: str, seconds: float, clients: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="webhooks-bench-") as tmp:
        root = project(Path(tmp))
        port = free_port()
        env = {**os.environ, "SMILE_WEBHOOK_SECRET": SMILE_SECRET, "FLIPGEN_DATABASE_URL": url}
        command = [sys.executable, "-m", "flipgen.cli", "token-server", str(root), "--sandbox", "-q"]
        command += ["--workers", "2", "--port", str(port), "--rate-limit", "0"]
        server = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            events = signed_events(int(seconds * 4000) + 1000)
            latencies = asyncio.run(post_events(port, events, seconds, clients))
        finally:
            server.terminate()
            server.wait(30)
        store = open_store(url, root, migrate=False)
        with store.read() as conn:
            stored = conn.execute(select(func.count()).select_from(smile_events)).scalar() or 0
        store.close()
    if stored != len(latencies):
        raise SystemExit(f"inbound: {len(latencies)} acknowledged but {stored} stored")
    return answers_bench.summary(latencies, seconds)


# ------------------------------------------------------------------------------------ outbound


def receiver_main(port: int, ready: Any) -> None:
    """A fast receiver: reads each request, answers 204, keeps the connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def delivery_main(url: str, secret: str) -> None:
    from flipgen.webhooks.delivery import DeliveryWorker

    store = open_store(url, Path(tempfile.gettempdir()), migrate=False)
    worker = DeliveryWorker(store, environ={"BENCH_SECRET": secret}, concurrency=64, poll_interval=0.01)
    asyncio.run(worker.run())


def outbound(url: str, events: int) -> dict[str, float]:
    from flipgen.webhooks.outbox import sync_endpoints

    ctx = mp.get_context("spawn")
    port = free_port()
    ready = ctx.Event()
    receiver = ctx.Process(target=receiver_main, args=(port, ready), daemon=True)
    receiver.start()
    ready.wait(30)
    secret = new_whsec()
    store = open_store(url, Path(tempfile.gettempdir()), migrate=False)
    target = WebhookTarget(
        url=f"http://127.0.0.1:{port}/hook",
        events=["application.submitted"],
        secret_env="BENCH_SECRET",
        allow_private=True,
    )
    sync_endpoints(store, [target])
    for i in range(0, events, 100):
        with store.write() as conn:
            for j in range(i, min(events, i + 100)):
                app = apps.create(conn, site="bench")
                apps.submit(conn, app.id, answers={"email": f"p{j}@example.com"})
    workers = [ctx.Process(target=delivery_main, args=(url, secret), daemon=True) for _ in range(2)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    d = webhook_deliveries.c
    try:
        while True:
            with store.read() as conn:
                done = conn.execute(select(func.count()).where(d.status == "delivered")).scalar() or 0
            if done >= events:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
    finally:
        for p in [*workers, receiver]:
            p.kill()
            p.join()
        store.close()
    return {"per_s": events / elapsed, "n": events, "p50_ms": float("nan"), "p99_ms": float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each timed measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--clients", type=int, default=64, help="inbound: concurrent clients")
    parser.add_argument("--events", type=int, default=3000, help="outbound: events queued before draining")
    args = parser.parse_args()
    for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        measures = {
            "answers": lambda url: answers_bench.run_workers(answers_bench.store_loop, url, args.seconds),
            "inbound": lambda url: inbound(url, args.seconds, args.clients),
            "outbound": lambda url: outbound(url, args.events),
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in measures}
        for _ in range(args.rounds):
            for name, measure in measures.items():
                with answers_bench.database(backend) as url:
                    results[name].append(measure(url))
        medians = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in results.items()}
        base = medians["answers"]["per_s"]
        print(f"{backend}: 2 workers, {args.rounds} rounds (medians)")
        units = {
            "answers": "submissions/s (3 writes each)",
            "inbound": "events/s verified+stored",
            "outbound": "deliveries/s",
        }
        for name, r in medians.items():
            extra = f"  p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms" if r["p50_ms"] == r["p50_ms"] else ""
            ratio = "" if name == "answers" else f"  = {r['per_s'] / base:.2f}× answers"
            print(f"  {name:<9} {r['per_s']:8.1f} {units[name]}{ratio}{extra}")


if __name__ == "__main__":
    main()
