"""Durability of submissions: 2 uvicorn workers under concurrent load, killed with SIGKILL mid-load.

After a restart, every submission that was answered 2xx is in the database with exactly its
answers, and none is there twice; retrying the unanswered ones then succeeds. On SQLite and
PostgreSQL (tests/support/db.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flipgen.handles import ENV_VAR, HandleSigner
from flipgen.store import applications as apps
from flipgen.store import open_store
from tests.conftest import free_port, wait_for_port
from tests.support.db import db_url  # noqa: F401  (fixture)

PROJECT = Path(__file__).parent / "fixtures" / "applications"
SECRET = "durable-" + "k" * 40
CLIENTS = 24


class Server:
    """``uvicorn --factory flipgen.server:app_from_env --workers 2`` in its own process group."""

    def __init__(self, database: str, port: int) -> None:
        env = {
            **os.environ,
            "FLIPGEN_TOKEN_PROJECT": str(PROJECT),
            "FLIPGEN_TOKEN_SANDBOX": "1",
            "FLIPGEN_TOKEN_RATE_LIMIT": "0",
            "FLIPGEN_TOKEN_LOG_LEVEL": "warning",
            "FLIPGEN_DATABASE_URL": database,
            ENV_VAR: SECRET,
        }
        command = [sys.executable, "-m", "uvicorn", "--factory", "flipgen.server:app_from_env"]
        command += ["--workers", "2", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        self.proc = subprocess.Popen(command, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)
        wait_for_port(port, self.proc, timeout=60)
        self.base = f"http://127.0.0.1:{port}"

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


class Client(threading.Thread):
    """Starts and submits applications until the server dies; remembers what was acknowledged."""

    def __init__(self, base: str, number: int) -> None:
        super().__init__(daemon=True)
        self.base, self.number = base, number
        self.acknowledged: list[tuple[str, dict[str, Any]]] = []
        self.unanswered: list[tuple[str, dict[str, Any]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as http:
            i = 0
            while not self.stop.is_set():
                i += 1
                answers = answers_for(self.number, i)
                try:
                    r = http.post("/api/applications", json={"site": "rules", "params": {"ref": "ABC"}})
                    handle = r.json()["handle"]
                except (httpx.HTTPError, ValueError, KeyError):
                    return
                try:
                    r = http.post(f"/api/applications/{handle}/submit", json={"site": "rules", "answers": answers})
                except httpx.HTTPError:
                    self.unanswered.append((handle, answers))
                    return
                assert r.status_code == 200, r.text
                self.acknowledged.append((handle, answers))


def answers_for(client: int, i: int) -> dict[str, Any]:
    # Unique per submission, with the characters a careless store would mangle.
    return {
        "name": "Ada",
        "email": f"c{client}.n{i}@example.com",
        "kind": "gig",
        "consent": True,
        "notes": f'Zoë, "{client}/{i}"\n=1+2',
        "platform": "Upwork",
    }


@pytest.fixture
def database(db_url: str) -> Iterator[str]:  # noqa: F811
    yield db_url


def test_acknowledged_submissions_survive_kill_9(database: str, tmp_path: Path) -> None:
    port = free_port()
    server = Server(database, port)
    clients = [Client(server.base, n) for n in range(CLIENTS)]
    for c in clients:
        c.start()
    deadline = time.monotonic() + 30
    while sum(len(c.acknowledged) for c in clients) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # mid-load: clients are still sending
    for c in clients:
        c.stop.set()
        c.join(15)
    acknowledged = [a for c in clients for a in c.acknowledged]
    unanswered = [a for c in clients for a in c.unanswered]
    assert len(acknowledged) >= 150

    signer = HandleSigner(SECRET)
    store = open_store(database, tmp_path)
    try:
        with store.read() as conn:
            submitted = apps.list_applications(conn, site="rules", status="submitted")
        by_email: dict[str, list[apps.Application]] = {}
        for application in submitted:
            by_email.setdefault(application.answers["email"], []).append(application)
        assert all(len(found) == 1 for found in by_email.values()), "a submission stored twice"
        for handle, answers in acknowledged:
            app_id = signer.verify(handle, "rules")
            with store.read() as conn:
                stored = apps.get(conn, app_id or "")
            assert stored is not None and stored.status == "submitted", handle
            assert {k: stored.answers[k] for k in answers} == answers
    finally:
        store.close()

    # After a restart the unanswered ones can simply be retried: the server is idempotent.
    server = Server(database, free_port())
    try:
        with httpx.Client(base_url=server.base, timeout=10) as http:
            for handle, answers in unanswered + acknowledged[:20]:
                r = http.post(f"/api/applications/{handle}/submit", json={"site": "rules", "answers": answers})
                assert r.status_code == 200, r.text
    finally:
        server.kill()
    store = open_store(database, tmp_path)
    try:
        with store.read() as conn:
            again = apps.list_applications(conn, site="rules", status="submitted")
        assert len(again) == len(submitted) + len([u for u in unanswered if u[1]["email"] not in by_email])
    finally:
        store.close()
