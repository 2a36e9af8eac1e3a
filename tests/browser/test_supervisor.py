"""The supervisor dashboard: live queue, advisers and the published statistics."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Browsing, connected_chat, go_available, log_in, start_chat, visitor_send

pytestmark = pytest.mark.browser


@pytest.mark.browser
def test_dashboard_shows_a_waiting_conversation_within_seconds(web: Browsing) -> None:
    supervisor = web.page("/supervisor")
    log_in(supervisor, "sara")
    expect(supervisor.locator("#waiting-empty")).to_be_visible()
    expect(supervisor.locator("#kpi-waiting")).to_have_text("0")

    visitor = web.page("/")
    start_chat(visitor, language="ar", region="03", urgent=True)

    row = supervisor.locator("#waiting-table tbody tr")
    expect(row).to_have_count(1, timeout=4000)
    expect(row).to_have_class(re.compile("row-urgent"))
    expect(row.locator("td").nth(0)).to_have_text("⚠ Haster")  # urgency in words, not colour alone
    expect(row.locator("td").nth(1)).to_have_text("Oslo")
    expect(row.locator("td").nth(2)).to_have_text("arabisk")
    expect(row.locator("td").nth(3)).to_have_text("ungdom / elev")
    # nobody is signed in: tiers 0 and 1 add no adviser and are passed at once (protocol 1.1)
    expect(row.locator("td").nth(5)).to_have_text("2 – MR i alle fylker")
    expect(row.locator("td").nth(6)).to_have_text("Tilkoblet")
    expect(supervisor.locator("#kpi-waiting")).to_have_text("1")

    group = supervisor.locator("#by-region-table tbody tr")
    expect(group).to_have_count(1)
    expect(group).to_contain_text("Oslo")
    expect(group).to_contain_text("arabisk")
    # the wait keeps growing with each pushed frame (at least every 2 s)
    first = group.locator("td").nth(2).inner_text()
    expect(group.locator("td").nth(2)).not_to_have_text(first, timeout=5000)

    # an adviser coming online shows in the advisers table, takes the chat, and the queue empties
    console = web.page("/console")
    log_in(console, "amina")
    advisers = supervisor.locator("#advisers-table tbody tr", has_text="Amina")
    expect(advisers).to_contain_text("Borte")
    go_available(console)
    expect(advisers).to_contain_text("MR")
    expect(advisers).to_contain_text("1 / 2")
    expect(advisers).to_contain_text("Tilgjengelig")
    expect(supervisor.locator("#kpi-active")).to_have_text("1")
    expect(supervisor.locator("#waiting-table tbody tr")).to_have_count(0)
    expect(supervisor.locator("#waiting-empty")).to_be_visible()
    expect(visitor.locator("#chat-heading")).to_have_text("Du chatter med Amina")


@pytest.mark.browser
def test_statistics_table_and_csv_link(web: Browsing) -> None:
    visitor, console, alias = connected_chat(web)
    visitor_send(visitor, "Hei")  # a chat the visitor never wrote in is not registered
    pane = console.locator(".conversation:not([hidden])")
    pane.get_by_role("button", name="Avslutt samtalen").click()
    pane.get_by_role("button", name="Ja, avslutt").click()
    form = pane.locator("form.registration")
    form.get_by_label("Ja, en sak").check()
    form.get_by_label("Hovedkategori").select_option("negative_social_control")
    form.get_by_role("button", name="Lagre registrering").click()
    expect(console.locator("#pending-list .conv-item", has_text=alias)).to_have_count(0)

    supervisor = web.page("/supervisor")
    log_in(supervisor, "sara")
    table = supervisor.locator("#stats-table")
    expect(table).to_be_visible()
    expect(table.locator("thead th")).to_have_text(["Hovedkategori", "Tjeneste", "Antall"])
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr td")).to_have_text(
        ["Negativ sosial kontroll", "mangfoldsrådgiver (tidligere minoritetsrådgiver)", "<5"]
    )
    expect(table.locator("tfoot")).to_contain_text("skjult (små tall)")

    link = supervisor.get_by_role("link", name="Last ned CSV")
    href = link.get_attribute("href")
    assert href is not None and "format=csv" in href and "by=category%2Cservice" in href
    csv = supervisor.request.get(web.base + href)
    assert csv.ok and csv.headers["content-type"].startswith("text/csv")
    # The download opens right in a spreadsheet set up for Norwegian: ;, a byte-order mark, labels.
    assert csv.text().splitlines()[:2] == [
        "\ufeffHovedkategori;Tjeneste;Antall",
        "Negativ sosial kontroll;mangfoldsrådgiver (tidligere minoritetsrådgiver);<5",
    ]

    # grouping by region instead
    supervisor.get_by_role("checkbox", name="Tjeneste").uncheck()
    supervisor.get_by_role("checkbox", name="Fylke").check()
    supervisor.get_by_role("button", name="Vis tabell").click()
    expect(table.locator("thead th")).to_have_text(["Hovedkategori", "Fylke", "Antall"])
    expect(table.locator("tbody tr td").nth(1)).to_have_text("Oslo")
    assert "by=category%2Cregion" in (link.get_attribute("href") or "")

    # by channel, counting each case once: the chat is one case, through the chat channel
    supervisor.get_by_role("checkbox", name="Fylke").uncheck()
    supervisor.get_by_role("checkbox", name="Kanal").check()
    supervisor.get_by_label("Tell").select_option("cases")
    supervisor.get_by_role("button", name="Vis tabell").click()
    expect(table.locator("thead th")).to_have_text(["Hovedkategori", "Kanal", "Antall"])
    expect(table.locator("tbody tr td").nth(1)).to_have_text("chat")
    href = link.get_attribute("href") or ""
    assert "by=category%2Cchannel" in href and "count=cases" in href


@pytest.mark.browser
def test_an_adviser_cannot_use_the_dashboard(web: Browsing) -> None:
    page = web.page("/supervisor")
    page.fill("#username", "amina")
    page.fill("#password", "test-password-1")
    page.click("#login-button")
    # Signed in, but not for this page: nothing of the dashboard, a link to the console instead.
    expect(page.get_by_role("heading", name="Denne siden er for tilsyn")).to_be_visible()
    expect(page.locator("#elsewhere-view").get_by_role("link")).to_have_text(["Rådgiverkonsoll"])
    expect(page.locator("#app-view")).to_be_hidden()
    assert page.request.get(web.base + "/api/v1/queue").status == 403
