"""The Wink screen with the widget emulator: MFA, errors, close reasons, skip, uploads,
token expiry and refresh, a failing token endpoint."""

from __future__ import annotations

import json
import re

import pytest
from conftest import SCREENSHOTS, Env, Tab
from flipdriver import acme_about, emulator_connect, emulator_login, open_widget, screen
from playwright.sync_api import Page, Route, expect

RETRY = "Try again"


def status(page: Page, screen_id: str) -> str:
    return page.locator(f"#s-{screen_id} [data-flip-status]").inner_text()


def to_gig(tab: Tab, env: Env) -> Page:
    page = tab.page
    page.goto(env.url("acme-income", "ref=abc_1"))
    acme_about(page, "gig")
    screen(page, "connect-gig")
    return page


def test_connect_through_mfa_with_wrong_password_first(tab: Tab, env: Env) -> None:
    page = to_gig(tab, env)
    expect(page.locator("#s-connect-gig .flip-intro")).to_have_text(
        "Hi Ada Lovelace, connect every platform you earn on."
    )
    open_widget(page, "connect-gig")
    dialog = page.locator("[role=dialog]")
    expect(dialog).to_have_attribute("aria-modal", "true")
    expect(page.locator("#sle-h")).to_be_focused()
    top = [t.split("\n")[1] for t in page.locator(".sle-prov").all_inner_texts()[:3]]
    assert top == ["Upwork", "Grab", "Freelancer.com"]
    emulator_login(page, "upwork", password="wrong")
    expect(page.locator(".sle-err")).to_have_text("The email or password is incorrect. Check them and try again.")
    errors = tab.events("flipgen:error")
    assert errors[-1]["code"] == "account_error" and errors[-1]["errorCode"] == "INVALID_CREDENTIALS"
    emulator_login(page, "upwork")
    page.fill("#sle-mfa", "0000")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator(".sle-err")).to_contain_text("isn't right")
    assert tab.events("flipgen:error")[-1]["errorCode"] == "INVALID_MFA"
    page.fill("#sle-mfa", "1234")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Account connected")).to_be_visible()
    page.get_by_role("button", name="Done").click()
    screen(page, "done")
    assert len(tab.token_bodies) == 1
    assert not tab.csp_violations()


def test_close_reasons_show_messages_and_reopen_with_fresh_tokens(tab: Tab, env: Env) -> None:
    page = to_gig(tab, env)
    open_widget(page, "connect-gig")
    page.get_by_role("button", name="Close").click()
    expect(page.locator("[data-smile-emulator]")).to_have_count(0)
    assert status(page, "connect-gig").startswith("The window was closed before an account was connected.")
    button = page.locator("#s-connect-gig [data-flip-open]")
    expect(button).to_have_text(RETRY)
    expect(button).to_be_focused()
    expect(page.locator("#flip-live")).to_contain_text("The window was closed")
    # Escape closes too (reason close).
    open_widget(page, "connect-gig")
    page.keyboard.press("Escape")
    expect(page.locator("[data-smile-emulator]")).to_have_count(0)
    assert status(page, "connect-gig").startswith("The window was closed")
    # Three wrong passwords lead to the error screen, whose Exit gives reason error.
    open_widget(page, "connect-gig")
    for _ in range(3):
        emulator_login(page, "grab", password="nope")
    expect(page.get_by_role("heading", name="We couldn't connect your account")).to_be_visible()
    page.get_by_role("button", name="Exit").click()
    assert status(page, "connect-gig") == "Something went wrong while connecting your account. Please try again."
    screen(page, "connect-gig", focused=False)
    # Every reopening minted a fresh token for the same user.
    urls = [b["url"] for b in tab.token_bodies]
    assert urls == [env.token] + [env.token + "/refresh"] * 2
    handles = {b["body"]["handle"] for b in tab.token_bodies}
    assert len(handles) == 1, "one application, one Smile user"
    assert tab.token_bodies[1]["body"] == {"site": "acme-income", "screen": "connect-gig", "handle": handles.pop()}
    assert not any("userId" in b["body"] for b in tab.token_bodies)
    # Finally connect: the journey continues.
    open_widget(page, "connect-gig")
    emulator_connect(page, "grab")
    screen(page, "done")


def test_exit_as_bare_string_and_sdk_stub(tab: Tab, env: Env) -> None:
    """`onClose` may get a bare string (Smile's docs show both); a stub SDK closes with "exit"."""
    page = tab.page
    stub = "window.SmileLinkModal = function (o) { this.open = function () { window.__opts = Object.keys(o).sort(); setTimeout(function () { o.onClose('exit'); }); }; };"
    page.route(
        re.compile(r".*/smile-emulator\.[0-9a-f]+\.js$"), lambda r: r.fulfill(body=stub, content_type="text/javascript")
    )
    page.goto(env.url("acme-income"))
    acme_about(page, "employed", income="100")
    screen(page, "connect-payroll")
    page.locator("#s-connect-payroll [data-flip-open]").click()
    expect(page.locator("#s-connect-payroll [data-flip-status]")).to_have_text(
        "No account was connected yet. Connect an account to continue."
    )
    opts = page.evaluate("window.__opts")
    assert opts == sorted(
        [
            "userToken",
            "templateId",
            "providers",
            "topProviders",
            "enableUpload",
            "onAccountCreated",
            "onAccountConnected",
            "onAccountRemoved",
            "onAccountError",
            "onUploadsCreated",
            "onUploadsRemoved",
            "onTokenExpired",
            "onClose",
            "onUIEvent",
        ]
    )


def test_disconnect_counts_down(tab: Tab, env: Env) -> None:
    page = to_gig(tab, env)
    open_widget(page, "connect-gig")
    emulator_connect(page, "upwork", done=False)
    page.get_by_role("button", name="Disconnect Upwork").click()
    expect(page.get_by_role("heading", name="Connect your income source")).to_be_visible()
    page.get_by_role("button", name="Close").click()
    assert status(page, "connect-gig").startswith("The window was closed")


def test_upload_documents_then_continue(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("acme-income"))
    acme_about(page, "self", income="900")
    screen(page, "upload-docs")
    open_widget(page, "upload-docs")
    page.get_by_role("button", name="Upload documents instead").click()
    page.click("[data-file-type=payslip]")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".sle-err")).to_have_text("Choose at least one file to upload.")
    page.set_input_files(
        "#sle-file", files=[{"name": "payslip-may.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4"}]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name="Documents uploaded")).to_be_visible()
    expect(page.locator(".sle-row")).to_contain_text("payslip-may.pdf")
    page.get_by_role("button", name="Done").click()
    screen(page, "done")


def test_expired_token_is_refreshed_for_the_same_user(tab: Tab, env: Env) -> None:
    page = tab.page
    # Send this page's token calls to the server whose tokens live a few seconds.
    page.route(env.token + "**", lambda r: r.continue_(url=r.request.url.replace(env.token, env.short_token)))
    page.goto(env.url("acme-income"))
    acme_about(page, "gig")
    open_widget(page, "connect-gig")
    page.click("[data-provider=upwork]")
    page.wait_for_timeout(4500)  # outlive the token (SHORT_TTL)
    page.fill("#sle-email", "gpalomero1234@smileapi.io")
    page.fill("#sle-password", "123456")
    page.get_by_role("button", name="Log in").click()
    # The widget reported expiry, the page refreshed the token and reopened the widget.
    expect(page.get_by_role("heading", name="Connect your income source")).to_be_visible()
    assert [b["url"] for b in tab.token_bodies] == [env.token, env.token + "/refresh"]
    handle = page.evaluate("JSON.parse(sessionStorage.getItem('flipgen:acme-income')).handle")
    assert tab.token_bodies[0]["body"]["handle"] == tab.token_bodies[1]["body"]["handle"] == handle
    emulator_connect(page, "upwork")
    screen(page, "done")


def test_failing_token_endpoint_is_retryable(tab: Tab, env: Env) -> None:
    page = tab.page
    calls: list[str] = []

    def fail_first(route: Route) -> None:
        calls.append(route.request.url)
        if len(calls) == 1:
            route.fulfill(
                status=502,
                content_type="application/json",
                body='{"error": {"code": "upstream_error", "message": "Smile is down"}}',
            )
        else:
            route.continue_()

    page.route(env.token + "**", fail_first)
    page.goto(env.url("acme-income"))
    acme_about(page, "gig")
    page.locator("#s-connect-gig [data-flip-open]").click()
    expect(page.locator("#s-connect-gig [data-flip-status]")).to_have_text(
        "The secure connection service isn't available right now. Please try again in a moment."
    )
    assert tab.events("flipgen:error")[-1] == {
        "site": "acme-income",
        "screen": "connect-gig",
        "code": "upstream_error",
        "status": 502,
    }
    expect(page.locator("#s-connect-gig [data-flip-open]")).to_have_text(RETRY)
    open_widget(page, "connect-gig")
    assert len(calls) == 2 and calls[1] == env.token  # no user yet: a create, not a refresh


def test_network_failure_is_retryable(tab: Tab, env: Env) -> None:
    page = tab.page
    page.route(env.token + "**", lambda r: r.abort())
    page.goto(env.url("acme-income"))
    acme_about(page, "gig")
    page.locator("#s-connect-gig [data-flip-open]").click()
    expect(page.locator("#s-connect-gig [data-flip-status]")).to_have_text(
        "We couldn't start the secure connection. Check your internet connection and try again."
    )
    assert tab.events("flipgen:error")[-1]["code"] == "network"


@pytest.mark.parametrize(
    ("status", "code", "shown"),
    [
        (400, "invalid_metadata", "the service didn't accept the request"),
        (403, "origin_not_allowed", "the service didn't accept the request"),
        (429, "rate_limited", "too many attempts from your network"),
    ],
)
def test_an_endpoint_refusal_is_never_called_a_network_problem(
    tab: Tab, env: Env, status: int, code: str, shown: str
) -> None:
    page = tab.page
    body = json.dumps({"error": {"code": code, "message": "Refused for a reason."}})
    page.route(env.token + "**", lambda r: r.fulfill(status=status, content_type="application/json", body=body))
    page.goto(env.url("acme-income"))
    acme_about(page, "gig")
    page.locator("#s-connect-gig [data-flip-open]").click()
    line = page.locator("#s-connect-gig [data-flip-status]")
    expect(line).to_contain_text(shown)
    assert "internet" not in line.inner_text()
    assert tab.events("flipgen:error")[-1] == {
        "site": "acme-income",
        "screen": "connect-gig",
        "code": code,
        "status": status,
    }
    expect(page.locator("#s-connect-gig [data-flip-open]")).to_have_text(RETRY)
    page.screenshot(path=str(SCREENSHOTS / f"endpoint-refused-{status}.png"), full_page=True)


def test_non_ascii_email_in_a_metadata_field_is_refused_in_the_form(tab: Tab, env: Env) -> None:
    # Smile accepts only ASCII in externalMetadata, and `email` is sent there: the visitor hears
    # it on the field, before any token request, instead of a failed connection later.
    page = tab.page
    page.goto(env.url("acme-income", "ref=abc_1"))
    acme_about(page, "gig", email="josé@example.com")
    screen(page, "about-you", focused=False)
    expect(page.locator("#f-email-error")).to_have_text(
        "Use only English letters without accents, digits and common symbols here."
    )
    expect(page.locator("#f-email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-email")).to_be_focused()
    page.screenshot(path=str(SCREENSHOTS / "ascii-email-refused.png"), full_page=True)
    page.fill("#f-email", "jose@example.com")
    expect(page.locator("#f-email-error")).to_have_text("")
    page.locator("#s-about-you button[type=submit]").click()
    open_widget(page, "connect-gig")
    assert tab.token_bodies[0]["body"]["metadata"]["email"] == "jose@example.com"


def test_unknown_handle_on_refresh_starts_a_new_application(tab: Tab, env: Env) -> None:
    # A handle the endpoint does not know (say, kept from another environment): the refresh
    # answers 404 unknown_application and the runtime starts a new application and mints for
    # it instead of showing an error.
    page = to_gig(tab, env)
    # Once the first screen is saved (the page saves in the background), replace the handle.
    page.wait_for_function(
        "() => { const s = JSON.parse(sessionStorage.getItem('flipgen:acme-income'));"
        " return s.handle && !s.unsaved.length; }"
    )
    page.evaluate("""() => { const k = 'flipgen:acme-income', s = JSON.parse(sessionStorage.getItem(k));
                             s.handle = 'aGFuZGxl.from-another-environment'; s.minted = true;
                             sessionStorage.setItem(k, JSON.stringify(s)); }""")
    page.reload()
    expect(page.locator("#s-connect-gig")).to_be_visible()  # resumed where the visitor was
    open_widget(page, "connect-gig")
    refresh, create = tab.token_bodies[-2:]
    assert refresh["url"].endswith("/api/link-token/refresh")
    assert refresh["body"]["handle"] == "aGFuZGxl.from-another-environment"
    assert create["url"].endswith("/api/link-token") and create["body"]["metadata"]["ref"] == "abc_1"
    stored = page.evaluate("JSON.parse(sessionStorage.getItem('flipgen:acme-income')).handle")
    assert stored == create["body"]["handle"] and stored != refresh["body"]["handle"]
    assert tab.events("flipgen:error") == []
