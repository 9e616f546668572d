"""A journey framed by other origins (issue 12, findings 1 and 9): messages only to the origins
in `embed.allowed_origins` and never with a Smile user id; embed.js forwards only the site's
declared params. The host pages are served under an allowed origin (127.0.0.1) and under an
origin the project does not list (localhost, same server)."""

from __future__ import annotations

from typing import Any

from conftest import SCREENSHOTS, Env
from flipdriver import acme_about
from playwright.sync_api import Browser, Page, expect

# Records every message the host window receives, whoever sent it and whatever it holds.
HOST_PAGE = (
    "<!doctype html><html lang=en><title>Partner</title><main><h1>Apply</h1><div id=slot></div></main>"
    "<script src='recorder.js'></script>"
    "<script src='{base}/acme-income/embed.js' data-target='#slot'></script></html>"
)
RECORDER = (
    "window.raw = []; window.addEventListener('message', e => window.raw.push({origin: e.origin, data: e.data}));"
)


def host_page(env: Env, name: str) -> None:
    (env.host_dir / name).write_text(HOST_PAGE.format(base=env.base), encoding="utf-8")
    (env.host_dir / "recorder.js").write_text(RECORDER, encoding="utf-8")


def through_the_form(page: Page) -> None:
    frame = page.frame(url=lambda u: "/acme-income/" in u)
    assert frame is not None
    frame.wait_for_selector("#h-about-you")
    acme_about(frame, "gig")  # type: ignore[arg-type]
    frame.wait_for_selector("#h-connect-gig")


def keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


def test_messages_reach_an_allowed_parent_without_a_user_id(browser: Browser, env: Env) -> None:
    host_page(env, "allowed.html")
    context = browser.new_context(viewport={"width": 1000, "height": 800}, reduced_motion="reduce")
    page = context.new_page()
    page.goto(f"{env.host}/allowed.html?ref=abc_1")
    through_the_form(page)
    page.wait_for_function(
        "() => window.raw.some(m => m.data.type === 'flipgen:step' && m.data.screen === 'connect-gig')"
    )
    raw = page.evaluate("window.raw")
    assert {m["origin"] for m in raw} == {env.base}
    assert {m["data"]["type"] for m in raw} == {"flipgen:resize", "flipgen:step"}
    assert "userId" not in keys(raw)
    page.screenshot(path=str(SCREENSHOTS / "embed-allowed-origin.png"), full_page=True)
    context.close()


def test_a_parent_the_project_does_not_list_hears_nothing(browser: Browser, env: Env) -> None:
    host_page(env, "stranger.html")
    context = browser.new_context(viewport={"width": 1000, "height": 800}, reduced_motion="reduce")
    page = context.new_page()
    page.goto(f"{env.stranger}/stranger.html?ref=abc_1")
    through_the_form(page)
    frame = page.frame(url=lambda u: "/acme-income/" in u)
    assert frame is not None
    # The journey did post (to the allowed origin): the browser delivered none of it here.
    frame.wait_for_function("() => document.documentElement.classList.contains('flip-embedded')")
    page.wait_for_timeout(300)
    assert page.evaluate("window.raw") == []
    expect(page.locator("iframe[data-flipgen=acme-income]")).to_have_attribute(
        "style", "display: block; width: 100%; height: 640px; border: 0px; overflow: hidden;"
    )
    context.close()


def test_embed_forwards_only_the_declared_params(browser: Browser, env: Env) -> None:
    host_page(env, "params.html")
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if r.url.startswith(env.base) else None)
    # acme-income declares `ref` and `campaign`; the rest belongs to the host page.
    page.goto(f"{env.stranger}/params.html?ref=abc_1&session=SECRET-TOKEN&campaign=spring&utm_source=mail")
    frame = page.frame_locator("iframe[data-flipgen=acme-income]")
    expect(frame.locator("#h-about-you")).to_be_visible()
    src = page.locator("iframe[data-flipgen=acme-income]").get_attribute("src") or ""
    assert src == f"{env.base}/acme-income/?ref=abc_1&campaign=spring"
    assert not [u for u in requested if "SECRET" in u or "utm_source" in u]
    context.close()
