"""Redis Pub/Sub broker for several instances. Imported only when a ``redis://`` URL is configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import orjson
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import Connection

from chat.broker import RESYNC, Broker, Event

CHANNEL = "nora:events"
# Events published together travel as one Pub/Sub message, ``{"type": "batch", "events": [...]}``, and
# are handed to the listener one by one. Every instance receives every event, and redis-py's Pub/Sub
# read costs about as much per message as the event itself (py-spy: a fifth of an instance's CPU at
# 1,000 messages a second across two instances); a batch pays it once. An instance of an older version
# ignores the unknown type (its clients catch up by seq, as with any event lost).
BATCH = "batch"
MAX_BATCH = 500  # events in one Pub/Sub message


class ResyncingPubSub(PubSub):
    """redis-py re-subscribes by itself after a short outage, but whatever was published meanwhile is
    gone (Pub/Sub is at-most-once); ``on_reconnect`` lets the app catch up from the database."""

    on_reconnect: Callable[[], None] | None = None
    _connects = 0

    async def on_connect(self, connection: Connection) -> None:
        await super().on_connect(connection)
        self._connects += 1
        if self._connects > 1 and self.on_reconnect is not None:
            self.on_reconnect()


log = logging.getLogger("nora.broker")


class RedisBroker(Broker):
    """Publishes on, and listens to, one channel through a client the caller owns (and closes)."""

    def __init__(self, redis: aioredis.Redis, *, channel: str = CHANNEL) -> None:
        self._redis = redis
        self._channel = channel

    async def connect(self) -> None:
        await self._redis.ping()

    async def disconnect(self) -> None:
        return None  # the client is shared with the routing state and closed by its owner

    async def publish(self, event: Event) -> None:
        await self._redis.publish(self._channel, orjson.dumps(event))

    async def publish_many(self, events: list[Event]) -> None:
        """One message per ``MAX_BATCH`` events, in one pipelined round trip (no MULTI): Redis runs the
        PUBLISHes in the order sent, and a batch keeps its events' order."""
        if len(events) == 1:
            await self.publish(events[0])
            return
        batches = [events[i : i + MAX_BATCH] for i in range(0, len(events), MAX_BATCH)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for batch in batches:
                pipe.publish(self._channel, orjson.dumps({"type": BATCH, "events": batch}))
            await pipe.execute()

    async def ping(self) -> None:
        await self._redis.ping()

    async def listeners(self) -> int:
        counts = await self._redis.pubsub_numsub(self._channel)
        return int(counts[0][1]) if counts else 0

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        task = asyncio.create_task(self._pump(queue))
        try:
            yield queue
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _pump(self, queue: asyncio.Queue[Event]) -> None:
        """Receive forever; after a Redis outage re-subscribe and ask for a resync."""
        backoff = 0.1
        while True:
            pubsub = ResyncingPubSub(self._redis.connection_pool, ignore_subscribe_messages=True)
            pubsub.on_reconnect = lambda: queue.put_nowait(dict(RESYNC))
            try:
                await pubsub.subscribe(self._channel)
                if backoff > 0.1:
                    queue.put_nowait(dict(RESYNC))
                backoff = 0.1
                async for item in pubsub.listen():
                    if item.get("type") == "message":
                        with contextlib.suppress(ValueError):
                            data = orjson.loads(item["data"])
                            if isinstance(data, dict) and data.get("type") == BATCH:
                                for event in data.get("events") or ():
                                    queue.put_nowait(event)
                            else:
                                queue.put_nowait(data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening whatever broke
                log.warning("redis subscription lost (%s); retrying in %.1fs", type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
