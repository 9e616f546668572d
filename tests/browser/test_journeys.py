"""Routing, show_if, validation with focus and ARIA, Back, reload, params and completion."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from conftest import Env, Tab
from flipdriver import (
    BRIGHTPATH_QUERY,
    HARBOR_QUERY,
    acme_about,
    brightpath_confirm,
    brightpath_contractor,
    brightpath_employment,
    brightpath_personal,
    emulator_connect,
    harbor_applicant,
    harbor_household,
    harbor_income,
    open_widget,
    screen,
    submit,
)
from playwright.sync_api import Page, expect


def storage(page: Page, slug: str) -> str | None:
    return page.evaluate("k => sessionStorage.getItem(k)", f"flipgen:{slug}")


def error_of(page: Page, field_id: str) -> str:
    return page.locator(f"#f-{field_id}-error").inner_text()


def assert_invalid(page: Page, field_id: str, message: str, selector: str | None = None) -> None:
    el = page.locator(selector or f"#f-{field_id}").first
    expect(el).to_have_attribute("aria-invalid", "true")
    assert error_of(page, field_id) == message
    described = (
        el.get_attribute("aria-describedby")
        or page.locator(f"[data-flip-field={field_id}]").get_attribute("aria-describedby")
        or ""
    )
    assert f"f-{field_id}-error" in described.split()


# --- acme-income -----------------------------------------------------------------------


def test_first_screen_is_rendered_without_javascript(browser, env: Env) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(env.url("acme-income"))
    expect(page.locator("#s-about-you")).to_be_visible()
    expect(page.locator("#f-full_name")).to_be_visible()
    assert page.locator("[data-flip-screen]:visible").count() == 1
    context.close()


def test_acme_routes_each_branch_and_show_if(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("acme-income", "ref=abc_1"))
    screen(page, "about-you", focused=False)
    income = page.locator("[data-flip-field=monthly_income]")
    expect(income).to_be_hidden()
    page.check("input[name=work_type][value=employed]")
    expect(income).to_be_visible()
    page.check("input[name=work_type][value=gig]")
    expect(income).to_be_hidden()
    for work_type, target in (("gig", "connect-gig"), ("self", "upload-docs"), ("employed", "connect-payroll")):
        acme_about(page, work_type, income="2500" if work_type != "gig" else None)
        screen(page, target)
        expect(page.locator(f"#s-{target} [data-flip-back]")).to_be_visible()
        page.locator(f"#s-{target} [data-flip-back]").click()
        screen(page, "about-you")
    steps = [e["screen"] for e in tab.events("flipgen:step")]
    assert steps[:3] == ["about-you", "connect-gig", "about-you"]


def test_acme_skip_completes_and_clears_storage(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("acme-income"))
    acme_about(page, "self", name="Grace <Hopper>", email="grace@example.com", income="4000")
    screen(page, "upload-docs")
    assert storage(page, "acme-income") is not None
    page.get_by_role("button", name="I'll send them later").click()
    screen(page, "done")
    expect(page.locator("#h-done")).to_have_text("Thank you, Grace <Hopper>!")
    expect(page.locator("#s-done")).to_contain_text("We'll email you at grace@example.com")
    expect(page.locator("#s-done [data-flip-back]")).to_be_hidden()
    assert storage(page, "acme-income") is None
    complete = tab.events("flipgen:complete")
    assert len(complete) == 1 and complete[0]["site"] == "acme-income" and complete[0]["screen"] == "done"
    page.reload()
    screen(page, "about-you", focused=False)
    expect(page.locator("#f-full_name")).to_have_value("")


def test_back_keeps_answers_and_reload_resumes(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("acme-income", "ref=r-1"))
    acme_about(page, "employed", income="3100")
    screen(page, "connect-payroll")
    page.reload()
    screen(page, "connect-payroll", focused=False)
    page.locator("#s-connect-payroll [data-flip-back]").click()
    screen(page, "about-you")
    expect(page.locator("#f-full_name")).to_have_value("Ada Lovelace")
    expect(page.locator("#f-email")).to_have_value("ada@example.com")
    expect(page.locator("input[name=work_type][value=employed]")).to_be_checked()
    expect(page.locator("#f-monthly_income")).to_have_value("3100")
    expect(page.locator("#f-consent")).to_be_checked()
    page.fill("#f-full_name", "Ada King")
    page.reload()
    screen(page, "about-you", focused=False)
    expect(page.locator("#f-full_name")).to_have_value("Ada King")


def test_acme_validation_focus_and_aria(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("acme-income"))
    submit(page, "about-you")
    expect(page.locator("#f-full_name")).to_be_focused()
    assert_invalid(page, "full_name", "This field is required.")
    assert_invalid(page, "email", "This field is required.")
    assert_invalid(page, "work_type", "Choose an option.", "input[name=work_type]")
    assert_invalid(page, "consent", "Tick this box to continue.")
    expect(page.locator("#flip-live")).to_contain_text("There are 4 problems")
    page.fill("#f-full_name", "Ada")
    expect(page.locator("#f-full_name")).not_to_have_attribute("aria-invalid", "true")
    page.fill("#f-email", "ada@invalid")
    page.check("input[name=work_type][value=employed]")
    page.fill("#f-monthly_income", "2000000")
    page.check("#f-consent")
    submit(page, "about-you")
    expect(page.locator("#f-email")).to_be_focused()
    assert_invalid(page, "email", "Enter an email address like name@example.com.")
    assert_invalid(page, "monthly_income", "Enter 1000000 or less.")
    page.fill("#f-email", "ada@example.com")
    page.fill("#f-monthly_income", "-1")
    submit(page, "about-you")
    assert_invalid(page, "monthly_income", "Enter 0 or more.")
    expect(page.locator("#f-monthly_income")).to_be_focused()
    page.fill("#f-monthly_income", "")
    page.locator("#f-monthly_income").type("1e")
    submit(page, "about-you")
    assert_invalid(page, "monthly_income", "Enter a number.")
    # A field hidden by show_if is neither validated nor blocking.
    page.check("input[name=work_type][value=gig]")
    submit(page, "about-you")
    screen(page, "connect-gig")


def test_token_request_sends_only_declared_metadata(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("acme-income", "ref=abc_1&campaign=spring"))
    acme_about(page, "employed", income="2500")
    screen(page, "connect-payroll")
    open_widget(page, "connect-payroll")
    handle = page.evaluate("JSON.parse(sessionStorage.getItem('flipgen:acme-income')).handle")
    assert tab.token_bodies == [
        {
            "url": env.token,
            "body": {
                "site": "acme-income",
                "screen": "connect-payroll",
                "handle": handle,
                "metadata": {"ref": "abc_1", "email": "ada@example.com"},
                "locale": "en",  # the page's language (issue 13)
            },
        }
    ]


def test_invalid_optional_param_is_dropped(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("acme-income", "ref=bad%20value!"))
    acme_about(page, "gig")
    open_widget(page, "connect-gig")
    assert tab.token_bodies[0]["body"]["metadata"] == {"email": "ada@example.com"}


# --- brightpath-onboarding -------------------------------------------------------------


def test_required_params_missing_show_a_clear_message(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("brightpath-onboarding", "company=ACME01"))
    alert = page.locator("[data-flip-alert] [role=alert]")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("employer, invite")
    assert page.locator("[data-flip-screen]:visible").count() == 0
    assert tab.events("flipgen:error")[0]["code"] == "missing_param"
    page.goto(env.url("brightpath-onboarding", BRIGHTPATH_QUERY.replace("ACME01", "acme")))
    expect(alert).to_contain_text("company")


def test_brightpath_params_prefill_and_validation(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("brightpath-onboarding", BRIGHTPATH_QUERY))
    expect(page.locator("#s-personal .flip-intro")).to_contain_text("Welcome to Acme & Sons!")
    expect(page.locator("#f-personal_email")).to_have_value("sam@example.org")
    page.fill("#f-mobile", "020 7946 0958")
    page.fill("#f-date_of_birth", "1930-01-01")
    page.fill("#f-ni_number", "QQ123")
    submit(page, "personal")
    expect(page.locator("#f-legal_first_name")).to_be_focused()
    assert_invalid(page, "mobile", "Enter a UK mobile number, like 07700 900123 or +44 7700 900123.")
    assert_invalid(page, "date_of_birth", "Enter a date of birth after 1 January 1940.")
    assert_invalid(page, "ni_number", "Enter at least 9 characters.")
    page.fill("#f-ni_number", "QQ 12 34 56 Z")
    page.fill("#f-date_of_birth", "2012-01-01")
    submit(page, "personal")
    assert_invalid(page, "ni_number", "Enter a National Insurance number in the right format, like QQ 12 34 56 C.")
    assert_invalid(
        page,
        "date_of_birth",
        "Enter a date of birth in 2010 or earlier. You need to be 16 or over to be employed through BrightPath.",
    )
    # show_if on a checkbox
    expect(page.locator("[data-flip-field=access_needs]")).to_be_hidden()
    page.check("#f-has_access_needs")
    expect(page.locator("[data-flip-field=access_needs]")).to_be_visible()
    brightpath_personal(page)
    screen(page, "employment")
    submit(page, "employment")
    assert_invalid(page, "employment_type", "Choose an option.")
    page.select_option("#f-employment_type", "fixed_term")
    expect(page.locator("[data-flip-field=contract_end_date]")).to_be_visible()
    page.fill("#f-contract_end_date", "2032-01-01")
    page.fill("#f-contracted_hours", "37.3")
    submit(page, "employment")
    expect(page.locator("#f-contract_end_date")).to_be_focused()
    assert_invalid(page, "contract_end_date", "Enter a date on or before 2031-12-31.")
    assert_invalid(page, "contracted_hours", "Enter your hours in half-hour steps, like 37.5.")
    assert_invalid(page, "starter_statement", "Choose an option.", "input[name=starter_statement]")
    page.fill("#f-contracted_hours", "61")
    submit(page, "employment")
    assert_invalid(page, "contracted_hours", "Enter 60 or less.")
    page.fill("#f-contracted_hours", "50")
    expect(page.locator("[data-flip-field=wtr_opt_out]")).to_be_visible()
    page.fill("#f-annual_salary", "9000")
    expect(page.locator("[data-flip-field=salary_sacrifice]")).to_be_hidden()
    page.fill("#f-annual_salary", "32000")
    expect(page.locator("[data-flip-field=salary_sacrifice]")).to_be_visible()


def test_brightpath_contractor_branch(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("brightpath-onboarding", BRIGHTPATH_QUERY))
    brightpath_personal(page)
    screen(page, "employment")
    page.select_option("#f-employment_type", "contractor")
    for hidden in ("contracted_hours", "annual_salary", "starter_statement", "student_loans"):
        expect(page.locator(f"[data-flip-field={hidden}]")).to_be_hidden()
    submit(page, "employment")
    screen(page, "contractor")
    page.fill("#f-company_number", "sc123")
    page.check("#s-contractor input[name=vat_registered][value=Yes]")
    page.fill("#f-vat_number", "GB12")
    submit(page, "contractor")
    assert_invalid(page, "company_name", "This field is required.")
    assert_invalid(page, "company_number", "Enter 8 digits, or 2 capital letters followed by 6 digits, like SC123456.")
    assert_invalid(page, "vat_number", "Enter GB followed by 9 digits.")
    page.fill("#f-remittance_email", "nope")
    page.fill("#f-company_number", "")
    submit(page, "contractor")
    assert_invalid(page, "company_number", "Enter your company's registration number.")
    assert_invalid(page, "remittance_email", "Enter an email address like name@example.com.")
    page.fill("#f-remittance_email", "")
    page.fill("#f-vat_number", "")
    page.check("#s-contractor input[name=vat_registered][value=No]")
    brightpath_contractor(page)
    screen(page, "confirm")
    submit(page, "confirm")
    assert_invalid(page, "right_to_work", "Confirm your right to work so we can complete your contract.")
    assert_invalid(page, "data_consent", "We can't set up your payroll without this.")
    brightpath_confirm(page)
    screen(page, "done")
    expect(page.locator("#h-done")).to_have_text("You're all set, Sam")
    expect(page.locator("#s-done")).to_contain_text("sam@example.org")


def test_brightpath_starter_routes(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("brightpath-onboarding", BRIGHTPATH_QUERY))
    brightpath_personal(page)
    brightpath_employment(page, "permanent", starter="A")
    screen(page, "confirm")
    page.locator("#s-confirm [data-flip-back]").click()
    screen(page, "employment")
    brightpath_employment(page, "permanent", starter="B")
    screen(page, "previous-payroll")
    page.get_by_role("button", name="I'll give HR my P45 instead").click()
    screen(page, "confirm")
    brightpath_confirm(page)
    screen(page, "done")


# --- harbor-tenant-screening -----------------------------------------------------------


def test_harbor_validation_rules(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("harbor-tenant-screening", HARBOR_QUERY))
    expect(page.locator("#s-applicant .flip-intro")).to_contain_text("You're applying for home HL-1234.")
    expect(page.locator("[data-flip-field=how_heard]")).to_be_visible()
    page.fill("#f-full_name", "M")
    page.fill("#f-phone", "555")
    page.fill("#f-move_in_date", "2027-08-01")
    submit(page, "applicant")
    assert_invalid(page, "full_name", "Enter your full name.")
    assert_invalid(page, "phone", "Enter a phone number like +1 555 010 0199.")
    assert_invalid(page, "move_in_date", "We can't hold homes more than a year ahead. Choose a date before July 2027.")
    assert_invalid(page, "current_address", "This field is required.")
    page.fill("#f-full_name", "")
    page.fill("#f-phone", "555 123 4567 89")
    submit(page, "applicant")
    assert_invalid(page, "full_name", "Enter your name as it appears on your ID.")
    assert_invalid(page, "phone", "Enter a 10-digit US phone number, like (206) 555-0142.")
    page.fill("#f-move_in_date", "2026-07-01")
    expect(page.locator("[data-flip-field=summer_offer]")).to_be_visible()
    harbor_applicant(page)
    screen(page, "household")
    expect(page.locator("#f-occupants")).to_have_value("1")
    page.fill("#f-occupants", "9")
    submit(page, "household")
    assert_invalid(
        page,
        "occupants",
        "Our largest homes are licensed for 8 people. Call us on (206) 555-0100 to talk about options.",
    )
    assert_invalid(page, "pets", "Choose an option.")
    page.fill("#f-occupants", "2")
    expect(page.locator("[data-flip-field=has_co_applicant]")).to_be_visible()
    page.check("#s-household input[name=has_co_applicant][value=yes]")
    expect(page.locator("[data-flip-field=co_applicant_email]")).to_be_visible()
    page.select_option("#f-pets", "dog")
    expect(page.locator("[data-flip-field=pet_details]")).to_be_visible()
    submit(page, "household")
    assert_invalid(page, "co_applicant_name", "This field is required.")
    page.check("#s-household input[name=has_co_applicant][value=no]")
    expect(page.locator("[data-flip-field=co_applicant_name]")).to_be_hidden()
    submit(page, "household")
    screen(page, "income")
    submit(page, "income")
    assert_invalid(
        page,
        "income_sources",
        'Choose at least one. If none fit, choose "Something else".',
        "input[name=income_sources]",
    )
    page.check("#s-income input[name=income_sources][value=payroll]")
    expect(page.locator("[data-flip-field=employer_name]")).to_be_visible()
    page.fill("#f-monthly_income", "100.123")
    submit(page, "income")
    assert_invalid(page, "monthly_income", "Enter a multiple of 0.01.")
    page.fill("#f-monthly_income", "2000")
    expect(page.locator("[data-flip-field=has_guarantor]")).to_be_visible()


def test_harbor_routes_and_redirect_completion(tab: Tab, env: Env) -> None:
    page = tab.page
    seen: list[str] = []
    page.route(
        "https://harborliving.example/**",
        lambda r: (seen.append(r.request.url), r.fulfill(body="applied", content_type="text/plain")),
    )
    page.goto(env.url("harbor-tenant-screening", HARBOR_QUERY + "&agent=jo.smith"))
    expect(page.locator("[data-flip-field=how_heard]")).to_be_hidden()  # agent param filled
    harbor_applicant(page)
    harbor_household(page)
    harbor_income(page, ["gig", "payroll", "self"])
    screen(page, "connect-gig")
    open_widget(page, "connect-gig")
    names = page.locator(".sle-prov").all_inner_texts()
    assert len(names) == 6 and [n.split("\n")[1] for n in names[:2]] == ["Uber", "DoorDash"]
    emulator_connect(page, "uber")
    screen(page, "connect-payroll")
    open_widget(page, "connect-payroll")
    emulator_connect(page, "adp")
    screen(page, "upload-docs")
    page.get_by_role("button", name="I'll email documents to my leasing agent").click()
    screen(page, "consent")
    page.check("#f-screening_consent")
    page.check("#f-accurate")
    page.fill("#f-signature", "Maya Chen")
    submit(page, "consent")
    page.wait_for_url(re.compile(r"https://harborliving\.example/.*"))
    url = urlsplit(seen[0])
    assert url.path == "/listings/HL-1234/applied"
    assert parse_qs(url.query) == {"agent": ["jo.smith"], "source": ["newsletter"]}
    # The two wink screens share one Smile user: the second token is a refresh.
    assert [b["url"] for b in tab.token_bodies] == [env.token, env.token + "/refresh"]
    assert tab.token_bodies[0]["body"]["metadata"] == {"listing": "HL-1234", "email": "maya@example.com"}


def test_harbor_single_branches(tab: Tab, env: Env) -> None:
    page = tab.page
    page.goto(env.url("harbor-tenant-screening", HARBOR_QUERY))
    harbor_applicant(page)
    harbor_household(page)
    for sources, target in ((["payroll"], "connect-payroll"), (["benefits"], "upload-docs"), (["gig"], "connect-gig")):
        for box in page.locator("#s-income input[name=income_sources]").all():
            box.uncheck()
        harbor_income(page, sources)
        screen(page, target)
        page.locator(f"#s-{target} [data-flip-back]").click()
        screen(page, "income")
    harbor_income(page, [])  # gig still ticked from the loop
    screen(page, "connect-gig")
    open_widget(page, "connect-gig")
    emulator_connect(page, "doordash")
    screen(page, "consent")
    expect(page.locator("#s-consent input[name=channel]")).to_have_value("newsletter")
