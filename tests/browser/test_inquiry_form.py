"""Registering an inquiry that did not come through the chat, from the console, by keyboard alone: a
phone call that opens a case, then a meeting that joins it; and an IR adviser's console, which has no
chat at all."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Page, expect

from admin.accounts import Accounts, NewUser
from admin.passwords import Passwords
from core.db import Database
from core.reference import load_reference
from tests.browser.conftest import PHONE, Browsing, _in_thread, audit, axe, log_in, screenshot
from tests.conftest import PASSWORD, LiveServer

pytestmark = pytest.mark.browser
SECONDS_PER_KEY = 0.5


class Keys:
    """The keyboard, counting every key pressed."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.count = 0

    def press(self, key: str, times: int = 1) -> None:
        for _ in range(times):
            self.page.keyboard.press(key)
            self.count += 1

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.count += len(text)

    def tab_to(self, selector: str, limit: int = 60) -> None:
        """Tab forward until the element matching ``selector`` has the focus."""
        for _ in range(limit):
            if self.page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
                return
            self.press("Tab")
        raise AssertionError(f"{selector} not reached with {limit} presses of Tab")


def registrations(server: LiveServer, username: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=server.base) as http:
        assert http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).status_code == 200
        rows: list[dict[str, Any]] = http.get("/api/v1/registrations").json()["registrations"]
        return rows


def registration_with(server: LiveServer, username: str, *, channel: str, seconds: float = 10.0) -> dict[str, Any]:
    """The user's registration through ``channel``, once it is stored (fails after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        found = [r for r in registrations(server, username) if r["channel"] == channel]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {channel} registration stored"
        time.sleep(0.1)


def test_a_phone_call_is_registered_by_keyboard_in_under_a_minute(web: Browsing, live: LiveServer) -> None:
    console = web.page("/console")
    log_in(console, "amina")
    keys = Keys(console)
    started = time.monotonic()
    console.locator("#new-inquiry").focus()
    keys.press("Enter")
    form = console.locator("form.inquiry-form")
    expect(form.get_by_role("heading", name="Registrer en henvendelse")).to_be_visible()
    # The first question, as after a chat: is this a case? The focus is on it already.
    expect(console.locator("#reg-inquiry-is_case-yes")).to_be_focused()
    keys.press("Space")
    keys.press("Tab")  # into the channels: the first, phone, takes the focus
    expect(console.locator("#reg-inquiry-channel-phone")).to_be_focused()
    keys.press("Space")
    # Today's date and Oslo (Amina covers two counties: none is chosen for her), Norwegian preselected.
    expect(console.locator("#reg-inquiry-contact_date")).to_have_value(
        datetime.now(ZoneInfo("Europe/Oslo")).date().isoformat()
    )
    keys.tab_to("#reg-inquiry-region")
    keys.type("Oslo")
    keys.tab_to("#reg-inquiry-audience")
    keys.type("ansatt")
    keys.tab_to("#reg-inquiry-main_category")
    keys.type("tvangsek")
    expect(console.locator("#reg-inquiry-main_category")).to_have_value("forced_marriage")
    keys.tab_to("#reg-inquiry-contact")
    keys.type("ansatt")
    keys.tab_to("#reg-inquiry-actions-advice_given")
    keys.press("Space")
    keys.tab_to("#reg-inquiry-case_ref")
    keys.type("OSL-14")
    keys.tab_to("form.inquiry-form button[type=submit]")
    keys.press("Enter")
    notice = console.locator("#pane-notice")
    expect(notice).to_have_text("Henvendelsen er lagret i saken OSL-14.")
    expect(notice).to_be_focused()
    elapsed = time.monotonic() - started
    # Under a minute for a person too: at a slow two keys a second, Tab and typing included.
    assert elapsed < 60 and keys.count * SECONDS_PER_KEY < 60, (elapsed, keys.count)

    (saved,) = registrations(live, "amina")
    assert (saved["channel"], saved["region"], saved["audience"], saved["language"]) == ("phone", "03", "staff", "nb")
    assert (saved["is_case"], saved["main_category"], saved["contact"], saved["actions"]) == (
        True,
        "forced_marriage",
        "staff",
        ["advice_given"],
    )
    assert saved["case_id"]

    # A meeting the next week joins the same case: found again by the reference typed into the search.
    console.locator("#new-inquiry").focus()
    keys.press("Enter")
    keys.press("Space")
    keys.press("Tab")
    keys.press("ArrowRight")  # phone → meeting
    expect(console.locator("#reg-inquiry-channel-meeting")).to_be_checked()
    keys.tab_to("#reg-inquiry-audience")
    keys.type("ansatt")
    keys.tab_to("#reg-inquiry-main_category")
    keys.type("tvangsek")
    keys.tab_to("#reg-inquiry-case_search")
    keys.type("osl")
    case_select = console.locator("#reg-inquiry-case_id")
    expect(case_select.locator("option")).to_have_count(2)
    expect(case_select.locator("option").nth(1)).to_contain_text("OSL-14")
    keys.press("Tab")
    keys.press("ArrowDown")
    expect(case_select).to_have_value(saved["case_id"])
    expect(console.locator("#reg-inquiry-case_ref")).to_be_hidden()  # a case joined keeps its reference
    problems = audit(console)
    assert not problems, problems
    screenshot(console, "console-inquiry-form")
    keys.tab_to("form.inquiry-form button[type=submit]")
    keys.press("Enter")
    expect(console.locator("#pane-notice")).to_have_text("Henvendelsen er lagret i saken OSL-14.")
    # The first save left the same notice on the page, so it can pass before this save has landed.
    meeting = registration_with(live, "amina", channel="meeting")
    assert meeting["case_id"] == saved["case_id"]


def test_errors_are_shown_by_their_fields(web: Browsing) -> None:
    console = web.page("/console")
    log_in(console, "amina")
    console.locator("#new-inquiry").click()
    console.locator("#reg-inquiry-is_case-no").check()
    console.locator("form.inquiry-form button[type=submit]").click()
    # No channel, no audience: both named, the focus on the first.
    expect(console.locator("#reg-inquiry-channel-error")).to_have_text("Dette feltet må fylles ut.")
    expect(console.locator("#reg-inquiry-audience-error")).to_have_text("Dette feltet må fylles ut.")
    expect(console.locator("#reg-inquiry-channel-phone")).to_be_focused()
    expect(console.locator("#reg-inquiry-audience")).to_have_attribute("aria-invalid", "true")


def add_ir_adviser(server: LiveServer) -> None:
    async def add() -> str:
        db = Database.from_url(server.database_url)
        try:
            async with db.session() as session:
                ref = await load_reference(session)
            await Accounts(db, Passwords()).create(
                NewUser(
                    "ingrid", "Ingrid", frozenset({"adviser"}), PASSWORD, "IR", frozenset({"03"}), frozenset({"nb"})
                ),
                regions=ref.codes("regions"),
                languages=ref.codes("languages"),
            )
        finally:
            await db.dispose()
        return "ok"

    _in_thread(lambda: asyncio.run(add()))


def test_an_ir_adviser_has_no_chat_and_registers_inquiries(web: Browsing, live: LiveServer) -> None:
    add_ir_adviser(live)
    console = web.page("/console")
    console.fill("#username", "ingrid")
    console.fill("#password", PASSWORD)
    console.click("#login-button")
    expect(console.locator("#no-chat-notice")).to_be_visible()
    expect(console.locator("#status-available")).to_be_hidden()
    console.locator("#new-inquiry").click()
    console.locator("#reg-inquiry-is_case-yes").check()
    console.locator("#reg-inquiry-channel-video").check()
    # Her one county is preselected.
    expect(console.locator("#reg-inquiry-region")).to_have_value("03")
    console.select_option("#reg-inquiry-audience", "introduction_programme")
    console.select_option("#reg-inquiry-main_category", "negative_social_control")
    console.locator("form.inquiry-form button[type=submit]").click()
    expect(console.locator("#pane-notice")).to_have_text("Henvendelsen er lagret.")
    (saved,) = registrations(live, "ingrid")
    assert (saved["service"], saved["channel"], saved["case_id"] is not None) == ("IR", "video", True)


def test_the_services_own_category_is_offered_beside_the_common_ones(web: Browsing, live: LiveServer) -> None:
    """An administrator's category for MR alone: Amina (MR) can tick it among the other categories and
    it is stored; it is not offered as the main category (the published statistics count that)."""
    with httpx.Client(base_url=live.base) as http:
        login = http.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}).json()
        own = {"code": "mr_school_meeting", "name": {"nb": "Møte med skolen", "en": "Meeting"}, "service": "MR"}
        made = http.post(
            "/api/v1/reference/categories",
            json=own,
            headers={"X-CSRF-Token": login["csrf_token"], "Origin": live.base},
        )
        assert made.status_code == 201, made.text
    console = web.page("/console")
    log_in(console, "amina")
    console.locator("#new-inquiry").click()
    console.locator("#reg-inquiry-is_case-yes").check()
    console.locator("#reg-inquiry-channel-phone").check()
    console.select_option("#reg-inquiry-audience", "youth")
    console.select_option("#reg-inquiry-main_category", "negative_social_control")
    expect(console.locator("#reg-inquiry-main_category option[value=mr_school_meeting]")).to_have_count(0)
    own = console.get_by_role("checkbox", name="Møte med skolen")
    expect(own).to_be_visible()
    own.check()
    assert axe(console) == [] and audit(console) == []
    screenshot(console, "console-own-category")
    console.locator("form.inquiry-form button[type=submit]").click()
    expect(console.locator("#pane-notice")).to_have_text("Henvendelsen er lagret.")
    (saved,) = registrations(live, "amina")
    assert saved["other_categories"] == ["mr_school_meeting"]

    # On a phone, in English: the same box, labelled in the page's language.
    phone = web.page("/console", viewport=PHONE)
    log_in(phone, "amina")
    phone.get_by_role("button", name="English").click()
    phone.locator("#new-inquiry").click()
    expect(phone.get_by_role("checkbox", name="Meeting")).to_be_visible()
    expect(phone.locator("#connection")).to_have_text("Connected")  # the status line follows the language too
    assert axe(phone) == []
    screenshot(phone, "console-own-category-phone-en")
