"""A start repeated with its client_id (its `started` lost with the connection) finds the same
conversation instead of leaving an orphan in the queue."""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio
KEY = "Qm9yYS1zdGFydC1rZXktMDAx"  # 24 characters of base64url
START = {"type": "start", "language": "ar", "region": "03", "audience": "youth", "client_id": KEY}


async def test_repeated_start_joins_the_same_conversation_with_a_fresh_token(server: LiveServer) -> None:
    _, console = await server.adviser("amina")
    first = await server.visitor()
    await first.send(START)
    started = await first.expect("started")
    await first.expect("assigned")
    await first.close()  # as if the connection broke before the client could keep the token

    again = await server.visitor()
    await again.send(START)
    restarted = await again.expect("started")
    assert restarted["conversation_id"] == started["conversation_id"]
    assert restarted["token"] != started["token"]
    replay = await again.expect("message")
    assert (replay["seq"], replay["event"]) == (1, "assigned")  # everything since the start
    assert (await again.expect("assigned"))["adviser"]["name"] == "Amina"
    await console.expect("assigned")
    assert not [f for f in await console.quiet(0.5) if f["type"] == "assigned"]  # no second conversation

    stale = await server.visitor()
    await stale.send({"type": "resume", "token": started["token"], "last_seq": 0})
    assert (await stale.expect("error"))["code"] == "not_found"  # the lost token no longer opens it

    await again.send({"type": "leave"})
    await again.expect("closed")
    fresh = await server.visitor()
    await fresh.send(START)
    assert (await fresh.expect("started"))["conversation_id"] != started["conversation_id"]


async def test_a_guessable_start_client_id_is_refused(server: LiveServer) -> None:
    ws = await server.visitor()
    await ws.send({**START, "client_id": "c1"})
    error = await ws.expect("error")
    assert error["code"] == "invalid" and set(error["fields"]) == {"client_id"}
