"""The command line (SPEC §5): formats, exit codes, colour, verbosity, init, schema, no tracebacks."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flipgen import __version__
from flipgen.cli import main

REPO = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")

GOOD = "title: T\nscreens:\n  - id: done\n    type: end\n"
BAD = "title: T\nscreens:\n  - id: done\n    type: end\n    tpye: x\n  - id: Bad\n    type: end\n"
LOW_CONTRAST = (
    'title: T\nbrand:\n  colors:\n    primary: "#FFEE00"\n    on_primary: "#FFFFFF"\n'
    "screens:\n  - id: done\n    type: end\n"
)


def make_project(root: Path, **sites: str) -> Path:
    (root / "sites").mkdir(parents=True, exist_ok=True)
    for slug, text in sites.items():
        (root / "sites" / f"{slug}.yaml").write_text(text)
    return root


def run(*args: str, env: dict[str, str] | None = None, color: bool = False) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env, color=color)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output and "Traceback" not in result.stderr


# --------------------------------------------------------------------------- check: formats


def test_check_text_clean(in_tmp: Path) -> None:
    make_project(in_tmp, a=GOOD, b=GOOD)
    result = run("check")
    assert result.exit_code == 0
    assert result.stdout == "✓ 2 sites checked: 0 error(s), 0 warning(s)\n"


def test_check_text_errors(in_tmp: Path) -> None:
    make_project(in_tmp, a=GOOD, broken=BAD)
    result = run("check", ".")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "sites/broken.yaml:5:5: error: unknown key `tpye` in a screen — did you mean `type`?",
        "sites/broken.yaml:6:9: error: `Bad` is not a valid screen id: a screen id starts with a lowercase letter, "
        "then up to 49 lowercase letters, digits, `-` or `_`",
    ]
    assert result.stderr == "2 sites checked: 2 error(s), 0 warning(s)\n"
    no_traceback(result)


def test_check_json(in_tmp: Path) -> None:
    make_project(in_tmp, a=GOOD, broken=BAD)
    result = run("check", "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["errors"] == 2 and doc["warnings"] == 0
    assert doc["sites"] == ["a"]
    assert doc["diagnostics"][0] == {
        "file": "sites/broken.yaml",
        "line": 5,
        "col": 5,
        "severity": "error",
        "code": "schema:extra_forbidden",
        "message": "unknown key `tpye` in a screen — did you mean `type`?",
    }
    assert [(d["line"], d["col"]) for d in doc["diagnostics"]] == [(5, 5), (6, 9)]


def test_check_json_clean(in_tmp: Path) -> None:
    make_project(in_tmp, a=GOOD)
    result = run("check", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"ok": True, "sites": ["a"], "errors": 0, "warnings": 0, "diagnostics": []}


def test_check_github_annotations(in_tmp: Path) -> None:
    make_project(in_tmp, broken=BAD, pale=LOW_CONTRAST)
    result = run("check", "--format", "github")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "::error file=sites/broken.yaml,line=5,col=5::unknown key `tpye` in a screen — did you mean `type`?",
        "::error file=sites/broken.yaml,line=6,col=9::`Bad` is not a valid screen id: a screen id starts with a "
        "lowercase letter, then up to 49 lowercase letters, digits, `-` or `_`",
        "::warning file=sites/pale.yaml,line=5,col=17::contrast of `on_primary` on `primary` is 1.20:1, below WCAG AA (4.5:1)",
    ]


def test_github_format_escapes_percent(in_tmp: Path) -> None:
    make_project(in_tmp, a='title: T\nscreens:\n  - id: done\n    type: end\n    title: "${x%y}"\n    50%: off\n')
    result = run("check", "--format", "github")
    line = next(l for l in result.stdout.splitlines() if "line=6" in l)
    assert (
        line == "::error file=sites/a.yaml,line=6,col=5::unknown key `50%25` in a screen "
        "(expected one of: `id`, `title`, `intro`, `type`, `body`)"
    )


def test_github_format_escapes_file_properties(in_tmp: Path) -> None:
    # A comma or colon in a file name would otherwise end the `file=` property early.
    make_project(in_tmp, **{"a,b:c": BAD})
    result = run("check", "--format", "github")
    lines = result.stdout.splitlines()
    assert lines and all(l.startswith("::error file=sites/a%2Cb%3Ac.yaml,line=") for l in lines), lines


# --------------------------------------------------------------------------- check: exit codes, strict


def test_warning_alone_exits_zero_and_strict_makes_it_fail(in_tmp: Path) -> None:
    make_project(in_tmp, pale=LOW_CONTRAST)
    relaxed = run("check")
    assert relaxed.exit_code == 0
    assert "sites/pale.yaml:5:17: warning: contrast of `on_primary` on `primary`" in relaxed.stdout
    assert "1 site checked: 0 error(s), 1 warning(s)" in relaxed.stdout
    strict = run("check", "--strict")
    assert strict.exit_code == 1
    assert "sites/pale.yaml:5:17: error: contrast of `on_primary` on `primary`" in strict.stdout
    assert "1 site checked: 1 error(s), 0 warning(s)" in strict.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["check", "--format", "xml"],
        ["check", "--bogus"],
        ["check", "a", "b"],
        ["nosuchcommand"],
        ["init", "--strict"],
    ],
)
def test_bad_usage_exits_two(in_tmp: Path, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert "Usage:" in result.stderr or "Error:" in result.stderr
    no_traceback(result)


def test_example_project_checks_clean_strict() -> None:
    result = run("check", str(REPO), "--strict")
    assert result.exit_code == 0
    assert "3 sites checked: 0 error(s), 0 warning(s)" in result.stdout


# --------------------------------------------------------------------------- no tracebacks


def test_missing_project_folder(in_tmp: Path) -> None:
    result = run("check", "does-not-exist")
    assert result.exit_code == 1
    assert result.stderr == "error: no such folder: does-not-exist\n"
    no_traceback(result)


def test_file_instead_of_folder(in_tmp: Path) -> None:
    (in_tmp / "site.yaml").write_text(GOOD)
    result = run("check", "site.yaml")
    assert result.exit_code == 1
    assert "site.yaml is a file; give the project folder" in result.stderr
    no_traceback(result)


def test_unreadable_site_file(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_project(in_tmp, locked=GOOD, fine=GOOD)
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "locked.yaml":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = run("check")
    assert result.exit_code == 1
    assert result.stdout == "sites/locked.yaml:1:1: error: cannot read the file: Permission denied\n"
    no_traceback(result)


def test_config_that_is_a_folder(in_tmp: Path) -> None:
    make_project(in_tmp, a=GOOD)
    (in_tmp / "flipgen.yaml").mkdir()
    result = run("check")
    assert result.exit_code == 1
    assert result.stdout.startswith("flipgen.yaml:1:1: error: cannot read the file")
    no_traceback(result)


def test_binary_garbage_site(in_tmp: Path) -> None:
    make_project(in_tmp)
    (in_tmp / "sites" / "junk.yaml").write_bytes(bytes(range(256)) * 4)
    result = run("check", "--format", "json")
    assert result.exit_code == 1
    (d,) = json.loads(result.stdout)["diagnostics"]
    assert d["code"] == "encoding" and (d["line"], d["col"]) == (2, 118)  # byte 0x80, after the \n at byte 10


# --------------------------------------------------------------------------- colour


def test_no_colour_when_not_a_terminal(in_tmp: Path) -> None:
    make_project(in_tmp, broken=BAD)
    result = run("check", color=True)  # click would keep ANSI codes; flipgen must not emit any
    assert result.exit_code == 1
    assert not ANSI.search(result.output)


def _run_on_tty(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run the real command with stdout/stderr on a pseudo-terminal; return what it printed."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flipgen.cli", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO once the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(extra)
    return env


def test_colour_on_a_terminal(tmp_path: Path) -> None:
    make_project(tmp_path, broken=BAD)
    out = _run_on_tty(["check"], tmp_path, _env())
    assert "\x1b[31m" in out  # red "error:"
    assert "sites/broken.yaml:5:5:" in ANSI.sub("", out)


def test_no_colour_on_a_terminal_with_no_color(tmp_path: Path) -> None:
    make_project(tmp_path, broken=BAD)
    out = _run_on_tty(["check"], tmp_path, _env(NO_COLOR="1"))
    assert "sites/broken.yaml:5:5: error: unknown key `tpye`" in out
    assert "\x1b[" not in out


# --------------------------------------------------------------------------- verbosity, version


def test_quiet_clean_check_prints_nothing(in_tmp: Path) -> None:
    make_project(in_tmp, a=GOOD)
    for args in (["check", "-q"], ["-q", "check"]):
        result = run(*args)
        assert result.exit_code == 0 and result.output == ""


def test_quiet_still_prints_errors(in_tmp: Path) -> None:
    make_project(in_tmp, broken=BAD)
    result = run("check", "--quiet")
    assert result.exit_code == 1
    assert "sites/broken.yaml:5:5: error:" in result.stdout


def test_verbose_is_accepted_on_group_and_command(in_tmp: Path) -> None:
    make_project(in_tmp, a=GOOD)
    for args in (["-v", "check"], ["check", "-v"], ["check", "-vv"]):
        result = run(*args)
        assert result.exit_code == 0
        assert "1 site checked: 0 error(s), 0 warning(s)" in result.stdout


def test_verbose_shows_internal_errors_quiet_hides_the_traceback(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_project(in_tmp, a=GOOD)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr("flipgen.checks.check_project", boom)
    result = run("check")
    assert result.exit_code == 1
    assert "internal error (RuntimeError: kaboom)" in result.stderr and "-vv" in result.stderr
    no_traceback(result)
    with pytest.raises(RuntimeError):
        run("check", "-vv")


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"flipgen, version {__version__}\n"


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("check", "build", "serve", "token-server", "schema", "init"):
        assert command in result.stdout


# --------------------------------------------------------------------------- init


def test_init_scaffolds_a_project_that_checks_clean(in_tmp: Path) -> None:
    result = run("init", "new-project")
    assert result.exit_code == 0
    root = in_tmp / "new-project"
    for name in ("flipgen.yaml", ".env.example", ".gitignore", "flipgen.schema.json"):
        assert (root / name).is_file(), name
    assert list((root / "sites").glob("*.yaml"))
    assert "created" in result.stdout
    check = run("check", "new-project", "--strict")
    assert check.exit_code == 0, check.output
    shipped = json.loads((root / "flipgen.schema.json").read_text())
    assert shipped == json.loads(run("schema").stdout)


def test_init_never_overwrites(in_tmp: Path) -> None:
    root = in_tmp / "p"
    root.mkdir()
    (root / "flipgen.yaml").write_text("output: public\n")
    (root / ".gitignore").write_text("mine\n")
    result = run("init", "p")
    assert result.exit_code == 0
    assert (root / "flipgen.yaml").read_text() == "output: public\n"
    assert (root / ".gitignore").read_text() == "mine\n"
    assert "kept" in result.stdout and "flipgen.yaml (already there)" in result.stdout
    site = next((root / "sites").glob("*.yaml"))
    site.write_text(GOOD)
    again = run("init", "p")
    assert again.exit_code == 0 and "created" not in again.stdout
    assert site.read_text() == GOOD


def test_init_into_a_file_is_a_usage_error(in_tmp: Path) -> None:
    (in_tmp / "taken").write_text("x")
    result = run("init", "taken")
    assert result.exit_code == 2
    no_traceback(result)


# --------------------------------------------------------------------------- schema


def test_schema_prints_json() -> None:
    result = run("schema")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(doc["required"]) == {"title", "screens"}
    assert doc["additionalProperties"] is False
