"""Invite templates (`invites/*.yaml`) and people CSVs: what is accepted, and where problems are reported."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from flipgen.errors import UserError
from flipgen.invites.pacing import Pacer
from flipgen.invites.people import read_people
from flipgen.invites.template import load_template, load_templates, to_smile

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "invites" / "acme-welcome.yaml"

GOOD = """\
name: Welcome
company:
  name: Acme
  logo_url: https://acme.example/logo.png
email:
  sender_name: Acme
  reply_address: hello@acme.example
  subject: Hello ${firstName}
  body: |
    Hi ${firstName}, ${companyName} would like to see your income.
landing_page: {header: "Share with ${companyName}", description: Two minutes., button: Start}
success_page: {header: Thanks, description: Done., button: Connect another account}
"""


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def at(path: Path, line: int, col: int) -> str:
    return path.read_text("utf-8").split("\n")[line - 1][col - 1 :]


def test_example_template_is_clean_and_maps_to_smiles_field_names() -> None:
    loaded = load_template(EXAMPLE)
    assert loaded.diagnostics == [] and loaded.ok
    body = to_smile(loaded)
    assert set(body) == {"name", "company", "email", "landingPage", "successPage"}
    assert set(body["company"]) == {"name", "logoUrl"}
    assert set(body["email"]) == {"sendEmail", "senderName", "replyAddress", "subject", "body"}
    assert body["email"]["sendEmail"] is True
    assert body["name"] == "Acme welcome v1"
    assert "${firstName}" in body["email"]["body"]


def test_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("name: Welcome\n", ""), "spring-campaign.yaml")
    assert load_template(path).name == "spring-campaign"


@pytest.mark.parametrize(
    ("line", "text", "written", "fragment"),
    [
        (8, "  subject: Hello ${fullName}", "${fullName}", "use `${firstName}`"),
        (8, "  subject: Hello {{firstName}}", "{{firstName}}", "write `${firstName}` instead of `{{firstName}}`"),
        (8, "  subject: Hello {$companyName}", "{$companyName}", "write `${companyName}`"),
        (8, "  subject: Hello {{company.name}}", "{{company.name}}", "write `${companyName}`"),
        (8, "  subject: Hello ${firstname}", "${firstname}", "did you mean `${firstName}`?"),
        (8, "  subject: Hello ${ref}", "${ref}", "Smile replaces only `${companyName}` and `${firstName}`"),
        (3, "  name: ${companyName} Ltd", "${companyName}", "not replaced here"),
    ],
)
def test_only_the_two_confirmed_variables_are_accepted(
    tmp_path: Path, line: int, text: str, written: str, fragment: str
) -> None:
    lines = GOOD.split("\n")
    lines[line - 1] = text
    path = write(tmp_path, "\n".join(lines))
    loaded = load_template(path)
    assert not loaded.ok
    [diag] = loaded.diagnostics
    assert (diag.line, at(path, diag.line, diag.col).startswith(written)) == (line, True), diag
    assert fragment in diag.message and diag.code == "invite-variable"


def test_a_variable_inside_a_block_scalar_is_located_exactly(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("would like", "and ${fullName} would like"))
    [diag] = load_template(path).diagnostics
    assert (diag.line, diag.col) == (10, 41)
    assert at(path, diag.line, diag.col).startswith("${fullName}")


def test_smiles_length_limits(tmp_path: Path) -> None:
    text = GOOD.replace("Hello ${firstName}\n", "x" * 201 + "\n").replace("name: Welcome", "name: " + "n" * 65)
    path = write(tmp_path, text)
    diags = load_template(path).diagnostics
    assert [(d.line, d.col) for d in diags] == [(1, 7), (8, 12)]
    assert "at most 64 characters" in diags[0].message
    assert "at most 200 characters" in diags[1].message
    long_body = GOOD.replace("Hi ${firstName}", "b" * 5001)
    [diag] = load_template(write(tmp_path, long_body)).diagnostics
    assert diag.line == 9 and "at most 5000" in diag.message


def test_every_problem_is_reported_at_once_with_suggestions(tmp_path: Path) -> None:
    text = (
        GOOD.replace("  subject:", "  subjct:")
        .replace("reply_address: hello@acme.example", "reply_address: hello")
        .replace("https://acme.example/logo.png", "logo.png")
        .replace("would like", "would <b>like</b>")
    )
    path = write(tmp_path, text)
    diags = load_template(path).diagnostics
    messages = {(d.line, d.col): (d.severity, d.message) for d in diags}
    assert messages[(8, 3)][1].startswith("unknown key `subjct`") and "did you mean `subject`" in messages[(8, 3)][1]
    assert "not an email address" in messages[(7, 18)][1]
    assert "absolute http(s) URL" in messages[(4, 13)][1]
    assert messages[(10, 43)] == ("warning", messages[(10, 43)][1])
    assert at(path, 10, 43).startswith("<b>")


def test_duplicate_template_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "invites").mkdir()
    write(tmp_path / "invites", GOOD, "a.yaml")
    write(tmp_path / "invites", GOOD, "b.yaml")
    a, b = load_templates(tmp_path)
    assert a.diagnostics == []
    [diag] = b.diagnostics
    assert (diag.line, diag.col) == (1, 7) and "already used by" in diag.message


def test_flipgen_check_reports_invite_templates(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from flipgen.cli import main

    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "s.yaml").write_text(
        "title: S\nscreens:\n  - {id: done, type: end, title: Done}\n", encoding="utf-8"
    )
    (tmp_path / "invites").mkdir()
    write(tmp_path / "invites", GOOD.replace("Hello ${firstName}", "Hello ${fullName}"), "w.yaml")
    result = CliRunner().invoke(main, ["check", str(tmp_path), "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    [diag] = report["diagnostics"]
    assert diag["file"].endswith("invites/w.yaml") and (diag["line"], diag["col"]) == (8, 18)
    assert diag["code"] == "invite-variable"


# --------------------------------------------------------------------------- people CSV


def test_people_csv_excel_export_with_bom_crlf_and_loose_headers(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(
        "\ufeffE-mail Address,FULL NAME,First name,Surname\r\n"
        'ana@example.com,"Ana, Maria Reyes",Ana,Reyes\r\n'
        ",,,\r\n"
        "bad-email,Bob,,\r\n"
        "cy@example.com,,,\r\n"
        "ANA@example.com,Ana Again,,\r\n"
        "dee@example.com,,Dee,Lim\r\n".encode()
    )
    people = read_people(path)
    assert [(p.row, p.email, p.full_name, p.first_name, p.last_name) for p in people.people] == [
        (2, "ana@example.com", "Ana, Maria Reyes", "Ana", "Reyes"),
        (7, "dee@example.com", "Dee Lim", "Dee", "Lim"),
    ]
    assert [(p.row, p.message.split(" ")[0]) for p in people.problems] == [
        (4, "`bad-email`"),
        (5, "no"),
        (6, "ANA@example.com"),
    ]
    assert "already on row 2" in people.problems[2].message


def test_people_csv_windows_1252_and_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes("email;name\r\njose@example.com;José Núñez\r\n".encode("cp1252"))
    [person] = read_people(path).people
    assert person.full_name == "José Núñez"


def test_people_csv_without_an_email_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("name,phone\nA,1\n", encoding="utf-8")
    with pytest.raises(UserError, match="no `email` column"):
        read_people(path)


# --------------------------------------------------------------------------- pacing


def test_pacer_spaces_request_starts_and_pauses_for_retry_after() -> None:
    now = [100.0]
    starts: list[float] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    async def go() -> None:
        pacer = Pacer(clock=lambda: now[0], sleep=sleep)  # the default: 19/s
        for i in range(41):
            if i == 30:
                pacer.pause(2.0)
            await pacer.acquire()
            starts.append(now[0])

    asyncio.run(go())
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) == pytest.approx(1 / 19)
    assert starts[30] - starts[29] == pytest.approx(2.0, abs=1 / 19)
    # No window of one second holds more than Smile's 20 starts, with room for network jitter.
    assert 19 <= max(sum(1 for t in starts if s <= t <= s + 1) for s in starts) <= 20


def test_pacer_refuses_a_rate_above_smiles_limit() -> None:
    with pytest.raises(ValueError):
        Pacer(21)


def test_json_schema_accepts_the_example_and_refuses_unknown_keys() -> None:
    import jsonschema
    import yaml
    from click.testing import CliRunner

    from flipgen.cli import main

    result = CliRunner().invoke(main, ["invite", "schema"])
    assert result.exit_code == 0
    validator = jsonschema.Draft202012Validator(json.loads(result.output))
    example = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    assert list(validator.iter_errors(example)) == []
    example["email"]["subjct"] = "typo"
    assert [e.validator for e in validator.iter_errors(example)] == ["additionalProperties"]


def test_texts_lose_the_trailing_newline_of_block_scalars_and_sync_ignores_line_ends() -> None:
    from flipgen.invites.sync import changed_fields

    body = to_smile(load_template(EXAMPLE))
    assert body["email"]["body"].startswith("Hello ${firstName},\n\n") and not body["email"]["body"].endswith("\n")
    remote = json.loads(json.dumps(body))
    remote["email"]["body"] = remote["email"]["body"].replace("\n", "\r\n") + "\n"
    remote["id"] = "tpl-1"
    assert changed_fields(remote, body) == []
    remote["landingPage"]["button"] = "Go"
    assert changed_fields(remote, body) == ["landingPage.button"]


def test_the_documented_example_csv_reads_as_documented() -> None:
    people = read_people(ROOT / "docs" / "examples" / "people.csv")
    assert [p.email for p in people.people] == [
        "george.palomero@example.com",
        "maria.santos@example.com",
        "siti.rahman@example.com",
        "anh.nguyen@example.com",
    ]
    assert people.people[0].full_name == "George Cimafranca Palomero, Jr"
    assert people.people[3].last_name == "Nguyễn"
    assert [(p.row, p.message.split(" ")[0]) for p in people.problems] == [(5, "`not-an-email`")]
