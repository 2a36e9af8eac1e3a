"""A Redis restart (which here keeps nothing) degrades the service without losing anything."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerFactory, free_port
from tests.services import PrivateRedis

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(free_port(), str(tmp_path))
    redis.start()
    yield redis
    redis.stop()


async def test_messages_and_routing_survive_a_redis_restart(make_server: ServerFactory, private_redis) -> None:  # type: ignore[no-untyped-def]
    server = await make_server(NORA_REDIS_URL=private_redis.url)
    _, console = await server.adviser("amina")
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    cid = (await visitor.expect("started"))["conversation_id"]
    await visitor.expect("assigned")
    await console.expect("assigned")

    await asyncio.to_thread(private_redis.stop)
    # While Redis is down a message is still stored and acknowledged.
    await console.send({"type": "message", "conversation_id": cid, "client_id": "during", "text": "under utfallet"})
    ack = await console.expect("ack", conversation_id=cid)
    await asyncio.to_thread(private_redis.start)  # empty: the routing state is gone

    # The visitor gets the message once events flow again (resync from the database) ...
    got = await visitor.expect("message", sender="adviser", timeout=15)
    assert (got["seq"], got["text"]) == (ack["seq"], "under utfallet")
    # ... and routing works again: the adviser (capacity 2) is back in the rebuilt state.
    second = await server.visitor()
    await second.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
    await second.expect("started")
    assert (await second.expect("assigned", timeout=15))["adviser"]["name"] == "Amina"
