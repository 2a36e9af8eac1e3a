"""Every error of the wire contract, over real sockets: a typed frame, the socket stays open, nothing changes."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import InvalidStatus

from tests.client import WS
from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio
START = {"type": "start", "language": "nb", "region": "03", "audience": "youth"}


async def started_visitor(server: LiveServer) -> tuple[WS, dict[str, object]]:
    ws = await server.visitor()
    await ws.send(START)
    return ws, await ws.expect("started")


async def still_works(ws: WS) -> None:
    """The socket is still open and serving after an error."""
    await ws.send({"type": "message", "client_id": "after-error", "text": "still here"})
    assert (await ws.expect("ack"))["client_id"] == "after-error"


async def test_malformed_frames_get_bad_frame_and_keep_the_socket(server: LiveServer) -> None:
    ws, _ = await started_visitor(server)
    for raw in ("not json", "[1,2]", '"text"', "{}", '{"type": 5}', b"\x00\x01binary"):
        await ws.send(raw)
        error = await ws.expect("error")
        assert error["code"] == "bad_frame", raw
        assert error["message"]
    await still_works(ws)


async def test_unknown_type_names_the_offending_type(server: LiveServer) -> None:
    ws, _ = await started_visitor(server)
    await ws.send({"type": "hack"})
    error = await ws.expect("error")
    assert (error["code"], error["ref"]) == ("unknown_type", "hack")
    # Adviser-only frames are unknown on the visitor socket.
    await ws.send({"type": "close", "conversation_id": "0" * 32})
    assert (await ws.expect("error"))["code"] == "unknown_type"
    await still_works(ws)


async def test_invalid_start_names_each_field_and_creates_nothing(server: LiveServer) -> None:
    ws = await server.visitor()
    await ws.send(
        {
            "type": "start",
            "language": "xx",
            "region": "99",
            "audience": "aliens",
            "urgent": "yes",
            "also_languages": ["zz"],
        }
    )
    error = await ws.expect("error")
    assert error["code"] == "invalid" and error["ref"] == "start"
    assert set(error["fields"]) == {"language", "region", "audience", "urgent", "also_languages"}
    await ws.send({"type": "start", "region": "03"})
    assert set((await ws.expect("error"))["fields"]) == {"language", "audience"}
    # Nothing was created: a valid start afterwards is this socket's first conversation.
    await ws.send(START)
    await ws.expect("started")


async def test_invalid_messages(server: LiveServer) -> None:
    ws, _ = await started_visitor(server)
    cases = [
        ({"type": "message", "client_id": "c1", "text": "   "}, {"text"}),
        ({"type": "message", "client_id": "c1", "text": "x" * 4001}, {"text"}),
        ({"type": "message", "client_id": "bad id!", "text": "hei"}, {"client_id"}),
        ({"type": "message", "client_id": "x" * 65, "text": "hei"}, {"client_id"}),
        ({"type": "message", "text": 7}, {"client_id", "text"}),
    ]
    for frame, fields in cases:
        await ws.send(frame)
        error = await ws.expect("error")
        assert error["code"] == "invalid" and set(error["fields"]) == fields, frame
    await ws.send({"type": "message", "client_id": "c-max", "text": "y" * 4000})
    assert (await ws.expect("ack"))["seq"] == 1  # the refused frames took no seq


async def test_message_before_start_and_second_start(server: LiveServer) -> None:
    ws = await server.visitor()
    await ws.send({"type": "message", "client_id": "c1", "text": "hei"})
    assert (await ws.expect("error"))["code"] == "not_found"
    await ws.send(START)
    await ws.expect("started")
    await ws.send(START)
    assert (await ws.expect("error"))["code"] == "forbidden"
    await still_works(ws)


async def test_resume_with_unknown_token_is_not_found(server: LiveServer) -> None:
    ws = await server.visitor()
    await ws.send({"type": "resume", "token": "A" * 43, "last_seq": 0})
    assert (await ws.expect("error"))["code"] == "not_found"
    await ws.send({"type": "resume", "token": "short", "last_seq": -1})
    error = await ws.expect("error")
    assert error["code"] == "invalid" and set(error["fields"]) == {"token", "last_seq"}


async def test_rate_limit_refuses_with_retry_after_and_changes_nothing(server: LiveServer) -> None:
    ws, _ = await started_visitor(server)
    for n in range(15):
        await ws.send({"type": "message", "client_id": f"m{n}", "text": f"melding {n}"})
    frames = [await ws.recv() for _ in range(15)]
    acks = [f for f in frames if f["type"] == "ack"]
    limited = [f for f in frames if f["type"] == "error"]
    assert len(acks) >= 10 and limited, frames
    assert all(f["code"] == "rate_limited" and f["retry_after_ms"] > 0 for f in limited)
    assert [a["seq"] for a in acks] == list(range(1, len(acks) + 1))  # refused ones took no seq


async def test_oversized_frame_closes_with_1009(server: LiveServer) -> None:
    ws, _ = await started_visitor(server)
    await ws.send(json.dumps({"type": "message", "client_id": "big", "text": "x" * 17000}))
    assert await ws.closed_code() == 1009


async def test_adviser_cannot_touch_another_advisers_conversation(server: LiveServer) -> None:
    _, amina_ws = await server.adviser("amina")
    visitor, started = await started_visitor(server)
    conversation_id = started["conversation_id"]
    await amina_ws.expect("assigned")
    await visitor.expect("message", sender="system")
    _, omar_ws = await server.adviser("omar")
    for frame in (
        {"type": "message", "conversation_id": conversation_id, "client_id": "x1", "text": "snoop"},
        {"type": "typing", "conversation_id": conversation_id},
        {"type": "close", "conversation_id": conversation_id},
        {"type": "sync", "conversations": {conversation_id: 0}},
        {"type": "transfer", "conversation_id": conversation_id, "to": {"service": "AT"}},
    ):
        await omar_ws.send(frame)
        error = await omar_ws.expect("error")
        assert error["code"] == "not_found", frame  # the same answer as for a conversation that does not exist
    await omar_ws.send({"type": "message", "conversation_id": "f" * 32, "client_id": "x2", "text": "hei"})
    assert (await omar_ws.expect("error"))["code"] == "not_found"
    # Nothing reached the visitor, and the conversation is still open.
    assert not [f for f in await visitor.quiet(0.5) if f["type"] in ("message", "closed")]
    await still_works(visitor)


async def test_adviser_frame_validation(server: LiveServer) -> None:
    _, ws = await server.adviser("amina", available=False)
    await ws.send({"type": "status", "status": "sleeping"})
    assert (await ws.expect("error"))["fields"] == {"status": "must be 'available' or 'away'"}
    await ws.send({"type": "message", "client_id": "a", "text": "hei"})
    assert set((await ws.expect("error"))["fields"]) == {"conversation_id"}
    await ws.send({"type": "sync", "conversations": []})
    assert (await ws.expect("error"))["code"] == "invalid"
    await ws.send({"type": "status", "status": "available"})
    await ws.expect("status", status="available")


async def test_foreign_origin_is_refused_before_the_upgrade(make_server) -> None:  # type: ignore[no-untyped-def]
    server = await make_server(NORA_ALLOWED_ORIGINS="https://nora.example")
    for origin in ("https://evil.example", "null", "https://nora.example.evil.com", "http://nora.example"):
        with pytest.raises(InvalidStatus) as refused:
            await WS.open(server.ws_base + "/ws/visitor", origin=origin)
        assert refused.value.response.status_code == 403, origin
    ok = await WS.open(server.ws_base + "/ws/visitor", origin="https://nora.example")
    await ok.close()
    ok = await WS.open(server.ws_base + "/ws/visitor")  # visitors without Origin (non-browser clients)
    await ok.close()


async def test_staff_sockets_need_session_role_and_origin(server: LiveServer) -> None:
    amina = await server.login("amina")
    sara = await server.login("sara")
    adviser_url = server.ws_base + "/ws/adviser"
    attempts = [
        (adviser_url, server.base, None),  # no session
        (adviser_url, None, amina.cookie),  # no Origin
        (adviser_url, "https://evil.example", amina.cookie),  # foreign Origin
        (adviser_url, server.base, sara.cookie),  # wrong role
        (server.ws_base + "/ws/supervisor", server.base, amina.cookie),  # adviser on the supervisor feed
        (adviser_url, server.base, "nora_session=forged-token-value"),
    ]
    for url, origin, cookie in attempts:
        with pytest.raises(InvalidStatus) as refused:
            await WS.open(url, origin=origin, cookie=cookie)
        assert refused.value.response.status_code == 403, (url, origin, cookie)
    ws = await amina.socket()
    assert (await ws.expect("state"))["adviser"]["name"] == "Amina"
    await ws.close()


async def test_compression_is_not_negotiated(server: LiveServer) -> None:
    from websockets.asyncio.client import connect
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    conn = await connect(server.ws_base + "/ws/visitor", extensions=[ClientPerMessageDeflateFactory()])
    try:
        assert conn.response is not None
        assert "Sec-WebSocket-Extensions" not in conn.response.headers  # CRIME/BREACH-style leaks
    finally:
        await conn.close()
