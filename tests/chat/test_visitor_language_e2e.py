"""The visitor page in the visitor's language, its texts as JSON, notices in the page's language and the
after-chat question, against a real uvicorn process."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import select

from chat.catalogue import catalogue
from core.db import Database
from core.models import VisitorFeedback
from tests.conftest import LiveServer, ServerFactory

pytestmark = pytest.mark.anyio

START = {"type": "start", "language": "ar", "region": "03", "audience": "youth"}


def html_tag(page: str) -> str:
    match = re.search(r"<html[^>]*>", page)
    assert match
    return match.group(0)


@pytest.mark.parametrize(
    ("query", "accept", "lang", "direction"),
    [
        ("", None, "nb", "ltr"),
        ("", "ar,en;q=0.8", "ar", "rtl"),
        ("", "de-DE,de;q=0.9,so;q=0.8,en;q=0.5", "so", "ltr"),  # the first one we have, by weight
        ("", "en;q=0.3,uk;q=0.9", "uk", "ltr"),
        ("", "fa-AF", "prs", "rtl"),  # Dari as browsers name it
        ("", "nn-NO", "nb", "ltr"),
        ("", "de, fr", "nb", "ltr"),  # nothing we have
        ("?lang=ckb", "en", "ckb", "rtl"),  # ?lang= wins over the browser
        ("?lang=xx", "ti", "ti", "ltr"),  # an unknown ?lang= is ignored
    ],
)
async def test_the_page_follows_the_language(
    server: LiveServer, query: str, accept: str | None, lang: str, direction: str
) -> None:
    headers = {"Accept-Language": accept} if accept else {}
    async with httpx.AsyncClient(base_url=server.base) as http:
        response = await http.get("/" + query, headers=headers)
    assert response.status_code == 200
    assert html_tag(response.text) == f'<html lang="{lang}" dir="{direction}">'
    assert response.headers["content-language"] == lang
    assert "accept-language" in response.headers["vary"].lower()
    start = catalogue().text(lang, "start")
    assert 'id="start-button"' in response.text and f">{start}</button>" in response.text
    assert "⟦" not in response.text and "[en] " not in response.text
    # the picker offers every chat language by its own name, this one chosen
    assert len(re.findall(r'<option value="\w+" lang=', response.text)) == 17
    assert re.search(rf'<option value="{lang}" lang="{lang}" dir="{direction}" selected>', response.text)


async def test_texts_endpoint_gives_every_text_of_one_language(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base) as http:
        body = (await http.get("/api/v1/texts?lang=ti")).json()
        unknown = await http.get("/api/v1/texts?lang=xx")
    assert body["language"] == "ti" and body["dir"] == "ltr" and body["review"] == "draft"
    assert body["missing"] == []
    assert set(body["texts"]) == catalogue().keys
    assert body["texts"]["start"] == catalogue().text("ti", "start")
    facts = body["facts"]
    assert facts["retention_hours"] == 72 and facts["controller"] == "IMDi (Integrerings- og mangfoldsdirektoratet)"
    offers = {lang["code"]: lang for lang in body["languages"]}
    assert len(offers) == 17 and offers["ar"]["dir"] == "rtl"
    assert offers["so"]["offer"] == "Boggan ma lagu muujiyaa Soomaali?"  # offered in the language itself
    assert unknown.status_code == 422 and unknown.json()["fields"] == {"lang": "unknown code"}


async def test_the_privacy_notice_says_the_configured_retention(make_server: ServerFactory) -> None:
    server = await make_server(NORA_TRANSCRIPT_RETENTION_HOURS="24")
    async with httpx.AsyncClient(base_url=server.base) as http:
        page = (await http.get("/?lang=en")).text
    assert "They are deleted 24 h after the chat ends." in page
    assert "IMDi (Integrerings- og mangfoldsdirektoratet) is responsible" in page


async def test_system_notices_reach_the_visitor_in_the_page_language(server: LiveServer) -> None:
    """An Arabic chat on a Somali page: the notices are Somali; after a switch to Ukrainian, Ukrainian."""
    visitor = await server.visitor()
    await visitor.send({**START, "urgent": True, "page_language": "so"})
    started = await visitor.expect("started")
    urgent = await visitor.expect("message", sender="system")
    assert urgent["event"] == "urgent_help"
    assert urgent["text"] == catalogue().text("so", "notice.urgent_help")

    await visitor.send({"type": "page_language", "page_language": "uk"})
    await visitor.quiet(0.3)
    _, console = await server.adviser("amina")
    assigned = await visitor.expect("message", sender="system", event="assigned")
    assert assigned["text"] == catalogue().text("uk", "notice.assigned", name="Amina")
    # the adviser sees what the visitor saw
    offered = await console.expect("assigned")
    seen = [m["text"] for m in offered["conversation"]["messages"] if m.get("event") == "assigned"]
    assert seen == [assigned["text"]]

    # A reload on a Polish page resumes in Polish. (The server must have seen the socket go first: a
    # resume that arrives before that finds the visitor still present, and says nothing.)
    await visitor.close()
    await console.expect("message", sender="system", event="visitor_away")
    again = await server.visitor()
    await again.send({"type": "resume", "token": started["token"], "last_seq": 0, "page_language": "pl"})
    await again.expect("resumed")
    back = await again.expect("message", sender="system", event="visitor_back")
    assert back["text"] == catalogue().text("pl", "notice.visitor_back")

    # A client that names no page language gets notices in the chat language, as before.
    other = await server.visitor()
    await other.send({**START, "urgent": True})
    plain = await other.expect("message", sender="system", event="urgent_help")
    assert plain["text"] == catalogue().text("ar", "notice.urgent_help")

    await again.send({"type": "page_language", "page_language": "zz"})
    error = await again.expect("error")
    assert error["code"] == "invalid" and error["fields"] == {"page_language": "unknown code"}


async def feedback_counts(database_url: str) -> dict[tuple[str, str], int]:
    db = Database.from_url(database_url)
    try:
        async with db.session() as session:
            rows = (await session.exec(select(VisitorFeedback))).all()
    finally:
        await db.dispose()
    return {(row.day.isoformat(), row.answer): row.count for row in rows}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_feedback_is_counted_per_day_and_answer_only(make_server: ServerFactory, backend: str) -> None:
    server = await make_server(backend)
    async with httpx.AsyncClient(base_url=server.base) as http:
        for answer in ("yes", "yes", "no"):
            response = await http.post("/api/v1/feedback", json={"answer": answer}, headers={"Origin": server.base})
            assert response.status_code == 204
        wrong = await http.post("/api/v1/feedback", json={"answer": "maybe"})
        foreign = await http.post("/api/v1/feedback", json={"answer": "yes"}, headers={"Origin": "https://evil.test"})
    assert wrong.status_code == 422 and wrong.json()["fields"] == {"answer": "yes or no"}
    assert foreign.status_code == 403
    today = datetime.now(ZoneInfo("Europe/Oslo")).date().isoformat()
    assert await feedback_counts(server.database_url) == {(today, "yes"): 2, (today, "no"): 1}
