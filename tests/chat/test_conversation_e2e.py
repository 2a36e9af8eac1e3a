"""One anonymous conversation end to end over the wire contract, against a real uvicorn process."""

from __future__ import annotations

import pytest

from tests.client import WS
from tests.conftest import LiveServer, ServerFactory, frames_of

pytestmark = pytest.mark.anyio

START = {"type": "start", "language": "ar", "region": "03", "audience": "youth"}


async def message_seqs(ws: WS) -> list[int]:
    return [f["seq"] for f in ws.seen if f.get("type") == "message"]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_whole_conversation_from_start_to_statistics(make_server: ServerFactory, backend: str) -> None:
    server: LiveServer = await make_server(backend)
    amina, console = await server.adviser("amina")

    visitor = await server.visitor()
    await visitor.send(START)
    started = await visitor.expect("started")
    assert started["alias"].startswith("Gjest ")
    assert len(started["token"]) >= 22  # >= 128 bits, url-safe
    conversation_id = started["conversation_id"]
    assigned = await visitor.expect("assigned")
    assert assigned["adviser"] == {"name": "Amina", "service": "MR"}
    offered = await console.expect("assigned")
    assert offered["conversation"]["id"] == conversation_id
    assert offered["conversation"]["language"] == "ar" and offered["conversation"]["region"] == "03"
    system = [m for m in offered["conversation"]["messages"] if m["sender"] == "system"]
    assert system and system[-1]["event"] == "assigned"

    # Visitor -> adviser: ack to the sender, message to the other side, same seq.
    await visitor.send({"type": "message", "client_id": "c1", "text": "  Hei, jeg trenger hjelp  "})
    ack = await visitor.expect("ack")
    assert ack["client_id"] == "c1"
    got = await console.expect("message", conversation_id=conversation_id, sender="visitor")
    assert got["seq"] == ack["seq"] and got["text"] == "Hei, jeg trenger hjelp"

    # Adviser -> visitor.
    await console.send({"type": "message", "conversation_id": conversation_id, "client_id": "a1", "text": "Hei!"})
    adviser_ack = await console.expect("ack", conversation_id=conversation_id)
    assert adviser_ack["seq"] == ack["seq"] + 1
    reply = await visitor.expect("message", sender="adviser")
    assert reply["seq"] == adviser_ack["seq"] and reply["text"] == "Hei!"
    assert "client_id" not in reply  # client ids go back only to the side that sent them

    # Resending the same client_id creates nothing: same ack, nothing new for the adviser.
    await visitor.send({"type": "message", "client_id": "c1", "text": "Hei, jeg trenger hjelp"})
    again = await visitor.expect("ack")
    assert again["seq"] == ack["seq"]
    assert not [f for f in await console.quiet(0.5) if f.get("type") == "message"]

    # Typing reaches the other side.
    await console.send({"type": "typing", "conversation_id": conversation_id})
    assert (await visitor.expect("typing"))["sender"] == "adviser"

    # Drop the visitor; the adviser sees it, writes twice; resume replays exactly those.
    last_seen = max(await message_seqs(visitor))
    await visitor.close()
    await console.expect("visitor", conversation_id=conversation_id, presence="away")
    for n in (1, 2):
        await console.send(
            {"type": "message", "conversation_id": conversation_id, "client_id": f"a{n + 1}", "text": f"Er du der? {n}"}
        )
        await console.expect("ack", conversation_id=conversation_id)
    back = await server.visitor()
    await back.send({"type": "resume", "token": started["token"], "last_seq": last_seen})
    resumed = await back.expect("resumed")
    assert resumed == {"type": "resumed", "conversation_id": conversation_id, "state": "assigned"}
    replay = [await back.expect("message") for _ in range(3)]
    assert [m.get("event") for m in replay] == ["visitor_away", None, None]  # the adviser was told, in order
    assert [m["text"] for m in replay[1:]] == ["Er du der? 1", "Er du der? 2"]
    assert [m["seq"] for m in replay] == [last_seen + 1, last_seen + 2, last_seen + 3]
    assert (await back.expect("assigned"))["adviser"]["name"] == "Amina"
    await console.expect("visitor", conversation_id=conversation_id, presence="back")

    # The adviser closes: visitor told, socket closed normally; registration due.
    await console.send({"type": "close", "conversation_id": conversation_id})
    assert (await back.expect("closed"))["reason"] == "adviser_closed"
    assert await back.closed_code() == 1000
    done = await console.expect("conversation_closed", conversation_id=conversation_id)
    assert done["registration_due"] is True and done["reason"] == "adviser_closed"

    pending = (await amina.get("/api/v1/registrations/pending")).json()["conversations"]
    assert [c["id"] for c in pending] == [conversation_id]
    (listed,) = pending
    assert listed["close_reason"] == "adviser_closed" and listed["closed_at"].endswith("Z")
    assert [m["seq"] for m in listed["messages"]] == list(range(1, len(listed["messages"]) + 1))
    assert "Hei, jeg trenger hjelp" in [m["text"] for m in listed["messages"]]
    admin = await server.login("admin")
    audit = (await admin.get("/api/v1/audit", conversation_id=conversation_id)).json()["entries"]
    assert "transcript_read" in [e["action"] for e in audit]  # reading a closed transcript is audited
    form = {
        "is_case": True,
        "main_category": "fear_of_forced_marriage",
        "other_categories": ["negative_social_control"],
        "violence_forms": [],
        "contact": "self",
        "age_group": "16_17",
        "gender": "girl_woman",
        "actions": ["advice_given", "referred_child_welfare"],
        "note": "Oppfølging neste uke.",
    }
    created = await amina.post(f"/api/v1/conversations/{conversation_id}/registration", form)
    assert created.status_code == 201, created.text
    assert created.json()["registration_id"]
    second = await amina.post(f"/api/v1/conversations/{conversation_id}/registration", form)
    assert second.status_code == 409 and second.json()["error"] == "already_registered"
    assert (await amina.get("/api/v1/registrations/pending")).json()["conversations"] == []

    sara = await server.login("sara")
    stats = (await sara.get("/api/v1/stats/cases", by="category,service,region")).json()
    assert stats["rows"] == [{"category": "fear_of_forced_marriage", "service": "MR", "region": "03", "count": "<5"}]
    assert stats["total"] is None and stats["suppressed_below"] == 5
    csv = await sara.get("/api/v1/stats/cases", by="category", format="csv", sep=",", labels="0")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[:2] == ["category,count", "fear_of_forced_marriage,<5"]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_messages_sent_back_to_back_then_leave_arrive_in_order_before_the_close(
    make_server: ServerFactory, backend: str
) -> None:
    """A visitor who types fast and leaves at once, without waiting for acks: every line is stored,
    acked and delivered in the order sent, and the conversation closes only after them."""
    server: LiveServer = await make_server(backend)
    _, console = await server.adviser("amina")
    visitor = await server.visitor()
    await visitor.send(START)
    cid = (await visitor.expect("started"))["conversation_id"]
    await visitor.expect("assigned")
    await console.expect("assigned")

    texts = [f"linje {i}" for i in range(6)]
    for i, text in enumerate(texts):
        await visitor.send({"type": "message", "client_id": f"b{i}", "text": text})
    await visitor.send({"type": "leave"})

    acks = [await visitor.expect("ack") for _ in texts]
    assert [a["client_id"] for a in acks] == [f"b{i}" for i in range(6)]
    seqs = [a["seq"] for a in acks]
    assert seqs == list(range(seqs[0], seqs[0] + 6))
    got = [await console.expect("message", conversation_id=cid, sender="visitor") for _ in texts]
    assert [(m["seq"], m["text"]) for m in got] == list(zip(seqs, texts, strict=True))
    closed_notice = await console.expect("message", conversation_id=cid, sender="system")
    assert closed_notice["seq"] == seqs[-1] + 1
    await console.expect("conversation_closed", conversation_id=cid)
    assert not [f for f in visitor.seen if f.get("type") == "error"]


async def test_resume_of_a_closed_conversation_replays_and_closes(server: LiveServer) -> None:
    _, console = await server.adviser("amina")
    visitor = await server.visitor()
    await visitor.send(START)
    started = await visitor.expect("started")
    await visitor.expect("assigned")
    await visitor.send({"type": "leave"})
    assert (await visitor.expect("closed"))["reason"] == "visitor_left"
    assert await visitor.closed_code() == 1000
    await console.expect("conversation_closed", reason="visitor_left")

    again = await server.visitor()
    await again.send({"type": "resume", "token": started["token"], "last_seq": 0})
    assert (await again.expect("resumed"))["state"] == "closed"
    events = [m.get("event") for m in frames_of(again, "message")]
    closed = await again.expect("closed")
    events += [m.get("event") for m in frames_of(again, "message") if m.get("event") not in events]
    assert "assigned" in events and "visitor_left" in events
    assert closed["reason"] == "visitor_left"
    assert await again.closed_code() == 1000


async def test_visitor_waits_in_queue_with_position_until_an_adviser_is_available(server: LiveServer) -> None:
    first, second = await server.visitor(), await server.visitor()
    for ws in (first, second):
        await ws.send({**START, "region": "32"})
        await ws.expect("started")
    assert (await first.expect("queue"))["position"] == 1
    queue2 = await second.expect("queue")
    assert queue2["position"] == 2 and queue2["estimated_wait_s"] is None  # no history: "unknown", not a guess
    # A visitor may write while waiting; the adviser gets it with the conversation.
    await first.send({"type": "message", "client_id": "early", "text": "Hallo?"})
    await first.expect("ack")
    _, console = await server.adviser("amina")
    offered = await console.expect("assigned")
    assert [m["text"] for m in offered["conversation"]["messages"] if m["sender"] == "visitor"] == ["Hallo?"]
    await first.expect("assigned")
    await second.expect("assigned")  # capacity 2: both are served
