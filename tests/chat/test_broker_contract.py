"""One contract for every broker backend (in-process and Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from chat.broker import Broker, MemoryBroker, create_broker
from tests import services

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    client = None
    if request.param == "memory":
        b: Broker = MemoryBroker()
    else:
        from redis.asyncio import Redis

        from chat.broker_redis import RedisBroker

        client = Redis.from_url(services.need("Redis", services.REDIS_URL))
        b = RedisBroker(client, channel=f"nora:test:{uuid.uuid4().hex}")
    await b.connect()
    yield b
    await b.disconnect()
    if client is not None:
        await client.aclose()


async def wait_subscribed(broker: Broker, queue: asyncio.Queue[dict[str, object]]) -> None:
    """Publish probes until one arrives: Redis subscriptions become live asynchronously."""
    for _ in range(50):
        await broker.publish({"t": "probe"})
        try:
            await asyncio.wait_for(queue.get(), 0.1)
            while not queue.empty():
                queue.get_nowait()
            return
        except TimeoutError:
            continue
    raise AssertionError("subscription never became live")


async def test_every_listener_gets_every_event_in_order(broker: Broker) -> None:
    async with broker.listen() as first, broker.listen() as second:
        await wait_subscribed(broker, first)
        while not second.empty():
            second.get_nowait()
        events = [{"t": "msg", "n": n, "text": "æøå العربية"} for n in range(50)]
        for event in events:
            await broker.publish(event)
        for queue in (first, second):
            got = [await asyncio.wait_for(queue.get(), 2) for _ in events]
            assert got == events


async def test_a_closed_listener_gets_nothing_more(broker: Broker) -> None:
    async with broker.listen() as queue:
        await wait_subscribed(broker, queue)
    await broker.publish({"t": "after"})
    await asyncio.sleep(0.1)
    assert queue.empty()


async def test_ping(broker: Broker) -> None:
    await broker.ping()


def test_backend_is_chosen_from_the_url() -> None:
    assert isinstance(create_broker(None), MemoryBroker)
    assert isinstance(create_broker("memory://"), MemoryBroker)
    with pytest.raises(ValueError, match="kafka"):
        create_broker("kafka://x")


async def test_events_published_together_arrive_in_order(broker: Broker) -> None:
    async with broker.listen() as queue:
        await wait_subscribed(broker, queue)
        broker.send({"t": "before"})
        await asyncio.sleep(0)  # a turn of the loop of its own
        events = [{"t": "msg", "n": n} for n in range(200)]
        for event in events:  # all in one turn of the loop
            broker.send(event)
        await asyncio.sleep(0)
        broker.send({"t": "after"})
        await broker.flush()
        got = [await asyncio.wait_for(queue.get(), 2) for _ in range(len(events) + 2)]
        assert got == [{"t": "before"}, *events, {"t": "after"}]


@pytest.mark.redis
async def test_redis_sends_events_published_together_as_one_message() -> None:
    """Every instance reads every event, and a Pub/Sub message costs its reader about as much as the
    event: events published together travel as one message, and the listener gets them one by one."""
    from redis.asyncio import Redis

    from chat.broker_redis import RedisBroker

    client = Redis.from_url(services.need("Redis", services.REDIS_URL))
    channel = f"nora:test:{uuid.uuid4().hex}"
    broker = RedisBroker(client, channel=channel)
    await broker.connect()
    raw = client.pubsub(ignore_subscribe_messages=True)
    try:
        await raw.subscribe(channel)
        async with broker.listen() as queue:
            await wait_subscribed(broker, queue)
            events = [{"t": "msg", "n": n} for n in range(20)]
            for event in events:  # in one turn of the loop
                broker.send(event)
            await broker.flush()
            got = [await asyncio.wait_for(queue.get(), 2) for _ in events]
        assert got == events
        messages = []
        deadline = asyncio.get_running_loop().time() + 1.0
        while asyncio.get_running_loop().time() < deadline:  # None may also mean a subscribe notice
            message = await raw.get_message(timeout=0.1)
            if message is not None and b'"msg"' in message["data"]:  # not one of the probes
                messages.append(message)
        assert len(messages) == 1
    finally:
        await broker.disconnect()
        await raw.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


@pytest.mark.redis
async def test_redis_publisher_that_lost_its_connection_tells_every_instance_to_catch_up() -> None:
    """An event written to a connection that broke before Redis answered may never have been published:
    the next connection's first event is a resync, so every instance's sockets catch up from the
    database at once instead of at their conversation's next message; events sent later still arrive."""
    from redis.asyncio import Redis

    from chat.broker import RESYNC
    from chat.broker_redis import RedisBroker

    client = Redis.from_url(services.need("Redis", services.REDIS_URL))
    # A name of its own: the servers of tests running beside this one have publishers on this Redis too.
    name = f"nora-publisher-test-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker(client, channel=f"nora:test:{uuid.uuid4().hex}", publisher_name=name)
    await broker.connect()
    try:
        async with broker.listen() as queue:
            await wait_subscribed(broker, queue)
            broker.send({"t": "before"})
            assert await asyncio.wait_for(queue.get(), 2) == {"t": "before"}
            # Redis holds every PUBLISH while writes are paused (at most 1 s, lifted below): "during" is
            # written and left unanswered when its connection is killed, and Redis drops it.
            await client.execute_command("CLIENT", "PAUSE", "1000", "WRITE")
            try:
                broker.send({"t": "during"})
                await asyncio.sleep(0.1)
                killed = 0
                for line in (await client.execute_command("CLIENT", "LIST")).decode().splitlines():
                    fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
                    if fields.get("name") == name:
                        killed += await client.execute_command("CLIENT", "KILL", "ID", fields["id"])
                assert killed == 1
                await asyncio.sleep(0.1)
            finally:
                await client.execute_command("CLIENT", "UNPAUSE")
            assert await asyncio.wait_for(queue.get(), 5) == RESYNC
            broker.send({"t": "after"})
            assert await asyncio.wait_for(queue.get(), 5) == {"t": "after"}
    finally:
        await broker.disconnect()
        await client.aclose()


async def test_events_sent_without_waiting_arrive_in_order(broker: Broker) -> None:
    async with broker.listen() as queue:
        await wait_subscribed(broker, queue)
        events = [{"t": "msg", "n": n} for n in range(300)]
        for event in events:
            broker.send(event)
            if event["n"] % 7 == 0:
                await asyncio.sleep(0)  # some in one turn of the loop, some in the next
        await broker.flush()
        got = [await asyncio.wait_for(queue.get(), 2) for _ in events]
        assert got == events
