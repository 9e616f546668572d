"""The recommended production setup, as a real subprocess on 127.0.0.1:

    uvicorn --factory flipgen.token:app_from_env --workers 2 --no-proxy-headers ...

and ``flipgen.token.run_server(workers=2)`` (the body of ``flipgen token-server``), both in
front of the contract-checking fake Smile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.support.fake_smile import FakeSmile
from tests.test_token import MANIFEST, MINT, REFRESH, TOKEN_FIELDS

REPO = Path(__file__).resolve().parents[1]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The ppid is the second field after the parenthesised command name.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def fake() -> Iterator[FakeSmile]:
    with FakeSmile() as server:
        yield server
    assert server.violations == []


@pytest.fixture
def manifest_file(tmp_path: Path) -> Path:
    path = tmp_path / "flipgen-manifest.json"
    path.write_text(json.dumps(MANIFEST))
    return path


def start(command: list[str], env: dict[str, str], port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp_path / "server.log").read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the server did not come up:\n" + (tmp_path / "server.log").read_text())


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def environment(fake: FakeSmile, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMILE_", "FLIPGEN_"))}
    env.update(
        SMILE_API_KEY=fake.key,
        SMILE_API_SECRET=fake.secret,
        SMILE_API_HOST=fake.url,
        # Production signs application handles: the same key for every worker.
        FLIPGEN_SECRET_KEY="production-test-key-" + "p" * 32,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    env.update(extra)
    return env


def exercise(base: str, fake: FakeSmile) -> None:
    """Real requests against a running server; every answer checked."""
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/healthz").json() == {"status": "ok", "upstream": "smile"}
        minted = []
        for i in range(20):  # spread over connections so both workers answer
            with httpx.Client(base_url=base, timeout=30) as fresh:
                response = fresh.post(MINT, json={"site": "acme-income", "metadata": {"ref": f"p{i}"}})
            assert response.status_code == 200, response.text
            body = response.json()
            assert set(body) == TOKEN_FIELDS
            # The Smile user stays on the server: the token is the only link to it here.
            user = next(u for u, metadata in fake.users.items() if metadata == {"ref": f"p{i}"})
            assert fake.tokens[body["userToken"]] == user and user not in response.text
            minted.append((body, user))
        # Either worker verifies the other's handle (one FLIPGEN_SECRET_KEY, one store).
        for body, user in minted[:4]:
            again = http.post(REFRESH, json={"site": "acme-income", "handle": body["handle"]})
            assert again.status_code == 200 and fake.tokens[again.json()["userToken"]] == user
        missing = http.post(MINT, json={"site": "nope"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_site"
        foreign = http.post(MINT, json={"site": "acme-income"}, headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403


def test_uvicorn_with_two_workers(fake: FakeSmile, manifest_file: Path, tmp_path: Path) -> None:
    port = free_port()
    env = environment(fake, FLIPGEN_TOKEN_MANIFEST=str(manifest_file), FLIPGEN_TOKEN_RATE_LIMIT="0")
    process = start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "flipgen.token:app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-proxy-headers",
            "--no-server-header",
            "--no-access-log",
        ],
        env,
        port,
        tmp_path,
    )
    try:
        assert len(children_of(process.pid)) >= 2
        exercise(f"http://127.0.0.1:{port}", fake)
    finally:
        assert stop(process) == 0
    lines = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines() if line.startswith("{")]
    assert sum(1 for line in lines if line["path"] == MINT and line["status"] == 200) == 20
    assert all(fake.secret not in json.dumps(line) for line in lines)


def test_run_server_with_two_workers_and_rate_limit(fake: FakeSmile, manifest_file: Path, tmp_path: Path) -> None:
    port = free_port()
    code = (
        "from flipgen.token import run_server; "
        f"run_server(None, port={port}, workers=2, rate_limit=3, manifest={str(manifest_file)!r})"
    )
    process = start([sys.executable, "-c", code], environment(fake), port, tmp_path)
    try:
        assert len(children_of(process.pid)) >= 2
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            statuses = [http.post(MINT, json={"site": "acme-income"}).status_code for _ in range(8)]
        # Each worker keeps its own bucket of 3, so between 3 and 6 requests pass.
        assert 3 <= statuses.count(200) <= 6 and statuses.count(429) >= 2
        assert set(statuses) == {200, 429}
    finally:
        assert stop(process) == 0
    assert "upstream: smile" in (tmp_path / "server.log").read_text()


def test_run_server_refuses_to_start_without_credentials(manifest_file: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMILE_", "FLIPGEN_", "API_"))}
    env["PYTHONPATH"] = str(REPO)
    code = (
        "from flipgen.errors import UserError\nfrom flipgen.token import run_server\n"
        f"try:\n    run_server({str(tmp_path)!r}, port=1, manifest={str(manifest_file)!r})\n"
        "except UserError as e:\n    print(e.message); raise SystemExit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3, result.stderr
    assert "SMILE_API_KEY" in result.stdout and "--sandbox" in result.stdout
