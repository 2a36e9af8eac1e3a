"""The admin page (/admin) as an administrator uses it: accounts, reference data, the audit log, and the
staff pages for someone whose roles they are not for."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Browsing, audit, axe, log_in, screenshot
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

LINA_PASSWORD = "kveldssol-over-fjorden"


def admin_log_in(page: Page, username: str = "admin") -> None:
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("html")).to_have_class(re.compile("ready"))


def login_status(base: str, username: str, password: str) -> int:
    return httpx.post(f"{base}/api/v1/auth/login", json={"username": username, "password": password}).status_code


@pytest.mark.browser
def test_create_an_adviser_and_disable_them(web: Browsing) -> None:
    page = web.page("/admin")
    admin_log_in(page)
    accounts = page.locator("#accounts-table tbody tr")
    expect(accounts).to_have_count(5)

    page.get_by_role("button", name="Ny konto").click()
    form = page.locator(".account-form")
    expect(page.get_by_role("heading", name="Ny konto", exact=True)).to_be_focused()
    form.get_by_label("Brukernavn").fill("lina")
    form.get_by_label("Navn som vises").fill("Lina Berg")
    form.get_by_role("group", name="Fylker").get_by_label("Oslo").check()
    form.get_by_role("group", name="Språk rådgiveren chatter på").get_by_label("arabisk").check()
    form.get_by_label("Samtidige samtaler").fill("2")
    form.get_by_label("Passord", exact=True).fill("short")
    form.get_by_role("button", name="Opprett kontoen").click()
    # the password rule is said next to the field, and the field is focused to correct it
    expect(form.get_by_label("Passord", exact=True)).to_be_focused()
    expect(form.get_by_label("Passord", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(form.locator(".form-error")).to_have_text("Noen felt må rettes.")
    assert login_status(web.base, "lina", "short") == 401

    form.get_by_label("Passord", exact=True).fill(LINA_PASSWORD)
    form.get_by_role("button", name="Opprett kontoen").click()
    expect(page.locator("#admin-notice")).to_have_text("Kontoen lina er opprettet.")
    row = page.locator("#accounts-table tbody tr[data-username=lina]")
    expect(row.locator("td")).to_have_text(
        ["Lina Berg", "rådgiver", "MR", "Oslo", "arabisk, norsk", "2", "Aktiv", "aldri", "Endre"]
    )
    expect(page.get_by_role("button", name="Endre lina")).to_be_focused()

    # Lina works in the console; the admin disables her account, and the console logs her out
    console = web.page("/console")
    log_in(console, "lina", password=LINA_PASSWORD)

    page.get_by_role("button", name="Endre lina").click()
    page.get_by_role("button", name="Deaktiver kontoen").click()
    expect(page.get_by_text("Deaktivere Lina Berg (lina)? Personen logges ut med en gang.")).to_be_visible()
    expect(page.get_by_role("button", name="Avbryt").last).to_be_focused()
    page.get_by_role("button", name="Ja, deaktiver").click()
    expect(page.locator("#admin-notice")).to_have_text("Kontoen lina er deaktivert og logget ut.")
    expect(row.locator("td").nth(6)).to_have_text("Deaktivert")

    expect(console.locator("#login-view")).to_be_visible(timeout=4000)
    expect(console.locator("#login-error")).to_have_text("Økten er utløpt. Logg inn på nytt.")
    assert login_status(web.base, "lina", LINA_PASSWORD) == 401

    # the audit log, filtered by action, names who did it
    page.locator("#audit-action").select_option("user_disabled")
    page.get_by_role("button", name="Vis", exact=True).click()
    entries = page.locator("#audit-table tbody tr")
    expect(entries).to_have_count(1)
    expect(entries.locator("td").nth(1)).to_have_text("admin")
    expect(entries.locator("td").nth(2)).to_have_text("konto deaktivert")
    expect(entries.locator("td").nth(4)).to_contain_text("username=lina")

    # and enabled again
    page.get_by_role("button", name="Endre lina").click()
    page.get_by_role("button", name="Aktiver kontoen igjen").click()
    expect(page.locator("#admin-notice")).to_have_text("Kontoen lina er aktiv igjen.")
    assert login_status(web.base, "lina", LINA_PASSWORD) == 200


@pytest.mark.browser
def test_the_last_admin_cannot_be_disabled(web: Browsing) -> None:
    page = web.page("/admin")
    admin_log_in(page)
    page.get_by_role("button", name="Endre admin").click()
    page.get_by_role("button", name="Deaktiver kontoen").click()
    page.get_by_role("button", name="Ja, deaktiver").click()
    error = page.locator(".danger-zone .form-error")
    expect(error).to_have_text(re.compile("siste aktive administratoren"))
    expect(error).to_be_focused()
    assert login_status(web.base, "admin", PASSWORD) == 200


@pytest.mark.browser
def test_an_admin_on_the_console_is_pointed_to_their_pages_and_stays_logged_in(web: Browsing) -> None:
    console = web.page("/console")
    console.fill("#username", "admin")
    console.fill("#password", PASSWORD)
    console.click("#login-button")
    view = console.locator("#elsewhere-view")
    expect(view.get_by_role("heading", name="Denne siden er for rådgivere")).to_be_focused()
    expect(view).to_contain_text("Du er logget inn som Admin.")
    expect(view.get_by_role("link")).to_have_text(["Tilsyn", "Administrasjon"])
    assert axe(console) == []
    console.get_by_role("button", name="English").click()
    expect(view.get_by_role("heading", name="This page is for advisers")).to_be_visible()
    console.get_by_role("button", name="Norsk").click()

    console.reload()  # the login is kept
    expect(console.locator("#elsewhere-view")).to_be_visible()
    console.get_by_role("link", name="Administrasjon").click()
    expect(console).to_have_url(re.compile("/admin$"))
    expect(console.locator("#app-view")).to_be_visible()
    expect(console.locator("#page-links").get_by_role("link")).to_have_text(["Tilsyn"])

    # a supervisor without the admin role gets the same on /admin, and can log out there
    other = web.page("/admin")
    other.fill("#username", "sara")
    other.fill("#password", PASSWORD)
    other.click("#login-button")
    expect(other.get_by_role("heading", name="Denne siden er for administratorer")).to_be_visible()
    expect(other.locator("#elsewhere-view").get_by_role("link")).to_have_text(["Tilsyn"])
    other.locator("#elsewhere-view").get_by_role("button", name="Logg ut").click()
    expect(other.locator("#login-view")).to_be_visible()


@pytest.mark.browser
def test_admin_page_passes_axe_and_the_audit_at_both_widths(web: Browsing) -> None:
    problems: dict[str, list[str]] = {}
    for viewport, size in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = web.page("/admin", viewport=viewport)
        problems[f"login-{size}"] = axe(page) + audit(page)
        admin_log_in(page)
        expect(page.locator("#audit-status")).to_have_text("Ingen oppføringer passer.")
        facts = page.locator("#retention-facts")
        expect(facts).to_contain_text("72 timer etter at samtalen ble avsluttet")
        expect(facts).to_contain_text("10 hele kalenderår")
        expect(facts).to_contain_text("(innstilling NORA_AUDIT_RETENTION_YEARS)")
        page.get_by_role("button", name="Endre amina").click()
        page.locator("#reference-add summary").click()
        problems[size] = axe(page) + audit(page)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems[size].append(f"page scrolls sideways by {overflow}px")
        screenshot(page, f"admin-{size}")
        page.get_by_role("button", name="English").click()
        expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
        problems[f"{size}-en"] = axe(page)
        page.get_by_role("button", name="Norsk").click()
        page.close()
    assert problems == {name: [] for name in problems}, problems


@pytest.mark.browser
def test_staff_strings_are_complete_in_both_languages(web: Browsing) -> None:
    page = web.page("/admin")
    missing = page.evaluate(
        """async () => {
          const { STRINGS } = await import("/static/admin/strings.js");
          const nb = Object.keys(STRINGS.nb), en = Object.keys(STRINGS.en);
          return { nb: en.filter((k) => !nb.includes(k)), en: nb.filter((k) => !en.includes(k)) };
        }"""
    )
    assert missing == {"nb": [], "en": []}


@pytest.mark.browser
def test_opening_hours_and_a_closed_day(web: Browsing) -> None:
    page = web.page("/admin")
    admin_log_in(page)
    section = page.locator("#hours")
    expect(section.locator("#hours-status")).to_contain_text("Åpent nå.")
    expect(section.locator("#hours-status")).to_contain_text("fra innstillingene")
    section.get_by_label("Åpent hele døgnet alle dager (unntatt stengte dager)").uncheck()
    for day in ("Lørdag", "Søndag"):
        section.get_by_label(f"{day}: åpent").uncheck()
        expect(section.get_by_label(f"{day}: åpner")).to_be_disabled()
    section.get_by_label("Tirsdag: stenger").fill("07:00")  # before it opens
    section.get_by_role("button", name="Lagre åpningstidene").click()
    expect(section.locator("#hours-week .field-error")).to_have_text("Tirsdag: stengetiden må være etter åpningstiden.")
    section.get_by_label("Tirsdag: stenger").fill("16:00")

    section.get_by_label("Dato", exact=True).fill("2030-12-24")
    section.get_by_label("Navn (valgfritt, f.eks. Julaften)").fill("Julaften")
    section.get_by_role("button", name="Legg til dagen").click()
    expect(section.locator(".closed-list li")).to_have_text([re.compile("tirsdag 24. desember 2030 – Julaften")])
    section.get_by_role("button", name="Lagre åpningstidene").click()
    expect(page.locator("#admin-notice")).to_have_text("Åpningstidene er lagret og gjelder nå.")
    expect(section.locator("#hours-status")).to_contain_text("Lagret")
    expect(section.locator("#hours-status")).to_contain_text("av admin (versjon 1)")

    saved = httpx.get(f"{web.base}/api/v1/status").json()
    hours = page.evaluate("() => fetch('/api/v1/hours').then((r) => r.json())")
    assert [(w["day"], w["open"], w["close"]) for w in hours["weekly"]] == [
        (day, "08:00", "16:00") for day in ("mon", "tue", "wed", "thu", "fri")
    ]
    assert hours["closed_dates"] == [{"date": "2030-12-24", "label": "Julaften"}]
    assert saved["open"] == hours["open_now"]

    section.get_by_role("button", name="Tilbake til innstillingene").click()
    expect(page.locator("#admin-notice")).to_have_text("Åpningstidene fra innstillingene gjelder igjen.")
    expect(section.get_by_label("Åpent hele døgnet alle dager (unntatt stengte dager)")).to_be_checked()
