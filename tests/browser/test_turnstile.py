"""The Turnstile bot check on Wink screens (site `bot_protection`), client side. Cloudflare's
api.js cannot load here (no internet): a tiny fake, served by Playwright's router so nothing
leaves the machine, renders a box and hands out Cloudflare's documented dummy token."""

from __future__ import annotations

from conftest import SCREENSHOTS, Env, Tab
from flipdriver import acme_about, emulator_connect, open_widget, screen
from playwright.sync_api import Page, Route, expect

SLUG = "acme-guarded"  # acme-income plus bot_protection (conftest.py)
DUMMY = "XXXX.DUMMY.TOKEN.XXXX"
API_JS = "https://challenges.cloudflare.com/turnstile/v0/api.js"
# The part of Turnstile's explicit-rendering API the runtime uses: render and reset.
FAKE_API_JS = f"""
const DUMMY = "{DUMMY}";
window.__ts = {{ renders: [], resets: 0, opts: {{}} }};
window.turnstile = {{
  render(el, opts) {{
    const id = "w" + (window.__ts.renders.length + 1);
    window.__ts.renders.push({{ sitekey: opts.sitekey, action: opts.action, before: el.nextElementSibling.className }});
    window.__ts.opts[id] = opts;
    el.textContent = "Success! (test check)";
    const pass = () => opts.callback(DUMMY);
    if (window.__tsHold) window.__pass = pass;  // the visitor has not passed the check yet
    else setTimeout(pass, 0);
    return id;
  }},
  reset(id) {{
    window.__ts.resets += 1;
    setTimeout(() => window.__ts.opts[id].callback(DUMMY), 0);
  }},
  remove() {{}},
}};
"""


def fake_turnstile(page: Page, hold: bool = False) -> list[str]:
    served: list[str] = []

    def serve(route: Route) -> None:
        served.append(route.request.url)
        body = ("window.__tsHold = true;" if hold else "") + FAKE_API_JS
        route.fulfill(status=200, content_type="text/javascript", body=body)

    page.route(API_JS + "*", serve)
    return served


def to_connect(tab: Tab, env: Env) -> Page:
    page = tab.page
    page.goto(env.url(SLUG, "ref=abc_1"))
    acme_about(page, "gig")
    screen(page, "connect-gig")
    return page


def test_the_wink_screen_shows_the_check_and_mints_with_its_token(tab: Tab, env: Env) -> None:
    served = fake_turnstile(tab.page)
    page = to_connect(tab, env)
    assert served == [API_JS + "?render=explicit"]
    check = page.locator("#s-connect-gig [data-flip-turnstile]")
    expect(check).to_have_text("Success! (test check)")
    renders = page.evaluate("window.__ts.renders")
    assert renders == [{"sitekey": "1x00000000000000000000AA", "action": "mint", "before": "flip-actions"}]
    page.screenshot(path=str(SCREENSHOTS / "turnstile-wink-screen.png"), full_page=True)
    open_widget(page, "connect-gig")
    (mint,) = tab.token_bodies
    assert mint["body"]["turnstile"] == DUMMY and mint["body"]["site"] == SLUG
    assert page.evaluate("window.__ts.resets") == 1  # one token, one request
    emulator_connect(page)
    screen(page, "done")
    assert not tab.csp_violations()


def test_no_request_until_the_check_is_passed(tab: Tab, env: Env) -> None:
    fake_turnstile(tab.page, hold=True)
    page = to_connect(tab, env)
    page.locator("#s-connect-gig [data-flip-open]").click()
    expect(page.locator("#s-connect-gig [data-flip-status]")).to_have_text(
        "Complete the security check above the button first. If it doesn't appear, reload the page."
    )
    assert tab.token_bodies == []
    assert tab.events("flipgen:error")[-1]["code"] == "bot_check_pending"
    page.evaluate("window.__pass()")
    open_widget(page, "connect-gig")
    assert [b["body"]["turnstile"] for b in tab.token_bodies] == [DUMMY]


def test_sites_without_bot_protection_load_no_check(tab: Tab, env: Env) -> None:
    served = fake_turnstile(tab.page)
    page = tab.page
    page.goto(env.url("acme-income", "ref=abc_1"))
    acme_about(page, "gig")
    open_widget(page, "connect-gig")
    assert served == [] and page.locator("[data-flip-turnstile]").count() == 0
    assert "turnstile" not in tab.token_bodies[0]["body"]
