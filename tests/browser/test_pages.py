"""Language switch, an accessibility audit and screenshots of every page at desktop and phone width."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    Browsing,
    audit,
    connected_chat,
    log_in,
    screenshot,
    start_chat,
    visitor_send,
)

pytestmark = pytest.mark.browser


@pytest.mark.browser
def test_language_switch_changes_labels_on_every_page(web: Browsing) -> None:
    page = web.page("/")
    assert page.evaluate("() => document.documentElement.lang") == "nb"
    expect(page.locator("#start-button")).to_have_text("Start chatten")
    expect(page.get_by_label("Hvilket språk vil du chatte på?")).to_be_visible()
    expect(page.locator("#quick-exit")).to_contain_text("Rask utgang")
    page.get_by_label("Språk på siden").select_option("en")
    expect(page.locator("#start-button")).to_have_text("Start chat")
    assert page.evaluate("() => document.documentElement.lang") == "en"
    expect(page.get_by_label("Which language do you want to chat in?")).to_be_visible()
    expect(page.locator("#quick-exit")).to_contain_text("Quick exit")
    expect(page.get_by_label("Who are you?")).to_have_value("youth")  # reference labels follow too
    expect(page.locator("#audience option").first).to_have_text("Young person or pupil")
    expect(page.locator("#region option").first).to_have_text("Choose county …")
    assert page.url.endswith("?lang=en")  # a reload keeps it
    page.get_by_label("Page language").select_option("nb")
    expect(page.locator("#start-button")).to_have_text("Start chatten")
    assert page.evaluate("() => document.documentElement.lang") == "nb"

    # during a chat, the texts already on screen follow the switch
    start_chat(page, language="nb", region="none")
    page.get_by_label("Språk på siden").select_option("en")
    expect(page.locator("#chat-heading")).to_have_text("Waiting for an adviser")
    expect(page.locator("#leave-button")).to_have_text("End chat")

    console = web.page("/console")
    expect(console.get_by_label("Brukernavn")).to_be_visible()
    console.get_by_role("button", name="English").click()
    expect(console.get_by_label("Username")).to_be_visible()
    expect(console.get_by_role("button", name="Log in")).to_be_visible()
    assert console.evaluate("() => document.documentElement.lang") == "en"
    log_in(console, "amina")
    expect(console.locator("#status-available")).to_have_text("Available")
    console.get_by_role("button", name="Norsk").click()
    expect(console.locator("#status-available")).to_have_text("Tilgjengelig")
    expect(console.get_by_role("heading", name="Aktive samtaler")).to_be_visible()

    supervisor = web.page("/supervisor")
    log_in(supervisor, "sara")
    expect(supervisor.get_by_role("heading", name="Køen nå")).to_be_visible()
    supervisor.get_by_role("button", name="English").click()
    expect(supervisor.get_by_role("heading", name="The queue now")).to_be_visible()
    expect(supervisor.get_by_role("link", name="Download CSV")).to_be_visible()


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_passes_the_audit_and_fits_the_screen(web: Browsing, viewport: ViewportSize) -> None:
    size = "desktop" if viewport == DESKTOP else "phone"
    problems: dict[str, list[str]] = {}

    def check(page: Page, name: str) -> None:
        problems[name] = audit(page)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems[name].append(f"page scrolls sideways by {overflow}px")
        screenshot(page, f"{name}-{size}")

    # the widget before and during a chat, and the console's login
    visitor = web.page("/", viewport=viewport)
    expect(visitor.locator("#status")).not_to_contain_text("Sjekker")
    check(visitor, "widget-setup")
    console = web.page("/console", viewport=viewport)
    expect(console.locator("#login-view")).to_be_visible()
    check(console, "console-login")
    visitor.close()

    visitor, console, _ = connected_chat(web)
    visitor.set_viewport_size(viewport)
    console.set_viewport_size(viewport)
    visitor_send(visitor, "مرحبا <b>hei</b>")
    console.locator(".conversation:not([hidden]) textarea[id^=compose-]").fill("Hei, jeg er her.")
    console.locator(".conversation:not([hidden]) textarea[id^=compose-]").press("Enter")
    expect(visitor.locator("#transcript .msg-adviser")).to_be_visible()
    check(visitor, "widget-chat-rtl")
    check(console, "console-chat")

    # focus is visible when moving by keyboard
    visitor.locator("#message").focus()
    visitor.keyboard.press("Tab")
    outline = visitor.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "no visible focus on the send button"

    console.locator(".conversation:not([hidden])").get_by_role("button", name="Avslutt samtalen").click()
    console.locator(".conversation:not([hidden])").get_by_role("button", name="Ja, avslutt").click()
    form = console.locator("form.registration")
    expect(form).to_be_visible()
    form.get_by_label("Ja, en sak").check()
    form.get_by_role("button", name="Lagre registrering").click()
    expect(form.locator("[id$='-main_category-error']")).to_be_visible()
    check(console, "console-registration-error")
    expect(visitor.locator("#ended")).to_be_visible()
    check(visitor, "widget-ended")

    waiting = web.page("/", viewport=viewport)
    start_chat(waiting, language="so", region="none", urgent=True)
    check(waiting, "widget-queued")
    supervisor = web.page("/supervisor", viewport=viewport)
    log_in(supervisor, "sara")
    expect(supervisor.locator("#waiting-table tbody tr")).to_have_count(1)
    expect(supervisor.locator("#stats-status")).to_have_text("Ingen registreringer i perioden.")
    check(supervisor, "supervisor")

    assert problems == {name: [] for name in problems}, problems


@pytest.mark.browser
def test_the_audit_finds_the_problems_it_claims_to_check(browser: Browser) -> None:
    """A negative control, so that an empty audit means something."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(
            "<title>t</title><body>"
            "<input id=a><input id=a type=checkbox name=g><input type=checkbox name=g>"
            "<button></button><p style='color:#999;background:#fff'>pale text</p>"
            "<span tabindex=3>x</span><div aria-describedby=nope>d</div><img src='data:,'>"
            "</body>"
        )
        problems = "\n".join(audit(page))
        for expected in (
            "html has no lang",
            "no accessible name: <input#a>",
            "no accessible name: <button>",
            "duplicate id: a",
            "positive tabindex",
            'group "g" has no legend',
            'names missing id "nope"',
            "img without alt",
            "contrast 2.85 < 4.5",
        ):
            assert expected in problems, f"{expected!r} not found in:\n{problems}"
    finally:
        context.close()
