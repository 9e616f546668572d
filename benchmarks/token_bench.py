"""Throughput and p99 of the token endpoint against the reference Node quickstart.

Runs ``../shared/bench/compare-token.sh`` (wrk, 2 threads, 32 connections, 3 alternating
8-second rounds, medians) with the recommended production setup, and with ``--all`` the
alternatives that decided it::

    python benchmarks/token_bench.py            # the recommended setup only
    python benchmarks/token_bench.py --all      # + 1/3 workers, httpcore's pool, WSGI

Run from the repository root (the repo is itself a flipgen project with
``sites/acme-income.yaml``). The machine's cores are shared by wrk, the fake upstream, the
reference and the server under test: read the ratios, not the absolute numbers.

The module also holds the two alternatives' apps, importable by the servers it starts:
``token_bench:httpcore_app`` (the same ASGI app on httpx's default pool) and
``token_bench:wsgi_app`` (a WSGI endpoint sharing one sync ``httpx.Client`` across threads).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO.parent / "shared" / "bench" / "compare-token.sh"
PY = shlex.quote(sys.executable)
ENV = (
    f"env PYTHONPATH={shlex.quote(str(REPO))} FLIPGEN_TOKEN_PROJECT={shlex.quote(str(REPO))} FLIPGEN_TOKEN_RATE_LIMIT=0"
)
UVICORN = (
    f"{ENV} {PY} -m uvicorn --host 127.0.0.1 --port {{port}} --no-proxy-headers "
    "--no-server-header --no-access-log --log-level warning"
)


def uvicorn(app: str, workers: int) -> str:
    return f"{UVICORN} --app-dir {shlex.quote(str(REPO / 'benchmarks'))} --factory {app} --workers {workers}"


RECOMMENDED = ("asgi, uvicorn --workers 2 (recommended)", uvicorn("flipgen.token:app_from_env", 2))
ALTERNATIVES = [
    ("asgi, uvicorn --workers 1", uvicorn("flipgen.token:app_from_env", 1)),
    ("asgi, uvicorn --workers 3", uvicorn("flipgen.token:app_from_env", 3)),
    (
        "asgi, --workers 2, pure-Python loop and parser (--loop asyncio --http h11)",
        uvicorn("flipgen.token:app_from_env", 2) + " --loop asyncio --http h11",
    ),
    ("asgi on httpx's default pool, --workers 2", uvicorn("token_bench:httpcore_app", 2)),
    (
        "wsgi, gunicorn gthread 2x16, shared httpx.Client",
        f"{ENV} {PY} -m gunicorn --chdir {shlex.quote(str(REPO / 'benchmarks'))} -b 127.0.0.1:{{port}} "
        "-w 2 -k gthread --threads 16 --log-level warning token_bench:wsgi_app",
    ),
]


def measure(label: str, command: str, site: str) -> dict[str, Any]:
    result = subprocess.run(["bash", str(SCRIPT), command, site], cwd=REPO, capture_output=True, text=True)
    out = result.stdout + result.stderr
    numbers = re.findall(r"([\d.]+) req/s, p99 ([\d.]+) ms", out)
    if result.returncode != 0 or len(numbers) != 2:
        return {"label": label, "command": command, "error": out.strip()[-800:]}
    (ref_rps, ref_p99), (rps, p99) = ((float(a), float(b)) for a, b in numbers)
    return {
        "label": label,
        "command": command,
        "reference_rps": ref_rps,
        "reference_p99_ms": ref_p99,
        "rps": rps,
        "p99_ms": p99,
        "throughput_ratio": round(rps / ref_rps, 2),
        "p99_ratio": round(p99 / ref_p99, 2),
        "non_2xx": "non-2xx" in out,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="also measure the alternatives")
    parser.add_argument("--site", default="acme-income")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    args = parser.parse_args()
    runs = [RECOMMENDED, *(ALTERNATIVES if args.all else [])]
    failed = False
    for label, command in runs:
        row = measure(label, command, args.site)
        if args.json:
            print(json.dumps(row), flush=True)
        elif "error" in row:
            failed = True
            print(f"{label}: FAILED\n{row['error']}", flush=True)
        else:
            print(
                f"{label}\n  reference {row['reference_rps']:.0f} req/s, p99 "
                f"{row['reference_p99_ms']:.1f} ms | under test {row['rps']:.0f} req/s, p99 "
                f"{row['p99_ms']:.1f} ms | ratio {row['throughput_ratio']:.2f}x throughput, "
                f"{row['p99_ratio']:.2f}x p99{' | NON-2XX SEEN' if row['non_2xx'] else ''}",
                flush=True,
            )
    print(f"command: bash {SCRIPT} '<command>' {args.site}  (run from {REPO})")
    return 1 if failed else 0


# --------------------------------------------------------------------------- alternatives


def httpcore_app() -> Any:
    """The production app, but on httpx's default (httpcore) connection pool."""
    import httpx

    from flipgen.smile import SmileClient
    from flipgen.token import app_from_env

    app = app_from_env()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    app.smile = SmileClient(app.smile.credentials, transport=httpx.AsyncHTTPTransport(limits=limits))
    return app


def _make_wsgi_app() -> Any:
    """A WSGI token endpoint doing the same work with one shared sync ``httpx.Client``."""
    import httpx

    from flipgen.build import load_manifest
    from flipgen.token import load_credentials

    project = os.environ.get("FLIPGEN_TOKEN_PROJECT", ".")
    sites = load_manifest(project)["sites"]
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
