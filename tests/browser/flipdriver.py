"""Small helpers that drive the example journeys (sites/*.yaml) through the real page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

ACCOUNT = ("gpalomero1234@smileapi.io", "123456")
BRIGHTPATH_QUERY = "company=ACME01&employer=Acme%20%26%20Sons&invite=0123456789abcdef&email=sam%40example.org"
HARBOR_QUERY = "listing=HL-1234&utm_source=newsletter"


def screen(page: Page, screen_id: str, focused: bool = True) -> None:
    """Wait until `screen_id` is the one visible screen (its heading focused after navigation)."""
    expect(page.locator(f"#s-{screen_id}")).to_be_visible()
    assert page.locator("[data-flip-screen]:visible").count() == 1
    if focused:
        expect(page.locator(f"#h-{screen_id}")).to_be_focused()


def submit(page: Page, screen_id: str) -> None:
    page.locator(f"#s-{screen_id} button[type=submit]").click()


def acme_about(
    page: Page, work_type: str, name: str = "Ada Lovelace", email: str = "ada@example.com", income: str | None = None
) -> None:
    page.fill("#f-full_name", name)
    page.fill("#f-email", email)
    page.check(f"#s-about-you input[name=work_type][value={work_type}]")
    if income is not None:
        page.fill("#f-monthly_income", income)
    page.check("#f-consent")
    submit(page, "about-you")


def open_widget(page: Page, screen_id: str) -> None:
    page.locator(f"#s-{screen_id} [data-flip-open]").click()
    expect(page.locator("[data-smile-emulator] [role=dialog]")).to_be_visible()


def emulator_login(page: Page, provider: str = "upwork", email: str = ACCOUNT[0], password: str = ACCOUNT[1]) -> None:
    if page.locator(f"[data-provider={provider}]").count():
        page.click(f"[data-provider={provider}]")
    page.fill("#sle-email", email)
    page.fill("#sle-password", password)
    page.get_by_role("button", name="Log in").click()


def emulator_connect(page: Page, provider: str = "upwork", done: bool = True) -> None:
    emulator_login(page, provider)
    page.fill("#sle-mfa", "1234")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Account connected")).to_be_visible()
    if done:
        page.get_by_role("button", name="Done").click()
        expect(page.locator("[data-smile-emulator]")).to_have_count(0)


def brightpath_personal(page: Page) -> None:
    page.fill("#f-legal_first_name", "Sam")
    page.fill("#f-legal_last_name", "Okafor")
    page.fill("#f-mobile", "07700 900123")
    page.fill("#f-date_of_birth", "1990-05-17")
    page.fill("#f-ni_number", "QQ 12 34 56 C")
    submit(page, "personal")


def brightpath_employment(page: Page, kind: str, starter: str | None = "A", hours: str = "37.5") -> None:
    page.select_option("#f-employment_type", kind)
    if page.locator("#f-contract_end_date").is_visible():
        page.fill("#f-contract_end_date", "2027-03-31")
    if page.locator("#f-contracted_hours").is_visible():
        page.fill("#f-contracted_hours", hours)
    if starter:
        page.check(f"#s-employment input[name=starter_statement][value={starter}]")
    submit(page, "employment")


def brightpath_contractor(page: Page) -> None:
    page.fill("#f-company_name", "Okafor Consulting Ltd")
    page.fill("#f-company_number", "SC123456")
    page.check("#s-contractor input[name=vat_registered][value=No]")
    submit(page, "contractor")


def brightpath_confirm(page: Page) -> None:
    page.check("#f-right_to_work")
    page.check("#f-data_consent")
    submit(page, "confirm")


def harbor_applicant(page: Page, move_in: str = "2026-09-15") -> None:
    page.fill("#f-full_name", "Maya Chen")
    page.fill("#f-email", "maya@example.com")
    page.fill("#f-phone", "(206) 555-0142")
    page.fill("#f-current_address", "12 Pier St, Seattle WA")
    page.fill("#f-move_in_date", move_in)
    submit(page, "applicant")


def harbor_household(page: Page, occupants: str = "1", pets: str = "none") -> None:
    page.fill("#f-occupants", occupants)
    page.select_option("#f-pets", pets)
    submit(page, "household")


def harbor_income(page: Page, sources: list[str], monthly: str = "4200") -> None:
    for s in sources:
        page.check(f"#s-income input[name=income_sources][value={s}]")
    page.fill("#f-monthly_income", monthly)
    submit(page, "income")
