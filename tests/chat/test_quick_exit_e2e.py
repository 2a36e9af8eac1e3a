"""A leave by the widget's quick exit reaches the adviser as such (issue 17): the presence frame, the close
and the pending registration say "quick exit", and the transcript never says "you ended the conversation"."""

from __future__ import annotations

import pytest

from tests.client import WS, Staff
from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio

START = {"type": "start", "language": "nb", "region": "03", "audience": "youth", "page_language": "nb"}


async def chatting(server: LiveServer) -> tuple[Staff, WS, WS, str]:
    amina, console = await server.adviser("amina")
    visitor = await server.visitor()
    await visitor.send(START)
    started = await visitor.expect("started")
    await console.expect("assigned")
    await visitor.expect("assigned")
    return amina, console, visitor, started["conversation_id"]


async def test_quick_exit_is_shown_to_the_adviser_and_in_the_transcript(server: LiveServer) -> None:
    amina, console, visitor, cid = await chatting(server)
    await visitor.send({"type": "message", "client_id": "v1", "text": "Noen kommer"})
    await console.expect("message", sender="visitor")

    await visitor.send({"type": "leave", "quick_exit": True})
    presence = await console.expect("visitor", conversation_id=cid)
    assert presence == {"type": "visitor", "conversation_id": cid, "presence": "left", "quick_exit": True}
    notice = await console.expect("message", sender="system", event="visitor_quick_exit")
    assert notice["text"] == "Rask utgang"  # the button's own label, never "Du avsluttet samtalen."
    closed = await console.expect("conversation_closed", conversation_id=cid)
    assert closed["reason"] == "visitor_left" and closed["quick_exit"] is True
    assert (await visitor.expect("closed"))["reason"] == "visitor_left"

    pending = (await amina.get("/api/v1/registrations/pending")).json()["conversations"]
    item = next(c for c in pending if c["id"] == cid)
    assert item["close_reason"] == "visitor_left" and item["quick_exit"] is True
    texts = [m["text"] for m in item["messages"]]
    assert "Du avsluttet samtalen." not in texts
    assert [m["event"] for m in item["messages"] if m["sender"] == "system"][-1] == "visitor_quick_exit"


async def test_an_ordinary_leave_is_not_a_quick_exit(server: LiveServer) -> None:
    amina, console, visitor, cid = await chatting(server)
    await visitor.send({"type": "message", "client_id": "v1", "text": "Takk, ha det"})
    await console.expect("message", sender="visitor")
    await visitor.send({"type": "leave"})
    presence = await console.expect("visitor", conversation_id=cid)
    assert presence["presence"] == "left" and presence["quick_exit"] is False
    notice = await console.expect("message", sender="system", event="visitor_left")
    assert notice["text"] == "Du avsluttet samtalen."
    closed = await console.expect("conversation_closed", conversation_id=cid)
    assert closed["quick_exit"] is False
    pending = (await amina.get("/api/v1/registrations/pending")).json()["conversations"]
    assert next(c for c in pending if c["id"] == cid)["quick_exit"] is False


async def test_quick_exit_must_be_a_boolean(server: LiveServer) -> None:
    _, console, visitor, cid = await chatting(server)
    await visitor.send({"type": "leave", "quick_exit": "yes"})
    error = await visitor.expect("error")
    assert error["code"] == "invalid" and error["fields"] == {"quick_exit": "must be true or false"}
    assert not [f for f in await console.quiet(0.3) if f.get("type") == "conversation_closed"]
