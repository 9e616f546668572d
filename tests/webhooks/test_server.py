"""Webhooks through the real server process over 127.0.0.1, on both backends.

Inbound: stored once however often sent; bad, missing or stale signatures and a body changed
by one byte → 401 with nothing stored; the application shows the connected account after.
Outbound: kill -9 while a delivery is pending → delivered after restart, and never again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from standardwebhooks import Webhook

from flipgen.cli import main
from flipgen.store import Store, open_store
from flipgen.store import applications as apps
from flipgen.webhooks.signing import new_whsec, smile_signature
from flipgen.webhooks.tables import smile_events, webhook_deliveries

from . import smile_events as ev
from .receiver import Answer, Receiver
from .server import Server, make_project

SMILE_SECRET = "smile-test-secret-1f8a"


def count(db_url: str, root: Path, table=smile_events) -> int:  # type: ignore[no-untyped-def]
    store = open_store(db_url, root)
    try:
        with store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)
    finally:
        store.close()


@pytest.fixture
def inbound(db_url: str, tmp_path: Path) -> Iterator[Server]:
    root = make_project(tmp_path / "proj")
    server = Server(root, {"FLIPGEN_DATABASE_URL": db_url, "SMILE_WEBHOOK_SECRET": SMILE_SECRET}).start()
    yield server
    server.stop()


def _row(store: Store) -> Any:
    with store.read() as conn:
        return conn.execute(select(webhook_deliveries)).one()


def post(server: Server, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["smile-signature"] = signature
    return httpx.post(server.url + "/api/smile/webhook", content=body, headers=headers, timeout=30)


def test_a_signed_event_is_stored_once_even_when_sent_three_times(inbound: Server, db_url: str) -> None:
    body = ev.account_connected("tenant-x", id="et-thrice")
    answers = [post(inbound, body, smile_signature(body, SMILE_SECRET)) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.json()["duplicate"] for r in answers] == [False, True, True]
    assert count(db_url, inbound.root) == 1


def test_bad_missing_or_stale_signatures_are_401_and_store_nothing(inbound: Server, db_url: str) -> None:
    body = ev.account_connected("tenant-x", id="et-bad")
    changed = body.replace(b'"sss_ph"', b'"sss_pH"')  # one byte
    older = ev.account_connected("tenant-x", id="et-older")
    cases = {
        "missing": (body, None),
        "wrong secret": (body, smile_signature(body, "another-secret")),
        "stale (another body's)": (body, smile_signature(older, SMILE_SECRET)),
        "one byte changed": (changed, smile_signature(body, SMILE_SECRET)),
        "not hex": (body, "sha512=" + "0" * 40),
    }
    for name, (raw, signature) in cases.items():
        response = post(inbound, raw, signature)
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "invalid_signature"
    assert count(db_url, inbound.root) == 0
    log = inbound.output()
    assert "no Smile-Signature header" in log and "does not match the body" in log and "not a hex SHA-512" in log
    assert "juan@example.com" not in log and SMILE_SECRET not in log  # neither the body nor the secret


def test_the_application_shows_the_connected_account_afterwards(inbound: Server, db_url: str) -> None:
    store = open_store(db_url, inbound.root)
    try:
        with store.write() as conn:
            app = apps.create(conn, site="apply", smile_user_id="tenant-shown")
    finally:
        store.close()
    body = ev.account_connected("tenant-shown", "a-77")
    assert post(inbound, body, smile_signature(body, SMILE_SECRET)).status_code == 200
    args = ["applications", "show", "--project", str(inbound.root), "--database", db_url, "--", app.id]
    shown = CliRunner().invoke(main, args, catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert "a-77" in shown.output and "sss_ph" in shown.output and "connected" in shown.output
    assert "Accounts     1" in shown.output


def test_large_payloads_up_to_5_mib_and_no_more(inbound: Server, db_url: str) -> None:
    big = ev.session_completed("tenant-big", padding=4 * 1024 * 1024)
    assert post(inbound, big, smile_signature(big, SMILE_SECRET)).status_code == 200
    huge = ev.session_completed("tenant-huge", padding=5 * 1024 * 1024 + 1)
    assert post(inbound, huge, smile_signature(huge, SMILE_SECRET)).status_code == 413
    assert count(db_url, inbound.root) == 1


def test_kill_9_while_a_delivery_is_pending_then_delivered_once_after_restart(db_url: str, tmp_path: Path) -> None:
    secret = new_whsec()
    with Receiver() as receiver:
        receiver.script(Answer(503, {"Retry-After": "3"}))  # pending for 3 s after the first attempt
        root = make_project(
            tmp_path / "proj",
            f"webhooks:\n  - url: {receiver.url}\n    events: [application.submitted]\n"
            "    secret_env: CRM_SECRET\n    allow_private: true\n",
        )
        env = {"FLIPGEN_DATABASE_URL": db_url, "CRM_SECRET": secret}
        server = Server(root, env, workers=2).start()
        try:
            store = open_store(db_url, root)
            with store.write() as conn:
                app = apps.create(conn, site="apply")
                apps.submit(conn, app.id, answers={"email": "a@example.com", "plan": "pro"})
            receiver.wait_for(1)
            deadline = time.monotonic() + 20
            while _row(store).last_status != 503:  # the 503 is recorded: the row is pending again
                assert time.monotonic() < deadline, "the first attempt was not recorded"
                time.sleep(0.02)
            store.close()
            server.kill9()  # the delivery is pending: its next attempt is 3 s away
            assert count(db_url, root, webhook_deliveries) == 1
            server = Server(root, env, workers=2).start()
            first, second = receiver.wait_for(2, timeout=30)
            time.sleep(1.0)
            server.stop()
            server = Server(root, env, workers=2).start()  # and once more: nothing is sent again
            time.sleep(1.5)
        finally:
            server.stop()
        assert len(receiver.requests) == 2
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    payload = Webhook(secret).verify(second.body, second.headers)
    assert payload["data"]["application"]["answers"] == {"email": "a@example.com", "plan": "pro"}
    assert payload["data"]["application"]["labels"] == {"email": "Email address", "plan": "Which plan?"}
