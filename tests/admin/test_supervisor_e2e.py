"""Supervisor queue view over HTTP and the live websocket feed."""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio


async def test_queue_shows_waiting_by_region_and_language_and_advisers(server: LiveServer) -> None:
    sara = await server.login("sara")
    feed = await sara.socket("/ws/supervisor")
    first = await feed.expect("queue")
    assert first["waiting"] == [] and first["active_conversations"] == 0
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "ti", "region": "50", "audience": "staff", "urgent": True})
    cid = (await visitor.expect("started"))["conversation_id"]
    update = await feed.expect("queue", timeout=5)
    while not update["waiting"]:
        update = await feed.expect("queue", timeout=5)
    (waiting,) = update["waiting"]
    assert waiting["conversation_id"] == cid and waiting["urgent"] is True and waiting["present"] is True
    assert waiting["tier"] == 2  # nobody is signed in: the tiers that add nobody are passed at once
    assert update["by_region_language"] == [
        {"region": "50", "language": "ti", "waiting": 1, "longest_wait_s": waiting["waited_s"]}
    ]
    # The urgent visitor is told where to call at once.
    urgent = await visitor.expect("message", sender="system")
    assert urgent["event"] == "urgent_help" and "112" in urgent["text"]

    _, console = await server.adviser("jonas")  # AT, speaks ti, serves staff inquiries from tier 0
    await console.expect("assigned")
    http_view = (await sara.get("/api/v1/queue")).json()
    assert http_view["waiting"] == [] and http_view["active_conversations"] == 1
    (jonas,) = http_view["advisers"]
    assert (jonas["name"], jonas["service"], jonas["active"], jonas["capacity"]) == ("Jonas", "AT", 1, 3)


async def test_feed_pushes_at_least_every_two_seconds(server: LiveServer) -> None:
    sara = await server.login("admin")  # admin who supervises has both roles
    feed = await sara.socket("/ws/supervisor")
    await feed.expect("queue")
    await feed.expect("queue", timeout=3)
