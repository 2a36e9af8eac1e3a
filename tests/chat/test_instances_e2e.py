"""Two instances on Redis and PostgreSQL behind no sticky sessions: a conversation spans both,
survives the death of one, and logout on one closes sockets on the other."""

from __future__ import annotations

import signal
import uuid

import pytest

from tests import services
from tests.client import WS
from tests.conftest import LiveServer, ServerFactory

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.postgres]


async def two_instances(make_server: ServerFactory) -> tuple[LiveServer, LiveServer]:
    redis_url = services.need("Redis", services.REDIS_URL)
    env = {"NORA_REDIS_URL": redis_url, "NORA_REDIS_PREFIX": f"nora-test-{uuid.uuid4().hex[:8]}"}
    first = await make_server("postgres", **env)
    second = await make_server("postgres", NORA_DATABASE_URL=first.database_url, **env)
    return first, second


async def test_conversation_across_instances_survives_one_dying(make_server: ServerFactory) -> None:
    a, b = await two_instances(make_server)
    _, console = await b.adviser("amina")
    visitor = await a.visitor()
    await visitor.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    started = await visitor.expect("started")
    cid = started["conversation_id"]
    assert (await visitor.expect("assigned"))["adviser"]["name"] == "Amina"  # routed by B's adviser
    await console.expect("assigned")
    await visitor.send({"type": "message", "client_id": "v1", "text": "fra A"})
    ack = await visitor.expect("ack")
    assert (await console.expect("message", conversation_id=cid, sender="visitor"))["seq"] == ack["seq"]
    await console.send({"type": "message", "conversation_id": cid, "client_id": "a1", "text": "fra B"})
    await console.expect("ack", conversation_id=cid)
    last = (await visitor.expect("message", sender="adviser"))["seq"]

    # Instance A dies without a goodbye; the adviser keeps writing; the visitor resumes on B.
    a.process.send_signal(signal.SIGKILL)
    a.process.wait(5)
    await console.send({"type": "message", "conversation_id": cid, "client_id": "a2", "text": "mens A var nede"})
    await console.expect("ack", conversation_id=cid)
    again = await b.visitor()
    await again.send({"type": "resume", "token": started["token"], "last_seq": last})
    await again.expect("resumed")
    missed = await again.expect("message")
    assert (missed["seq"], missed["text"]) == (last + 1, "mens A var nede")


async def test_logout_on_one_instance_closes_the_socket_on_the_other(make_server: ServerFactory) -> None:
    a, b = await two_instances(make_server)
    amina = await a.login("amina")
    ws = await WS.open(b.ws_base + "/ws/adviser", origin=b.base, cookie=amina.cookie)
    await ws.expect("state")
    assert (await amina.post("/api/v1/auth/logout", {})).status_code == 204
    assert await ws.closed_code(timeout=5) == 1008
