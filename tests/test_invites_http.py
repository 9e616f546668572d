"""`flipgen invite` over real HTTP against the contract-checking fake Smile on 127.0.0.1.

Sending, resuming after an interruption (an injected stop and a real `kill -9`), waiting out a
429, the request rate measured at the fake, template sync, listing, and secrets kept out of
the output. The ledger runs on both store backends where it matters.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flipgen.cli import main
from flipgen.invites.pacing import Pacer
from flipgen.invites.people import read_people
from flipgen.invites.send import Sender
from flipgen.smile import Credentials, SmileClient
from flipgen.store import open_store
from tests.support.fake_smile import FakeSmile

ROOT = Path(__file__).resolve().parent.parent
WINK = "wtpl-test-0001"
SITE = f"""\
title: Lend
wink: {{template_id: {WINK}}}
screens:
  - {{id: connect, type: wink, title: Connect}}
  - {{id: done, type: end, title: Done}}
"""
TEMPLATE = """\
name: Welcome v1
company: {name: Lend Co, logo_url: "https://lend.example/logo.png"}
email:
  sender_name: Lend Co
  reply_address: hello@lend.example
  subject: Hello ${firstName}
  body: "Hi ${firstName}, ${companyName} would like to see your income."
landing_page: {header: "Share with ${companyName}", description: Two minutes., button: Start}
success_page: {header: Thanks, description: Done., button: Connect another account}
"""
BAD_ROWS = {7: "not-an-email,Bad Email,,", 19: "nobody@example.com,,,", 33: "x@@example.com,Two Ats,,"}


def people_csv(path: Path, count: int = 50) -> Path:
    lines = ["Email,Full Name,First Name,Last Name"]
    for row in range(2, count + 2):
        lines.append(BAD_ROWS.get(row, f"person{row}@example.com,Person {row} Test,Person{row},Test"))
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8-sig")
    return path


@pytest.fixture
def fake() -> Iterator[FakeSmile]:
    with FakeSmile() as server:
        yield server
    assert server.violations == []


@pytest.fixture
def project(tmp_path: Path, fake: FakeSmile, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    (root / "sites").mkdir(parents=True)
    (root / "invites").mkdir()
    (root / "sites" / "lend.yaml").write_text(SITE, encoding="utf-8")
    (root / "invites" / "welcome.yaml").write_text(TEMPLATE, encoding="utf-8")
    people_csv(root / "people.csv")
    for name, value in env(fake).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FLIPGEN_DATABASE_URL", raising=False)
    return root


def env(fake: FakeSmile) -> dict[str, str]:
    return {"SMILE_API_KEY": fake.key, "SMILE_API_SECRET": fake.secret, "SMILE_API_HOST": fake.url}


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def sync(project: Path) -> Result:
    return cli("invite", "templates", "sync", "-p", str(project))


def send(project: Path, *extra: str) -> Result:
    args = ["invite", "send", str(project / "people.csv"), "--template", "welcome", "--site", "lend"]
    return cli(*args, "-p", str(project), *extra)


def max_per_second(times: list[float]) -> int:
    """The most requests that arrived within any one second."""
    return max((sum(1 for t in times if start <= t < start + 1.0) for start in times), default=0)


def sent_emails(fake: FakeSmile) -> list[str]:
    return [r.json["email"] if r.json else json.loads(r.body)["email"] for r in fake.of("/invites", "POST")]


# --------------------------------------------------------------------------- templates


def test_template_sync_creates_then_changes_nothing_then_updates_what_changed(project: Path, fake: FakeSmile) -> None:
    first = sync(project)
    assert first.exit_code == 0, first.output
    [template] = fake.templates.values()
    assert first.output.startswith(f"created   Welcome v1 [{template['id']}]")
    assert template["email"]["body"] == "Hi ${firstName}, ${companyName} would like to see your income."
    assert template["company"]["logoUrl"] == "https://lend.example/logo.png"

    writes = len(fake.requests) - len(fake.of("/inviteTemplates", "GET"))
    second = sync(project)
    assert second.exit_code == 0 and second.output.startswith("unchanged Welcome v1")
    assert "0 created, 0 updated, 1 unchanged" in second.output
    assert len(fake.requests) - len(fake.of("/inviteTemplates", "GET")) == writes  # only the listing

    path = project / "invites" / "welcome.yaml"
    path.write_text(TEMPLATE.replace("Hello ${firstName}", "Hi there").replace("button: Start", "button: Go"))
    third = sync(project)
    assert f"updated   Welcome v1 [{template['id']}] (email.subject, landingPage.button)" in third.output
    assert fake.templates[template["id"]]["email"]["subject"] == "Hi there"
    assert len(fake.of("/inviteTemplates/" + template["id"], "PUT")) == 1


def test_send_refuses_a_template_that_is_not_synced(project: Path, fake: FakeSmile) -> None:
    result = send(project)
    assert result.exit_code == 1
    assert "not in Smile yet: run `flipgen invite templates sync`" in result.output
    assert fake.of("/invites", "POST") == []
    sync(project)
    (project / "invites" / "welcome.yaml").write_text(TEMPLATE.replace("Thanks", "Thank you"))
    stale = send(project)
    assert stale.exit_code == 1 and "successPage.header" in stale.output and "templates sync` first" in stale.output
    assert fake.of("/invites", "POST") == []


# --------------------------------------------------------------------------- sending


def test_fifty_rows_three_bad_47_sent_paced_and_recorded(project: Path, fake: FakeSmile, db_url: str) -> None:
    sync(project)
    fake.limit_per_second = 20  # Smile's limit, enforced: a single 429 would show in the log below
    result = send(project, "--database", db_url)
    assert result.exit_code == 1, result.output  # some rows were not sent
    for row in BAD_ROWS:
        assert f"people.csv: row {row}: " in result.output
    assert "47 sent, 0 already invited, 3 not sent" in result.output
    posts = fake.of("/invites", "POST")
    assert len(posts) == 47 and len(set(sent_emails(fake))) == 47
    [template_id] = fake.templates
    assert {(i["templateId"], i["winkTemplateId"]) for i in fake.invites.values()} == {(template_id, WINK)}
    assert fake.invites and all(i["firstName"].startswith("Person") for i in fake.invites.values())
    assert max_per_second([r.at for r in fake.requests]) <= 20
    with open_store(db_url, project) as store, store.read() as conn:
        from flipgen.invites import ledger

        rows = ledger.rows(conn, site="lend")
    assert len(rows) == 47 and {r.state for r in rows} == {"sent"}
    assert {r.smile_invite_id for r in rows} == set(fake.invites)

    again = send(project, "--database", db_url)
    assert "0 sent, 47 already invited" in again.output
    assert len(fake.of("/invites", "POST")) == 47


def test_dry_run_sends_nothing(project: Path, fake: FakeSmile) -> None:
    sync(project)
    before = len(fake.requests)
    result = send(project, "--dry-run")
    assert "dry run: would send 47 invite(s) with `Welcome v1` for site `lend`" in result.output
    assert len(fake.requests) == before


def test_an_injected_stop_after_20_then_the_rerun_sends_the_remaining_27(project: Path, fake: FakeSmile) -> None:
    sync(project)
    [template_id] = fake.templates
    people = read_people(project / "people.csv").people
    store = open_store(None, project)

    async def run(stop_after: int | None) -> int:
        credentials = Credentials(fake.key, fake.secret, fake.url)
        client = SmileClient(credentials, retries=0)
        sender = Sender(client, store, Pacer(), "lend", "Welcome v1", template_id, WINK, concurrency=1)

        def progress(report: object) -> None:
            if stop_after is not None and len(fake.of("/invites", "POST")) >= stop_after:
                sender.stop.set()

        sender.progress = progress
        try:
            report = await sender.run(people)
        finally:
            await client.aclose()
        return report.sent

    assert asyncio.run(run(20)) == 20
    assert len(fake.of("/invites", "POST")) == 20
    assert asyncio.run(run(None)) == 27
    emails = sent_emails(fake)
    assert len(emails) == 47 and len(set(emails)) == 47
    store.close()


def test_kill_9_mid_run_then_the_rerun_sends_only_the_rest(project: Path, fake: FakeSmile) -> None:
    sync(project)
    args = [sys.executable, "-m", "flipgen.cli", "invite", "send", str(project / "people.csv")]
    args += ["--template", "welcome", "--site", "lend", "-p", str(project), "--rate", "10"]
    proc = subprocess.Popen(args, env={**os.environ, **env(fake)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while len(fake.of("/invites", "POST")) < 20 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = len(fake.of("/invites", "POST"))
    assert 20 <= first < 47, proc.stdout.read() if proc.stdout else ""

    result = send(project)
    emails = sent_emails(fake)
    assert len(emails) == 47 and len(set(emails)) == 47  # everyone once, nobody twice
    assert f"{47 - first} sent, {first} already invited" in result.output


def test_a_429_with_retry_after_is_waited_out(project: Path, fake: FakeSmile) -> None:
    sync(project)
    lines = (project / "people.csv").read_text("utf-8-sig").splitlines()[:6]
    (project / "people.csv").write_text("\n".join(lines) + "\n")
    fake.fail_next(429, code="REQUEST_LIMIT_EXCEEDED", retry_after="2", path="/invites")
    result = send(project)
    assert result.exit_code == 0, result.output
    assert "5 sent" in result.output
    times = fake.times("/invites")
    assert len(times) == 6 and len(fake.invites) == 5  # the refused request, then all five
    assert times[1] - times[0] >= 1.95


def test_smile_refusals_are_reported_by_row_and_retried_next_run(project: Path, fake: FakeSmile) -> None:
    sync(project)
    fake.fail_next(400, code="INVALID_PARAMETERS", path="/invites")
    result = send(project, "--concurrency", "1")
    assert result.exit_code == 1
    assert "people.csv: row 2: person2@example.com: Smile answered HTTP 400 INVALID_PARAMETERS" in result.output
    assert "46 sent" in result.output
    rerun = send(project)
    assert "1 sent, 46 already invited" in rerun.output


# --------------------------------------------------------------------------- list and secrets


def test_list_merges_smiles_status_with_the_ledger(project: Path, fake: FakeSmile) -> None:
    sync(project)
    send(project)
    invite_id = next(i["id"] for i in fake.invites.values() if i["email"] == "person2@example.com")
    fake.set_invite_status(invite_id, "LINKED")
    outsider = fake.create_invite(
        {"email": "portal@example.com", "fullName": "From The Portal", "templateId": next(iter(fake.templates))}
    )
    result = cli("invite", "list", "-p", str(project), "--status", "linked", "--format", "json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["email"], row["site"], row["state"], row["status"]) == ("person2@example.com", "lend", "sent", "LINKED")
    everything = json.loads(cli("invite", "list", "-p", str(project), "--format", "json").output)
    assert len(everything) == 48 and any(r["invite_id"] == outsider["id"] and r["site"] == "" for r in everything)
    local = cli("invite", "list", "-p", str(project), "--local", "--status", "LINKED")
    assert "person2@example.com" in local.output and "1 invite(s)" in local.output


def test_the_api_key_and_secret_never_appear_in_the_output(
    project: Path, fake: FakeSmile, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = [fake.key, fake.secret, base64.b64encode(f"{fake.key}:{fake.secret}".encode()).decode()]
    outputs = [sync(project).output, send(project, "-vv").output]
    outputs.append(cli("invite", "list", "-p", str(project), "-vv").output)
    monkeypatch.setenv("SMILE_API_SECRET", "wrong-secret-5d1f")
    secrets.append("wrong-secret-5d1f")
    refused = send(project, "-vv")
    assert refused.exit_code == 1 and "Smile refused the API credentials" in refused.output
    outputs.append(refused.output)
    for output in outputs:
        for secret in secrets:
            assert secret not in output


def test_a_5xx_leaves_the_row_pending_and_the_next_run_checks_with_smile_first(project: Path, fake: FakeSmile) -> None:
    sync(project)
    fake.fail_next(503, code="SERVER_UNAVAILABLE", path="/invites")
    result = send(project, "--concurrency", "1")
    assert result.exit_code == 1
    assert (
        "row 2: person2@example.com: Smile answered HTTP 503 SERVER_UNAVAILABLE; the next run checks" in result.output
    )
    assert len(fake.invites) == 46
    rerun = send(project)
    assert rerun.exit_code == 1 and "1 sent, 46 already invited" in rerun.output  # (the 3 bad rows remain)
    assert len(fake.of("/invites", "GET")) == 1  # asked Smile about the pending row before resending it
    assert len(set(sent_emails(fake))) == 47
