"""`flipgen schema`: a draft 2020-12 JSON Schema that agrees with the loader.

Editors use it through `# yaml-language-server: $schema=...`, so it must accept every valid
site (or marketers see red squiggles on good files) and reject what the loader rejects.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from flipgen.cli import main
from flipgen.loader import parse_yaml, read_text
from flipgen.project import open_project
from flipgen.schema import json_schema

REPO = Path(__file__).resolve().parent.parent
SITES = open_project(REPO).site_files() + [REPO / "flipgen" / "starter" / "sites" / "welcome.yaml"]
INVALID = Path(__file__).parent / "fixtures" / "invalid"
EXPECTED = {
    k: v for k, v in json.loads((INVALID / "expected.json").read_text("utf-8")).items() if not k.startswith("_")
}
SCHEMA_COMMENT = re.compile(r"^# yaml-language-server: \$schema=(\S+)\s*$", re.M)


def data_of(path: Path) -> Any:
    """The YAML as flipgen reads it (dates stay text, as editors see them)."""
    text, problems = read_text(path, path.name)
    assert text is not None and not problems
    data, _, diags = parse_yaml(text, path.name)
    assert diags == []
    return data


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result = CliRunner().invoke(main, ["schema"], catch_exceptions=False)
    assert result.exit_code == 0
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema)


def test_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "flipgen site"
    assert schema == json_schema()


@pytest.mark.parametrize("path", SITES, ids=lambda p: p.name)
def test_schema_accepts_example_sites(validator: Draft202012Validator, path: Path) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(data_of(path))]
    assert errors == []


def test_string_and_mapping_options_are_both_accepted(validator: Draft202012Validator) -> None:
    field = {"id": "c", "type": "radio", "label": "C", "options": ["Yes", 2, {"value": "n", "label": "No"}]}
    site = {"title": "T", "screens": [{"id": "a", "type": "form", "fields": [field]}]}
    assert validator.is_valid(site)
    field["options"] = [True]
    assert not validator.is_valid(site)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda s: s.update(titel="x"), []),
        (lambda s: s.update(title=3), ["title"]),
        (lambda s: s.pop("screens"), []),
        (lambda s: s["screens"][0].update(type="from"), ["screens", 0]),
        (lambda s: s["screens"][0]["fields"][0].update(requried=True), ["screens", 0]),
        (lambda s: s["screens"][0].update(id="About You"), ["screens", 0]),
        (lambda s: s["screens"][0].update(next="Done"), ["screens", 0]),
        (lambda s: s["brand"]["colors"].update(primary="blue"), ["brand", "colors", "primary"]),
        (lambda s: s["brand"].update(radius="10px"), ["brand", "radius"]),
        (lambda s: s["wink"].pop("template_id"), ["wink"]),
        (lambda s: s.update(slug="Acme_Income"), ["slug"]),
    ],
)
def test_schema_rejects_invalid_sites(validator: Draft202012Validator, change: Any, where: list[Any]) -> None:
    site = data_of(REPO / "sites" / "acme-income.yaml")
    assert validator.is_valid(site)
    change(site)
    errors = list(validator.iter_errors(site))
    assert errors
    assert any(list(e.absolute_path)[: len(where)] == where for e in errors)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_schema_agrees_with_the_loader_on_fixtures(validator: Draft202012Validator, name: str) -> None:
    """A fixture the loader accepts (stage `check`) is schema-valid; one it rejects is not."""
    path = INVALID / name
    text, _ = read_text(path, name)
    data, _, diags = parse_yaml(text, name) if text is not None else (None, None, ["unreadable"])
    if diags or not isinstance(data, dict):  # YAML-level problems: nothing for a schema to see
        assert EXPECTED[name]["stage"] == "load"
        return
    assert validator.is_valid(data) == (EXPECTED[name]["stage"] == "check")


def test_annotated_example_points_at_an_existing_schema(validator: Draft202012Validator) -> None:
    annotated = [p for p in SITES if SCHEMA_COMMENT.search(p.read_text("utf-8"))]
    assert any(p.parent == REPO / "sites" for p in annotated)
    for path in annotated:
        ref = SCHEMA_COMMENT.search(path.read_text("utf-8")).group(1)  # type: ignore[union-attr]
        target = (path.parent / ref).resolve()
        assert target.name == "flipgen.schema.json"
        assert target.is_file() or path.is_relative_to(REPO / "flipgen" / "starter")
        assert validator.is_valid(data_of(path))


def test_the_shipped_schema_file_is_current() -> None:
    """Editors read the committed flipgen.schema.json; it must match `flipgen schema`."""
    from flipgen.schema import json_schema_text

    shipped = (Path(__file__).resolve().parent.parent / "flipgen.schema.json").read_text(encoding="utf-8")
    assert shipped == json_schema_text(), "run `flipgen schema > flipgen.schema.json`"
