"""Applications end to end in Chromium, for every example site: each form screen saved when
the visitor moves on, the whole journey submitted before the end screen shows, and
`flipgen applications export` (CSV and JSON Lines) holding exactly what was typed."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from conftest import Env, Tab
from flipdriver import (
    BRIGHTPATH_QUERY,
    HARBOR_QUERY,
    brightpath_confirm,
    brightpath_contractor,
    emulator_connect,
    harbor_household,
    harbor_income,
    open_widget,
    screen,
    submit,
)
from playwright.sync_api import Page, expect

from flipgen.store import applications as apps
from flipgen.store import open_store

# What people type: Unicode, commas, quotes, a formula, and newlines where a textarea allows.
NAME = 'Zoë "Ziggy" O\'Brien, Jr. =1+2'
ADDRESS = 'Flat 2, "The Maltings"\n12 Pier St, Seattle WA\n=SUM(A1:A9) 北京'
ACCESS = "Step-free access, please\r\n+ a quiet desk, «merci»\n@HR: 2 × screens"


def handle_of(page: Page, slug: str) -> str:
    state = page.evaluate("k => JSON.parse(sessionStorage.getItem(k) || 'null')", f"flipgen:{slug}")
    assert state and state["handle"], state
    assert "uid" not in state and not any("user" in k.lower() for k in state), "no Smile userId in the page"
    return str(state["handle"])


def stored(env: Env, site: str, wait_for: Callable[[apps.Application], bool]) -> apps.Application:
    """The newest application of ``site`` once ``wait_for`` holds (saves do not block the page)."""
    store = open_store(None, env.project)
    try:
        deadline = time.monotonic() + 10
        while True:
            with store.read() as conn:
                found = apps.list_applications(conn, site=site)
            if found and wait_for(found[-1]):
                return found[-1]
            assert time.monotonic() < deadline, f"not stored in time: {found[-1:] if found else None}"
            time.sleep(0.1)
    finally:
        store.close()


def export(env: Env, fmt: str, site: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "flipgen.cli", "applications", "export", "-p", str(env.project)]
        + ["--format", fmt, "--site", site],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout


def assert_exported(env: Env, app: apps.Application, typed: dict[str, Any]) -> None:
    rows = [json.loads(line) for line in export(env, "jsonl", app.site).splitlines() if line.strip()]
    mine = next(r for r in rows if r["id"] == app.id)
    assert {k: mine["answers"][k] for k in typed} == typed, "JSON Lines keep every value byte for byte"
    table = list(csv.reader(io.StringIO(export(env, "csv", app.site), newline="")))
    ids = table[1]  # labels, then ids
    row = next(r for r in table[2:] if r[0] == app.id)
    for key, value in typed.items():
        if isinstance(value, str):
            cell = row[ids.index(key)]
            neutralised = value[:1] in ("=", "+", "-", "@", "\t", "\r")
            assert cell == ("'" + value if neutralised else value), (key, cell)


def test_acme_income_saves_each_screen_and_exports_exact_values(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("acme-income", "ref=abc_1"))
    page.fill("#f-full_name", NAME)
    page.fill("#f-email", "zoe@example.com")
    page.check("input[name=work_type][value=gig]")
    page.check("#f-consent")
    submit(page, "about-you")
    screen(page, "connect-gig")
    saved = stored(env, "acme-income", lambda a: a.answers.get("full_name") == NAME)
    assert saved.status == "started" and saved.params == {"ref": "abc_1"}
    handle = handle_of(page, "acme-income")
    open_widget(page, "connect-gig")
    emulator_connect(page)
    screen(page, "done")
    done = stored(env, "acme-income", lambda a: a.status == "submitted")
    assert done.id == saved.id and done.smile_user_id, "the mint linked the Smile user on the server"
    assert done.smile_user_id not in page.content() and done.smile_user_id not in handle
    typed = {"full_name": NAME, "email": "zoe@example.com", "work_type": "gig", "consent": True}
    assert {k: done.answers[k] for k in typed} == typed and "monthly_income" not in done.answers
    assert done.accounts >= 1
    assert_exported(env, done, typed)


def test_brightpath_textarea_newlines_survive(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("brightpath-onboarding", BRIGHTPATH_QUERY))
    page.fill("#f-legal_first_name", "Zoë")
    page.fill("#f-legal_last_name", 'O\'Brien, "Jr."')
    page.fill("#f-mobile", "07700 900123")
    page.fill("#f-date_of_birth", "1990-05-17")
    page.fill("#f-ni_number", "QQ 12 34 56 C")
    page.check("#f-has_access_needs")
    page.fill("#f-access_needs", ACCESS)
    submit(page, "personal")
    screen(page, "employment")
    # The textarea's value as the browser reads it (it turns CR LF into LF).
    access = page.evaluate("() => document.getElementById('f-access_needs').value.trim()")
    stored(env, "brightpath-onboarding", lambda a: a.answers.get("access_needs") == access)
    page.select_option("#f-employment_type", "contractor")
    submit(page, "employment")
    screen(page, "contractor")
    brightpath_contractor(page)
    screen(page, "confirm")
    brightpath_confirm(page)
    screen(page, "done")
    done = stored(env, "brightpath-onboarding", lambda a: a.status == "submitted")
    typed = {"legal_first_name": "Zoë", "legal_last_name": 'O\'Brien, "Jr."', "access_needs": access}
    assert "\n" in access and {k: done.answers[k] for k in typed} == typed
    with open_store(None, env.project) as store, store.read() as conn:
        reached = [v.screen for v in apps.visits(conn, app_ids=[done.id])]
    assert reached[:4] == ["personal", "employment", "contractor", "confirm"] and reached[-1] == "done"
    assert_exported(env, done, typed)


def test_harbor_submits_before_redirecting(tab: Tab, env: Env) -> None:
    page = tab.page
    seen: list[str] = []
    page.route(
        "https://harborliving.example/**",
        lambda r: (seen.append(r.request.url), r.fulfill(body="applied", content_type="text/plain")),
    )
    page.goto(env.url("harbor-tenant-screening", HARBOR_QUERY + "&agent=jo.smith"))
    page.fill("#f-full_name", NAME)
    page.fill("#f-email", "maya@example.com")
    page.fill("#f-phone", "(206) 555-0142")
    page.fill("#f-current_address", ADDRESS)
    page.fill("#f-move_in_date", "2026-09-15")
    submit(page, "applicant")
    screen(page, "household")
    address = page.evaluate("() => document.getElementById('f-current_address').value.trim()")
    harbor_household(page)
    harbor_income(page, ["self"])
    screen(page, "upload-docs")
    page.get_by_role("button", name="I'll email documents to my leasing agent").click()
    screen(page, "consent")
    page.check("#f-screening_consent")
    page.check("#f-accurate")
    page.fill("#f-signature", "-Maya Chen")
    submit(page, "consent")
    page.wait_for_url(re.compile(r"https://harborliving\.example/.*"))
    done = stored(env, "harbor-tenant-screening", lambda a: a.status == "submitted")
    typed = {"full_name": NAME, "current_address": address, "signature": "-Maya Chen", "income_sources": ["self"]}
    assert {k: done.answers[k] for k in typed} == typed
    assert done.params.get("agent") == "jo.smith"
    assert_exported(env, done, typed)


def test_a_failed_submit_keeps_the_answers_and_retries(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("acme-income"))
    failing = {"on": True}

    def submit_route(route: Any) -> None:
        if failing["on"]:
            route.abort()
        else:
            route.continue_()

    page.route(re.compile(r".*/api/applications/[^/]+/submit$"), submit_route)
    page.fill("#f-full_name", "Grace Hopper")
    page.fill("#f-email", "grace@example.com")
    page.check("input[name=work_type][value=self]")
    page.fill("#f-monthly_income", "4000")
    page.check("#f-consent")
    submit(page, "about-you")
    screen(page, "upload-docs")
    page.get_by_role("button", name="I'll send them later").click()
    box = page.locator("[data-flip-submit]")
    expect(box).to_be_visible()
    expect(box.locator("[role=alert]")).to_contain_text("nothing you entered is lost")
    expect(page.locator("#s-done")).to_be_hidden()
    assert page.evaluate("k => sessionStorage.getItem(k)", "flipgen:acme-income"), "answers kept"
    failing["on"] = False
    box.get_by_role("button", name="Try again").click()
    screen(page, "done")
    expect(box).to_be_hidden()
    done = stored(
        env, "acme-income", lambda a: a.status == "submitted" and a.answers.get("full_name") == "Grace Hopper"
    )
    assert done.answers["monthly_income"] == "4000"
    assert page.evaluate("k => sessionStorage.getItem(k)", "flipgen:acme-income") is None


def test_leaving_the_page_sends_the_unsaved_screen(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("acme-income"))
    # Saves made with fetch fail while offline; the pagehide beacon is the only way out.
    page.route(re.compile(r".*/api/applications/[^/]+/answers$"), lambda r: r.abort())
    page.fill("#f-full_name", "Beacon Person")
    page.fill("#f-email", "beacon@example.com")
    page.check("input[name=work_type][value=gig]")
    page.check("#f-consent")
    submit(page, "about-you")
    screen(page, "connect-gig")
    page.wait_for_function("() => JSON.parse(sessionStorage.getItem('flipgen:acme-income')).handle")
    page.unroute(re.compile(r".*/api/applications/[^/]+/answers$"))
    page.goto("about:blank")
    done = stored(env, "acme-income", lambda a: a.answers.get("full_name") == "Beacon Person")
    assert done.status == "started" and done.answers["email"] == "beacon@example.com"
