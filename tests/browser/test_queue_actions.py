"""The supervisor acts on the queue from the dashboard (protocol 1.1): presence per waiting visitor,
consistent adviser counts, "Route …" to a named adviser, diversions to AT, a notice to every adviser;
and the console's side: the notice banner, "disconnected since", an urgent transfer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.conftest import (
    SCREENSHOTS,
    Browsing,
    audit,
    axe,
    connected_chat,
    go_available,
    log_in,
    start_chat,
)

pytestmark = pytest.mark.browser

SCREEN = ViewportSize(width=1280, height=800)
CLOCK = re.compile(r"\d\d[:.]\d\d")


def shot(page: Page, name: str) -> Path:
    """What the supervisor sees at 1280×800, without scrolling past it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled")
    return path


def dashboard(web: Browsing) -> Page:
    page = web.page("/supervisor", viewport=SCREEN)
    log_in(page, "sara")
    return page


def adviser_console(web: Browsing, username: str, *, available: bool) -> Page:
    console = web.page("/console", viewport=SCREEN)
    log_in(console, username)
    if available:
        go_available(console)
    return console


@pytest.mark.browser
def test_the_supervisor_routes_a_waiting_chat_to_a_named_adviser(web: Browsing) -> None:
    # Amina (MR, Oslo, Arabic) is signed in but away, so tier 0 holds the Arabic chat from Oslo for her;
    # Jonas (AT) is available but does not speak Arabic: nobody takes it by the rules.
    adviser_console(web, "amina", available=False)
    jonas = adviser_console(web, "jonas", available=True)
    visitor = web.page("/")
    start_chat(visitor, language="ar", region="03")
    supervisor = dashboard(web)

    row = supervisor.locator("#waiting-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(6)).to_have_text("Tilkoblet")
    expect(supervisor.locator("#kpi-available")).to_have_text("1 av 2 pålogget")
    expect(supervisor.locator("#kpi-available-detail")).to_have_text("1 borte")

    # by keyboard: Tab to the row's button, Enter opens the dialog with focus on the first target
    button = row.get_by_role("button", name=re.compile(r"^Send videre … \(nr\. 1 i køen: Oslo, arabisk\)$"))
    button.focus()
    updated = supervisor.locator("#updated-at").inner_text()
    expect(supervisor.locator("#updated-at")).not_to_have_text(updated, timeout=5000)
    expect(button).to_be_focused()  # the 2 s refresh leaves the keyboard where it was
    supervisor.keyboard.press("Enter")
    dialog = supervisor.get_by_role("dialog", name="Send samtalen videre")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("En bestemt rådgiver")).to_be_focused()
    expect(dialog.locator("#route-summary")).to_contain_text("Nr. 1 i køen · Oslo · arabisk · ungdom / elev")
    adviser = dialog.get_by_label("Rådgiver", exact=True)
    expect(adviser.locator("option:not([disabled])", has_text="Jonas")).to_have_text("Jonas (AT) – 0 av 3 samtaler")
    expect(adviser.locator("option[disabled]", has_text="Amina")).to_have_text("Amina (MR) – borte")

    dialog.get_by_role("button", name="Send videre", exact=True).click()  # nothing chosen yet
    expect(dialog.locator("#route-target-error")).to_have_text("Velg hvor samtalen skal.")
    expect(dialog.locator("#route-targets")).to_have_attribute("aria-invalid", "true")

    adviser.select_option(label="Jonas (AT) – 0 av 3 samtaler")
    expect(dialog.get_by_label("En bestemt rådgiver")).to_be_checked()  # choosing in the list chooses it
    dialog.get_by_label("Marker som haster").check()
    dialog.get_by_label("Notat til rådgiveren (valgfritt)").fill("Ring tilbake")
    expect(dialog.locator("#route-note-count")).to_have_text("12 av 500 tegn")
    shot(supervisor, "supervisor-route-dialog")
    assert axe(supervisor) == []
    assert audit(supervisor) == []
    shot(supervisor, "supervisor-route-dialog-after-axe")

    dialog.get_by_role("button", name="Send videre", exact=True).click()
    expect(dialog).to_be_hidden()
    result = supervisor.locator("#route-result")
    expect(result).to_have_text("Samtalen er sendt til Jonas.")
    expect(result).to_be_focused()
    expect(visitor.locator("#chat-heading")).to_have_text("Du chatter med Jonas")
    pane = jonas.locator(".conversation:not([hidden])")
    expect(pane.locator(".conv-title")).to_contain_text("Haster")
    expect(pane.locator(".transfer-note")).to_contain_text("Ring tilbake")
    expect(supervisor.locator("#waiting-table tbody tr")).to_have_count(0)
    expect(supervisor.locator("#advisers-table tbody tr", has_text="Jonas")).to_contain_text("1 / 3")


@pytest.mark.browser
def test_an_absent_visitor_is_shown_and_cannot_go_to_a_named_adviser(web: Browsing) -> None:
    adviser_console(web, "jonas", available=True)
    gone = web.page("/")
    start_chat(gone, language="ar", region="03", urgent=True)
    supervisor = dashboard(web)
    row = supervisor.locator("#waiting-table tbody tr")
    expect(row).to_have_count(1)
    gone.close()  # the visitor closes the tab: the chat keeps its place, absent

    expect(row.locator("td").nth(6)).to_have_text("Frakoblet")
    expect(row).to_have_class(re.compile("row-absent"))
    expect(supervisor.locator("#kpi-waiting-detail")).to_have_text("1 av dem frakoblet")
    expect(supervisor.locator("#kpi-available")).to_have_text("1 av 1 pålogget")
    shot(supervisor, "supervisor-absent-visitor")

    row.get_by_role("button", name=re.compile("^Send videre")).click()
    dialog = supervisor.get_by_role("dialog", name="Send samtalen videre")
    expect(dialog.locator("#route-absent")).to_contain_text("Besøkende er frakoblet nå.")
    expect(dialog.get_by_label(re.compile("^En bestemt rådgiver"))).to_be_disabled()
    expect(dialog.locator("#route-adviser-reason")).to_have_text("besøkende er frakoblet")
    expect(dialog.get_by_label("Marker som haster")).to_be_checked()  # it already is
    expect(dialog.locator("#route-urgent-hint")).to_have_text("Samtalen haster allerede.")
    shot(supervisor, "supervisor-route-dialog-absent")
    assert axe(supervisor) == []

    # Escape closes the dialog and the keyboard is back on the row's button
    supervisor.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(row.get_by_role("button", name=re.compile("^Send videre"))).to_be_focused()

    # the same in English
    supervisor.get_by_role("button", name="English").click()
    expect(supervisor.locator("#waiting-table thead th").nth(6)).to_have_text("Visitor")
    expect(row.locator("td").nth(6)).to_have_text("Disconnected")
    expect(supervisor.locator("#kpi-waiting-detail")).to_have_text("1 of them disconnected")
    expect(supervisor.locator("#kpi-available")).to_have_text("1 of 1 signed in")
    expect(row.get_by_role("button", name="Route … (no. 1 in the queue: Oslo, Arabic)")).to_be_visible()
    supervisor.get_by_role("button", name="Norsk").click()

    # an absent visitor can still be sent to a county: it keeps its place and waits there
    row.get_by_role("button", name=re.compile("^Send videre")).click()
    dialog.get_by_label("Fylke", exact=True).select_option(label="Vestland")
    expect(dialog.get_by_label("Et fylke")).to_be_checked()
    dialog.get_by_role("button", name="Send videre", exact=True).click()
    expect(supervisor.locator("#route-result")).to_have_text("Samtalen venter nå på Vestland, på samme plass i køen.")
    expect(row.locator("td").nth(1)).to_have_text("Vestland")


@pytest.mark.browser
def test_a_diversion_is_made_and_ended_from_the_dashboard(web: Browsing) -> None:
    adviser_console(web, "amina", available=False)  # Oslo's tier 0 is hers: Oslo waits for her
    jonas = adviser_console(web, "jonas", available=True)
    supervisor = dashboard(web)
    panel = supervisor.locator("section", has=supervisor.get_by_role("heading", name="Omdirigert til ambulerende team"))
    expect(panel.locator("#diversions-empty")).to_have_text("Ingen aktive omdirigeringer.")

    form = panel.locator("#diversion-form")
    form.get_by_role("button", name="Omdiriger til AT").click()
    expect(form.locator("#diversion-error")).to_have_text("Velg et fylke, et språk eller begge.")
    form.get_by_label("Fylke").select_option(label="Oslo")
    form.get_by_label("Varighet i minutter").fill("0")
    form.get_by_role("button", name="Omdiriger til AT").click()
    expect(form.locator("#diversion-error")).to_have_text("Skriv et helt antall minutter fra 1 til 10080.")
    expect(form.get_by_label("Varighet i minutter")).to_be_focused()
    form.get_by_label("Varighet i minutter").fill("30")
    form.get_by_role("button", name="Omdiriger til AT").click()

    rows = panel.locator("#diversions-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.locator("td").nth(0)).to_have_text("Oslo")
    expect(rows.locator("td").nth(1)).to_have_text("alle språk")
    expect(rows.locator("td").nth(2)).to_have_text(re.compile(r"^\d\d[:.]\d\d \(om (29|30) min\)$"))
    made = re.compile(r"^Oslo, alle språk går til AT til \d\d[:.]\d\d\.$")
    expect(panel.locator("#diversion-result")).to_have_text(made)

    # what it is for: a chat from Oslo now reaches the ambulating team at once
    visitor = web.page("/")
    start_chat(visitor, language="nb", region="03")
    expect(visitor.locator("#chat-heading")).to_have_text("Du chatter med Jonas")
    expect(jonas.locator("#conversation-list .conv-item")).to_have_count(1)
    panel.evaluate("(node) => window.scrollTo(0, node.getBoundingClientRect().top + window.scrollY - 16)")
    shot(supervisor, "supervisor-diversions")
    assert axe(supervisor) == []

    end = rows.get_by_role("button", name="Avslutt nå (Oslo, alle språk)")
    end.focus()
    supervisor.keyboard.press("Enter")
    expect(rows).to_have_count(0)
    expect(panel.locator("#diversions-empty")).to_be_visible()
    expect(panel.locator("#diversion-result")).to_have_text("Omdirigeringen av Oslo, alle språk er avsluttet.")
    expect(panel.locator("#diversion-result")).to_be_focused()
    # still gone after the next queue frames (at least one every 2 s)
    updated = supervisor.locator("#updated-at").inner_text()
    expect(supervisor.locator("#updated-at")).not_to_have_text(updated, timeout=5000)
    expect(rows).to_have_count(0)

    # and Oslo waits for its county adviser again, though Jonas has room
    later = web.page("/")
    start_chat(later, language="nb", region="03")
    expect(supervisor.locator("#waiting-table tbody tr")).to_have_count(1)
    updated = supervisor.locator("#updated-at").inner_text()
    expect(supervisor.locator("#updated-at")).not_to_have_text(updated, timeout=5000)
    expect(supervisor.locator("#waiting-table tbody tr")).to_have_count(1)
    expect(jonas.locator("#conversation-list .conv-item")).to_have_count(1)


@pytest.mark.browser
def test_a_notice_from_the_dashboard_appears_in_every_advisers_console(web: Browsing) -> None:
    amina = adviser_console(web, "amina", available=True)
    jonas = adviser_console(web, "jonas", available=False)
    supervisor = dashboard(web)
    expect(supervisor.locator("#kpi-available")).to_have_text("1 av 2 pålogget")

    form = supervisor.locator("#notice-form")
    form.get_by_role("button", name="Send til alle …").click()
    expect(form.locator("#notice-error")).to_have_text("Skriv en melding på 1 til 500 tegn.")
    text = "Møte kl. 14 for alle på vakt"
    form.get_by_label("Melding", exact=True).fill(text)
    expect(form.locator("#notice-count")).to_have_text(f"{len(text)} av 500 tegn")
    form.get_by_role("button", name="Send til alle …").click()
    expect(form.locator("#notice-confirm-text")).to_have_text("Sende meldingen til 2 påloggede rådgivere?")
    expect(form.get_by_role("button", name="Ja, send")).to_be_focused()
    form.get_by_role("button", name="Avbryt").click()  # thought better of it: nothing is sent
    expect(form.get_by_role("button", name="Send til alle …")).to_be_focused()
    form.get_by_role("button", name="Send til alle …").click()
    form.get_by_role("button", name="Ja, send").click()
    expect(supervisor.locator("#notice-result")).to_have_text(re.compile(r"^Meldingen ble sendt kl\. \d\d[:.]\d\d\.$"))
    expect(form.get_by_label("Melding", exact=True)).to_have_value("")

    for console in (amina, jonas):
        banner = console.get_by_role("region", name="Meldinger fra tilsyn").locator(".staff-notice")
        expect(banner).to_have_count(1)  # sent once, although asked twice
        expect(banner.locator(".staff-notice-from")).to_have_text(re.compile(r"^Melding fra Sara kl\. \d\d[:.]\d\d$"))
        expect(banner.locator(".staff-notice-text")).to_have_text(text)
    expect(amina.locator("#announcer")).to_have_text(f"Melding fra Sara: {text}")
    shot(amina, "console-notice")
    assert axe(amina) == []
    assert audit(amina) == []

    amina.get_by_role("button", name="English").click()  # labels follow the page language
    expect(amina.locator(".staff-notice-from")).to_have_text(re.compile(r"^Notice from Sara at "))
    amina.get_by_role("button", name=re.compile(r"^Dismiss the notice from Sara")).click()
    expect(amina.locator(".staff-notice")).to_have_count(0)
    expect(amina.get_by_role("region", name="Notices from supervision")).to_be_hidden()

    # A console that connects again is sent the notices of the last 12 hours: Jonas, who had not
    # dismissed it, sees it once more after a reload (once, not twice); Amina, who had, does not.
    jonas.reload()
    expect(jonas.locator("#connection")).to_have_attribute("data-state", "connected")
    banner = jonas.get_by_role("region", name="Meldinger fra tilsyn").locator(".staff-notice")
    expect(banner).to_have_count(1)
    expect(banner.locator(".staff-notice-text")).to_have_text(text)
    amina.reload()
    expect(amina.locator("#connection")).to_have_attribute("data-state", "connected")
    amina.wait_for_timeout(500)  # the notices follow the state frame; give them the time to arrive
    expect(amina.locator(".staff-notice")).to_have_count(0)


@pytest.mark.browser
def test_the_console_says_since_when_a_visitor_is_disconnected_and_transfers_urgently(web: Browsing) -> None:
    visitor, console, alias = connected_chat(web, language="nb", region="03")
    pane = console.locator(".conversation:not([hidden])")
    visitor.close()
    expect(pane.locator(".presence")).to_have_text(
        re.compile(r"^Besøkende har vært frakoblet siden \d\d[:.]\d\d og kan komme tilbake\.$")
    )
    since = CLOCK.search(pane.locator(".presence").inner_text())
    assert since is not None
    item = console.locator("#conversation-list .conv-item", has_text=alias)
    expect(item).to_contain_text(f"Frakoblet siden {since.group(0)}")
    console.reload()  # the time comes from the server too, not only from the live frame
    expect(console.locator(".conversation:not([hidden]) .presence")).to_contain_text(f"siden {since.group(0)}")

    supervisor = dashboard(web)
    transfer = console.locator(".conversation:not([hidden]) details.transfer")
    transfer.locator("summary").click()
    transfer.get_by_label("Ambulerende team (AT)").check()
    transfer.get_by_label("Marker som haster").check()
    transfer.get_by_role("button", name="Overfør samtalen").click()
    row = supervisor.locator("#waiting-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_have_text("⚠ Haster")
    expect(row.locator("td").nth(6)).to_have_text("Frakoblet")
