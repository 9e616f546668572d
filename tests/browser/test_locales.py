"""Journeys in the visitor's language (issue 13), in headless Chromium: every example locale runs to
its end with no English left on the page, validation speaks the page's language, the language
choice never loops, axe-core is clean on every screen at 390 and 1280 px, and Arabic mirrors."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import SCREENSHOTS, Env, Tab
from flipdriver import HARBOR_QUERY, emulator_connect, open_widget, screen, submit
from playwright.sync_api import Browser, Page, expect

from flipgen.i18n.locales import builtin_strings
from flipgen.i18n.overlay import lookup, units
from flipgen.loader import load_site, parse_yaml

REPO = Path(__file__).resolve().parents[2]
LOCALES = [
    ("acme-income", "id"),
    ("acme-income", "fil"),
    ("harbor-tenant-screening", "es-419"),
    ("harbor-tenant-screening", "ar"),
]


def _flat(value: object) -> list[str]:
    return list(value.values()) if isinstance(value, dict) else [str(value)]


def _plain(text: str) -> str:
    """Markdown as the reader sees it: link targets, emphasis and list marks dropped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"\*\*|^\s*- ", "", text, flags=re.M)


def english_and_translated(slug: str, lang: str) -> tuple[list[re.Pattern[str]], str]:
    """Patterns of English the page must not show (the built-in UI text, and every base text the
    overlay translates differently), and all the translated text (names kept as-is are fine)."""
    site = load_site(REPO / "sites" / f"{slug}.yaml").site
    assert site is not None
    data, _, _ = parse_yaml((REPO / "sites" / f"{slug}.{lang}.yaml").read_text("utf-8"), "overlay")
    english: list[str] = [t for v in (builtin_strings("en") or {}).values() for t in _flat(v)]
    translated: list[str] = [t for v in (builtin_strings(lang) or {}).values() for t in _flat(v)]
    for path, base in units(site):
        text = lookup(data, path)
        assert isinstance(text, str), (slug, lang, path)
        translated.append(_plain(text))
        if text != base:
            english.append(_plain(base))
    patterns = []
    for text in english:
        parts = re.split(r"\{\w+\}|\$\{\w+\}", text)
        patterns.append(re.compile(".*?".join(re.escape(p.strip()) for p in parts if p.strip())))
    return patterns, "\n".join(translated)


# Visible text nodes of the page in its own language: the language links (each in its own
# language, marked with `lang`) and the emulated Smile widget (Smile's, not ours) are left out.
TEXT_NODES = """() => {
  const lang = document.documentElement.lang, out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement, t = n.textContent.trim();
    if (!t || !/\\p{L}/u.test(t) || el.closest("[data-smile-emulator], script, noscript")) continue;
    if ((el.closest("[lang]") || document.documentElement).lang !== lang) continue;
    if (!el.checkVisibility()) continue;
    out.push(t);
  }
  return out;
}"""


def no_english(page: Page, slug: str, lang: str, where: str) -> None:
    patterns, translated = english_and_translated(slug, lang)
    for text in page.evaluate(TEXT_NODES):
        if len(text) < 4 or text in translated:
            continue
        hits = [p.pattern for p in patterns if p.pattern and (p.fullmatch(text) or (len(text) > 12 and p.search(text)))]
        assert not hits, f"{slug}/{lang} {where}: English text {text!r} (matches {hits[0]!r})"


def locale_url(env: Env, slug: str, lang: str, query: str = "") -> str:
    return env.url(slug, query).replace(f"/{slug}/", f"/{slug}/{lang}/")


# --- tours: every screen of each locale, by ids only (the button names are translated) ---------

Visit = Callable[[str], None]


def tour_acme(page: Page, visit: Visit, env: Env, lang: str) -> None:
    page.goto(locale_url(env, "acme-income", lang, "ref=abc_1"))
    screen(page, "about-you", focused=False)
    visit("about-you")
    submit(page, "about-you")
    visit("about-you-errors")
    page.fill("#f-full_name", "Siti Rahma")
    page.fill("#f-email", "siti@example.com")
    page.check("#s-about-you input[name=work_type][value=gig]")
    page.check("#f-consent")
    submit(page, "about-you")
    screen(page, "connect-gig")
    visit("connect-gig")
    open_widget(page, "connect-gig")
    page.locator(".sle-x").click()
    expect(page.locator("#s-connect-gig [data-flip-status]")).to_be_visible()
    visit("connect-gig-closed")
    open_widget(page, "connect-gig")
    emulator_connect(page, "upwork")
    screen(page, "done")
    visit("done")
    expect(page.locator("#h-done")).to_contain_text("Siti Rahma")


def tour_harbor(page: Page, visit: Visit, env: Env, lang: str) -> None:
    page.route("https://harborliving.example/**", lambda r: r.fulfill(body="ok", content_type="text/plain"))
    page.goto(locale_url(env, "harbor-tenant-screening", lang, HARBOR_QUERY))
    screen(page, "applicant", focused=False)
    visit("applicant")
    submit(page, "applicant")
    visit("applicant-errors")
    page.fill("#f-full_name", "Layla Haddad")
    page.fill("#f-email", "layla@example.com")
    page.fill("#f-phone", "٢٠٦٥٥٥٠١٤٢" if lang == "ar" else "(206) 555-0142")
    page.fill("#f-current_address", "12 Pier St, Seattle WA")
    page.fill("#f-move_in_date", "2026-09-15")
    submit(page, "applicant")
    screen(page, "household")
    page.fill("#f-occupants", "٢" if lang == "ar" else "2")
    page.check("#s-household input[name=has_co_applicant][value=no]")
    page.select_option("#f-pets", "dog")
    visit("household")
    page.fill("#f-pet_details", "Beagle")
    submit(page, "household")
    screen(page, "income")
    page.check("#s-income input[name=income_sources][value=self]")
    page.fill("#f-monthly_income", "٤٢٠٠" if lang == "ar" else "4200")
    visit("income")
    submit(page, "income")
    screen(page, "upload-docs")
    visit("upload-docs")
    page.locator("#s-upload-docs [data-flip-skip]").click()
    screen(page, "consent")
    visit("consent")
    page.check("#f-screening_consent")
    page.check("#f-accurate")
    page.fill("#f-signature", "Layla Haddad")
    with page.expect_navigation():
        submit(page, "consent")
    assert page.url.startswith(f"https://harborliving.example/{lang[:2]}/listings/HL-1234/applied?"), page.url


TOURS = {"acme-income": tour_acme, "harbor-tenant-screening": tour_harbor}


@pytest.mark.parametrize(("slug", "lang"), LOCALES, ids=[f"{s}-{lang}" for s, lang in LOCALES])
def test_each_locale_completes_in_its_language(tab: Tab, env: Env, slug: str, lang: str) -> None:
    page = tab.page
    seen: list[str] = []

    def visit(name: str) -> None:
        seen.append(name)
        assert page.evaluate("document.documentElement.lang") == lang
        no_english(page, slug, lang, name)

    TOURS[slug](page, visit, env, lang)
    assert len(seen) >= 5
    assert not tab.csp_violations()
    mints = [r["body"] for r in tab.token_bodies if not r["url"].endswith("/refresh")]
    assert all(body["locale"] == lang for body in mints)
    assert mints or slug != "acme-income", "the acme tour connects an account: the token call carries the language"


# --- validation speaks the page's language ---------------------------------------------------


def test_validation_messages_and_plurals_in_arabic(tab: Tab, env: Env) -> None:
    page = tab.page
    ar = builtin_strings("ar") or {}
    page.goto(locale_url(env, "harbor-tenant-screening", "ar", HARBOR_QUERY))
    submit(page, "applicant")
    # Five required fields are empty: 5 is `few` in Arabic.
    expect(page.locator("#flip-live")).to_contain_text(str(ar["problems"]["few"]).replace("{n}", "5"))  # type: ignore[index]
    expect(page.locator("#f-email-error")).to_have_text(str(ar["required"]))
    expect(page.locator("#f-full_name-error")).to_have_text("يُرجى كتابة اسمك كما يظهر في وثيقة هويتك.")
    page.fill("#f-email", "layla")
    page.locator("#f-email").blur()
    submit(page, "applicant")
    expect(page.locator("#f-email-error")).to_have_text(str(ar["email"]))


def test_validation_messages_in_indonesian_with_a_plural_limit(tab: Tab, env: Env) -> None:
    page = tab.page
    strings = builtin_strings("id") or {}
    page.goto(locale_url(env, "acme-income", "id"))
    page.evaluate("document.getElementById('f-full_name').value = 'x'.repeat(201)")
    submit(page, "about-you")
    expect(page.locator("#f-full_name-error")).to_have_text(str(strings["max_length"]["other"]).replace("{n}", "200"))  # type: ignore[index]
    expect(page.locator("#f-work_type-error")).to_have_text(str(strings["choose"]))
    expect(page.locator("#f-consent-error")).to_have_text(str(strings["tick"]))


# --- language choice -------------------------------------------------------------------------


def test_query_lang_wins_and_the_params_are_kept(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("acme-income", "ref=abc_1&lang=fil"))
    page.wait_for_url(re.compile(r"/acme-income/fil/\?ref=abc_1&lang=fil$"))
    expect(page.locator("#h-about-you")).to_have_text("Tungkol sa inyo")
    page.goto(locale_url(env, "acme-income", "fil", "lang=en"))
    page.wait_for_url(re.compile(r"/acme-income/\?lang=en$"))
    assert page.evaluate("document.documentElement.lang") == "en"


def test_browser_language_redirects_only_from_the_default_page(browser: Browser, env: Env) -> None:
    context = browser.new_context(locale="id-ID")
    page = context.new_page()
    try:
        page.goto(env.url("acme-income", "ref=r1"))
        page.wait_for_url(re.compile(r"/acme-income/id/\?ref=r1$"))
        page.goto(locale_url(env, "acme-income", "fil"))  # a direct link to another language stays
        page.wait_for_timeout(300)
        assert page.url.endswith("/acme-income/fil/")
        page.goto(env.url("acme-income", "lang=en"))  # an explicit choice beats the browser, and is saved
        page.goto(env.url("acme-income"))
        page.wait_for_timeout(300)
        assert page.url.endswith("/acme-income/") and page.evaluate("document.documentElement.lang") == "en"
    finally:
        context.close()


def test_switcher_keeps_params_answers_and_the_choice(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("acme-income", "ref=abc_1"))
    nav = page.locator("nav.flip-langs")
    expect(nav.locator("a[lang=id]")).to_have_text("Bahasa Indonesia")
    expect(nav.locator("a[lang=en]")).to_have_attribute("aria-current", "page")
    page.fill("#f-full_name", "Siti Rahma")
    page.locator("#f-full_name").blur()
    nav.locator("a[lang=id]").click()
    page.wait_for_url(re.compile(r"/acme-income/id/\?ref=abc_1$"))
    expect(page.locator("#f-full_name")).to_have_value("Siti Rahma")
    page.goto(env.url("acme-income", "ref=abc_1"))  # the saved choice now leads to Indonesian
    page.wait_for_url(re.compile(r"/acme-income/id/\?ref=abc_1$"))


# --- axe on every screen of every locale --------------------------------------------------------


@pytest.mark.parametrize("tab", [(390, True), (1280, True)], indirect=True, ids=["390px", "1280px"])
@pytest.mark.parametrize(("slug", "lang"), LOCALES, ids=[f"{s}-{lang}" for s, lang in LOCALES])
def test_every_locale_screen_is_axe_clean(tab: Tab, env: Env, axe_js: Path, slug: str, lang: str) -> None:
    page = tab.page
    width = page.viewport_size["width"] if page.viewport_size else 0
    SCREENSHOTS.mkdir(exist_ok=True)
    problems: list[str] = []

    def visit(name: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{slug}-{lang}--{name}--{width}.png"), full_page=True)
        if not page.evaluate("typeof axe !== 'undefined'"):
            page.add_script_tag(path=str(axe_js))
        result: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        problems.extend(
            f"{name}: {v['id']} {v['help']} {[n['target'] for n in v['nodes']]}" for v in result["violations"]
        )
        passed = {r["id"] for r in result.get("passes", [])}
        assert {"html-has-lang", "html-lang-valid"} <= passed, name

    TOURS[slug](page, visit, env, lang)
    assert not problems, "\n".join(problems)


# --- right to left ------------------------------------------------------------------------------

# The browser decodes the PNG of an element's screenshot and says which half holds the
# progress colour (the page's own pixels, not a computed style that could be ignored).
DARK_AT = """async ([png, xs]) => {
  const img = new Image();
  img.src = "data:image/png;base64," + png;
  await img.decode();
  const c = document.createElement("canvas");
  c.width = img.width; c.height = img.height;
  const g = c.getContext("2d");
  g.drawImage(img, 0, 0);
  const y = Math.floor(img.height / 2);
  return xs.map(f => { const x = Math.floor(f < 1 ? img.width * f : img.width - f); const [r, gg, b] = g.getImageData(x, y, 1, 1).data; return r + gg + b < 300; });
}"""


def filled_side(page: Page, selector: str) -> dict[str, bool]:
    png = base64.b64encode(page.locator(selector).screenshot()).decode()
    left, right = page.evaluate(DARK_AT, [png, [0.1, 0.9]])
    return {"left": left, "right": right}


def test_arabic_mirrors_buttons_progress_and_inputs(tab: Tab, env: Env) -> None:
    page = tab.page
    SCREENSHOTS.mkdir(exist_ok=True)
    page.goto(locale_url(env, "harbor-tenant-screening", "ar", HARBOR_QUERY))
    assert page.evaluate("[document.documentElement.dir, getComputedStyle(document.body).direction]") == ["rtl", "rtl"]
    assert page.get_attribute("#f-phone", "dir") == "ltr" and page.get_attribute("#f-email", "dir") == "ltr"
    assert (
        page.get_attribute("#f-full_name", "dir") == "auto"
        and page.get_attribute("#f-current_address", "dir") == "auto"
    )
    page.fill("#f-full_name", "ليلى حداد")
    page.fill("#f-email", "layla@example.com")
    page.fill("#f-phone", "(206) 555-0142")
    page.fill("#f-current_address", "12 Pier St, Seattle WA")
    page.fill("#f-move_in_date", "2026-09-15")
    submit(page, "applicant")
    screen(page, "household")
    page.fill("#f-occupants", "٢")  # two people: the co-applicant question appears
    page.screenshot(path=str(SCREENSHOTS / "rtl-ar-household-1280.png"), full_page=True)
    go_on = page.locator("#s-household button[type=submit]").bounding_box()
    back = page.locator("#s-household [data-flip-back]").bounding_box()
    assert go_on and back and go_on["x"] + go_on["width"] <= back["x"], "Continue is on the left, Back on the right"
    radio = page.locator("#s-household input[name=has_co_applicant]").first.bounding_box()
    label = page.locator("#s-household input[name=has_co_applicant] + label").first.bounding_box()
    assert radio and label and radio["x"] > label["x"] + label["width"] / 2, "the option's box sits at its right"
    assert page.evaluate("document.getElementById('flip-progress').value") < 60
    assert filled_side(page, "#flip-progress") == {"left": False, "right": True}, "the bar fills from the right"
    # The same check in English reads the other way: the assertion can fail.
    page.goto(env.url("harbor-tenant-screening", HARBOR_QUERY))
    screen(page, "household", focused=False)
    assert filled_side(page, "#flip-progress") == {"left": True, "right": False}


def test_an_answer_in_arabic_text_keeps_its_own_direction(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(locale_url(env, "harbor-tenant-screening", "ar", HARBOR_QUERY))
    shown = page.locator("[data-flip-var=listing]").first
    expect(shown).not_to_have_text("")
    # A Latin unit name inside the Arabic sentence is its own bidi island (<bdi>: unicode-bidi
    # isolate), so its characters and trailing punctuation are not reordered by the sentence.
    assert shown.evaluate("e => [e.tagName, getComputedStyle(e).unicodeBidi]") == ["BDI", "isolate"]
    assert shown.evaluate("e => getComputedStyle(e.parentElement).direction") == "rtl"


@pytest.mark.parametrize("tab", [390], indirect=True)
def test_arabic_error_icon_and_emulator_widget_mirror(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(locale_url(env, "harbor-tenant-screening", "ar", HARBOR_QUERY))
    submit(page, "applicant")
    expect(page.locator("#f-email-error")).to_be_visible()
    # The error icon (a filled circle 20 px wide) starts the line: at the right in Arabic.
    png = base64.b64encode(page.locator("#f-email-error").screenshot()).decode()
    assert page.evaluate(DARK_AT, [png, [4, 0.02]]) == [True, False], "the error icon is at the right"
    page.screenshot(path=str(SCREENSHOTS / "rtl-ar-errors-390.png"), full_page=True)
    page.fill("#f-full_name", "ليلى حداد")
    page.fill("#f-email", "layla@example.com")
    page.fill("#f-phone", "٢٠٦٥٥٥٠١٤٢")
    page.fill("#f-current_address", "12 Pier St, Seattle WA")
    page.fill("#f-move_in_date", "2026-09-15")
    submit(page, "applicant")
    page.fill("#f-occupants", "١")
    page.select_option("#f-pets", "none")
    submit(page, "household")
    page.check("#s-income input[name=income_sources][value=gig]")
    page.fill("#f-monthly_income", "٤٢٠٠")
    submit(page, "income")
    screen(page, "connect-gig")
    open_widget(page, "connect-gig")
    close = page.locator(".sle-x").bounding_box()
    dialog = page.locator("[data-smile-emulator] [role=dialog]").bounding_box()
    assert close and dialog and close["x"] < dialog["x"] + dialog["width"] / 2, (
        "the widget's close button is at its left"
    )
    page.screenshot(path=str(SCREENSHOTS / "rtl-ar-widget-390.png"))
