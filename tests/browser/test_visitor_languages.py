"""The visitor page in each of the 17 chat languages, in Debian's Chromium: language and direction, no
text missing, a conversation from start to end, and axe-core with no critical or serious violation in
any state (setup, waiting, chatting, ended, closed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from chat.catalogue import catalogue
from tests.browser.conftest import PHONE, Browsing, axe, go_available, log_in, screenshot
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

REFERENCE = json.loads((Path(__file__).resolve().parents[2] / "core" / "reference.json").read_text("utf-8"))
LANGUAGES = [entry["code"] for entry in REFERENCE["languages"]]
RTL = {entry["code"] for entry in REFERENCE["languages"] if entry.get("rtl")}
DESKTOP_800 = ViewportSize(width=1280, height=800)
SHOTS = {"nb", "ar", "so"}  # looked at by a person: docs/visitor-languages.md


def page_problems(page: Page, code: str) -> list[str]:
    """What a reader of ``code`` would notice: wrong lang or dir, a text missing or in another language."""
    problems = []
    lang, direction = page.evaluate("() => [document.documentElement.lang, document.documentElement.dir]")
    if (lang, direction) != (code, "rtl" if code in RTL else "ltr"):
        problems.append(f"html lang={lang} dir={direction}")
    body = page.evaluate("() => document.body.innerText")
    if "⟦" in body or "[en] " in body:
        problems.append("a text is missing from the catalogue or falls back to English")
    missing = page.evaluate("() => JSON.parse(document.getElementById('nora-texts').textContent).missing")
    if missing:
        problems.append(f"missing keys: {missing}")
    return problems


def away(console: Page) -> None:
    console.click("#status-away")
    expect(console.locator("#status-away")).to_have_attribute("aria-pressed", "true")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("code", LANGUAGES)
def test_the_page_in_every_language_from_start_to_end(web: Browsing, code: str) -> None:
    problems: dict[str, list[str]] = {}
    shots = code in SHOTS

    # A phone first: language and direction, Start reachable without scrolling, no violation.
    phone = web.page(f"/?lang={code}", viewport=PHONE)
    expect(phone.locator("#status")).to_have_class("status-box status-waiting")
    problems["phone setup"] = page_problems(phone, code) + axe(phone)
    start = phone.locator("#start-button").bounding_box()
    assert start and start["y"] + start["height"] <= PHONE["height"], f"Start ends at {start} on a phone"
    if shots:
        screenshot(phone, f"{code}-setup-390x844", full_page=False)

    visitor = web.page(f"/?lang={code}", viewport=DESKTOP_800)
    expect(visitor.locator("#status")).to_have_class("status-box status-waiting")
    problems["setup"] = page_problems(visitor, code) + axe(visitor)
    # the quick exit never covers the language picker
    exit_box, picker = visitor.locator("#quick-exit").bounding_box(), visitor.locator("#ui-lang").bounding_box()
    assert exit_box and picker
    apart = exit_box["x"] >= picker["x"] + picker["width"] or picker["x"] >= exit_box["x"] + exit_box["width"]
    assert apart, f"quick exit {exit_box} covers the language picker {picker}"
    if shots:
        screenshot(visitor, f"{code}-setup-1280x800", full_page=False)
    visitor.locator("#privacy summary").click()
    expect(visitor.locator(".privacy-body")).to_be_visible()
    problems["privacy"] = axe(visitor)
    if shots:
        screenshot(visitor, f"{code}-privacy-1280x800", full_page=False)
    visitor.locator("#privacy summary").click()

    # Waiting: nobody available yet. A Norwegian chat, so that Amina (ar, nb, en) can take it.
    console = web.page("/console")
    log_in(console, "amina")
    visitor.select_option("#language", "nb")
    visitor.select_option("#region", "03")
    visitor.click("#start-button")
    queue_place = catalogue().text(code, "queue_position", n=1)
    expect(visitor.locator("#chat-status")).to_contain_text(queue_place, timeout=10_000)
    problems["waiting"] = page_problems(visitor, code) + axe(visitor)

    # Chatting.
    go_available(console)
    expect(visitor.locator("#chat-heading")).to_contain_text("Amina")
    system = visitor.locator("#transcript .msg-system[data-event=assigned]")
    expect(system).to_contain_text("Amina")
    assert system.locator("svg.msg-icon").count() == 1  # an icon every font can draw
    visitor.fill("#message", "Hei")
    visitor.press("#message", "Enter")
    expect(visitor.locator("#transcript .msg-visitor[data-state=sent]")).to_have_count(1)
    console.locator(".conversation:not([hidden]) textarea[id^=compose-]").fill("Hei, jeg heter Amina.")
    console.locator(".conversation:not([hidden]) textarea[id^=compose-]").press("Enter")
    expect(visitor.locator("#transcript .msg-adviser")).to_be_visible()
    problems["chatting"] = page_problems(visitor, code) + axe(visitor)
    if shots:
        screenshot(visitor, f"{code}-chat-1280x800", full_page=False)
        visitor.set_viewport_size(PHONE)
        problems["chatting on a phone"] = axe(visitor)
        screenshot(visitor, f"{code}-chat-390x844", full_page=False)
        visitor.set_viewport_size(DESKTOP_800)

    # Ended: what happens now, the question, and where else to turn.
    visitor.click("#leave-button")
    visitor.click("#leave-yes")
    expect(visitor.locator("#ended")).to_be_visible()
    expect(visitor.locator("#ended-next")).to_contain_text("72")
    problems["ended"] = page_problems(visitor, code) + axe(visitor)
    visitor.click("#feedback-yes")
    expect(visitor.locator("#feedback-thanks")).to_be_visible()
    expect(visitor.locator("#feedback-thanks")).to_be_focused()
    expect(visitor.locator("#feedback-buttons")).to_be_hidden()
    if shots:
        screenshot(visitor, f"{code}-ended-1280x800", full_page=False)
        visitor.set_viewport_size(PHONE)
        visitor.locator("#ended").scroll_into_view_if_needed()
        screenshot(visitor, f"{code}-ended-390x844", full_page=False)
    away(console)

    assert problems == {state: [] for state in problems}


@pytest.mark.timeout(300)
def test_closed_in_every_language(browser: Browser, servers: Callable[..., LiveServer]) -> None:
    today = datetime.now(ZoneInfo("Europe/Oslo")).date().isoformat()
    server = servers(NORA_CLOSED_DATES=today)
    web = Browsing(browser, server.base)
    problems: dict[str, list[str]] = {}
    try:
        for code in LANGUAGES:
            # One page per language, looked at as a desktop and then as a phone (the layout follows the
            # width): half the page loads and axe-core injections of a page per size.
            page = web.page(f"/?lang={code}", viewport=DESKTOP_800)
            for viewport, size in ((DESKTOP_800, "1280x800"), (PHONE, "390x844")):
                page.set_viewport_size(viewport)
                expect(page.locator("#closed-banner")).to_be_visible()
                expect(page.locator("#closed-help .help-line")).to_have_count(len(REFERENCE["help_lines"]))
                expect(page.locator("#start-button")).to_be_disabled()
                problems[f"{code} {size}"] = page_problems(page, code) + axe(page)
                if code in SHOTS:
                    screenshot(page, f"{code}-closed-{size}", full_page=False)
            page.context.close()
        assert not web.page_errors, web.page_errors
    finally:
        web.close()
    assert problems == {state: [] for state in problems}


def test_choosing_a_chat_language_offers_the_page_in_it(web: Browsing) -> None:
    page = web.page("/")
    offer = page.locator("#switch-offer")
    expect(offer).to_be_hidden()
    page.select_option("#language", "ar")
    expect(offer).to_be_visible()
    expect(offer).to_have_attribute("lang", "ar")
    expect(offer).to_have_attribute("dir", "rtl")
    expect(offer).to_contain_text("هل تريد عرض هذه الصفحة باللغة العربية؟")
    offer.get_by_role("button").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.locator("#start-button")).to_have_text("ابدأ المحادثة")
    expect(offer).to_be_hidden()
    expect(page.locator("#language")).to_have_value("ar")  # the choice is kept
    assert page.url.endswith("?lang=ar")
    # the layout is mirrored, not only the text: the help panel is on the right, the form on the left
    help_box, card = page.locator(".help-panel").bounding_box(), page.locator(".chat-card").bounding_box()
    assert help_box and card and help_box["x"] > card["x"]
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "ar")


def test_the_browser_language_chooses_the_page(browser: Browser, live: LiveServer) -> None:
    context = browser.new_context(locale="so-SO")
    try:
        page = context.new_page()
        page.goto(live.base + "/")
        expect(page.locator("html")).to_have_attribute("lang", "so")
        expect(page.locator("#start-button")).to_have_text("Bilow sheekada")
        expect(page.locator("#ui-lang")).to_have_value("so")
    finally:
        context.close()
