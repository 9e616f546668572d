"""Throughput and p99 of the token endpoint against the Node quickstart recipe, same run.

Everything it needs is in the repository: a fast fake Smile upstream
(``benchmarks/fast_upstream.py``), the reference server (``benchmarks/reference_quickstart/``:
express + cors + bent, the recipe of Smile's public Node quickstart; its npm dependencies are
pinned by the lockfile and installed with ``npm ci`` on first run), and wrk as the load
generator (Debian's package: ``apt-get install -y wrk``; the script installs it when it runs
as root and wrk is missing). Both servers sit in front of the same upstream and get the same
``POST /api/link-token {"site": …}`` load: wrk, 2 threads, 32 connections, one warm-up each,
then 3 alternating 8-second rounds; the medians are printed with the ratio::

    python benchmarks/token_bench.py            # the recommended setup (uvicorn --workers 2)
    python benchmarks/token_bench.py --all      # + 1/3 workers, pure-Python loop/parser,
                                                #   httpx's default pool, no store write,
                                                #   a WSGI endpoint
    python benchmarks/token_bench.py --rounds 5 # more rounds on a busy machine
    python benchmarks/token_bench.py --also "NO application"   # + what the store costs a mint

Run from the repository root (the repo is itself a flipgen project with
``sites/acme-income.yaml``). The machine's cores are shared by wrk, the upstream, the reference
and the server under test: read the ratios, not the absolute numbers.

The module also holds two alternative apps, importable by the servers it starts:
``token_bench:httpcore_app`` (the same ASGI app on httpx's default pool),
``token_bench:storeless_app`` (the app with the mint's application write taken out, to show what
the store costs) and ``token_bench:wsgi_app`` (a WSGI endpoint sharing one sync ``httpx.Client``
across threads).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "benchmarks"
REFERENCE = HERE / "reference_quickstart"
KEY, SECRET = "bench-key", "bench-secret"
# The token endpoint's import path, as docs/token-server.md tells operators to run it.
APP = "flipgen.server:app_from_env"
ROUNDS, SECONDS, THREADS, CONNECTIONS = 3, 8, 2, 32


class Load(NamedTuple):
    rounds: int = ROUNDS
    seconds: int = SECONDS


def uvicorn(app: str, workers: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--no-proxy-headers",
        "--no-server-header",
        "--no-access-log",
        "--log-level",
        "warning",
        "--app-dir",
        str(HERE),
        "--factory",
        app,
        "--workers",
        str(workers),
        *extra,
    ]


RECOMMENDED = ("asgi, uvicorn --workers 2 (recommended)", uvicorn(APP, 2))
ALTERNATIVES = [
    ("asgi, uvicorn --workers 1", uvicorn(APP, 1)),
    ("asgi, uvicorn --workers 3", uvicorn(APP, 3)),
    ("asgi, --workers 2, --loop asyncio --http h11", uvicorn(APP, 2, "--loop", "asyncio", "--http", "h11")),
    ("asgi on httpx's default pool, --workers 2", uvicorn("token_bench:httpcore_app", 2)),
    ("asgi, --workers 2, NO application write per mint (cost of the store)", uvicorn("token_bench:storeless_app", 2)),
    (
        "wsgi, gunicorn gthread 2x16, shared httpx.Client",
        [sys.executable, "-m", "gunicorn", "--chdir", str(HERE), "-b", "127.0.0.1:{port}", "-w", "2"]
        + ["-k", "gthread", "--threads", "16", "--log-level", "warning", "token_bench:wsgi_app"],
    ),
]


# --------------------------------------------------------------------------- setup


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk from Debian (apt-get install -y wrk)…", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
        wrk = shutil.which("wrk")
    if not wrk:
        sys.exit("wrk is required: apt-get install -y wrk")
    return wrk


def ensure_reference() -> None:
    if (REFERENCE / "node_modules" / "express").is_dir():
        return
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        sys.exit("Node.js and npm are required for the reference server: apt-get install -y nodejs npm")
    print("installing the reference's pinned dependencies (npm ci)…", flush=True)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=REFERENCE, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited early ({proc.returncode}): {shlex.join(map(str, proc.args))}")  # type: ignore[arg-type]
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


@contextmanager
def started(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[int]:
    """Run ``command`` until the block ends, ``{port}`` filled in (in ``env`` too); yields the port."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in command],
            cwd=cwd,
            env={**os.environ, **{k: v.replace("{port}", str(port)) for k, v in env.items()}},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(port, proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def probe(url: str, site: str) -> dict[str, Any]:
    """One request: the endpoint must answer 200 with a link token before it is measured."""
    request = urllib.request.Request(
        url, data=json.dumps({"site": site}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # 127.0.0.1 only
        body: dict[str, Any] = json.loads(response.read())
    if response.status != 200 or not body.get("userToken"):
        raise RuntimeError(f"{url} answered {response.status}: {body}")
    return body


# --------------------------------------------------------------------------- measuring


def wrk_run(wrk: str, url: str, script: Path, seconds: int) -> tuple[float, float, int]:
    """(requests/s, p99 ms, non-2xx count) of one wrk round."""
    out = subprocess.run(
        [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, p99, int(bad.group(1)) if bad else 0


def compare(wrk: str, reference: str, under_test: str, script: Path, load: Load) -> dict[str, Any]:
    """Warm both up, then alternate rounds; medians of each side."""
    wrk_run(wrk, reference, script, load.seconds)
    wrk_run(wrk, under_test, script, load.seconds)
    ref_rounds, test_rounds = [], []
    for _ in range(load.rounds):
        ref_rounds.append(wrk_run(wrk, reference, script, load.seconds))
        test_rounds.append(wrk_run(wrk, under_test, script, load.seconds))
    ref_rps = statistics.median(r[0] for r in ref_rounds)
    rps = statistics.median(r[0] for r in test_rounds)
    ref_p99 = statistics.median(r[1] for r in ref_rounds)
    p99 = statistics.median(r[1] for r in test_rounds)
    return {
        "reference_rps": round(ref_rps),
        "reference_p99_ms": round(ref_p99, 2),
        "rps": round(rps),
        "p99_ms": round(p99, 2),
        "throughput_ratio": round(rps / ref_rps, 2),
        "p99_ratio": round(p99 / ref_p99, 2),
        "non_2xx": sum(r[2] for r in ref_rounds + test_rounds),
        # Each round's pair, in order: the spread shows how noisy the machine was.
        "rounds_rps": [[round(r[0]), round(t[0])] for r, t in zip(ref_rounds, test_rounds, strict=True)],
    }


def measure(
    label: str, command: list[str], site: str, wrk: str, work: Path, upstream: str, load: Load
) -> dict[str, Any]:
    flipgen_env = {
        "SMILE_API_KEY": KEY,
        "SMILE_API_SECRET": SECRET,
        "SMILE_API_HOST": upstream,
        "PYTHONPATH": str(REPO),
        "FLIPGEN_TOKEN_PROJECT": str(REPO),
        "FLIPGEN_TOKEN_RATE_LIMIT": "0",  # the load comes from one address
        # Every mint starts an application (one write) signed with this key.
        "FLIPGEN_SECRET_KEY": "token-bench-" + "k" * 32,
        "FLIPGEN_DATABASE_URL": f"sqlite:///{work / 'applications.db'}",
    }
    reference_env = {"OPEN_API_HOST": upstream, "API_KEY": KEY, "API_SECRET": SECRET, "APP_PORT": "{port}"}
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps({'site': site}))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    node = [shutil.which("node") or "node", "index.js"]
    with (
        started(node, reference_env, REFERENCE, work / "reference.log") as ref_port,
        started(command, flipgen_env, REPO, work / "under-test.log") as port,
    ):
        reference = f"http://127.0.0.1:{ref_port}/api/link-token"
        under_test = f"http://127.0.0.1:{port}/api/link-token"
        try:
            probe(reference, site)
            probe(under_test, site)
        except (OSError, RuntimeError) as exc:
            logs = "\n".join(
                f"--- {name}:\n" + (work / name).read_text(errors="replace")[-600:]
                for name in ("reference.log", "under-test.log", "upstream.log")
            )
            return {"label": label, "error": f"{exc}\n{logs}"}
        return {"label": label, "command": shlex.join(command), **compare(wrk, reference, under_test, script, load)}


def report(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"{row['label']}: FAILED\n{row['error']}"
    return (
        f"{row['label']}\n  reference quickstart {row['reference_rps']} req/s, p99 {row['reference_p99_ms']} ms"
        f" | flipgen {row['rps']} req/s, p99 {row['p99_ms']} ms"
        f" | ratio {row['throughput_ratio']:.2f}x throughput, {row['p99_ratio']:.2f}x p99"
        + (f" | {row['non_2xx']} NON-2XX ANSWERS" if row["non_2xx"] else "")
        + "\n  rounds (reference/flipgen req/s): "
        + ", ".join(f"{ref}/{test} ({test / ref:.2f}x)" for ref, test in row["rounds_rps"])
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="also measure the alternatives")
    parser.add_argument(
        "--also", metavar="TEXT", help='also measure the alternatives whose label has TEXT, e.g. "NO application"'
    )
    parser.add_argument("--site", default="acme-income")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"alternating rounds (default {ROUNDS})")
    parser.add_argument("--seconds", type=int, default=SECONDS, help=f"length of a round (default {SECONDS})")
    args = parser.parse_args()
    load = Load(args.rounds, args.seconds)
    wrk = ensure_wrk()
    ensure_reference()
    failed = False
    with tempfile.TemporaryDirectory(prefix="flipgen-token-bench-") as tmp:
        work = Path(tmp)
        upstream_cmd = [sys.executable, str(HERE / "fast_upstream.py"), "{port}", KEY, SECRET]
        with started(upstream_cmd, {}, REPO, work / "upstream.log") as upstream_port:
            upstream = f"http://127.0.0.1:{upstream_port}/v1"
            chosen = [a for a in ALTERNATIVES if args.all or (args.also and args.also in a[0])]
            for label, command in [RECOMMENDED, *chosen]:
                row = measure(label, command, args.site, wrk, work, upstream, load)
                failed = failed or "error" in row or bool(row.get("non_2xx"))
                print(json.dumps(row) if args.json else report(row), flush=True)
    print(f"wrk -t{THREADS} -c{CONNECTIONS} -d{load.seconds}s, {load.rounds} alternating rounds, medians")
    return 1 if failed else 0


# --------------------------------------------------------------------------- alternatives


def httpcore_app() -> Any:
    """The production app, but on httpx's default (httpcore) connection pool."""
    import httpx

    from flipgen.server import app_from_env
    from flipgen.smile import SmileClient

    app = app_from_env()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    app.smile = SmileClient(app.smile.credentials, transport=httpx.AsyncHTTPTransport(limits=limits))
    return app


def storeless_app() -> Any:
    """The production app with the mint's application write taken out (the handle is signed for
    an id that is never stored): what the store costs a mint, measured in the same run. Not a
    mode flipgen offers: every minted Smile user must be remembered (docs/applications.md)."""
    from flipgen.server import app_from_env
    from flipgen.server import applications as server_apps
    from flipgen.store.applications import new_id

    async def start_without_storing(app: Any, site: str, *args: Any, **kwargs: Any) -> tuple[None, str]:
        return None, app.handles.sign(new_id(), site)

    server_apps.start_application = start_without_storing  # type: ignore[assignment]
    return app_from_env()


def _make_wsgi_app() -> Any:
    """A WSGI token endpoint doing the same work with one shared sync ``httpx.Client``."""
    import httpx

    from flipgen.manifest import load as load_manifest
    from flipgen.server import load_credentials

    project = os.environ.get("FLIPGEN_TOKEN_PROJECT", ".")
    sites = {slug: entry.model_dump() for slug, entry in load_manifest(project).sites.items()}
    creds = load_credentials(project)
    assert creds is not None, "set SMILE_API_KEY / SMILE_API_SECRET"
    client = httpx.Client(
        auth=(creds.key, creds.secret),
        timeout=httpx.Timeout(10, connect=3),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        site = sites[body["site"]]
        answer = client.post(creds.host + "/users", json={"externalMetadata": {}})
        data = answer.json()["data"]
        token, wink = data["token"], site["wink"]
        out = json.dumps(
            {
                "userToken": token["accessToken"],
                "userId": data["user"]["id"],
                "expiresAt": token["expiresAt"],
                "mode": token["mode"],
                "templateId": wink["template_id"],
                "providers": wink["providers"],
                "topProviders": wink["top_providers"],
                "enableUpload": wink["enable_upload"],
            }
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
        return [out]

    return app


_wsgi: list[Any] = []
_wsgi_lock = threading.Lock()


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Built on first use, so each forked worker gets its own client."""
    if not _wsgi:
        with _wsgi_lock:
            if not _wsgi:
                _wsgi.append(_make_wsgi_app())
    return _wsgi[0](environ, start_response)  # type: ignore[no-any-return]


if __name__ == "__main__":
    sys.exit(main())
