"""Ending a conversation as abusive (issue 17): the close reason, the audit entry, and the visitor's browser
session kept from starting another chat for NORA_ABUSE_BLOCK_MINUTES, while another session is not;
across two instances the block is kept in Redis, where it names nobody and expires by itself."""

from __future__ import annotations

import hashlib
import secrets
import uuid

import pytest
from redis.asyncio import Redis

from tests import services
from tests.client import WS, Staff
from tests.conftest import LiveServer, ServerFactory

pytestmark = pytest.mark.anyio

START = {"type": "start", "language": "nb", "region": "03", "audience": "youth"}


def session_id() -> str:
    return secrets.token_hex(16)  # what the widget keeps in sessionStorage


async def chatting(server: LiveServer, console: WS, session: str) -> tuple[WS, str]:
    visitor = await server.visitor()
    await visitor.send({**START, "session": session})
    cid = (await visitor.expect("started"))["conversation_id"]
    await console.expect("assigned")
    await visitor.expect("assigned")
    await visitor.send({"type": "message", "client_id": "v1", "text": "stygg melding"})
    await visitor.expect("ack")
    return visitor, cid


async def try_start(server: LiveServer, session: str | None) -> dict[str, object]:
    ws = await server.visitor()
    await ws.send({**START, "session": session} if session else START)
    while True:
        frame = await ws.recv()
        if frame["type"] in ("started", "error"):
            await ws.close()
            return frame


async def test_an_abusive_end_blocks_that_browser_session_and_no_other(server: LiveServer) -> None:
    _, console = await server.adviser("amina")
    session = session_id()
    visitor, cid = await chatting(server, console, session)

    await console.send({"type": "close", "conversation_id": cid, "reason": "abusive"})
    closed = await console.expect("conversation_closed", conversation_id=cid)
    assert closed["reason"] == "abusive" and closed["registration_due"] is True
    assert (await visitor.expect("closed"))["reason"] == "abusive"

    refused = await try_start(server, session)
    assert refused["type"] == "error" and refused["code"] == "blocked" and refused["ref"] == "start"
    assert 3_500_000 < int(refused["retry_after_ms"]) <= 3_600_000  # type: ignore[call-overload]
    assert (await try_start(server, session_id()))["type"] == "started"  # another browser session
    assert (await try_start(server, None))["type"] == "started"  # a client that sends none

    admin: Staff = await server.login("admin")
    entries = (await admin.get("/api/v1/audit", action="conversation_abusive")).json()["entries"]
    assert [(e["conversation_id"], e["action"]) for e in entries] == [(cid, "conversation_abusive")]
    assert session not in str(entries) and hashlib.sha256(session.encode()).hexdigest() not in str(entries)

    pending = (await server.staff[0].get("/api/v1/registrations/pending")).json()["conversations"]
    assert [(c["id"], c["close_reason"]) for c in pending] == [(cid, "abusive")]  # still registered


async def test_a_session_that_resumed_is_blocked_too(server: LiveServer) -> None:
    _, console = await server.adviser("amina")
    session = session_id()
    visitor = await server.visitor()
    await visitor.send(START)  # an older widget: no session at start
    started = await visitor.expect("started")
    await console.expect("assigned")
    await visitor.close()  # the page reloads …
    again = await server.visitor()
    await again.send({"type": "resume", "token": started["token"], "last_seq": 0, "session": session})
    await again.expect("resumed")
    await console.send({"type": "close", "conversation_id": started["conversation_id"], "reason": "abusive"})
    await again.expect("closed")
    assert (await try_start(server, session))["code"] == "blocked"


async def test_bad_reason_and_bad_session_are_refused(server: LiveServer) -> None:
    _, console = await server.adviser("amina")
    visitor, cid = await chatting(server, console, session_id())
    await console.send({"type": "close", "conversation_id": cid, "reason": "rude"})
    error = await console.expect("error")
    assert error["code"] == "invalid" and error["fields"] == {"reason": "'adviser_closed' or 'abusive'"}
    refused = await try_start(server, "short")
    assert refused["code"] == "invalid" and "session" in refused["fields"]  # type: ignore[operator]
    await console.send({"type": "close", "conversation_id": cid})  # the ordinary close is unchanged
    assert (await console.expect("conversation_closed"))["reason"] == "adviser_closed"
    assert (await visitor.expect("closed"))["reason"] == "adviser_closed"


@pytest.mark.redis
@pytest.mark.postgres
async def test_across_instances_the_block_is_a_redis_key_that_names_nobody(make_server: ServerFactory) -> None:
    redis_url = services.need("Redis", services.REDIS_URL)
    prefix = f"nora-test-{uuid.uuid4().hex[:8]}"
    env = {"NORA_REDIS_URL": redis_url, "NORA_REDIS_PREFIX": prefix, "NORA_ABUSE_BLOCK_MINUTES": "5"}
    a = await make_server("postgres", **env)
    b = await make_server("postgres", NORA_DATABASE_URL=a.database_url, **env)
    _, console = await b.adviser("amina")  # the adviser on B, the visitor on A
    session = session_id()
    visitor, cid = await chatting(a, console, session)
    await console.send({"type": "close", "conversation_id": cid, "reason": "abusive"})
    await visitor.expect("closed")

    refused = await try_start(b, session)  # refused on the other instance too
    assert refused["code"] == "blocked" and 290_000 < int(refused["retry_after_ms"]) <= 300_000  # type: ignore[call-overload]
    redis = Redis.from_url(redis_url)
    try:
        keys = [k.decode() async for k in redis.scan_iter(match=f"{prefix}:limit:block:*")]
        assert len(keys) == 1 and session not in keys[0] and cid not in keys[0]
        assert 0 < await redis.ttl(keys[0]) <= 300
    finally:
        await redis.aclose()
