"""The loader: YAML with positions → model, every problem a positioned Diagnostic.

The broken site files under tests/fixtures/invalid/ and their exact diagnostics live in
tests/fixtures/invalid/expected.json; here run the ones the loader itself must reject.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flipgen.loader import did_you_mean, load_config, load_site, parse_yaml
from flipgen.schema import Site
from tests.conftest import assert_matches

INVALID = Path(__file__).parent / "fixtures" / "invalid"
EXPECTED: dict[str, dict] = {
    name: spec
    for name, spec in json.loads((INVALID / "expected.json").read_text("utf-8")).items()
    if not name.startswith("_")
}
LOAD_CASES = sorted(name for name, spec in EXPECTED.items() if spec["stage"] == "load")


def test_fixture_table_covers_every_file() -> None:
    files = {p.name for p in INVALID.iterdir() if p.suffix == ".yaml"}
    assert files == set(EXPECTED)
    assert len(files) >= 45
    assert all(spec["diagnostics"] for spec in EXPECTED.values())


@pytest.mark.parametrize("name", LOAD_CASES)
def test_loader_rejects_fixture(name: str) -> None:
    path = INVALID / name
    loaded = load_site(path)
    assert loaded.site is None
    assert_matches(path, loaded.diagnostics, EXPECTED[name]["diagnostics"])


# --------------------------------------------------------------------------- positions


NESTED = """\
title: Nested
brand:
  colors:
    primary: "#0B5FFF"
screens:
  - id: one
    type: form
    fields:
      - {id: a, type: text, label: A}
      - id: b
        type: radio
        label: B
        options:
          - x
          - {value: y, label: Y}
    next:
      - if: {b: {in: [x, y]}}
        goto: two
      - goto: two
  - id: two
    type: end
"""


def test_positions_of_nested_keys_and_values() -> None:
    data, pos, diags = parse_yaml(NESTED, "s.yaml")
    assert diags == []
    assert data["screens"][0]["fields"][1]["options"][1] == {"value": "y", "label": "Y"}
    assert pos.keys[("brand", "colors", "primary")] == ("s.yaml", 4, 5)
    assert pos.values[("brand", "colors", "primary")] == ("s.yaml", 4, 14)
    assert pos.values[("screens", 0)] == ("s.yaml", 6, 5)
    assert pos.keys[("screens", 0, "fields", 0, "label")] == ("s.yaml", 9, 29)
    assert pos.values[("screens", 0, "fields", 0, "label")] == ("s.yaml", 9, 36)
    assert pos.values[("screens", 0, "fields", 1, "options", 0)] == ("s.yaml", 14, 13)
    assert pos.keys[("screens", 0, "fields", 1, "options", 1, "label")] == ("s.yaml", 15, 24)
    assert pos.keys[("screens", 0, "next", 0, "if", "b", "in")] == ("s.yaml", 17, 18)
    assert pos.values[("screens", 0, "next", 0, "if", "b", "in", 1)] == ("s.yaml", 17, 26)
    assert pos.values[("screens", 1, "type")] == ("s.yaml", 21, 11)


def test_position_falls_back_to_deepest_existing_part() -> None:
    _, pos, _ = parse_yaml(NESTED, "s.yaml")
    assert pos.value(("screens", 0, "fields", 0, "nope", 3)) == ("s.yaml", 9, 9)
    assert pos.key(("screens", 1, "body")) == ("s.yaml", 20, 5)
    assert pos.value(("missing",)) == ("s.yaml", 1, 1)


def test_crlf_line_endings_keep_positions() -> None:
    text = "title: T\r\nscreens:\r\n  - id: done\r\n    type: ending\r\n"
    data, pos, diags = parse_yaml(text, "w.yaml")
    assert diags == [] and pos.values[("screens", 0, "type")] == ("w.yaml", 4, 11)


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbftitle: T\nscreens:\n  - id: done\n    type: end\n")
    loaded = load_site(path)
    assert loaded.diagnostics == [] and loaded.site is not None and loaded.site.title == "T"


def test_error_position_in_flow_mapping(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("title: T\nscreens: [{id: done, type: end, bdy: x}]\n")
    (d,) = load_site(path).diagnostics
    assert (d.line, d.col) == (2, 33)
    assert "unknown key `bdy` in a screen — did you mean `body`?" in d.message


# --------------------------------------------------------------------------- did you mean


def test_did_you_mean_picks_the_closest_choice() -> None:
    assert did_you_mean("requried", ["required", "label"]) == " — did you mean `required`?"
    assert did_you_mean("zzz", ["required", "label"]) == ""
    assert did_you_mean("x", []) == ""


@pytest.mark.parametrize(
    ("snippet", "fragment"),
    [
        (
            "  - id: done\n    tpye: end\n",
            "this screen needs a `type`: form, wink or end (is `tpye` a misspelled `type`?)",
        ),
        ("  - id: done\n    type: ned\n", "unknown screen type `ned` — did you mean `end`?"),
        (
            "  - id: f\n    type: form\n    fields:\n      - {id: a, type: chekbox, label: A}\n  - id: done\n    type: end\n",
            "`chekbox` is not a valid field type — did you mean `checkbox`?",
        ),
        ("  - id: f\n    type: form\n    feilds: []\n", "unknown key `feilds` in a screen — did you mean `fields`?"),
        (
            "  - id: w\n    type: wink\n    min_acounts: 0\n",
            "unknown key `min_acounts` in a screen — did you mean `min_accounts`?",
        ),
    ],
)
def test_did_you_mean_for_keys_and_types(tmp_path: Path, snippet: str, fragment: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("title: T\nscreens:\n" + snippet)
    messages = [d.message for d in load_site(path).diagnostics]
    assert any(fragment in m for m in messages), messages


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("title: T\nseo:\n  zzz: 1\nscreens:\n  - id: done\n    type: end\n")
    (d,) = load_site(path).diagnostics
    assert (d.line, d.col) == (3, 3)
    assert d.message == "unknown key `zzz` in `seo` (expected one of: `noindex`, `og_image`)"


# --------------------------------------------------------------------------- all errors


def test_every_error_in_a_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "title: T\n"
        "lang: english!\n"
        "brand:\n"
        "  radius: -1\n"
        "  colors: {primary: red}\n"
        "screens:\n"
        "  - id: One\n"
        "    type: form\n"
        "    fields:\n"
        "      - id: a\n"
        "        type: txt\n"
        "        lable: A\n"
        "  - id: done\n"
        "    type: end\n"
        "seo: {noindex: perhaps}\n"
    )
    loaded = load_site(path)
    got = sorted((d.line, d.col) for d in loaded.diagnostics)
    assert got == [(2, 7), (4, 11), (5, 21), (7, 9), (11, 15), (12, 9), (15, 16)]
    assert all(d.severity == "error" for d in loaded.diagnostics)
    assert loaded.site is None


def test_yaml_tag_problem_is_not_repeated_by_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("title: !!binary aGVsbG8=\nscreens:\n  - id: done\n    type: end\n")
    (d,) = load_site(path).diagnostics
    assert (d.line, d.col, d.code) == (1, 8, "yaml-tag")
    assert "`!!binary`" in d.message


def test_set_tag_on_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("title: T\nbrand: !!set {a, b}\nscreens:\n  - id: done\n    type: end\n")
    (d,) = load_site(path).diagnostics
    assert (d.line, d.col) == (2, 8) and "unsupported YAML tag `!!set`" in d.message


def test_anchors_and_aliases_are_followed(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("title: &t Hello\ndescription: *t\nscreens:\n  - id: done\n    type: end\n")
    loaded = load_site(path)
    assert loaded.diagnostics == [] and loaded.site is not None and loaded.site.description == "Hello"


@pytest.mark.parametrize("text", ["[" * 5000, "a: " + "{b: " * 3000, "\0\0", "- " * 4000 + "x"])
def test_absurd_input_gives_a_diagnostic_not_a_crash(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    loaded = load_site(path)
    assert loaded.site is None and loaded.diagnostics
    assert all(d.line >= 1 and d.col >= 1 for d in loaded.diagnostics)


def test_unreadable_path_gives_a_diagnostic(tmp_path: Path) -> None:
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    (d,) = load_site(folder).diagnostics
    assert d.code == "io" and "cannot read the file" in d.message


def test_slug_defaults_to_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "my-site.yaml"
    path.write_text("title: T\nscreens:\n  - id: done\n    type: end\n")
    loaded = load_site(path)
    assert isinstance(loaded.site, Site) and loaded.site.slug == "my-site"


# --------------------------------------------------------------------------- defaults and config


def test_defaults_merge_under_the_site(tmp_path: Path) -> None:
    cfg = tmp_path / "flipgen.yaml"
    cfg.write_text(
        'defaults:\n  lang: fr\n  brand:\n    name: Acme\n    colors:\n      primary: "#112233"\n      text: "#000000"\n'
    )
    config, cpos, cdiags = load_config(cfg)
    assert cdiags == []
    site = tmp_path / "s.yaml"
    site.write_text('title: T\nbrand:\n  colors:\n    primary: "#445566"\nscreens:\n  - id: done\n    type: end\n')
    loaded = load_site(site, defaults=config.defaults, defaults_positions=cpos)
    assert loaded.diagnostics == [] and loaded.site is not None
    assert loaded.site.lang == "fr"
    assert loaded.site.brand.name == "Acme"
    assert loaded.site.brand.colors.primary == "#445566"  # the site wins
    assert loaded.site.brand.colors.text == "#000000"  # deep merge keeps the default's sibling


def test_error_in_defaults_points_into_flipgen_yaml(tmp_path: Path) -> None:
    cfg = tmp_path / "flipgen.yaml"
    cfg.write_text("output: public\ndefaults:\n  brand:\n    colors:\n      surface: white\n")
    config, cpos, _ = load_config(cfg)
    site = tmp_path / "s.yaml"
    site.write_text("title: T\nscreens:\n  - id: done\n    type: end\n")
    (d,) = load_site(site, defaults=config.defaults, defaults_positions=cpos).diagnostics
    assert d.file.endswith("flipgen.yaml")
    assert (d.line, d.col) == (5, 16)
    assert "`white` is not a valid colour for `surface`" in d.message


def test_config_errors_are_positioned(tmp_path: Path) -> None:
    cfg = tmp_path / "flipgen.yaml"
    cfg.write_text("sites_dir: sites\noutptu: public\nbase_url: apply.example.com\n")
    config, _, diags = load_config(cfg)
    assert config.output == "dist"
    got = {(d.line, d.col): d.message for d in diags}
    assert set(got) == {(2, 1), (3, 11)}
    assert "unknown key `outptu` in flipgen.yaml — did you mean `output`?" in got[(2, 1)]
    assert "absolute http(s) URL" in got[(3, 11)]


def test_missing_config_gives_defaults(tmp_path: Path) -> None:
    config, _, diags = load_config(tmp_path / "flipgen.yaml")
    assert diags == [] and config.sites_dir == "sites" and config.token_endpoint == "/api/link-token"


def test_union_values_give_one_error_named_after_the_key(tmp_path: Path) -> None:
    path = tmp_path / "u.yaml"
    path.write_text(
        "title: T\nscreens:\n  - id: a\n    type: form\n    fields:\n"
        "      - {id: n, type: number, label: N, min: [1], step: x, default: {a: 1}}\n"
        "  - id: done\n    type: end\n"
    )
    got = sorted((d.line, d.col, d.message) for d in load_site(path).diagnostics)
    assert got == [
        (6, 46, "`min` expects a number"),
        (6, 57, "`step` expects a number"),
        (6, 69, "`default` expects text"),
    ]


def test_boolean_hint_only_where_quoting_helps(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(
        "title: T\nscreens:\n  - id: a\n    type: form\n    fields: no\n  - id: done\n    type: end\n    title: off\n"
    )
    got = {(d.line, d.col): d.message for d in load_site(path).diagnostics}
    assert got == {
        (5, 13): "`fields` expects a list (`- item` lines or `[a, b]`)",
        (8, 12): "`title` expects text — YAML read `false` as a true/false value (unquoted yes/no/on/off are too); "
        "put it in quotes",
    }
