"""The adviser's and supervisor's working day (issue 17), in the browser: quick exit shown as such, the
registration flow, abuse, canned replies, notes, named and warm transfer, notifications, the day page.
Every state reached is checked with axe-core and the page's own audit."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Browsing, audit, axe, connected_chat, visitor_send

pytestmark = pytest.mark.browser


def pane(console: Page) -> Locator:
    return console.locator(".conversation:not([hidden])")


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
