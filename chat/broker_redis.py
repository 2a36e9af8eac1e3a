"""Redis Pub/Sub broker for several instances. Imported only when a ``redis://`` URL is configured."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chat.broker import Broker, Event

CHANNEL = "nora:events"
log = logging.getLogger("nora.broker")


class RedisBroker(Broker):
    def __init__(self, url: str, *, channel: str = CHANNEL) -> None:
        self._redis = aioredis.Redis.from_url(url, decode_responses=True, health_check_interval=10)
        self._channel = channel

    async def connect(self) -> None:
        await self._redis.ping()

    async def disconnect(self) -> None:
        await self._redis.aclose()

    async def publish(self, event: Event) -> None:
        await self._redis.publish(self._channel, json.dumps(event, separators=(",", ":")))

    async def ping(self) -> None:
        await self._redis.ping()

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
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                if backoff > 0.1:
                    queue.put_nowait({"t": "resync"})
                backoff = 0.1
                async for item in pubsub.listen():
                    if item.get("type") == "message":
                        with contextlib.suppress(ValueError):
                            queue.put_nowait(json.loads(item["data"]))
            except (RedisConnectionError, RedisTimeoutError, OSError):
                log.warning("redis subscription lost; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                if backoff <= 0.2:
                    backoff = 0.2
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
