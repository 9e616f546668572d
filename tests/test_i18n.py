"""Translations (issue 13): overlays, built-in UI text, plural rules, per-language pages, checks, CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import minify
import pytest
from click.testing import CliRunner

from flipgen.build import build, runtime_assets
from flipgen.checks import check_project
from flipgen.cli import main
from flipgen.errors import Diagnostic
from flipgen.i18n.checks import braces
from flipgen.i18n.locales import BUILTIN, PAGE_KEYS, builtin_strings, locale_info, plural_category
from flipgen.i18n.overlay import overlay_json_schema
from flipgen.project import open_project

REPO = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "i18n"
VECTORS = json.loads((Path(__file__).parent / "vectors" / "plurals.json").read_text("utf-8"))
ENGLISH = builtin_strings("en") or {}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(FIXTURE, root)
    return root


def diags(root: Path, strict: bool = False) -> list[Diagnostic]:
    return check_project(open_project(root), strict=strict).diagnostics


def texts(value: object) -> list[str]:
    return list(value.values()) if isinstance(value, dict) else [str(value)]


# ----------------------------------------------------------------------------- built-in text


@pytest.mark.parametrize("lang", BUILTIN)
def test_builtin_strings_are_complete_and_match_cldr(lang: str) -> None:
    strings = builtin_strings(lang)
    assert strings is not None and set(strings) == set(ENGLISH)
    needed = locale_info(lang).plurals
    for key, base in ENGLISH.items():
        value = strings[key]
        if isinstance(base, dict):
            assert isinstance(value, dict), f"{lang}.{key} must be a plural map"
            assert needed <= set(value), f"{lang}.{key} lacks {sorted(needed - set(value))}"
        else:
            assert isinstance(value, str) and value.strip()
        allowed = set().union(*(braces(t) for t in texts(base)))
        for text in texts(value):
            assert braces(text) <= allowed, f"{lang}.{key}: {text}"
        if lang != "en":
            assert value != base, f"{lang}.{key} is still English"


def test_every_required_slot_survives_where_the_sentence_needs_it() -> None:
    # `{of}` and `{need}` carry information no category implies: every language keeps them.
    for lang in BUILTIN:
        strings = builtin_strings(lang) or {}
        assert "{of}" in str(strings["step_of"]) and "{n}" in str(strings["step_of"]), lang
        assert all("{need}" in t for t in texts(strings["fewer"])), lang


@pytest.mark.parametrize("lang", sorted(VECTORS["cases"]))
def test_plural_vectors_agree_with_babel(lang: str) -> None:
    differs = {n: c for n, c in VECTORS["babel_differs"].get(lang, [])}
    for n, want in VECTORS["cases"][lang]:
        got = plural_category(lang, n)
        # A documented CLDR-version difference: still there (or the exception must go).
        assert got == differs.get(n, want), (lang, n, got)


def test_vectors_cover_every_builtin_language() -> None:
    assert sorted(VECTORS["cases"]) == sorted(BUILTIN)


def test_arabic_is_right_to_left_and_the_intl_tag_pins_calendar_and_digits() -> None:
    assert locale_info("ar").dir == "rtl" and locale_info("th").dir == "ltr"
    assert locale_info("th").intl == "th-u-ca-gregory-nu-latn"
    assert locale_info("ar").plurals == {"zero", "one", "two", "few", "many", "other"}


# ----------------------------------------------------------------------------- project and build


def test_overlays_are_not_sites(project: Path) -> None:
    proj = open_project(project)
    assert [p.name for p in proj.site_files()] == ["shop.yaml"]
    assert sorted(proj.overlay_files(project / "sites" / "shop.yaml")) == ["ar", "es-419"]
    assert diags(project) == []


def test_build_writes_one_page_per_language(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    build(project, output=out, base_url="https://apply.example")
    default = (out / "shop" / "index.html").read_text("utf-8")
    arabic = (out / "shop" / "ar" / "index.html").read_text("utf-8")
    spanish = (out / "shop" / "es-419" / "index.html").read_text("utf-8")
    assert '<html lang="en">' in default
    assert '<html lang="ar" dir="rtl">' in arabic and '<html lang="es-419">' in spanish
    for page in (default, arabic, spanish):
        assert '<link rel="alternate" hreflang="x-default" href="https://apply.example/shop/">' in page
        assert '<link rel="alternate" hreflang="ar" href="https://apply.example/shop/ar/">' in page
        assert '<link rel="alternate" hreflang="es-419" href="https://apply.example/shop/es-419/">' in page
    assert (
        '<a href="../es-419/" lang="es-419" hreflang="es-419" data-flip-lang="es-419">Español (Latinoamérica)</a>'
        in (arabic)
    )
    assert 'lang="ar" hreflang="ar" data-flip-lang="ar" aria-current="page">العربية</a>' in arabic
    assert "افتح حساب متجرك" in arabic and "Abra la cuenta de su tienda" in spanish
    assert ">Siguiente</button>" in spanish, "the overlay's ui: override wins"
    assert ">متابعة</button>" in arabic
    assert 'src="../../assets/flip.' in arabic and 'src="../../assets/lang.' in arabic
    assert 'src="../assets/lang.' in default and 'href="../assets/lang.' in default
    assert 'href="../../assets/lang.' in arabic
    sitemap = (out / "sitemap.xml").read_text("utf-8")
    for url in ("https://apply.example/shop/", "https://apply.example/shop/ar/", "https://apply.example/shop/es-419/"):
        assert f"<loc>{url}</loc>" in sitemap
    assert sitemap.count('hreflang="x-default"') == 3


def test_each_page_carries_only_its_own_strings(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    build(project, output=out)
    pages = {
        lang: (out / "shop" / path).read_text("utf-8")
        for lang, path in [("en", "index.html"), ("ar", "ar/index.html"), ("es-419", "es-419/index.html")]
    }
    for lang, page in pages.items():
        runtime = json.loads(re.search(r'id="flip-text">(.*?)</script>', page).group(1))  # type: ignore[union-attr]
        own = builtin_strings(lang) or {}
        assert set(runtime) == set(own) - PAGE_KEYS
        for other in pages:
            if other != lang:
                foreign = builtin_strings(other) or {}
                assert str(foreign["required"]) not in page, f"{other} text on the {lang} page"


def test_number_fields_take_native_digits_on_arabic_pages(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    build(project, output=out)
    arabic = (out / "shop" / "ar" / "index.html").read_text("utf-8")
    english = (out / "shop" / "index.html").read_text("utf-8")
    assert re.search(r'id="f-staff" name="staff" type="text" dir="ltr" inputmode="decimal"', arabic)
    assert 'min="1"' not in arabic.split('id="f-staff"')[1].split(">")[0]
    assert re.search(r'id="f-staff" name="staff" type="number" dir="ltr"', english)
    assert 'id="f-shop_name" name="shop_name" type="text" dir="auto"' in english


def test_a_site_without_locales_is_built_as_before(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    build(REPO, output=out, sites=["brightpath-onboarding"])
    page = (out / "brightpath-onboarding" / "index.html").read_text("utf-8")
    assert "hreflang" not in page and "flip-langs" not in page and "assets/lang." not in page, "no lang.js/css"
    assert not any(p.is_dir() and p.name != "assets" for p in (out / "brightpath-onboarding").iterdir())


# ----------------------------------------------------------------------------- checks


def write(root: Path, name: str, text: str) -> None:
    (root / "sites" / name).write_text(text, encoding="utf-8")


def test_missing_translations_warn_and_fail_under_strict(project: Path) -> None:
    text = (
        (project / "sites" / "shop.ar.yaml")
        .read_text("utf-8")
        .replace("      staff:\n        label: عدد الموظفين\n", "")
    )
    write(project, "shop.ar.yaml", text)
    found = [d for d in diags(project) if d.code == "missing-translation"]
    assert len(found) == 1 and found[0].file.endswith("shop.ar.yaml") and found[0].severity == "warning"
    assert (found[0].line, found[0].col) == (8, 7), "at the field's screen block, the closest key there is"
    assert "screens.about.fields.staff.label" in found[0].message
    assert "Number of staff" in found[0].message
    strict = [d for d in diags(project, strict=True) if d.code == "missing-translation"]
    assert strict and strict[0].severity == "error"


def test_orphaned_keys_name_the_line_and_suggest(project: Path) -> None:
    text = (project / "sites" / "shop.es-419.yaml").read_text("utf-8").replace("      staff:\n", "      stafff:\n")
    write(project, "shop.es-419.yaml", text)
    found = [d for d in diags(project) if d.code == "orphan-key"]
    assert len(found) == 1
    d = found[0]
    assert d.file.endswith("sites/shop.es-419.yaml") and (d.line, d.col) == (10, 7)
    assert "no field `stafff`" in d.message and "did you mean `staff`" in d.message


def test_placeholders_must_match_the_base_text(project: Path) -> None:
    text = (
        (project / "sites" / "shop.es-419.yaml")
        .read_text("utf-8")
        .replace("¡Gracias, ${shop_name}!", "¡Gracias, ${shopname}!")
    )
    write(project, "shop.es-419.yaml", text)
    found = [d for d in diags(project) if d.code == "translation-placeholders"]
    assert len(found) == 1 and found[0].severity == "error"
    assert (found[0].line, found[0].col) == (20, 12)
    assert "missing shop_name" in found[0].message and "unexpected shopname" in found[0].message


def test_plural_maps_need_every_category_of_the_language(project: Path) -> None:
    text = (project / "sites" / "shop.ar.yaml").read_text("utf-8") + (
        'ui:\n  problems:\n    one: مشكلة واحدة.\n    other: توجد {n} مشكلة.\n  tick: "{count} خطأ"\n'
    )
    write(project, "shop.ar.yaml", text)
    found = {d.code: d for d in diags(project) if d.severity == "error"}
    assert "zero, two, few, many" in found["plural-missing"].message
    assert (found["plural-missing"].line, found["plural-missing"].col) == (24, 3)
    assert "count" in found["translation-placeholders"].message


def test_unknown_ui_keys_and_unlisted_overlays_are_reported(project: Path) -> None:
    write(project, "shop.es-419.yaml", "ui:\n  continu: Siguiente\n")
    write(project, "shop.th.yaml", "title: เปิดบัญชีร้านค้า\n")
    found = diags(project)
    orphan = next(d for d in found if d.code == "orphan-key")
    assert "did you mean `continue`" in orphan.message and (orphan.line, orphan.col) == (2, 3)
    unlisted = next(d for d in found if d.code == "unlisted-translation")
    assert unlisted.file.endswith("sites/shop.th.yaml")


def test_a_language_without_builtin_text_needs_every_ui_string(project: Path) -> None:
    (project / "flipgen.yaml").write_text("locales:\n  default: en\n  languages: [en, ar, es-419, fr]\n", "utf-8")
    result = CliRunner().invoke(main, ["translations", "extract", str(project), "--lang", "fr"])
    assert result.exit_code == 0, result.output
    skeleton = (project / "sites" / "shop.fr.yaml").read_text("utf-8")
    assert '  # Continue\n  continue: ""\n' in skeleton and '  problems:\n    other: ""\n' in skeleton
    found = [d for d in diags(project) if d.code == "missing-translation" and "UI text" in d.message]
    assert len(found) == 1 and "add continue, back, connect" in found[0].message
    filled = re.sub(r'^(  \w+): ""$', r"\1: x", skeleton, flags=re.M).replace('    other: ""', "    other: x {n}")
    (project / "sites" / "shop.fr.yaml").write_text(filled, "utf-8")
    assert not [d for d in diags(project) if "UI text" in d.message]


def test_an_overlay_with_a_schema_error_is_positioned(project: Path) -> None:
    write(project, "shop.ar.yaml", "screens:\n  about:\n    titel: x\n")
    bad = [d for d in diags(project) if d.severity == "error"]
    assert bad and bad[0].file.endswith("sites/shop.ar.yaml") and bad[0].line == 3


def test_unknown_language_in_locales(project: Path) -> None:
    (project / "flipgen.yaml").write_text("locales:\n  default: en\n  languages: [en, xx-Zzzz-99]\n", "utf-8")
    found = [d for d in diags(project) if d.code == "unknown-lang"]
    assert found and found[0].file.endswith("flipgen.yaml") and found[0].line == 3


# ----------------------------------------------------------------------------- CLI and schema


def test_translations_status_prints_coverage(project: Path) -> None:
    write(
        project,
        "shop.ar.yaml",
        (project / "sites" / "shop.ar.yaml").read_text("utf-8").replace("    title: عن متجرك\n", ""),
    )
    result = CliRunner().invoke(main, ["translations", "status", str(project)])
    assert result.exit_code == 0, result.output
    assert re.search(r"shop\s+ar\s+10/11 \(91%\)", result.output)
    assert re.search(r"shop\s+es-419\s+11/11 \(100%\)", result.output)


def test_extract_writes_a_complete_skeleton_that_keeps_existing_text(project: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["translations", "extract", str(project), "--lang", "es-419"])
    assert result.exit_code == 0, result.output
    text = (project / "sites" / "shop.es-419.yaml").read_text("utf-8")
    assert '  about:\n    # About your shop\n    title: "Sobre su tienda"\n' in text
    assert '  continue: "Siguiente"' in text, "ui overrides in use are kept"
    assert diags(project) == []
    result = runner.invoke(main, ["translations", "extract", str(project), "--lang", "th", "--stdout"])
    assert result.exit_code == 0
    assert "# Open your shop account\ntitle: ~\n" in result.output
    assert "          # Food\n          food: ~\n" in result.output
    assert "# Thank you, ${shop_name}!" in result.output


def test_extract_refuses_an_unknown_language(project: Path) -> None:
    result = CliRunner().invoke(main, ["translations", "extract", str(project), "--lang", "zz"])
    assert result.exit_code == 1 and "not a language tag" in result.output


def test_the_committed_overlay_schema_is_current() -> None:
    committed = json.loads((REPO / "flipgen.overlay.schema.json").read_text("utf-8"))
    assert committed == overlay_json_schema()
    result = CliRunner().invoke(main, ["schema", "--overlay"])
    assert json.loads(result.output) == committed


def test_example_overlays_validate_against_the_schema() -> None:
    from jsonschema import Draft202012Validator

    from flipgen.loader import parse_yaml

    validator = Draft202012Validator(overlay_json_schema())
    overlays = sorted((REPO / "sites").glob("*.*.yaml")) + sorted((FIXTURE / "sites").glob("*.*.yaml"))
    assert len(overlays) >= 4
    for path in overlays:
        data, _, problems = parse_yaml(path.read_text("utf-8"), path.name)
        assert not problems
        assert list(validator.iter_errors(data)) == [], path
    assert list(validator.iter_errors({"screens": {"a": {"titel": "x"}}}))


# ----------------------------------------------------------------------------- right-to-left CSS

PHYSICAL = re.compile(
    r"(?<![-\w])(?:margin|padding|border)-(?:left|right)\b|(?<![-\w])(?:left|right)\s*:"
    r"|text-align\s*:\s*(?:left|right)|float\s*:\s*(?:left|right)|clear\s*:\s*(?:left|right)"
    r"|border-(?:top|bottom)-(?:left|right)-radius"
)


def test_built_css_uses_only_logical_properties(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    build(project, output=out, sandbox=True)
    sheets = [p.read_text("utf-8") for p in out.rglob("*.css")]
    assert len(sheets) >= 2
    emulator = next(data for name, (_, data) in runtime_assets(True).items() if name == "smile-emulator.js")
    css_in_js = re.findall(r'"([^"]*\{[^"]*)"', emulator.decode())
    assert css_in_js, "the emulator's stylesheet is linted too"
    for text in [*sheets, minify.string("text/css", "".join(css_in_js))]:
        assert PHYSICAL.findall(text) == []
    assert PHYSICAL.findall("a{margin-left:0}b{left: 1px}c{text-align:right}") == [
        "margin-left",
        "left:",
        "text-align:right",
    ]
