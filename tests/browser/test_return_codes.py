"""Return codes and messages left in the widget and the agent console (issue 19), in Debian's Chromium,
in Norwegian and in Arabic (right to left):

- a visitor takes a code at the end of a chat (shown once, in no storage), quick-exits (the code is gone
  from the page and never shown again), comes back with it, reads the earlier conversation and chats
  again with the same adviser, who sees the earlier conversation in the console;
- while the chat is closed a visitor leaves a message and gets a code; an adviser answers it in the
  console's "Left messages"; the visitor reads the answer with the code and withdraws the code.

axe-core reports no critical or serious violation in any new state; screenshots of the new states go to
NORA_SCREENSHOTS (1280×800 and 390×844).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.browser.conftest import PHONE, Browsing, axe, go_available, log_in, screenshot, visitor_send
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

DESKTOP_800 = ViewportSize(width=1280, height=800)
TEXTS = {
    "nb": ("Jeg får ikke lov til å gå på trening.", "Kan noen skrive til meg i morgen etter skolen?"),
    "ar": ("لا يُسمح لي بالذهاب إلى التدريب.", "هل يمكن لأحد أن يكتب لي غدًا بعد المدرسة؟"),
}
ANSWER = "Hei! Skriv her i chatten i morgen etter klokka 14, så snakkes vi."


def stored(page: Page) -> str:
    """Everything the page keeps in the browser's storage, as one string."""
    return str(page.evaluate("() => JSON.stringify([{...localStorage}, {...sessionStorage}, document.cookie])"))


def shots(page: Page, name: str) -> None:
    """The state at 1280×800 and on a 390×844 phone (the element itself scrolled into view)."""
    for viewport, size in ((DESKTOP_800, "1280x800"), (PHONE, "390x844")):
        page.set_viewport_size(viewport)
        screenshot(page, f"{name}-{size}", full_page=False)
    page.set_viewport_size(DESKTOP_800)


def come_back(page: Page, code: str) -> None:
    page.click("#return-open")
    expect(page.locator("#return-code")).to_be_focused()
    page.fill("#return-code", code)
    page.click("#return-submit")
    expect(page.locator("#thread")).to_be_visible()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("lang", ["nb", "ar"])
def test_a_code_taken_at_the_end_brings_the_visitor_back_to_the_same_adviser(web: Browsing, lang: str) -> None:
    said = TEXTS[lang][0]
    console = web.page("/console")
    log_in(console, "amina")
    go_available(console)
    visitor = web.page(f"/?lang={lang}", viewport=DESKTOP_800)
    problems: dict[str, list[str]] = {}

    visitor.select_option("#language", lang)
    visitor.select_option("#region", "03")
    visitor.select_option("#audience", "youth")
    visitor.click("#start-button")
    expect(visitor.locator("#chat-heading")).to_contain_text("Amina")
    visitor_send(visitor, said)
    visitor.click("#leave-button")
    visitor.click("#leave-yes")

    # The end: the offer, then the code once, with its warning and a copy button
    offer = visitor.locator("#return-offer")
    expect(offer).to_be_visible()
    # What happens now agrees with the offer beside it: another adviser only without a code.
    expect(visitor.locator("#ended-next")).to_contain_text("Uten returkode" if lang == "nb" else "بدون رمز العودة")
    problems["ended with offer"] = axe(visitor)
    visitor.click("#return-take")
    box = visitor.locator("#return-code-slot .code-box")
    expect(box).to_be_visible()
    expect(box).to_be_focused()
    expect(visitor.locator("#return-take")).to_be_hidden()  # one code per end
    code = visitor.locator("#return-code-slot .code-value").inner_text()
    words = code.split()
    assert len(words) == 5 if lang == "nb" else re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code), code
    expect(box.locator(".code-warning")).to_have_text(
        "Skriv ned koden nå, eller ta vare på den et trygt sted. Den vises bare denne ene gangen, og vi kan "
        "ikke vise den eller sende den til deg igjen."
        if lang == "nb"
        else "يرجى كتابة الرمز الآن أو حفظه في مكان آمن. يظهر الرمز مرة واحدة فقط، ولا يمكن عرضه أو إرساله مرة أخرى."
    )
    expect(box.locator(".code-value")).to_have_attribute("dir", "ltr")
    assert visitor.evaluate("() => document.documentElement.dir") == ("rtl" if lang == "ar" else "ltr")
    box.locator(".code-copy").click()
    expect(box.locator(".code-copy-status")).not_to_be_empty()
    assert code not in stored(visitor)
    problems["code shown"] = axe(visitor)
    shots(visitor, f"{lang}-return-code-taken")

    # Quick exit: the code leaves the page with everything else and never comes back
    visitor.click("#quick-exit")
    visitor.wait_for_url(re.compile(r"google\.com"))
    visitor.goto(f"/?lang={lang}")
    expect(visitor.locator("#setup")).to_be_visible()
    assert code not in visitor.content() and code not in stored(visitor)

    # Back with the code, typed in capitals with hyphens: the earlier conversation, then the same adviser
    come_back(visitor, "-".join(code.upper().split()))
    thread = visitor.locator("#thread")
    expect(thread.locator(".thread-item")).to_have_count(1)
    expect(thread.locator(".msg-visitor .msg-text")).to_have_text(said)
    expect(visitor.locator("#thread-adviser")).to_contain_text("Amina")
    expect(visitor.locator("#thread-start")).to_be_enabled()
    assert code not in visitor.content()  # the field is emptied once the code has opened the thread
    problems["thread"] = axe(visitor)
    shots(visitor, f"{lang}-return-thread")
    visitor.click("#thread-start")
    expect(visitor.locator("#chat")).to_be_visible()
    expect(visitor.locator("#chat-heading")).to_contain_text("Amina")
    expect(visitor.locator("#chat")).to_have_attribute("dir", "rtl" if lang == "ar" else "ltr")
    visitor_send(visitor, "Hei igjen")

    # Amina's console: the new conversation with its earlier one
    console.locator("#conversation-list .conv-item").click()
    pane = console.locator(".conversation:not([hidden])")
    expect(pane.locator(".msg-visitor .msg-text", has_text="Hei igjen")).to_be_visible()
    panel = pane.locator(".thread-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("summary")).to_have_text("Tidligere samtaler (1)")
    expect(panel.locator(".msg-visitor .msg-text")).to_be_hidden()  # closed at first: one line
    panel.locator("summary").click()
    expect(panel.locator(".msg-visitor .msg-text")).to_have_text(said)
    problems["console thread"] = axe(console)
    screenshot(console, f"{lang}-console-earlier-conversations", full_page=False)
    assert problems == {state: [] for state in problems}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("lang", ["nb", "ar"])
def test_a_message_left_while_closed_is_answered_in_the_console_and_read_with_the_code(
    browser: Browser, servers: Callable[..., LiveServer], lang: str
) -> None:
    said = TEXTS[lang][1]
    today = datetime.now(ZoneInfo("Europe/Oslo")).date().isoformat()
    server = servers(NORA_CLOSED_DATES=today)
    web = Browsing(browser, server.base)
    problems: dict[str, list[str]] = {}
    try:
        visitor = web.page(f"/?lang={lang}", viewport=DESKTOP_800)
        expect(visitor.locator("#closed-banner")).to_be_visible()
        offer = visitor.locator("#leave-message-open")
        expect(offer).to_be_visible()
        problems["closed with offer"] = axe(visitor)
        visitor.select_option("#language", lang)
        visitor.select_option("#region", "03")
        visitor.select_option("#audience", "youth")
        offer.click()
        expect(visitor.locator("#leave-message-text")).to_be_focused()
        visitor.click("#leave-message-send")  # nothing written: said, and nothing sent
        expect(visitor.locator("#leave-message-error")).to_be_visible()
        problems["leave form"] = axe(visitor)
        shots(visitor, f"{lang}-leave-message-form")
        visitor.fill("#leave-message-text", said)
        visitor.click("#leave-message-send")
        expect(visitor.locator("#leave-message-sent")).to_be_visible()
        code = visitor.locator("#leave-code-slot .code-value").inner_text()
        assert code and code not in stored(visitor)
        problems["message left, code shown"] = axe(visitor)
        shots(visitor, f"{lang}-leave-message-code")

        # The supervisor sees that a message waits, and for how long, without its text
        supervisor = web.page("/supervisor")
        log_in(supervisor, "sara")
        left_row = supervisor.locator("#left-table tbody tr")
        expect(left_row).to_have_count(1)
        expect(left_row.locator("td").first).to_have_text("Oslo")
        assert said not in supervisor.content()
        supervisor.close()

        # The adviser (the chat is closed; the answer waits for the visitor)
        console = web.page("/console")
        log_in(console, "amina")
        item = console.locator("#left-list .left-item")
        expect(item).to_have_count(1)
        expect(item.locator(".left-text .msg-text")).to_have_text(said)
        problems["console left messages"] = axe(console)
        screenshot(console, f"{lang}-console-left-messages", full_page=False)
        item.locator("textarea").fill(ANSWER)
        item.get_by_role("button").click()
        expect(console.locator("#left-list .left-item")).to_have_count(0)
        expect(console.locator("#no-left")).to_be_visible()

        # The visitor reads the answer with the code (a new visit), then withdraws the code
        visitor.click("#leave-message-back")
        expect(visitor.locator("#setup")).to_be_visible()
        assert code not in visitor.content()
        come_back(visitor, code)
        thread = visitor.locator("#thread")
        expect(thread.locator(".msg-visitor .msg-text")).to_have_text(said)
        expect(thread.locator(".msg-adviser .msg-text")).to_have_text(ANSWER)
        expect(visitor.locator("#thread-start")).to_be_hidden()  # closed: no live chat offered
        expect(visitor.locator("#thread-closed")).to_be_visible()
        problems["answer read"] = axe(visitor)
        shots(visitor, f"{lang}-return-answer")
        visitor.click("#thread-withdraw")
        expect(visitor.locator("#withdraw-yes")).to_be_focused()
        problems["withdraw confirm"] = axe(visitor)
        visitor.click("#withdraw-yes")
        expect(visitor.locator("#return-error")).to_have_text(
            "Koden er trukket tilbake og virker ikke lenger." if lang == "nb" else "تم سحب الرمز ولم يعد يعمل."
        )
        expect(thread).to_be_hidden()
        # the same code now gets the answer a wrong one gets
        visitor.fill("#return-code", code)
        visitor.click("#return-submit")
        expect(visitor.locator("#return-error")).to_have_text(
            "Denne koden virker ikke. Den kan være skrevet feil, utløpt eller trukket tilbake."
            if lang == "nb"
            else "هذا الرمز لا يعمل. ربما كُتب بشكل خاطئ أو انتهت صلاحيته أو تم سحبه."
        )
        problems["wrong code"] = axe(visitor)
        assert not web.page_errors, web.page_errors
    finally:
        web.close()
    assert problems == {state: [] for state in problems}


@pytest.mark.timeout(120)
def test_while_open_with_nobody_in_the_language_signed_in_a_message_can_be_left(web: Browsing) -> None:
    """Open, but no adviser signed in: the start form offers both, and a message left gets a code."""
    visitor = web.page("/?lang=ar", viewport=PHONE)
    expect(visitor.locator("#closed-banner")).to_be_hidden()
    expect(visitor.locator("#start-button")).to_be_enabled()
    offer = visitor.locator("#leave-message-open")
    expect(offer).to_be_visible()
    visitor.select_option("#language", "ar")
    offer.click()  # no county or audience chosen yet: said at the field, as for Start
    expect(visitor.locator("#region-error")).to_be_visible()
    expect(visitor.locator("#region")).to_be_focused()
    visitor.select_option("#region", "03")
    visitor.select_option("#audience", "youth")
    offer.click()
    visitor.fill("#leave-message-text", TEXTS["ar"][1])
    visitor.click("#leave-message-send")
    expect(visitor.locator("#leave-code-slot .code-value")).to_have_text(re.compile(r"^\d{4} \d{4} \d{4} \d{4}$"))
    box = visitor.locator("#leave-code-slot .code-value").bounding_box()
    assert box and box["height"] < 60, f"the code wraps on a phone: {box}"
    # An adviser who chats in Arabic signs in: the offer goes with the next status refresh
    console = web.page("/console")
    log_in(console, "amina")
    go_available(console)
    visitor.click("#leave-message-back")
    visitor.select_option("#region", "32")  # a change of choice asks for the status again
    expect(offer).to_be_hidden()
