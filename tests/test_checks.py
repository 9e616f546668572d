"""Cross checks (routing, conditions, ids, assets, contrast, metadata) and `check_project`.

Fixtures: tests/fixtures/invalid/*.yaml with their exact diagnostics in expected.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flipgen.checks import check_project, check_site, contrast_ratio, effective_next
from flipgen.loader import load_site
from flipgen.project import open_project
from tests.conftest import assert_matches

REPO = Path(__file__).resolve().parent.parent
INVALID = Path(__file__).parent / "fixtures" / "invalid"
EXPECTED: dict[str, dict] = {
    name: spec
    for name, spec in json.loads((INVALID / "expected.json").read_text("utf-8")).items()
    if not name.startswith("_")
}
CHECK_CASES = sorted(name for name, spec in EXPECTED.items() if spec["stage"] == "check")

MINIMAL = "title: T\nscreens:\n  - id: done\n    type: end\n"


def project_with(tmp_path: Path, files: dict[str, str | bytes], config: str | None = None) -> Path:
    sites = tmp_path / "sites"
    sites.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = sites / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
    if config is not None:
        (tmp_path / "flipgen.yaml").write_text(config)
    return tmp_path


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("name", CHECK_CASES)
def test_cross_checks_on_fixture(name: str) -> None:
    path = INVALID / name
    loaded = load_site(path)
    assert loaded.diagnostics == [] and loaded.site is not None
    assert_matches(path, check_site(loaded), EXPECTED[name]["diagnostics"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_project_reports_fixture_exactly(tmp_path: Path, name: str) -> None:
    """The whole pipeline (project → load → checks → sorted result) gives the same set."""
    shutil.copyfile(INVALID / name, project_with(tmp_path, {}) / "sites" / name)
    result = check_project(open_project(tmp_path))
    assert_matches(tmp_path / "sites" / name, result.diagnostics, EXPECTED[name]["diagnostics"])
    assert not result.ok or all(row[-1] == "warning" for row in EXPECTED[name]["diagnostics"])
    keys = [(d.file, d.line, d.col, d.message) for d in result.diagnostics]
    assert keys == sorted(keys)


# --------------------------------------------------------------------------- valid sites


def test_example_sites_are_clean() -> None:
    result = check_project(open_project(REPO), strict=True)
    assert result.diagnostics == []
    assert sorted(l.site.slug for l in result.sites if l.site) == [
        "acme-income",
        "brightpath-onboarding",
        "harbor-tenant-screening",
    ]


def test_starter_project_is_clean(tmp_path: Path) -> None:
    from flipgen.scaffold import scaffold

    scaffold(tmp_path)
    result = check_project(open_project(tmp_path), strict=True)
    assert result.ok and result.diagnostics == [] and len(result.sites) == 1


# --------------------------------------------------------------------------- did you mean


@pytest.mark.parametrize(
    ("routing", "fragment"),
    [
        ("    next: thanks-page\n", "`goto: thanks-page` names no screen — did you mean `thank-you-page`?"),
        (
            "    next:\n      - if: {emial: {filled: true}}\n        goto: thank-you-page\n      - goto: thank-you-page\n",
            "condition names `emial`, which is no field or param — did you mean `email`?",
        ),
        (
            "    next:\n      - if: {not: {referal: x}}\n        goto: thank-you-page\n      - goto: thank-you-page\n",
            "condition names `referal`, which is no field or param — did you mean `referral`?",
        ),
    ],
)
def test_did_you_mean_for_screen_and_field_ids(tmp_path: Path, routing: str, fragment: str) -> None:
    text = (
        "title: T\nparams:\n  - name: referral\nscreens:\n  - id: ask\n    type: form\n    fields:\n"
        "      - {id: email, type: email, label: Email}\n" + routing + "  - id: thank-you-page\n    type: end\n"
    )
    root = project_with(tmp_path, {"s.yaml": text})
    messages = [d.message for d in check_project(open_project(root)).errors]
    assert any(fragment in m for m in messages), messages


# --------------------------------------------------------------------------- all errors, routing


def test_all_cross_check_errors_are_reported(tmp_path: Path) -> None:
    text = (
        "title: T\n"  # 1
        "screens:\n"  # 2
        "  - id: a\n"  # 3
        "    type: form\n"  # 4
        "    fields:\n"  # 5
        "      - {id: x, type: select, label: X}\n"  # 6  no options
        "      - {id: x, type: text, label: Y}\n"  # 7  duplicate id
        "    next:\n"  # 8
        "      - if: {y: 1}\n"  # 9  unknown field
        "        goto: b\n"  # 10
        "      - goto: nowhere\n"  # 11 unknown screen
        "  - id: b\n"  # 12
        "    type: wink\n"  # 13 no template id
        "  - id: done\n"  # 14
        "    type: end\n"  # 15
    )
    root = project_with(tmp_path, {"s.yaml": text})
    got = {(d.line, d.col, d.code) for d in check_project(open_project(root)).errors}
    assert got == {
        (6, 9, "field-options"),
        (7, 14, "duplicate-id"),
        (9, 14, "condition-name"),
        (11, 15, "unknown-goto"),
        (12, 5, "wink-template"),
    }


def test_effective_next_defaults_to_the_following_screen() -> None:
    loaded = load_site(REPO / "sites" / "acme-income.yaml")
    assert loaded.site is not None
    first = effective_next(loaded.site, 0)
    assert [r["goto"] for r in first] == ["connect-gig", "upload-docs", "connect-payroll"]
    assert first[-1]["if"] is None
    assert effective_next(loaded.site, 4) == []  # the end screen


def test_redirect_completes_a_journey_without_end_screen(tmp_path: Path) -> None:
    text = (
        "title: T\nscreens:\n  - id: a\n    type: form\n    fields:\n      - {id: x, type: text, label: X}\n"
        "on_complete:\n  redirect: https://acme.example/thanks?x=${x}\n"
    )
    root = project_with(tmp_path, {"s.yaml": text})
    assert check_project(open_project(root)).diagnostics == []


def test_condition_on_a_param_is_always_available(tmp_path: Path) -> None:
    text = (
        "title: T\nparams:\n  - name: ref\nscreens:\n  - id: a\n    type: form\n    fields:\n"
        "      - {id: x, type: text, label: X, show_if: {ref: {filled: true}}}\n  - id: done\n    type: end\n"
    )
    root = project_with(tmp_path, {"s.yaml": text})
    assert check_project(open_project(root)).diagnostics == []


def test_condition_on_a_field_answered_on_every_path_is_fine(tmp_path: Path) -> None:
    text = (
        "title: T\nscreens:\n"
        "  - id: a\n    type: form\n    fields:\n      - {id: kind, type: radio, label: K, options: [p, q]}\n"
        "    next:\n      - if: {kind: p}\n        goto: b\n      - goto: c\n"
        "  - id: b\n    type: form\n    fields:\n      - {id: n, type: number, label: N}\n    next: c\n"
        "  - id: c\n    type: form\n    fields:\n      - {id: m, type: text, label: M}\n"
        "    next:\n      - if: {kind: q}\n        goto: done\n      - goto: done\n"
        "  - id: done\n    type: end\n"
    )
    root = project_with(tmp_path, {"s.yaml": text})
    assert check_project(open_project(root)).diagnostics == []


# --------------------------------------------------------------------------- contrast


LOW_CONTRAST = (
    'title: T\nbrand:\n  colors:\n    text: "#999999"\n    background: "#AAAAAA"\n'
    "screens:\n  - id: done\n    type: end\n"
)


def test_contrast_is_a_warning_by_default(tmp_path: Path) -> None:
    result = check_project(open_project(project_with(tmp_path, {"s.yaml": LOW_CONTRAST})))
    assert result.ok and result.errors == []
    # text is checked on both the page background and the (default white) surface
    assert [(d.line, d.col, d.severity) for d in result.warnings] == [(4, 11, "warning")] * 2
    background, surface = result.warnings
    assert "contrast of `text` on `background` is 1.2" in background.message
    assert "contrast of `text` on `surface` is 2.8" in surface.message
    assert all("below WCAG AA (4.5:1)" in w.message for w in result.warnings)


def test_contrast_is_an_error_with_strict(tmp_path: Path) -> None:
    result = check_project(open_project(project_with(tmp_path, {"s.yaml": LOW_CONTRAST})), strict=True)
    assert not result.ok and result.warnings == []
    assert [(d.line, d.col, d.severity) for d in result.errors] == [(4, 11, "error")] * 2


def test_contrast_from_defaults_points_into_flipgen_yaml(tmp_path: Path) -> None:
    root = project_with(
        tmp_path,
        {"s.yaml": MINIMAL},
        config='defaults:\n  brand:\n    colors:\n      primary: "#FFEE00"\n      on_primary: "#FFFFFF"\n',
    )
    (w,) = check_project(open_project(root)).warnings
    assert w.file.endswith("flipgen.yaml") and (w.line, w.col) == (5, 19)


def test_contrast_ratio_known_values() -> None:
    assert contrast_ratio("#000", "#fff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


# --------------------------------------------------------------------------- defaults


def test_defaults_from_flipgen_yaml_apply_to_every_site(tmp_path: Path) -> None:
    root = project_with(
        tmp_path,
        {"a.yaml": MINIMAL, "b.yaml": "title: B\nlang: de\nscreens:\n  - id: done\n    type: end\n"},
        config="defaults:\n  lang: fr\n  wink:\n    template_id: wtpl-default\n  brand:\n    name: Acme\n",
    )
    result = check_project(open_project(root))
    assert result.diagnostics == []
    by_slug = {l.site.slug: l.site for l in result.sites if l.site}
    assert by_slug["a"].lang == "fr" and by_slug["b"].lang == "de"
    assert by_slug["a"].wink is not None and by_slug["a"].wink.template_id == "wtpl-default"
    assert by_slug["b"].brand.name == "Acme"


def test_wink_template_from_defaults_satisfies_a_wink_screen(tmp_path: Path) -> None:
    text = "title: T\nscreens:\n  - id: w\n    type: wink\n  - id: done\n    type: end\n"
    root = project_with(tmp_path, {"s.yaml": text}, config="defaults:\n  wink:\n    template_id: wtpl-x\n")
    assert check_project(open_project(root)).diagnostics == []
    (d,) = check_project(open_project(project_with(tmp_path / "other", {"s.yaml": text}))).errors
    assert (d.line, d.col, d.code) == (3, 5, "wink-template")


# --------------------------------------------------------------------------- project level


def test_duplicate_slug_across_files(tmp_path: Path) -> None:
    root = project_with(tmp_path, {"a.yaml": MINIMAL, "b.yaml": "title: B\nslug: a\n" + MINIMAL.split("\n", 1)[1]})
    (d,) = check_project(open_project(root)).errors
    assert d.file.endswith("b.yaml") and (d.line, d.col) == (2, 7)
    assert "slug `a` is already used by" in d.message and "a.yaml" in d.message


def test_no_site_files(tmp_path: Path) -> None:
    (d,) = check_project(open_project(tmp_path)).errors
    assert d.code == "no-sites" and "no site files found in `sites/`" in d.message


def test_only_selects_sites_and_suggests_unknown_slugs(tmp_path: Path) -> None:
    root = project_with(tmp_path, {"acme.yaml": MINIMAL, "beta.yaml": MINIMAL})
    result = check_project(open_project(root), only=["acme", "acmee"])
    assert [l.site.slug for l in result.sites if l.site] == ["acme"]
    (d,) = result.errors
    assert "no site `acmee` — did you mean `acme`?" in d.message


def test_errors_in_several_files_are_all_reported_and_sorted(tmp_path: Path) -> None:
    root = project_with(
        tmp_path,
        {
            "b.yaml": "title: B\nscreens:\n  - id: done\n    type: ende\n",
            "a.yaml": "titl: A\nscreens:\n  - id: done\n    type: end\n",
            "c.yaml": b"title: \xff\n",
        },
    )
    result = check_project(open_project(root))
    files = [Path(d.file).name for d in result.errors]
    assert files == ["a.yaml", "a.yaml", "b.yaml", "c.yaml"]


def test_config_errors_are_part_of_the_result(tmp_path: Path) -> None:
    root = project_with(tmp_path, {"s.yaml": MINIMAL}, config="ouput: public\n")
    (d,) = check_project(open_project(root)).errors
    assert d.file.endswith("flipgen.yaml") and (d.line, d.col) == (1, 1)
    assert "did you mean `output`?" in d.message


def test_assets_are_found_relative_to_the_site_file(tmp_path: Path) -> None:
    text = "title: T\nbrand:\n  logo: acme/logo.svg\n  favicon: acme/fav.svg\nscreens:\n  - id: done\n    type: end\n"
    root = project_with(tmp_path, {"s.yaml": text, "acme/logo.svg": "<svg/>"})
    (d,) = check_project(open_project(root)).errors
    assert (d.line, d.col) == (4, 12) and "asset `acme/fav.svg` not found (looked for sites/acme/fav.svg)" in d.message
