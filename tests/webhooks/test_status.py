"""`flipgen applications show/export` carry what Smile's webhooks verified, on both backends."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from flipgen.cli import main
from flipgen.store import applications as apps
from flipgen.store import open_store
from flipgen.webhooks.inbound import process_event, store_event

from . import smile_events as ev

SITE = "title: Loan\nscreens:\n  - {id: about, type: form, fields: [{id: email, type: email, label: Email}], next: done}\n  - {id: done, type: end}\n"


def run(db_url: str, root: Path, *args: str, app_id: str | None = None) -> str:
    # An id may start with `-`: after `--` click does not read it as an option.
    tail = ["--", app_id] if app_id is not None else []
    result = CliRunner().invoke(
        main, [*args, "--project", str(root), "--database", db_url, *tail], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_show_and_export_include_the_verified_accounts(db_url: str, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "sites").mkdir(parents=True)
    (root / "sites" / "loan.yaml").write_text(SITE, encoding="utf-8")
    store = open_store(db_url, root)
    try:
        with store.write() as conn:
            verified = apps.create(conn, site="loan", smile_user_id="tenant-v")
            plain = apps.create(conn, site="loan", smile_user_id="tenant-none")
        for raw in (
            ev.account_connected("tenant-v", "a-1", created="2026-01-02T03:00:00Z"),
            ev.account_failed("tenant-v", "a-2", created="2026-01-02T03:01:00Z"),
            ev.archive("ARCHIVE_REVOKED", "tenant-v", "archive-1", created="2026-01-02T03:02:00Z"),
            ev.session_completed("tenant-v", created="2026-01-02T03:03:00Z"),
        ):
            event_id, _, _ = store_event(store, raw)
            process_event(store, event_id)
    finally:
        store.close()

    shown = run(db_url, root, "applications", "show", app_id=verified.id)
    assert "Verified accounts (from Smile's webhooks)" in shown
    assert "account  a-1" in shown and "sss_ph" in shown and "connected  2026-01-02T03:00:00Z" in shown
    assert "failed (INVALID_CREDENTIALS)" in shown and "upload   archive-1" in shown
    assert "Data revoked: yes" in shown and "Smile session completed 2026-01-02T03:03:00Z" in shown
    assert "none reported by Smile yet" in run(db_url, root, "applications", "show", app_id=plain.id)

    rows = list(csv.reader(io.StringIO(run(db_url, root, "applications", "export", "--header", "ids"))))
    by_id = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert (
        by_id[verified.id]["verified_accounts"]
        == "sss_ph connected; nbi_ph failed (INVALID_CREDENTIALS); upload revoked"
    )
    assert by_id[verified.id]["data_revoked"] == "true"
    assert by_id[plain.id]["verified_accounts"] == "" and by_id[plain.id]["data_revoked"] == "false"

    lines = run(db_url, root, "applications", "export", "--format", "jsonl").splitlines()
    record = next(json.loads(x) for x in lines if json.loads(x)["id"] == verified.id)
    assert record["verified"]["data_revoked"] is True
    assert [a["status"] for a in record["verified"]["accounts"]] == ["connected", "failed", "revoked"]
    assert record["verified"]["session_completed_at"] == "2026-01-02T03:03:00Z"
