"""`flipgen webhooks …` over real HTTP: Smile subscriptions against the contract-checking fake,
the outbound queue against a local receiver. Secrets are shown once, and only by `register`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update
from standardwebhooks import Webhook

from flipgen.cli import main
from flipgen.schema import WebhookTarget
from flipgen.store import applications as apps
from flipgen.store import open_store
from flipgen.webhooks.outbox import sync_endpoints
from flipgen.webhooks.signing import new_whsec
from flipgen.webhooks.tables import webhook_deliveries
from tests.support.fake_smile import FakeSmile

from .receiver import Receiver

SITE = """\
title: Apply for a loan
screens:
  - id: about
    type: form
    fields:
      - {id: full_name, type: text, label: Full name, required: true}
      - {id: email, type: email, label: Email address}
      - {id: plan, type: radio, label: Which plan?, options: [basic, pro]}
    next: done
  - id: done
    type: end
"""


@pytest.fixture
def fake() -> Iterator[FakeSmile]:
    with FakeSmile() as server:
        yield server
    assert server.violations == []


@pytest.fixture
def project(tmp_path: Path, fake: FakeSmile, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    (root / "sites").mkdir(parents=True)
    (root / "sites" / "loan.yaml").write_text(SITE, encoding="utf-8")
    monkeypatch.setenv("SMILE_API_KEY", fake.key)
    monkeypatch.setenv("SMILE_API_SECRET", fake.secret)
    monkeypatch.setenv("SMILE_API_HOST", fake.url)
    monkeypatch.delenv("FLIPGEN_DATABASE_URL", raising=False)
    return root


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_register_prints_the_secret_once_and_list_never_shows_it(project: Path, fake: FakeSmile) -> None:
    url = "https://apply.example.com/api/smile/webhook"
    result = cli("webhooks", "register", url, "--events", "account_connected,ACCOUNT_FAILED", "-p", str(project))
    assert result.exit_code == 0, result.output
    (created,) = fake.webhooks.values()
    secret = created["secret"]
    assert created["url"] == url and created["eventTypes"] == ["ACCOUNT_CONNECTED", "ACCOUNT_FAILED"]
    assert created["active"] is True and 1 <= len(secret) <= 64
    assert f"SMILE_WEBHOOK_SECRET={secret}\n" in result.output and result.output.count(secret) == 1
    listed = cli("webhooks", "list", "-p", str(project))
    assert listed.exit_code == 0 and created["id"] in listed.output and url in listed.output
    assert secret not in listed.output  # Smile returns it in clear; we do not print it
    deleted = cli("webhooks", "delete", created["id"], "-p", str(project))
    assert deleted.exit_code == 0 and fake.webhooks == {}
    assert secret not in deleted.output


def test_register_refuses_what_smile_would_refuse(project: Path, fake: FakeSmile) -> None:
    http = cli("webhooks", "register", "http://apply.example.com/hook", "-p", str(project))
    assert http.exit_code == 1 and "https://" in http.output
    typo = cli("webhooks", "register", "https://a.example.com/h", "--events", "ACOUNT_CONNECTED", "-p", str(project))
    assert typo.exit_code == 1 and "did you mean `ACCOUNT_CONNECTED`" in typo.output
    assert fake.of("/webhooks") == []


def test_smile_errors_are_clear_and_never_show_credentials(project: Path, fake: FakeSmile) -> None:
    fake.fail_next(401, code="INVALID_TOKEN")
    result = cli("webhooks", "register", "https://a.example.com/h", "-p", str(project))
    assert result.exit_code == 1 and "SMILE_API_KEY" in result.output
    assert fake.secret not in result.output and "Traceback" not in result.output


def test_test_sends_a_signed_sample_with_the_projects_fields(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = new_whsec()
    monkeypatch.setenv("CRM_SECRET", secret)
    with Receiver() as receiver:
        (project / "flipgen.yaml").write_text(
            f"webhooks:\n  - url: {receiver.url}\n    events: [all]\n    secret_env: CRM_SECRET\n    allow_private: true\n"
        )
        result = cli("webhooks", "test", receiver.url, "-p", str(project))
        assert result.exit_code == 0, result.output
        (request,) = receiver.requests
    payload = Webhook(secret).verify(request.body, request.headers)
    app = payload["data"]["application"]
    assert payload["type"] == "application.submitted" and app["site"] == "loan"
    assert app["labels"] == {"full_name": "Full name", "email": "Email address", "plan": "Which plan?"}
    assert app["answers"]["plan"] == "basic"
    assert "200" in result.output and "signed with CRM_SECRET" in result.output and secret not in result.output


def test_test_refuses_a_loopback_url_unless_allowed(project: Path) -> None:
    with Receiver() as receiver:
        refused = cli("webhooks", "test", receiver.url, "-p", str(project))
        assert refused.exit_code == 1 and "allow_private" in refused.output
        allowed = cli(
            "webhooks", "test", receiver.url, "--allow-private", "--event", "data.revoked", "-p", str(project)
        )
        assert allowed.exit_code == 0, allowed.output
        assert len(receiver.requests) == 1


def test_deliveries_retry_and_replay(project: Path) -> None:
    store = open_store(None, project)
    try:
        sync_endpoints(store, [_target("http://127.0.0.1:9/a")])
        with store.write() as conn:
            app = apps.create(conn, site="loan")
            apps.submit(conn, app.id, answers={"full_name": "Ana"})
        with store.write() as conn:  # the first one was given up after a 500
            conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == 1)
                .values(status="failed", attempts=10, last_status=500, last_error="answered 500")
            )
        listed = cli("webhooks", "deliveries", "-p", str(project))
        assert re.search(
            r"1\s+failed\s+application\.started\s+loan\s+http://127\.0\.0\.1:9/a\s+10\s+500", listed.output
        )
        assert "application.submitted" in listed.output
        failed = cli("webhooks", "deliveries", "--failed", "-p", str(project))
        assert "application.started" in failed.output and "application.submitted" not in failed.output
        retried = cli("webhooks", "retry", "1", "-p", str(project))
        assert retried.exit_code == 0 and "queued" in retried.output
        assert cli("webhooks", "retry", "99", "-p", str(project)).exit_code == 1
        # A new endpoint gets the history replayed, with the original webhook-ids.
        (project / "flipgen.yaml").write_text(
            "webhooks:\n  - url: http://127.0.0.1:9/b\n    events: [application.submitted]\n"
            "    secret_env: B\n    allow_private: true\n"
        )
        sync_endpoints(
            store, [_target("http://127.0.0.1:9/a"), _target("http://127.0.0.1:9/b", ["application.submitted"])]
        )
        since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        replayed = cli("webhooks", "replay", "--since", since, "--url", "http://127.0.0.1:9/b", "-p", str(project))
        assert replayed.exit_code == 0 and "1 delivery(ies) queued" in replayed.output, replayed.output
        with store.read() as conn:
            rows = conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.id)).all()
        assert rows[-1].msg_id == rows[1].msg_id and rows[-1].status == "pending"
        again = cli("webhooks", "replay", "--since", since, "--url", "http://127.0.0.1:9/b", "-p", str(project))
        assert "0 delivery(ies) queued" in again.output  # already queued: not twice
        bad = cli("webhooks", "replay", "--since", "yesterday", "-p", str(project))
        assert bad.exit_code == 1 and "not a date" in bad.output
    finally:
        store.close()


def _target(url: str, events: list[str] | None = None) -> WebhookTarget:
    return WebhookTarget(url=url, events=events or ["all"], secret_env="B", allow_private=True)
