"""One message rate limit per sender, however many instances the sender's sockets reach.

An adviser with two console tabs, one on each of two instances (Redis, PostgreSQL), sends a burst in one
conversation split across both tabs. The instances share the limit through Redis, so the burst meets
the same limit as it does when both tabs are on one instance: ``burst`` messages, and more only as
the bucket refills."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests import services
from tests.client import WS
from tests.conftest import LiveServer, ServerFactory

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.postgres]

RATE, BURST, SENT = 1, 5, 24  # per sender and conversation: 1 a second, bursts of 5


async def deployment(make_server: ServerFactory, instances: int) -> list[LiveServer]:
    env = {
        "NORA_REDIS_URL": services.need("Redis", services.REDIS_URL),
        "NORA_REDIS_PREFIX": f"nora-test-{uuid.uuid4().hex[:8]}",
        "NORA_RATE_PER_S": str(RATE),
        "NORA_RATE_BURST": str(BURST),
    }
    first = await make_server("postgres", **env)
    servers = [first]
    for _ in range(instances - 1):
        servers.append(await make_server("postgres", NORA_DATABASE_URL=first.database_url, **env))
    return servers


async def answers(ws: WS, count: int) -> list[str]:
    """The next ``count`` answers to this tab's messages: ``ack`` or the error's code."""
    out: list[str] = []
    while len(out) < count:
        frame = await ws.recv(10)
        if frame["type"] == "ack":
            out.append("ack")
        elif frame["type"] == "error" and frame.get("ref") == "message":
            out.append(frame["code"])
    return out


async def burst_over_two_tabs(servers: list[LiveServer]) -> tuple[int, int, float]:
    """(accepted, refused with rate_limited, seconds the burst took) for one sender's burst."""
    home, other = servers[0], servers[-1]
    amina, first_tab = await home.adviser("amina")
    second_tab = await WS.open(other.ws_base + "/ws/adviser", origin=other.base, cookie=amina.cookie)
    await second_tab.expect("state")
    visitor = await home.visitor()
    await visitor.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    cid = (await visitor.expect("started"))["conversation_id"]
    await first_tab.expect("assigned", timeout=10)
    tabs = [first_tab, second_tab]
    started = time.monotonic()
    for n in range(SENT):
        await tabs[n % 2].send({"type": "message", "conversation_id": cid, "client_id": f"m{n}", "text": f"nr {n}"})
    results = await asyncio.gather(*(answers(tab, SENT // 2) for tab in tabs))
    took = time.monotonic() - started
    flat = [r for result in results for r in result]
    assert set(flat) <= {"ack", "rate_limited"}
    return flat.count("ack"), flat.count("rate_limited"), took


@pytest.mark.parametrize("instances", [1, 2])
async def test_a_burst_split_across_instances_meets_one_limit(make_server: ServerFactory, instances: int) -> None:
    servers = await deployment(make_server, instances)
    accepted, refused, took = await burst_over_two_tabs(servers)
    # Two separate limits would let about 2 x BURST through; one shared limit lets BURST through, plus
    # what refilled while the burst was sent (at RATE a second), and nothing is silently dropped.
    assert BURST <= accepted <= BURST + int(took * RATE) + 1, (accepted, took)
    assert accepted + refused == SENT
