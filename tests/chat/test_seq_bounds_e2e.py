"""A ``last_seq`` out of range is refused with ``invalid`` and the socket stays usable (issue 18 #9):
2^31 and above never reach the database, and a ``last_seq`` past the end of the conversation, which
would silently hide every message up to it, is refused rather than accepted."""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio


async def started(server: LiveServer) -> tuple[str, str]:
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
    frame = await visitor.expect("started")
    await visitor.send({"type": "message", "client_id": "m1", "text": "hei"})
    assert (await visitor.expect("ack"))["seq"] == 1
    return frame["conversation_id"], frame["token"]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_huge_last_seq_is_invalid_and_the_socket_stays_open(make_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    server = await make_server(backend)
    _, token = await started(server)
    again = await server.visitor()
    for huge in (2**31, 2**63, 10**30):
        await again.send({"type": "resume", "token": token, "last_seq": huge})
        error = await again.expect("error")
        assert (error["code"], error["ref"], set(error["fields"])) == ("invalid", "resume", {"last_seq"})
    await again.send({"type": "resume", "token": token, "last_seq": 0})  # the same socket still works
    await again.expect("resumed")
    assert (await again.expect("message", sender="visitor"))["text"] == "hei"


async def test_a_last_seq_past_the_end_is_refused_not_hiding_later_messages(server: LiveServer) -> None:
    _, token = await started(server)
    again = await server.visitor()
    await again.send({"type": "resume", "token": token, "last_seq": 5})  # only seq 1 exists
    error = await again.expect("error")
    assert (error["code"], set(error["fields"])) == ("invalid", {"last_seq"})
    await again.send({"type": "resume", "token": token, "last_seq": 1})
    await again.expect("resumed")


async def test_an_adviser_sync_past_the_end_or_huge_is_invalid(server: LiveServer) -> None:
    _, console = await server.adviser("amina")
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    cid = (await visitor.expect("started"))["conversation_id"]
    await console.expect("assigned")
    for after in (2**31, 50):
        await console.send({"type": "sync", "conversations": {cid: after}})
        error = await console.expect("error")
        assert (error["code"], error["ref"]) == ("invalid", "sync"), error
    await console.send({"type": "sync", "conversations": {cid: 0}})
    assert (await console.expect("message", conversation_id=cid))["seq"] == 1
