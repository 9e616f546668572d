"""CPU per Smile API call: `SmileClient.create_user` against the fast fake upstream.

The token endpoint spends a good part of each mint in its upstream call, so this isolates it:
one process, ``--callers`` concurrent callers on one event loop (uvloop, as the server runs),
each calling ``create_user`` in a loop against ``benchmarks/fast_upstream.py`` (started here,
on 127.0.0.1). Prints the client's CPU time per call (process time, so the upstream's own CPU
is not counted) and calls per second, median of ``--rounds``::

    python benchmarks/smile_client_bench.py [--calls 8000] [--callers 16] [--rounds 3]
    python benchmarks/smile_client_bench.py --via-httpx   # the same through httpx's Request/Response

``--via-httpx`` sends through the transport's httpx interface (``handle_async_request``), as
the client does for any transport that is not the keep-alive pool (the emulator, a proxy).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

KEY, SECRET = "bench-key", "bench-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"the fast upstream did not start on 127.0.0.1:{port}")


async def measure(host: str, calls: int, callers: int, via_httpx: bool) -> tuple[float, float]:
    """(µs of CPU per call, calls per second) for ``calls`` calls spread over ``callers``."""
    from flipgen.smile import Credentials, SmileClient

    client = SmileClient(Credentials(KEY, SECRET, host))
    if via_httpx:
        client._send = client._send_via_httpx  # type: ignore[method-assign]  # noqa: SLF001 - the other path
    each = max(1, calls // callers)

    async def caller(n: int) -> None:
        for _ in range(n):
            await client.create_user({})

    await asyncio.gather(*(caller(20) for _ in range(callers)))  # connections open, caches warm
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller(each) for _ in range(callers)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await client.aclose()
    done = each * callers
    return cpu / done * 1e6, done / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=8000)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--via-httpx", action="store_true", help="send through httpx's Request/Response")
    args = parser.parse_args()
    import uvloop

    port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(REPO / "benchmarks" / "fast_upstream.py"), str(port), KEY, SECRET],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(port)
        host = f"http://127.0.0.1:{port}/v1"
        runs = [uvloop.run(measure(host, args.calls, args.callers, args.via_httpx)) for _ in range(args.rounds)]
    finally:
        upstream.terminate()
        upstream.wait(10)
    cpu = statistics.median(r[0] for r in runs)
    rate = statistics.median(r[1] for r in runs)
    path = "httpx Request/Response" if args.via_httpx else "KeepAliveTransport.send"
    print(f"create_user via {path}: {cpu:.0f} µs CPU per call, {rate:.0f} calls/s")
    print(f"{args.callers} concurrent callers, {args.calls} calls, median of {args.rounds} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
