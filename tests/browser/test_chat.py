"""The visitor widget and the agent console, driven together in two browser contexts."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import (
    NEUTRAL_URL,
    Browsing,
    adviser_send,
    connected_chat,
    go_available,
    log_in,
    restart,
    start_chat,
    visitor_send,
)
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

ARABIC = "مرحبا، أحتاج إلى مساعدة"


def pane(console: Page) -> Locator:  # the conversation shown in the console
    return console.locator(".conversation:not([hidden])")


@pytest.mark.browser
def test_arabic_visitor_and_adviser_exchange_messages_right_to_left(web: Browsing) -> None:
    visitor = web.page("/")
    start_chat(visitor, language="ar", region="03")
    expect(visitor.locator("#chat-heading")).to_have_text("Venter på en rådgiver")
    expect(visitor.locator("#chat-status")).to_contain_text("Din plass i køen: 1.")
    expect(visitor.locator("#chat-status")).to_contain_text("Beregnet ventetid: ukjent")

    console = web.page("/console")
    log_in(console, "amina")
    expect(console.locator("#status-away")).to_have_attribute("aria-pressed", "true")
    go_available(console)

    item = console.locator("#conversation-list .conv-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Arabisk")
    expect(item).to_contain_text("Oslo")
    expect(item).to_contain_text("ungdom / elev")
    expect(console).to_have_title(re.compile(r"^\(1\) "))  # a new assignment shows in the title
    expect(visitor.locator("#chat-heading")).to_have_text("Du chatter med Amina")
    expect(visitor.locator("#chat-status")).to_contain_text("mangfoldsrådgiver")
    expect(visitor.locator("#transcript .msg-system")).to_contain_text("Amina")

    # visitor -> adviser, in Arabic, right to left on both sides
    visitor_send(visitor, ARABIC)
    shown = pane(console).locator(".msg-visitor .msg-text", has_text=ARABIC)
    expect(shown).to_be_visible()
    expect(shown).to_have_attribute("dir", "rtl")
    assert shown.evaluate("e => getComputedStyle(e).direction") == "rtl"
    own = visitor.locator("#transcript .msg-visitor .msg-text", has_text=ARABIC)
    expect(own).to_have_attribute("dir", "rtl")
    expect(visitor.locator("#chat")).to_have_attribute("dir", "rtl")
    assert own.evaluate("e => getComputedStyle(e).direction") == "rtl"

    # the visitor typing shows in the console
    visitor.locator("#message").press_sequentially("...")
    expect(pane(console).locator(".typing")).to_contain_text("skriver")
    visitor.fill("#message", "")

    # adviser -> visitor
    adviser_send(console, "Hei! Jeg heter Amina. Hva kan jeg hjelpe med?")
    reply = visitor.locator("#transcript .msg-adviser")
    expect(reply).to_contain_text("Hva kan jeg hjelpe med?")
    expect(reply.locator(".msg-sender")).to_have_text("Amina")
    # a Norwegian answer in an Arabic chat keeps its own direction (no flipped punctuation)
    expect(reply.locator(".msg-text")).to_have_attribute("dir", "ltr")

    # the transcript is in seq order on both sides
    expect(visitor.locator("#transcript .msg")).to_have_count(3)
    expect(pane(console).locator(".transcript .msg")).to_have_count(3)


@pytest.mark.browser
def test_visitor_html_is_shown_as_literal_text_in_the_console(web: Browsing) -> None:
    visitor, console, _ = connected_chat(web)
    payload = "<img src=x onerror=alert(1)> <b>hei</b>"
    visitor_send(visitor, payload)
    text = pane(console).locator(".msg-visitor .msg-text")
    expect(text).to_have_text(payload)
    assert pane(console).locator("img, b").count() == 0
    assert visitor.locator("#transcript img, #transcript b").count() == 0
    assert console.evaluate("() => document.querySelectorAll('img').length") == 0
    # the alias in the list and the transcript label are text too
    expect(console.locator("#conversation-list .conv-item")).to_contain_text("Gjest")
    assert not web.dialogs


@pytest.mark.browser
def test_reload_resumes_the_conversation_with_the_whole_transcript(web: Browsing) -> None:
    visitor, console, _ = connected_chat(web, language="nb", region="32")
    visitor_send(visitor, "Første melding")
    adviser_send(console, "Svar en")
    visitor_send(visitor, "Andre melding")
    adviser_send(console, "Svar to")
    said = visitor.locator("#transcript .msg-visitor .msg-text, #transcript .msg-adviser .msg-text")
    conversation = ["Første melding", "Svar en", "Andre melding", "Svar to"]
    expect(said).to_have_text(conversation)

    assert visitor.evaluate("() => localStorage.length") == 0
    assert visitor.evaluate("() => document.cookie") == ""
    stored = visitor.evaluate("() => Object.keys(sessionStorage)")
    # the resume token, and the browser session's random id that start sends (abuse blocks, issue 17)
    assert sorted(stored) == ["nora-chat.conversation", "nora-chat.session"]

    visitor.reload()
    # everything again, in order, from seq 1 (the transcript was only ever in memory)
    expect(said).to_have_text(conversation)
    expect(visitor.locator("#transcript .msg").first).to_contain_text("Nå chatter du med Amina")
    seqs = visitor.eval_on_selector_all("#transcript .msg", "nodes => nodes.map(n => Number(n.dataset.seq))")
    assert seqs == sorted(seqs) and seqs[0] == 1 and len(set(seqs)) == len(seqs)
    expect(visitor.locator("#chat-heading")).to_have_text("Du chatter med Amina")
    expect(visitor.locator("#setup")).to_be_hidden()

    # and the resumed chat still works both ways
    visitor_send(visitor, "Etter omlasting")
    expect(pane(console).locator(".msg-visitor", has_text="Etter omlasting")).to_be_visible()
    adviser_send(console, "Fint")
    expect(visitor.locator("#transcript .msg-adviser", has_text="Fint")).to_be_visible()


@pytest.mark.browser
def test_quick_exit_with_escape_twice_forgets_everything_and_the_adviser_sees_the_visitor_left(web: Browsing) -> None:
    visitor, console, alias = connected_chat(web)
    visitor_send(visitor, "Hjelp")
    history = visitor.evaluate("() => history.length")

    visitor.keyboard.press("Escape")
    visitor.keyboard.press("Escape")
    visitor.wait_for_url(NEUTRAL_URL)
    assert web.external == [NEUTRAL_URL]
    assert visitor.evaluate("() => history.length") == history  # replaced, not pushed

    # the adviser sees it at once
    item = console.locator("#pending-list .conv-item", has_text=alias)
    expect(item).to_contain_text("Besøkende forlot samtalen med rask utgang")
    notice = pane(console).locator(".msg-system[data-event=visitor_quick_exit]")
    expect(notice).to_contain_text("Besøkende forlot samtalen med rask utgang")
    expect(pane(console).locator(".closed-notice")).to_contain_text("Besøkende forlot samtalen med rask utgang.")
    expect(pane(console)).not_to_contain_text("Du avsluttet samtalen")  # not what the visitor would have read
    expect(console.locator("#conversation-list .conv-item")).to_have_count(0)

    # Back does not lead to the chat: its history entry was replaced
    visitor.go_back()
    assert not visitor.url.startswith(web.base + "/?") and visitor.url != web.base + "/"

    # back on the chat site in the same tab: nothing stored, nothing resumed
    visitor.goto(web.base + "/")
    assert visitor.evaluate("() => sessionStorage.length") == 0
    assert visitor.evaluate("() => localStorage.length") == 0
    expect(visitor.locator("#setup")).to_be_visible()
    expect(visitor.locator("#chat")).to_be_hidden()
    expect(visitor.locator("#transcript .msg")).to_have_count(0)


@pytest.mark.browser
def test_quick_exit_is_first_in_tab_order_and_also_works_by_click_and_shift_three_times(web: Browsing) -> None:
    page = web.page("/")
    expect(page.locator("#quick-exit")).to_be_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "quick-exit"

    start_chat(page, language="en", region="none")
    assert page.evaluate("() => sessionStorage.length") == 2  # the token and the browser session's id
    page.click("#quick-exit")
    page.wait_for_url(NEUTRAL_URL)

    page.goto(web.base + "/")
    assert page.evaluate("() => sessionStorage.length") == 0
    start_chat(page, language="en", region="none")
    page.locator("#message").press_sequentially("Hello")  # typing capitals uses Shift: must not exit
    page.keyboard.press("Shift+A")
    page.keyboard.press("Shift+B")
    page.keyboard.press("Shift+C")
    assert page.url.startswith(web.base)
    for _ in range(3):
        page.keyboard.press("Shift")
    page.wait_for_url(NEUTRAL_URL)
    assert web.external == [NEUTRAL_URL, NEUTRAL_URL]


@pytest.mark.browser
def test_registration_after_close_shows_field_errors_and_leaves_the_pending_list(web: Browsing) -> None:
    visitor, console, alias = connected_chat(web)
    visitor_send(visitor, "Jeg er redd for å bli giftet bort")
    adviser_send(console, "Takk for at du forteller. Jeg hjelper deg.")

    pane(console).get_by_role("button", name="Avslutt samtalen").click()
    pane(console).get_by_role("button", name="Ja, avslutt").click()
    expect(visitor.locator("#ended-reason")).to_have_text(
        "Rådgiveren har avsluttet samtalen. Takk for at du tok kontakt."
    )
    # a closed chat is not resumed: only the browser session's random id stays (abuse blocks, issue 17)
    assert visitor.evaluate("() => Object.keys(sessionStorage)") == ["nora-chat.session"]

    pending = console.locator("#pending-list .conv-item", has_text=alias)
    expect(pending).to_be_visible()
    form = pane(console).locator("form.registration")
    expect(form).to_be_visible()
    expect(form.get_by_text("Ikke skriv navn eller andre opplysninger")).to_be_visible()

    # a case without a main category: the server's field error appears next to the field
    form.get_by_label("Ja, en sak").check()
    form.get_by_role("button", name="Lagre registrering").click()
    main = form.get_by_label("Hovedkategori")
    expect(main).to_have_attribute("aria-invalid", "true")
    error = form.locator("[id$='-main_category-error']")
    expect(error).to_have_text("Velg en hovedkategori – en sak må ha det.")
    expect(form.locator("[role=alert]").first).to_contain_text("Registreringen er ikke lagret")
    expect(main).to_be_focused()
    expect(pending).to_be_visible()

    # violence forms only show for threats and violence
    expect(form.get_by_text("Former for vold")).to_be_hidden()
    main.select_option("threats_violence")
    expect(form.get_by_text("Former for vold")).to_be_visible()
    form.get_by_label("Psykisk").check()
    expect(error).to_be_hidden()
    form.get_by_label("Frykt for tvangsekteskap").check()
    form.get_by_label("Hvem tok kontakt?").select_option("self")
    form.get_by_label("Aldersgruppe").select_option("16_17")
    form.get_by_label("Råd og veiledning").check()
    form.get_by_label("Kort notat (valgfritt)").fill("Trenger oppfølging neste uke.")
    form.get_by_role("button", name="Lagre registrering").click()

    expect(pending).to_have_count(0)
    expect(console.locator("#pane-notice")).to_have_text(f"Registreringen av {alias} er lagret.")
    expect(console.locator("#no-pending")).to_be_visible()
    left = console.request.get(web.base + "/api/v1/registrations/pending").json()
    assert left == {"conversations": []}


@pytest.mark.browser
def test_inquiry_registration_hides_categories(web: Browsing) -> None:
    visitor, console, alias = connected_chat(web)
    visitor_send(visitor, "Bare et spørsmål")  # a chat the visitor never wrote in is not registered
    visitor.click("#leave-button")
    visitor.click("#leave-yes")
    expect(visitor.locator("#ended-reason")).to_contain_text("Du avsluttet samtalen")
    form = pane(console).locator("form.registration")
    expect(form).to_be_visible()
    form.get_by_label("Nei, en henvendelse").check()
    expect(form.get_by_label("Hovedkategori")).to_be_disabled()
    expect(form.get_by_text("En henvendelse registreres uten kategorier.")).to_be_visible()
    form.get_by_role("button", name="Lagre registrering").click()
    expect(console.locator("#pending-list .conv-item", has_text=alias)).to_have_count(0)


@pytest.mark.browser
def test_both_sides_reconnect_after_a_server_restart_and_resend_what_was_not_acknowledged(
    web: Browsing, live: LiveServer
) -> None:
    visitor, console, _ = connected_chat(web, language="nb", region="03")
    visitor_send(visitor, "Før omstart")
    expect(pane(console).locator(".msg-visitor", has_text="Før omstart")).to_be_visible()

    live.stop()
    expect(visitor.locator("#connection")).to_contain_text("Kobler til igjen")
    expect(console.locator("#connection")).to_have_attribute("data-state", "disconnected")
    # written while the server is away: pending, then sent once the socket is back
    visitor.fill("#message", "Skrevet mens serveren var borte")
    visitor.press("#message", "Enter")
    waiting = visitor.locator("#transcript .msg-visitor", has_text="Skrevet mens serveren var borte")
    expect(waiting).to_have_attribute("data-state", "pending")

    restart(live)
    expect(waiting).to_have_attribute("data-state", "sent", timeout=20_000)
    expect(console.locator("#connection")).to_have_attribute("data-state", "connected", timeout=20_000)
    expect(pane(console).locator(".msg-visitor", has_text="Skrevet mens serveren var borte")).to_be_visible(
        timeout=10_000
    )
    # no duplicates anywhere
    expect(visitor.locator("#transcript .msg-visitor")).to_have_count(2)
    expect(pane(console).locator(".msg-visitor")).to_have_count(2)
    adviser_send(console, "Velkommen tilbake")
    expect(visitor.locator("#transcript .msg-adviser", has_text="Velkommen tilbake")).to_be_visible()


@pytest.mark.browser
def test_transfer_to_the_ambulating_team_moves_the_chat_with_its_note(web: Browsing) -> None:
    visitor, amina, alias = connected_chat(web, language="nb", region="03", audience="staff")
    visitor_send(visitor, "Jeg er lærer og trenger råd")
    jonas = web.page("/console")
    log_in(jonas, "jonas")
    go_available(jonas)

    transfer = pane(amina).locator("details.transfer")
    transfer.locator("summary").click()
    transfer.get_by_label("Ambulerende team (AT)").check()
    transfer.get_by_label("Notat til neste rådgiver (valgfritt)").fill("Skolen trenger veiledning")
    transfer.get_by_role("button", name="Overfør samtalen").click()

    expect(amina.locator("#conversation-list .conv-item")).to_have_count(0)
    expect(amina.locator("#pane-notice")).to_have_text(f"{alias} ble overført.")
    item = jonas.locator("#conversation-list .conv-item", has_text=alias)
    expect(item).to_be_visible()
    expect(pane(jonas).locator(".transfer-note")).to_have_text("Notat fra forrige rådgiver: Skolen trenger veiledning")
    expect(pane(jonas).locator(".conv-title")).to_contain_text("Overført")
    expect(pane(jonas).locator(".msg-visitor", has_text="Jeg er lærer og trenger råd")).to_be_visible()
    expect(visitor.locator("#chat-heading")).to_have_text("Du chatter med Jonas")
    expect(visitor.locator("#chat-status")).to_contain_text("ambulerende team")
    adviser_send(jonas, "Hei, dette er Jonas fra ambulerende team.")
    expect(visitor.locator("#transcript .msg-adviser", has_text="Jonas fra ambulerende team")).to_be_visible()


@pytest.mark.browser
def test_outside_opening_hours_the_widget_says_so_and_shows_the_help_lines(
    browser: Browser, servers: Callable[..., LiveServer]
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Europe/Oslo")).date().isoformat()
    server = servers(NORA_CLOSED_DATES=today)
    web = Browsing(browser, server.base)
    try:
        page = web.page("/")
        # said at the top, before the form, with the next opening and the help lines; Start disabled
        banner = page.locator("#closed-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Chatten er stengt nå.")
        expect(banner).to_contain_text("Den åpner igjen i morgen klokka")
        help_lines = page.locator("#closed-help")
        expect(help_lines).to_contain_text("112")
        expect(help_lines).to_contain_text("116 111")
        expect(help_lines).to_contain_text("hverdager 9–16")  # the hours in the page's language
        banner_top = banner.bounding_box()
        form_top = page.locator("#setup").bounding_box()
        assert banner_top and form_top and banner_top["y"] < form_top["y"]
        expect(page.locator("#start-button")).to_be_disabled()
        expect(page.locator("#start-closed-hint")).to_be_visible()
        assert page.evaluate("() => sessionStorage.length") == 0
        assert not web.page_errors
    finally:
        web.close()


@pytest.mark.browser
def test_logout_asks_first_while_chats_are_open_and_ends_the_session(web: Browsing) -> None:
    visitor, console, alias = connected_chat(web)
    logout = console.get_by_role("button", name="Logg ut")
    logout.click()
    expect(console.locator("#logout-button")).to_have_text("Du har 1 aktive samtaler. Klikk igjen for å logge ut")
    expect(console.locator("#app-view")).to_be_visible()
    console.locator("#logout-button").click()
    expect(console.locator("#login-view")).to_be_visible()
    expect(console.locator("#app-view")).to_be_hidden()
    assert console.request.get(web.base + "/api/v1/me").status == 401
    assert console.evaluate("() => document.body.textContent").count(alias) == 0  # nothing left on screen
    expect(console.get_by_label("Brukernavn")).to_be_focused()


@pytest.mark.browser
def test_messages_faster_than_the_rate_limit_all_arrive_once_and_in_order(web: Browsing) -> None:
    visitor, console, _ = connected_chat(web, language="nb", region="03")
    texts = [f"Melding {n}" for n in range(1, 19)]  # above the burst of 10 at 5 per second
    for text in texts:
        visitor.fill("#message", text)
        visitor.press("#message", "Enter")
    mine = visitor.locator("#transcript .msg-visitor")
    expect(mine).to_have_count(len(texts))
    expect(visitor.locator("#transcript .msg-visitor[data-state=sent]")).to_have_count(len(texts), timeout=15_000)
    expect(mine.locator(".msg-text")).to_have_text(texts)
    expect(pane(console).locator(".msg-visitor .msg-text")).to_have_text(texts, timeout=10_000)


@pytest.mark.browser
def test_an_adviser_typing_faster_than_the_rate_limit_is_read_in_order(web: Browsing) -> None:
    visitor, console, _ = connected_chat(web, language="nb", region="03")
    texts = [f"Svar {n}" for n in range(1, 19)]  # above the burst of 10 at 5 per second
    box = console.locator(".conversation:not([hidden]) textarea[id^=compose-]")
    for text in texts:
        box.fill(text)
        box.press("Enter")
    sent = pane(console).locator(".msg-adviser:not(.msg-pending) .msg-text")
    expect(sent).to_have_text(texts, timeout=15_000)
    expect(visitor.locator("#transcript .msg-adviser .msg-text")).to_have_text(texts, timeout=10_000)
