"""The adviser's and supervisor's working day (issue 17), in the browser: quick exit shown as such, the
registration flow, abuse, canned replies, notes, named and warm transfer, notifications, the day page.
Every state reached is checked with axe-core and the page's own audit."""

from __future__ import annotations

import re
from typing import cast

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    Browsing,
    adviser_send,
    audit,
    axe,
    connected_chat,
    go_available,
    log_in,
    screenshot,
    start_chat,
    visitor_send,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def pane(console: Page) -> Locator:
    return console.locator(".conversation:not([hidden])")


def log_in_page(page: Page, username: str) -> None:
    """Sign in on a staff page that opens no socket (the canned replies page, the day page)."""
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    expect(page.locator("#app-view")).to_be_visible()


def clean(page: Page) -> None:
    """No critical or serious axe-core violation, nothing the page's own audit finds."""
    assert axe(page) == []
    assert audit(page) == []


def test_quick_exit_is_shown_to_the_adviser_as_quick_exit(web: Browsing) -> None:
    visitor, console, alias = connected_chat(web, language="nb")
    visitor_send(visitor, "Noen kommer inn")
    visitor.click("#quick-exit")
    visitor.wait_for_url(re.compile(r"^https://www\.google\.com/"))

    item = console.locator("#pending-list .conv-item", has_text=alias)
    expect(item).to_contain_text("Besøkende forlot samtalen med rask utgang.")
    item.click()
    expect(pane(console).locator(".closed-notice")).to_contain_text("Besøkende forlot samtalen med rask utgang.")
    notice = pane(console).locator(".msg-system[data-event=visitor_quick_exit]")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("Besøkende forlot samtalen med rask utgang")
    expect(pane(console).locator(".msg-system[data-event=visitor_left]")).to_have_count(0)
    expect(pane(console)).not_to_contain_text("Du avsluttet samtalen")
    clean(console)


def close_from_console(console: Page, alias: str) -> None:
    console.locator("#conversation-list .conv-item", has_text=alias).click()
    pane(console).get_by_role("button", name="Avslutt samtalen").click()
    pane(console).get_by_role("button", name="Ja, avslutt").click()
    expect(console.locator("#pending-list .conv-item", has_text=alias)).to_be_visible()


def test_after_saving_the_next_pending_registration_opens_and_can_be_amended(web: Browsing) -> None:
    first, console, first_alias = connected_chat(web, language="nb")
    visitor_send(first, "Første")
    second = web.page("/")
    start_chat(second, language="nb")
    visitor_send(second, "Andre")
    expect(console.locator("#conversation-list .conv-item")).to_have_count(2)
    second_alias = console.locator("#conversation-list .conv-item .conv-alias").nth(1).inner_text()
    close_from_console(console, first_alias)
    close_from_console(console, second_alias)

    console.locator("#pending-list .conv-item", has_text=first_alias).click()
    form = pane(console).locator("form.registration")
    form.get_by_label("Nei, en henvendelse").check()
    form.get_by_role("button", name="Lagre registrering").click()

    # the next one opens at once, ready for the keyboard
    expect(console.locator("#pane-notice")).to_have_text(
        f"Registreringen av {first_alias} er lagret. Neste til registrering: {second_alias}."
    )
    expect(pane(console).locator(".conv-title")).to_contain_text(second_alias)
    expect(pane(console).get_by_label("Ja, en sak")).to_be_focused()
    expect(console.locator("#pending-list .conv-item")).to_have_count(1)
    clean(console)

    # the first is amendable from the console for 7 days
    mine = console.locator("#mine-list .conv-item", has_text=first_alias)
    expect(mine).to_contain_text("Henvendelse, ikke sak")
    mine.click()
    amend = console.locator("form.amend-form")
    expect(amend.get_by_role("heading")).to_have_text(f"Endre registreringen: {first_alias}")
    expect(amend.get_by_label("Nei, en henvendelse")).to_be_checked()
    clean(console)
    amend.get_by_label("Ja, en sak").check()
    amend.get_by_label("Hovedkategori").select_option("negative_social_control")
    amend.get_by_role("button", name="Lagre registrering").click()
    expect(console.locator("#pane-notice")).to_have_text(f"Endringen av {first_alias} er lagret.")
    expect(console.locator("#mine-list .conv-item", has_text=first_alias)).to_contain_text("Negativ sosial kontroll")


def test_a_chat_closed_before_the_visitor_wrote_is_not_pending(web: Browsing) -> None:
    visitor, console, alias = connected_chat(web, language="nb")
    adviser_send(console, "Hei, hva kan jeg hjelpe med?")
    visitor.click("#leave-button")
    visitor.click("#leave-yes")

    expect(pane(console).locator(".closed-notice")).to_contain_text("Besøkende skrev ingenting")
    expect(pane(console).locator("form.registration")).to_have_count(0)
    expect(console.locator("#pending-list .conv-item")).to_have_count(0)
    expect(console.locator("#no-pending")).to_be_visible()
    clean(console)
    pane(console).get_by_role("button", name="Lukk samtalen").click()
    expect(console.locator("#pane-notice")).to_have_text(f"{alias} er lukket. Den telles som avbrutt.")
    console.reload()
    expect(console.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(console.locator("#no-pending")).to_be_visible()  # not pending after a reload either
    expect(console.locator("#pending-list .conv-item")).to_have_count(0)


def test_an_abusive_end_blocks_a_new_start_from_that_browser_session_only(web: Browsing) -> None:
    visitor, console, alias = connected_chat(web, language="nb")
    visitor_send(visitor, "Stygg melding")
    pane(console).get_by_role("button", name="Avslutt som krenkende …").click()
    confirm = pane(console).get_by_role("group", name="Avslutt som krenkende …")
    expect(confirm).to_contain_text(f"Avslutte samtalen med {alias} som krenkende?")
    expect(confirm.get_by_role("button", name="Avbryt")).to_be_focused()  # the safe choice first
    clean(console)
    confirm.get_by_role("button", name="Ja, avslutt som krenkende").click()
    expect(pane(console).locator(".closed-notice")).to_contain_text("Du avsluttet samtalen som krenkende.")
    expect(visitor.locator("#ended-reason")).to_have_text("Samtalen er avsluttet.")
    clean(console)

    # the same browser session (tab) cannot start again
    visitor.click("#new-chat")
    visitor.select_option("#language", "nb")
    visitor.select_option("#region", "03")
    visitor.select_option("#audience", "youth")
    visitor.click("#start-button")
    refused = "Du kan ikke starte en ny chat akkurat nå. Prøv igjen senere."
    expect(visitor.locator("#global-error")).to_have_text(refused)
    expect(visitor.locator("#setup")).to_be_visible()

    # another browser session can
    other = web.page("/")
    start_chat(other, language="nb")
    expect(other.locator("#chat-heading")).to_contain_text("Amina")


def test_a_canned_reply_in_the_chat_language_is_inserted_by_keyboard(web: Browsing) -> None:
    replies = web.page("/replies")
    log_in_page(replies, "amina")
    clean(replies)
    form = replies.locator("#reply-form")
    expect(form.get_by_label("Bare meg")).to_be_checked()
    form.get_by_label("Språk").select_option("ar")
    form.get_by_label("Tittel").fill("Velkommen")
    form.get_by_label("Tekst").fill("مرحبا! كيف يمكنني مساعدتك؟")
    form.get_by_role("button", name="Lagre hurtigsvar").click()
    expect(replies.locator("#replies-notice")).to_have_text("«Velkommen» er lagret.")
    form.get_by_label("Språk").select_option("nb")
    form.get_by_label("Tittel").fill("Velkommen på norsk")
    form.get_by_label("Tekst").fill("Hei! Hva kan jeg hjelpe deg med?")
    form.get_by_role("button", name="Lagre hurtigsvar").click()
    expect(replies.locator("#replies-table tbody tr")).to_have_count(2)
    clean(replies)

    visitor, console, _ = connected_chat(web)  # an Arabic chat
    box = pane(console).locator("textarea[id^=compose-]")
    box.focus()
    box.press("/")
    search = pane(console).get_by_role("combobox", name="Søk i hurtigsvar på arabisk")
    expect(search).to_be_focused()
    options = pane(console).get_by_role("listbox").get_by_role("option")
    expect(options).to_have_count(1)  # only the Arabic one: the visitor's chat language
    expect(options.first).to_have_attribute("aria-selected", "true")
    clean(console)
    search.press_sequentially("velk")
    search.press("Enter")
    expect(box).to_be_focused()
    expect(box).to_have_value("مرحبا! كيف يمكنني مساعدتك؟")  # inserted, not sent: it can still be changed
    expect(search).to_be_hidden()
    box.press("End")
    box.press_sequentially(" 🙂")
    box.press("Enter")
    expect(visitor.locator("#transcript .msg-adviser").last).to_contain_text("مرحبا! كيف يمكنني مساعدتك؟ 🙂")


def test_an_internal_note_never_reaches_the_visitors_page(web: Browsing) -> None:
    visitor, console, _ = connected_chat(web, language="nb")
    visitor_send(visitor, "Hei")
    notes = pane(console).locator(".notes")
    expect(notes.get_by_role("heading")).to_have_text("Interne notater (0)")
    note = "Mistenker at foreldrene leser med"
    notes.get_by_label("Nytt notat").fill(note)
    notes.get_by_role("button", name="Lagre notat").click()
    expect(notes.locator(".note")).to_contain_text(note)
    expect(notes.get_by_role("heading")).to_have_text("Interne notater (1)")
    adviser_send(console, "Takk, jeg er her")
    expect(visitor.locator("#transcript .msg-adviser")).to_contain_text("Takk, jeg er her")
    clean(console)

    assert note not in visitor.locator("body").inner_text()
    visitor.reload()  # everything the visitor can get again, from seq 1
    expect(visitor.locator("#transcript .msg-adviser")).to_contain_text("Takk, jeg er her")
    assert note not in visitor.locator("body").inner_text()
    assert web.frames_log is not None
    visitor_frames = [line for line in web.frames_log.read_text("utf-8").splitlines() if " /#1 " in line]
    assert visitor_frames and not [line for line in visitor_frames if note in line]
    console_frames = [line for line in web.frames_log.read_text("utf-8").splitlines() if " /console#" in line]
    assert not [line for line in console_frames if note in line]  # not even on the console socket: HTTP only

    console.reload()  # the note is kept with the conversation
    expect(console.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(pane(console).locator(".note")).to_contain_text(note)


def test_a_named_colleague_with_presence_reads_the_chat_and_accepts_it(web: Browsing) -> None:
    visitor, amina, alias = connected_chat(web)
    visitor_send(visitor, "أحتاج مساعدة")
    omar = web.page("/console")
    log_in(omar, "omar")
    go_available(omar)

    pane(amina).locator("summary", has_text="Overfør").click()
    form = pane(amina).locator("form.transfer-form")
    colleague = form.get_by_label("Kollega (pålogget nå)")
    expect(colleague.locator("option", has_text="Omar")).to_have_text("Omar (MR) – tilgjengelig, 0 av 2 samtaler")
    expect(colleague.locator("option", has_text="Jonas")).to_have_count(0)  # not signed in
    clean(amina)
    colleague.select_option(label="Omar (MR) – tilgjengelig, 0 av 2 samtaler")
    expect(form.get_by_label("En bestemt kollega")).to_be_checked()
    expect(form.get_by_label("La kollegaen lese samtalen og svare før den flyttes")).to_be_checked()
    form.get_by_label("Notat til neste rådgiver (valgfritt)").fill("Gjelder skolen")
    form.get_by_role("button", name="Overfør samtalen").click()
    expect(pane(amina).locator(".offer-status")).to_contain_text("Tilbudt til Omar. Venter på svar.")

    offer = omar.locator("#offer-list .conv-item", has_text=alias)
    expect(offer).to_contain_text("fra Amina")
    omar.reload()  # the offer is kept with the conversation, not with the page or its socket
    amina.reload()
    expect(omar.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(offer).to_contain_text("fra Amina")
    expect(pane(amina).locator(".offer-status")).to_contain_text("Tilbudt til Omar. Venter på svar.")
    screenshot(omar, "console-offer-after-reload")
    screenshot(amina, "console-offered-after-reload")
    expect(omar).to_have_title(re.compile(r"^\(1\) "))
    offer.click()
    view = omar.locator(".offer-view")
    expect(view.get_by_role("heading", level=2)).to_have_text(f"{alias} – tilbudt av Amina")
    expect(view).to_contain_text("Notat fra forrige rådgiver: Gjelder skolen")
    expect(view.locator(".msg-visitor")).to_contain_text("أحتاج مساعدة")
    expect(view.get_by_role("button", name="Ta imot samtalen")).to_be_focused()
    clean(omar)
    view.get_by_role("button", name="Ta imot samtalen").click()

    expect(omar.locator("#conversation-list .conv-item", has_text=alias)).to_be_visible()
    expect(omar.locator("#offer-list .conv-item")).to_have_count(0)
    expect(amina.locator("#conversation-list .conv-item")).to_have_count(0)
    expect(visitor.locator("#chat-heading")).to_contain_text("Omar")
    clean(omar)
    clean(amina)


FAKE_NOTIFICATIONS = """
window.__shown = [];
window.__hidden = false;
class FakeNotification {
  constructor(title, options) { window.__shown.push({ title, body: options?.body, tag: options?.tag }); }
  close() {}
  static requestPermission() { FakeNotification.permission = "granted"; return Promise.resolve("granted"); }
}
FakeNotification.permission = localStorage.getItem("nora-admin.notify") === "1" ? "granted" : "default";
window.Notification = FakeNotification;
Object.defineProperty(document, "hidden", { get: () => window.__hidden });
Object.defineProperty(document, "visibilityState", { get: () => (window.__hidden ? "hidden" : "visible") });
"""


def background(page: Page, hidden: bool) -> None:
    page.evaluate("(h) => { window.__hidden = h; document.dispatchEvent(new Event('visibilitychange')); }", hidden)


def test_browser_notifications_and_the_title_badge_when_the_console_is_in_the_background(web: Browsing) -> None:
    console = web.page("/console")
    console.add_init_script(FAKE_NOTIFICATIONS)
    console.reload()
    log_in(console, "amina")
    box = console.get_by_label("Varsle i nettleseren når konsollen er i bakgrunnen")
    expect(box).not_to_be_checked()  # opt-in
    box.check()
    expect(box).to_be_checked()
    console.reload()  # remembered
    expect(console.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(box).to_be_checked()
    clean(console)
    go_available(console)

    background(console, True)
    visitor = web.page("/")
    start_chat(visitor, language="nb")
    expect(console).to_have_title(re.compile(r"^\(1\) nora – rådgiverkonsoll$"))
    shown = console.evaluate("() => window.__shown")
    assert [(n["title"], n["body"].endswith(" venter på deg.")) for n in shown] == [("Ny samtale", True)]
    visitor_send(visitor, "Hemmelig innhold")
    console.wait_for_function("() => window.__shown.length === 2")
    message = console.evaluate("() => window.__shown[1]")
    assert message["title"] == "Ny melding" and "Hemmelig" not in message["body"]  # never what was written

    background(console, False)
    visitor_send(visitor, "Nå ser hun det")
    expect(pane(console).locator(".msg-visitor", has_text="Nå ser hun det")).to_be_visible()
    assert console.evaluate("() => window.__shown.length") == 2  # in the foreground: no notification


def test_the_supervisors_day_page_shows_today_and_the_week_with_a_chart(web: Browsing) -> None:
    visitor, console, _ = connected_chat(web, language="nb")
    visitor_send(visitor, "Hei")
    waiting = web.page("/")
    start_chat(waiting, language="so", region="none")  # nobody speaks Somali here: it waits
    waiting.click("#leave-button")
    waiting.click("#leave-yes")  # and gives up
    waiting.click("#feedback-yes")  # "did you get help?" (counted per day only)
    expect(waiting.locator("#feedback-thanks")).to_be_visible()

    dashboard = web.page("/supervisor")
    log_in(dashboard, "sara")
    dashboard.get_by_role("link", name="Dagen i tall").click()
    expect(dashboard).to_have_url(re.compile(r"/supervisor/day$"))
    day = dashboard
    expect(day.get_by_role("heading", level=1)).to_have_text(re.compile(r"^I dag, "))
    kpis = day.locator("#day-kpis")
    expect(kpis.locator(".kpi", has_text="Startet").locator("dd")).to_have_text("2")
    expect(kpis.locator(".kpi", has_text="Besvart").locator("dd")).to_have_text("1")
    expect(kpis.locator(".kpi", has_text="Avbrutt i kø").locator("dd")).to_have_text("1")
    expect(kpis.locator(".kpi", has_text="Uten melding fra besøkende").locator("dd")).to_have_text("1")
    expect(kpis.locator(".kpi", has_text="Besøkende som fikk hjelp").locator("dd")).to_have_text("1")
    expect(kpis.locator(".kpi", has_text="Besøkende som ikke fikk hjelp").locator("dd")).to_have_text("0")
    screenshot(day, "supervisor-day")
    assert cut_off_tables(day) == []
    day.set_viewport_size(PHONE)
    day.get_by_role("button", name="English").click()
    expect(kpis.locator(".kpi", has_text="Visitors who got help").locator("dd")).to_have_text("1")
    screenshot(day, "supervisor-day-phone-en")
    clean(day)
    day.get_by_role("button", name="Norsk").click()
    day.set_viewport_size(DESKTOP)
    chart = day.get_by_role("img", name="Flest ventende samtidig og antall besvart")
    expect(chart).to_be_visible()
    assert chart.evaluate("(svg) => svg.namespaceURI") == "http://www.w3.org/2000/svg"  # drawn in the page
    expect(day.locator("#by-service tbody tr", has_text="MR")).to_contain_text("1")
    expect(day.locator("#day-advisers tbody tr", has_text="Amina")).to_be_visible()
    expect(day.locator("#day-csv")).to_have_attribute("href", "/api/v1/supervisor/day?period=day&format=csv")
    assert not [u for u in web.external if "supervisor/day" in u]  # no outside service
    clean(day)
    day.get_by_text("Vis tallene som tabell").click()
    expect(day.locator("#chart-table tbody tr")).not_to_have_count(0)
    clean(day)

    day.get_by_role("button", name="Denne uken").click()
    expect(day.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Denne uken, "))
    expect(day.locator("#day-csv")).to_have_attribute("href", "/api/v1/supervisor/day?period=week&format=csv")
    expect(kpis.locator(".kpi", has_text="Startet").locator("dd")).to_have_text("2")
    clean(day)


def cut_off_tables(page: Page) -> list[str]:
    """The tables that do not fit their card (they scroll sideways, a column cut at the edge), named by
    their card's heading."""
    return cast(
        list[str],
        page.evaluate(
            """() => [...document.querySelectorAll(".card .table-wrap")]
                .filter((w) => w.offsetParent !== null && w.scrollWidth > w.clientWidth + 1)
                .map((w) => w.closest(".card").querySelector("h2")?.textContent ?? "?")"""
        ),
    )
