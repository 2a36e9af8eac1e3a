"""The admin page (/admin) as an administrator uses it: accounts, reference data, the audit log, and the
staff pages for someone whose roles they are not for."""

from __future__ import annotations

import re
from datetime import date

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


def register_inquiry(base: str, username: str, **form: object) -> None:
    """An inquiry as the console sends it, by ``username`` (an adviser), over HTTP."""
    with httpx.Client(base_url=base) as http:
        login = http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).json()
        body = {
            "is_case": True,
            "main_category": "forced_marriage",
            "channel": "phone",
            "contact_date": date.today().isoformat(),
            "region": "03",
            "language": "nb",
            "audience": "youth",
            **form,
        }
        r = http.post("/api/v1/registrations", json=body, headers={"X-CSRF-Token": login["csrf_token"], "Origin": base})
        assert r.status_code == 201, r.text


@pytest.mark.browser
def test_a_category_from_a_future_date_and_a_services_own_category(web: Browsing) -> None:
    page = web.page("/admin")
    admin_log_in(page)
    ref = page.locator("#reference")
    ref.locator("#reference-add summary").click()
    add = ref.locator("#reference-add-slot form")
    add.get_by_label("Kode").fill("school_refusal")
    add.get_by_label("Navn på bokmål").fill("Skolevegring")
    add.get_by_label("Navn på engelsk").fill("School refusal")
    add.get_by_label("Gyldig fra (valgfritt)").fill("2031-01-01")
    add.get_by_role("button", name="Legg til").click()
    expect(page.locator("#admin-notice")).to_have_text("school_refusal er lagt til.")
    row = ref.locator("tr[data-code=school_refusal]")
    expect(row).to_contain_text("Skolevegring")
    expect(row).to_contain_text("Fra 1. jan. 2031")
    expect(row).to_contain_text("Felles")
    public = httpx.get(f"{web.base}/api/v1/reference").json()
    assert "school_refusal" not in {c["code"] for c in public["categories"]}  # not offered before its date

    add = ref.locator("#reference-add-slot form")
    add.get_by_label("Kode").fill("mr_school_meeting")
    add.get_by_label("Navn på bokmål").fill("Møte med skolen")
    add.get_by_label("Navn på engelsk").fill("Meeting with the school")
    add.get_by_label("Hvem bruker den").select_option("MR")
    add.get_by_role("button", name="Legg til").click()
    expect(ref.locator("tr[data-code=mr_school_meeting]")).to_contain_text("Egen for MR")

    register_inquiry(web.base, "amina", other_categories=["mr_school_meeting"])
    register_inquiry(web.base, "amina")

    stats = page.locator("#statistics")
    stats.get_by_label("Tjeneste").select_option("MR")
    stats.get_by_role("button", name="Vis rapporten").click()
    expect(stats.locator("#report-table tbody tr")).to_have_text([re.compile(r"Møte med skolen\s*1")])
    expect(stats).to_contain_text("Registreringer: 2. Saker blant dem: 2.")
    expect(stats).to_contain_text("Intern – ikke for publisering.")

    # The published yearly summary, on its own page that prints well: the own category is not in it.
    with page.expect_navigation():
        stats.get_by_role("link", name=re.compile(r"^Årsoversikt \d{4} \(utskriftsvennlig side\)")).click()
    summary = page.locator("#summary-table")
    expect(summary).to_be_visible()
    expect(summary.locator("tbody")).to_contain_text("Tvangsekteskap")
    expect(summary.locator("tbody th")).not_to_contain_text(["Møte med skolen"])
    assert "Møte med skolen" not in page.locator("#report").inner_text()
    assert axe(page) == [] and audit(page) == []
    screenshot(page, "admin-summary")
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("#print-button")).to_be_hidden()
    expect(summary).to_be_visible()
    screenshot(page, "admin-summary-print")
    page.emulate_media(media="screen")

    published = httpx.Client(base_url=web.base)
    login = published.post("/api/v1/auth/login", json={"username": "sara", "password": PASSWORD})
    assert login.status_code == 200
    body = published.get("/api/v1/stats/cases", params={"by": "category,service"}).text
    csv_text = published.get("/api/v1/stats/summary", params={"format": "csv"}).text
    published.close()
    for text in (body, csv_text):
        assert "mr_school_meeting" not in text and "Møte med skolen" not in text
