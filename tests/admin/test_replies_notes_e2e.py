"""Canned replies and internal notes (issue 17) through the real service: who sees and keeps which
reply, validation and audit; notes that never reach the visitor and go with the transcript."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select

from core.db import Database
from core.models import ConversationNote
from tests.chat.test_retention_e2e import purge
from tests.client import Staff
from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio
URL = "/api/v1/canned-replies"


async def titles(staff: Staff, **params: Any) -> list[str]:
    r = await staff.get(URL, **params)
    assert r.status_code == 200, r.text
    return [x["title"] for x in r.json()["replies"]]


async def delete(staff: Staff, path: str) -> Any:
    return await staff.http.delete(path, headers={"X-CSRF-Token": staff.csrf, "Origin": staff.origin})


async def put(staff: Staff, path: str, body: Any) -> Any:
    return await staff.http.put(path, json=body, headers={"X-CSRF-Token": staff.csrf, "Origin": staff.origin})


async def test_shared_replies_per_service_and_language_and_personal_ones(server: LiveServer) -> None:
    sara, amina, omar, jonas = [await server.login(u) for u in ("sara", "amina", "omar", "jonas")]
    shared = {
        "scope": "shared",
        "service": "MR",
        "language": "ar",
        "title": "Velkommen",
        "text": "مرحبا، كيف يمكنني مساعدتك؟",
    }
    made = await sara.post(URL, shared)
    assert made.status_code == 201, made.text
    assert made.json()["scope"] == "shared" and made.json()["editable"] is True
    mine = await amina.post(
        URL, {"scope": "personal", "language": "nb", "title": "Ring meg", "text": "Vil du at jeg ringer?"}
    )
    assert mine.status_code == 201, mine.text

    assert await titles(amina) == ["Ring meg", "Velkommen"]  # her own and her service's
    assert await titles(amina, language="ar") == ["Velkommen"]  # in the visitor's chat language
    assert await titles(omar) == ["Velkommen"]  # MR too, but not Amina's own
    assert await titles(jonas) == []  # AT: not MR's shared ones
    assert await titles(sara) == ["Velkommen"]
    listed = (await amina.get(URL, language="ar")).json()["replies"][0]
    assert listed["editable"] is False and listed["text"] == shared["text"]

    # who may keep what: another adviser's reads as missing, a shared one needs a supervisor or admin
    rid = mine.json()["id"]
    assert (await put(omar, f"{URL}/{rid}", {"language": "nb", "title": "x", "text": "y"})).status_code == 404
    assert (await delete(omar, f"{URL}/{rid}")).status_code == 404
    refused = await amina.post(URL, {**shared, "title": "Mitt felles"})
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    personal_for_sara = await sara.post(URL, {"scope": "personal", "language": "nb", "title": "x", "text": "y"})
    assert personal_for_sara.status_code == 403
    no_csrf = await amina.http.post(URL, json={"scope": "personal", "language": "nb", "title": "x", "text": "y"})
    assert no_csrf.status_code == 403

    bad = await amina.post(
        URL, {"scope": "personal", "language": "xx", "title": " ", "text": "a\x07b", "colour": "red"}
    )
    assert bad.status_code == 422
    assert set(bad.json()["fields"]) == {"language", "title", "text", "colour"}
    assert (await sara.post(URL, {**shared, "service": None})).json()["fields"] == {
        "service": "required for a shared reply: 'MR' or 'AT'"
    }

    changed = await put(
        sara, f"{URL}/{made.json()['id']}", {"service": "MR", "language": "ar", "title": "Hei", "text": "أهلاً"}
    )
    assert changed.status_code == 200 and changed.json()["title"] == "Hei"
    assert (
        await put(amina, f"{URL}/{rid}", {"language": "en", "title": "Call me", "text": "Shall I call?"})
    ).status_code == 200
    assert await titles(amina, language="en") == ["Call me"]
    assert (await delete(amina, f"{URL}/{rid}")).status_code == 204
    assert await titles(amina) == ["Hei"]

    admin = await server.login("admin")
    entries = (await admin.get("/api/v1/audit")).json()["entries"]
    actions = sorted(e["action"] for e in entries if e["action"].startswith("canned_reply"))
    assert actions == [
        "canned_reply_added",
        "canned_reply_added",
        "canned_reply_changed",
        "canned_reply_changed",
        "canned_reply_removed",
    ]
    assert not any("Velkommen" in e["detail"] or "ringer" in e["detail"] for e in entries)  # never the text


async def test_notes_never_reach_the_visitor_and_go_with_the_transcript(server: LiveServer) -> None:
    amina, console = await server.adviser("amina")
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
    cid = (await visitor.expect("started"))["conversation_id"]
    await console.expect("assigned")
    await visitor.send({"type": "message", "client_id": "v1", "text": "Hei"})
    await visitor.expect("ack")

    note = "Virker redd, spør om skolen neste gang"
    made = await amina.post(f"/api/v1/conversations/{cid}/notes", {"text": f"  {note}  "})
    assert made.status_code == 201, made.text
    assert made.json()["text"] == note and made.json()["author"] == "Amina"
    assert not [f for f in await visitor.quiet(0.5) if note in str(f)]  # nothing went to the visitor
    listed = (await amina.get(f"/api/v1/conversations/{cid}/notes")).json()["notes"]
    assert [(n["text"], n["author"]) for n in listed] == [(note, "Amina")]

    omar = await server.login("omar")
    assert (await omar.get(f"/api/v1/conversations/{cid}/notes")).status_code == 404  # not his
    assert (await omar.post(f"/api/v1/conversations/{cid}/notes", {"text": "x"})).status_code == 404
    empty = await amina.post(f"/api/v1/conversations/{cid}/notes", {"text": "   "})
    assert empty.status_code == 422 and empty.json()["fields"] == {"text": "required, text"}
    sara = await server.login("sara")
    assert len((await sara.get(f"/api/v1/conversations/{cid}/notes")).json()["notes"]) == 1

    await console.send({"type": "close", "conversation_id": cid})
    await console.expect("conversation_closed")
    resumed = await server.visitor()  # the visitor's own replay of the conversation holds no note
    admin = await server.login("admin")
    entries = (await admin.get("/api/v1/audit", conversation_id=cid)).json()["entries"]
    assert {e["action"] for e in entries} >= {"note_added", "notes_read"}
    assert not any(note in e["detail"] for e in entries)
    await resumed.close()

    assert "purged 1 transcript(s)" in purge(server, NORA_TRANSCRIPT_RETENTION_HOURS="0")
    assert (await amina.get(f"/api/v1/conversations/{cid}/notes")).status_code == 404
    db = Database.from_url(server.database_url)
    try:
        async with db.session() as session:
            left = (
                await session.exec(select(ConversationNote).where(col(ConversationNote.conversation_id) == cid))
            ).all()
    finally:
        await db.dispose()
    assert left == []
