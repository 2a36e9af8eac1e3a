"""A visitor's U+0000 over a real socket on PostgreSQL: refused as ``invalid`` for that visitor alone,
while the messages other visitors send at the same moment are stored, acknowledged and delivered."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.client import WS
from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio
START = {"type": "start", "language": "nb", "region": "03", "audience": "youth"}
VISITORS = 5  # one sends U+0000, four are bystanders
ROUNDS = 4


@pytest.mark.postgres
async def test_a_nul_from_one_visitor_is_invalid_and_breaks_nobody_else_s_message(make_server: ServerFactory) -> None:
    server = await make_server("postgres")
    _, amina = await server.adviser("amina")
    await amina.send({"type": "capacity", "capacity": VISITORS})
    await amina.expect("capacity", capacity=VISITORS)
    visitors: list[WS] = []
    conversation_of: dict[int, str] = {}
    for n in range(VISITORS):
        ws = await server.visitor()
        await ws.send(START)
        conversation_of[n] = (await ws.expect("started"))["conversation_id"]
        await ws.expect("assigned")
        await amina.expect("assigned")
        visitors.append(ws)
    sender, bystanders = visitors[0], visitors[1:]

    for round_ in range(ROUNDS):
        # Every frame written to the wire at the same moment, so on the server they meet in one batch.
        frames = [(sender, {"type": "message", "client_id": f"nul-{round_}", "text": f"hei\u0000{round_}"})]
        frames += [
            (ws, {"type": "message", "client_id": f"m-{round_}-{n}", "text": f"melding {round_} fra {n}"})
            for n, ws in enumerate(bystanders, start=1)
        ]
        await asyncio.gather(*(ws.send(json.dumps(frame)) for ws, frame in frames))

        error = await sender.expect("error")
        assert (error["code"], error["ref"]) == ("invalid", "message")
        assert set(error["fields"]) == {"text"} and "control character" in error["fields"]["text"]
        for n, ws in enumerate(bystanders, start=1):
            ack = await ws.expect("ack", client_id=f"m-{round_}-{n}")
            assert ack["seq"] == round_ + 2  # after the 'assigned' notice, one per round: no gap
        received = {}
        while len(received) < len(bystanders):
            frame = await amina.expect("message", sender="visitor")
            received[frame["conversation_id"]] = frame["text"]
        assert received == {conversation_of[n]: f"melding {round_} fra {n}" for n in range(1, VISITORS)}

    # The sender's socket stayed open and serves the next message; nothing of its NUL was stored.
    await sender.send({"type": "message", "client_id": "after", "text": "uten nulltegn"})
    assert (await sender.expect("ack", client_id="after"))["seq"] == 2  # the 'assigned' notice, then this
    assert (await amina.expect("message", sender="visitor"))["text"] == "uten nulltegn"
    # An adviser's text and transfer note follow the same rule.
    cid = conversation_of[1]
    await amina.send({"type": "message", "conversation_id": cid, "client_id": "a1", "text": "svar\u0000"})
    assert set((await amina.expect("error"))["fields"]) == {"text"}
    await amina.send({"type": "transfer", "conversation_id": cid, "to": {"service": "AT"}, "note": "x\u0085y"})
    assert set((await amina.expect("error"))["fields"]) == {"note"}
    await amina.send({"type": "message", "conversation_id": cid, "client_id": "a2", "text": "svar"})
    await amina.expect("ack", client_id="a2")
    for ws in visitors:
        assert ws.conn.close_code is None  # nothing was closed, with 1011 or otherwise
    assert "unexpected error" not in server.log()
