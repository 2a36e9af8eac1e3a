"""Return codes and messages left while closed (issue 19), on real servers:

- a visitor takes a code, quick-exits, comes back with the code and reaches the same adviser, though a
  less loaded one could take the chat; the adviser sees the earlier conversation;
- a message left while the chat is closed reaches the right advisers at the next opening, is answered,
  and the visitor reads the answer with the code and goes on live with the adviser who answered;
- a wrong code gets exactly the answer an expired one gets; guessing is throttled per address and in all;
- after the retention periods the code no longer works and nothing of the thread is left but the
  registrations, which the register counts as one case that took two conversations.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from chat.codes import word_list
from core.clock import as_utc
from core.db import Database
from core.models import AuditEntry, Conversation, LeftMessage, Message, Registration, ReturnThread, ThreadConversation
from tests import cli
from tests.client import WS
from tests.conftest import LiveServer, ServerFactory, closed_hours, start_server

pytestmark = pytest.mark.anyio
START = {"type": "start", "language": "nb", "region": "03", "audience": "staff", "page_language": "nb"}
CLOSED = closed_hours()  # open one minute a day: closed while the test runs
CASE = {"is_case": True, "main_category": "negative_social_control", "actions": ["advice_given"]}


async def take_code(server: LiveServer, token: str, language: str = "nb") -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base) as http:
        return await http.post("/api/v1/return-codes", json={"token": token, "language": language})


async def come_back(server: LiveServer, code: str) -> tuple[WS, dict[str, Any]]:
    ws = await server.visitor()
    await ws.send({"type": "return", "code": code, "page_language": "nb"})
    frame = await ws.recv()
    return ws, frame


async def rows(server: LiveServer, model: Any, *where: Any) -> list[Any]:
    db = Database.from_url(server.database_url)
    try:
        async with db.session() as session:
            return list((await session.exec(select(model).where(*where))).all())
    finally:
        await db.dispose()


async def backdate(server: LiveServer, *, code_days: int = 0, closed_hours: int = 0) -> None:
    """As if time had passed: every code taken ``code_days`` earlier, every chat closed ``closed_hours``
    earlier."""
    db = Database.from_url(server.database_url)
    try:
        async with db.writing() as session:
            for thread in (await session.exec(select(ReturnThread))).all():
                thread.code_issued_at = as_utc(thread.code_issued_at) - timedelta(days=code_days)
                session.add(thread)
            for conv in (
                await session.exec(select(Conversation).where(col(Conversation.closed_at).is_not(None)))
            ).all():
                conv.closed_at = as_utc(conv.closed_at) - timedelta(hours=closed_hours)
                session.add(conv)
    finally:
        await db.dispose()


def purge(server: LiveServer, **env: str) -> str:
    full = {**os.environ, "NORA_ENV": "development", "NORA_DATABASE_URL": server.database_url, **env}
    full.pop("NORA_REDIS_URL", None)
    for name in ("NORA_TRANSCRIPT_RETENTION_HOURS", "NORA_RETURN_CODE_DAYS"):
        full.pop(name, None)  # the default periods, whatever the shell running the tests has
    done = cli.run("purge", env=full)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def chat_with_amina(server: LiveServer, amina: WS, text: str) -> tuple[WS, dict[str, Any], str]:
    visitor = await server.visitor()
    await visitor.send(START)
    started = await visitor.expect("started")
    await visitor.expect("assigned", adviser={"name": "Amina", "service": "MR"})
    assigned = await amina.expect("assigned")
    await visitor.send({"type": "message", "client_id": "v1", "text": text})
    await visitor.expect("ack")
    return visitor, started, assigned["conversation"]["id"]


async def test_a_code_brings_the_visitor_back_to_the_same_adviser(server: LiveServer) -> None:
    amina_staff, amina = await server.adviser("amina")
    jonas_staff, jonas = await server.adviser("jonas", available=False)
    visitor, started, first = await chat_with_amina(server, amina, "Foreldrene mine bestemmer alt")

    taken = await take_code(server, started["token"])
    assert taken.status_code == 201, taken.text
    code = taken.json()["code"]
    words = code.split(" ")
    assert len(words) == 5 and all(w in (word_list("nb") or ()) for w in words)
    assert taken.json()["valid_until"]
    # Quick exit: the chat ends; the code is in no frame the visitor or the adviser ever got, nor in the log.
    await visitor.send({"type": "leave", "quick_exit": True})
    await visitor.expect("closed")
    await amina.expect("conversation_closed", conversation_id=first)
    assert code not in str(visitor.seen) and code not in str(amina.seen) and code not in server.log()

    # Amina is busy with another chat, Jonas (who could take this one too) is free and less loaded.
    other = await server.visitor()
    await other.send({**START, "region": "32", "audience": "youth"})
    await amina.expect("assigned")
    await jonas.send({"type": "status", "status": "available"})
    await jonas.expect("status", status="available")

    back, thread = await come_back(server, code.upper().replace(" ", "-"))  # as typed, not as shown
    assert thread["type"] == "thread", thread
    assert thread["adviser"] == {"name": "Amina", "service": "MR", "available": True}
    (earlier,) = thread["conversations"]
    assert [m["text"] for m in earlier["messages"] if m["sender"] == "visitor"] == ["Foreldrene mine bestemmer alt"]
    await back.send({"type": "start"})  # the thread's language, region and audience
    await back.expect("started")
    await back.expect("assigned", adviser={"name": "Amina", "service": "MR"})
    second = (await amina.expect("assigned"))["conversation"]
    assert second["region"] == "03" and second["language"] == "nb"
    assert not [f for f in jonas.seen if f.get("type") == "assigned"]

    seen = (await amina_staff.get(f"/api/v1/conversations/{second['id']}/thread")).json()
    assert seen["in_thread"] is True
    (shown,) = seen["conversations"]
    assert shown["id"] == first and shown["adviser"] == "Amina" and shown["registration"] is None
    assert "Foreldrene mine bestemmer alt" in [m["text"] for m in shown["messages"]]
    reads = await rows(server, AuditEntry, col(AuditEntry.action) == "thread_read")
    assert [(r.conversation_id, r.actor_id) for r in reads] == [(first, amina_staff.user["id"])]
    # Another adviser cannot read the thread of a conversation that is not theirs.
    assert (await jonas_staff.get(f"/api/v1/conversations/{second['id']}/thread")).status_code == 404

    # Withdrawn: the code stops working at once, and the thread is gone.
    again, frame = await come_back(server, code)
    await again.send({"type": "withdraw_code"})
    await again.expect("code_withdrawn")
    _, after = await come_back(server, code)
    assert after["type"] == "error" and after["code"] == "not_found"
    assert await rows(server, ReturnThread) == [] and await rows(server, ThreadConversation) == []


async def test_a_message_left_while_closed_is_answered_at_opening(make_server: ServerFactory, tmp_path: Any) -> None:
    closed = await make_server(NORA_OPENING_HOURS=CLOSED)
    visitor = await closed.visitor()
    await visitor.send(
        {
            "type": "leave_message",
            "language": "nb",
            "region": "03",
            "audience": "youth",
            "page_language": "nb",
            "text": "Kan noen ringe skolen min?",
        }
    )
    left = await visitor.expect("message_left")
    code = left["code"]
    assert len(code.split()) == 5 and await visitor.closed_code() == 1000
    sara = await closed.login("sara")
    queue = (await sara.get("/api/v1/queue")).json()
    (waiting,) = queue["left_messages"]
    assert waiting["language"] == "nb" and waiting["region"] == "03" and waiting["waited_s"] >= 0
    assert "messages" not in waiting  # the supervisor sees where from and how long, not what
    assert (await sara.get("/api/v1/left-messages")).json()["left_messages"][0]["id"] == waiting["id"]
    await sara.aclose()
    closed.stop()

    # The next opening: the same database, served without closing hours.
    opened = await asyncio.to_thread(start_server, closed.database_url, tmp_path / "open.log")
    try:
        amina_staff = await opened.login("amina")
        omar_staff = await opened.login("omar")
        assert (await omar_staff.get("/api/v1/left-messages")).json()["left_messages"] == []  # region 46, no nb
        (item,) = (await amina_staff.get("/api/v1/left-messages")).json()["left_messages"]
        assert item["messages"][0]["text"] == "Kan noen ringe skolen min?" and item["yours"] is False
        refused = await omar_staff.post(f"/api/v1/left-messages/{item['id']}/answer", {"text": "Hei"})
        assert refused.status_code == 404
        no_csrf = await amina_staff.http.post(f"/api/v1/left-messages/{item['id']}/answer", json={"text": "Hei"})
        assert no_csrf.status_code == 403
        answered = await amina_staff.post(
            f"/api/v1/left-messages/{item['id']}/answer", {"text": "Hei! Ja, skriv når du kan chatte, så avtaler vi."}
        )
        assert answered.status_code == 201, answered.text
        cid = answered.json()["conversation_id"]
        again = await amina_staff.post(f"/api/v1/left-messages/{item['id']}/answer", {"text": "Hei igjen"})
        assert again.status_code == 404  # answered already
        pending = (await amina_staff.get("/api/v1/registrations/pending")).json()["conversations"]
        assert [c["id"] for c in pending] == [cid] and pending[0]["close_reason"] == "answered"
        assert (await amina_staff.get("/api/v1/left-messages")).json()["left_messages"] == []

        _, amina = await opened.adviser("amina")
        back = await WS.open(opened.ws_base + "/ws/visitor")
        opened.sockets.append(back)
        await back.send({"type": "return", "code": code})
        thread = await back.expect("thread")
        (conv,) = thread["conversations"]
        assert conv["answered"] is True and thread["waiting"] == [] and thread["open"] is True
        assert [(m["sender"], m["text"]) for m in conv["messages"]] == [
            ("visitor", "Kan noen ringe skolen min?"),
            ("adviser", "Hei! Ja, skriv når du kan chatte, så avtaler vi."),
        ]
        assert thread["adviser"] == {"name": "Amina", "service": "MR", "available": True}
        await back.send({"type": "start"})
        await back.expect("assigned", adviser={"name": "Amina", "service": "MR"})
        live = (await amina.expect("assigned"))["conversation"]
        earlier = (await amina_staff.get(f"/api/v1/conversations/{live['id']}/thread")).json()["conversations"]
        assert [c["id"] for c in earlier] == [cid]
        # While open with someone in the language signed in, a message is refused: chat instead.
        fresh = await WS.open(opened.ws_base + "/ws/visitor")
        opened.sockets.append(fresh)
        await fresh.send({"type": "leave_message", "language": "nb", "audience": "youth", "text": "Hei"})
        assert (await fresh.expect("error"))["code"] == "forbidden"
    finally:
        await opened.aclose()
        opened.stop()


async def test_a_wrong_code_is_answered_as_an_expired_one(server: LiveServer) -> None:
    _, amina = await server.adviser("amina")
    _, started, _ = await chat_with_amina(server, amina, "Hei")
    code = (await take_code(server, started["token"])).json()["code"]
    _, ok = await come_back(server, code)
    assert ok["type"] == "thread"
    await backdate(server, code_days=31)  # NORA_RETURN_CODE_DAYS is 30
    _, expired = await come_back(server, code)
    words = code.split()
    _, wrong = await come_back(server, " ".join(reversed(words)))
    _, nonsense = await come_back(server, "dette er ikke en kode")
    assert expired == wrong == nonsense
    assert expired == {
        "type": "error",
        "code": "not_found",
        "message": "No thread for this code: it is wrong, has expired or was withdrawn.",
        "ref": "return",
    }


async def test_guessing_is_throttled_per_address_and_in_all(make_server: ServerFactory) -> None:
    per_address = await make_server(NORA_RETURN_ATTEMPTS_PER_ADDRESS="3")
    _, amina = await per_address.adviser("amina")
    _, started, _ = await chat_with_amina(per_address, amina, "Hei")
    code = (await take_code(per_address, started["token"])).json()["code"]
    for guess in ("en to tre fire fem", "seks sju åtte ni ti"):
        assert (await come_back(per_address, guess))[1]["code"] == "not_found"
    assert (await come_back(per_address, code))[1]["type"] == "thread"
    _, limited = await come_back(per_address, code)  # the right code too, once the limit is reached
    assert limited["code"] == "rate_limited" and 0 < limited["retry_after_ms"] <= 3600 * 1000

    in_all = await make_server(NORA_RETURN_ATTEMPTS_PER_ADDRESS="100", NORA_RETURN_ATTEMPTS_PER_HOUR="2")
    results = [(await come_back(in_all, f"gjett nummer {n} av mange"))[1]["code"] for n in range(3)]
    assert results == ["not_found", "not_found", "rate_limited"]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_after_retention_only_the_registrations_remain(make_server: ServerFactory, backend: str) -> None:
    # The server's own retention runs at its first tick: with its periods longer than the backdating
    # below, only the operator's purge (the defaults, 72 h and 30 days) finds anything to erase, however
    # soon the test gets there.
    server = await make_server(
        backend, NORA_STATS_MIN_COUNT="1", NORA_TRANSCRIPT_RETENTION_HOURS="100", NORA_RETURN_CODE_DAYS="40"
    )
    amina_staff, amina = await server.adviser("amina")
    visitor, started, first = await chat_with_amina(server, amina, "Første gang")
    code = (await take_code(server, started["token"])).json()["code"]
    await amina.send({"type": "close", "conversation_id": first})
    await visitor.expect("closed")
    r1 = await amina_staff.post(f"/api/v1/conversations/{first}/registration", CASE)
    assert r1.status_code == 201, r1.text

    back, _ = await come_back(server, code)
    await back.send({"type": "start"})
    await back.expect("assigned")
    second = (await amina.expect("assigned"))["conversation"]["id"]
    await back.send({"type": "message", "client_id": "v1", "text": "Andre gang"})
    await back.expect("ack")
    await amina.send({"type": "close", "conversation_id": second})
    await back.expect("closed")
    r2 = await amina_staff.post(f"/api/v1/conversations/{second}/registration", CASE)
    assert r2.status_code == 201, r2.text
    assert r2.json()["case_id"] == r1.json()["case_id"]  # one code, one case

    sara = await server.login("sara")
    year = str(as_utc(await _closed_at(server, second)).year)
    stats = (await sara.get("/api/v1/stats/cases", period=year, count="cases", by="several_conversations")).json()
    assert stats["rows"] == [{"several_conversations": True, "count": 1}] and stats["total"] == 1
    inquiries = (await sara.get("/api/v1/stats/cases", period=year, by="several_conversations")).json()
    assert inquiries["rows"] == [{"several_conversations": True, "count": 2}]

    await backdate(server, code_days=31, closed_hours=73)
    out = purge(server)
    assert "purged 1 return-code thread(s)" in out and "purged 2 transcript(s)" in out
    _, gone = await come_back(server, code)
    assert gone["code"] == "not_found"
    assert await rows(server, ReturnThread) == []
    assert await rows(server, ThreadConversation) == []
    assert await rows(server, LeftMessage) == []
    assert await rows(server, Message, col(Message.conversation_id).in_([first, second])) == []
    kept = await rows(server, Registration)
    assert sorted(r.conversation_id or "" for r in kept) == sorted([first, second])
    assert len({r.case_id for r in kept}) == 1
    after = (await sara.get("/api/v1/stats/cases", period=year, count="cases", by="several_conversations")).json()
    assert after["rows"] == stats["rows"]  # the register still counts one case of two conversations


async def _closed_at(server: LiveServer, conversation_id: str) -> Any:
    (conv,) = await rows(server, Conversation, col(Conversation.id) == conversation_id)
    return conv.closed_at
