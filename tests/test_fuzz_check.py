"""Property tests: however an example site is broken, `flipgen check` reports, never crashes.

Each example is a valid site from `sites/`, mutated the ways people and editors break YAML:
keys deleted or duplicated, values retyped, indentation broken, tabs inserted, the file cut
short, random bytes or unicode spliced in, and the parsed data itself reshaped. The check
must return (or exit 0/1) and every diagnostic must point inside the file.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flipgen.checks import check_project
from flipgen.cli import main
from flipgen.project import open_project

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = {p.name: p.read_text("utf-8") for p in open_project(REPO).site_files()}
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

VALUES = [
    "1",
    "-3.5",
    "'text'",
    "[a, b]",
    "{a: 1}",
    "true",
    "no",
    "null",
    "~",
    "[]",
    "{}",
    "2024-01-31",
    '"#12"',
    "*nope",
    "&a x",
    "!!python/name:os.system",
    "|\n  block",
    '"unclosed',
    "'${x}'",
    "0x1F",
]


@pytest.fixture(scope="module")
def project() -> Iterator[Path]:
    """One project reused by every example: the examples' asset folders, one site file."""
    root = Path(tempfile.mkdtemp(prefix="flipgen-fuzz-"))
    for folder in (REPO / "sites").iterdir():
        if folder.is_dir():
            shutil.copytree(folder, root / "sites" / folder.name)
    yield root
    shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- mutations


@st.composite
def text_mutation(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    lines = EXAMPLES[name].split("\n")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "retype", "indent", "dedent", "tab", "unicode"]))
        line = lines[i]
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "retype" and ":" in line:
            head = line.split(":", 1)[0]
            lines[i] = f"{head}: {draw(st.sampled_from(VALUES))}"
        elif kind == "indent":
            lines[i] = " " * draw(st.integers(1, 5)) + line
        elif kind == "dedent":
            lines[i] = line[draw(st.integers(1, 4)) :]
        elif kind == "tab":
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + "\t" + line[at:]
        elif kind == "unicode":
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.text(min_size=1, max_size=4)) + line[at:]
        if not lines:
            lines = [""]
    return name, "\n".join(lines).encode("utf-8", "surrogatepass")


@st.composite
def byte_mutation(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    raw = EXAMPLES[name].encode("utf-8")
    kind = draw(st.sampled_from(["truncate", "splice", "replace"]))
    at = draw(st.integers(0, len(raw)))
    if kind == "truncate":
        return name, raw[:at]
    junk = draw(st.binary(min_size=1, max_size=12))
    if kind == "splice":
        return name, raw[:at] + junk + raw[at:]
    return name, raw[:at] + junk + raw[at + len(junk) :]


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, prefix + (i,))
    return out


REPLACEMENTS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(
        st.sampled_from(["id", "type", "goto", "if", "eq", "any", "not", "zzz"]), st.text(max_size=5), max_size=3
    ),
)


@st.composite
def data_mutation(draw: st.DrawFn) -> tuple[str, bytes]:
    """Reshape the parsed site (delete, retype, duplicate into lists) and write it back as YAML."""
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    data = yaml.safe_load(EXAMPLES[name])
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        action = draw(st.sampled_from(["delete", "retype", "wrap", "rename"]))
        if action == "delete":
            del parent[key]
        elif action == "retype":
            parent[key] = draw(REPLACEMENTS)
        elif action == "wrap":
            parent[key] = [parent[key]]
        elif isinstance(parent, dict):
            parent[str(key)[:-1] + "x"] = parent.pop(key)
    return name, yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")


# --------------------------------------------------------------------------- properties


def _write(project: Path, name: str, content: bytes) -> Path:
    sites = project / "sites"
    for old in sites.glob("*.yaml"):
        old.unlink()
    target = sites / name
    target.write_bytes(content)
    return target


def _assert_inside(content: bytes, diagnostics: list[tuple[str, int, int]], name: str) -> None:
    lines = content.count(b"\n") + 1
    for file, line, col in diagnostics:
        assert Path(file).name == name
        assert 1 <= line <= lines + 1, (file, line, col, lines)
        assert col >= 1, (file, line, col)


def _check(project: Path, name: str, content: bytes) -> None:
    _write(project, name, content)
    result = check_project(open_project(project))
    _assert_inside(content, [(d.file, d.line, d.col) for d in result.diagnostics], name)
    assert all(d.message and d.severity in ("error", "warning") for d in result.diagnostics)
    assert len(result.sites) == 1
    if result.sites[0].site is None:  # a site that did not load always says why
        assert result.errors


@SETTINGS
@given(case=text_mutation())
def test_text_mutations_never_crash(project: Path, case: tuple[str, bytes]) -> None:
    _check(project, *case)


@SETTINGS
@given(case=byte_mutation())
def test_byte_mutations_never_crash(project: Path, case: tuple[str, bytes]) -> None:
    _check(project, *case)


@SETTINGS
@given(case=data_mutation())
def test_data_mutations_never_crash(project: Path, case: tuple[str, bytes]) -> None:
    _check(project, *case)


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    case=st.one_of(text_mutation(), byte_mutation(), data_mutation()), fmt=st.sampled_from(["json", "text", "github"])
)
def test_cli_check_exits_zero_or_one(project: Path, case: tuple[str, bytes], fmt: str) -> None:
    name, content = case
    _write(project, name, content)
    result = CliRunner().invoke(main, ["check", str(project), "--format", fmt], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    if fmt == "json":
        doc = json.loads(result.stdout)
        assert doc["ok"] == (result.exit_code == 0)
        _assert_inside(content, [(d["file"], d["line"], d["col"]) for d in doc["diagnostics"]], name)


def test_unmutated_examples_are_clean(project: Path) -> None:
    """The baseline the mutations start from: each example alone checks clean."""
    for name, text in EXAMPLES.items():
        _write(project, name, text.encode())
        for overlay in open_project(REPO).overlay_files(REPO / "sites" / name).values():
            shutil.copy(overlay, project / "sites" / overlay.name)
        assert check_project(open_project(project), strict=True).diagnostics == []
