"""Fan-out of events between instances: a tiny facade over a backend chosen from a URL.

Events are wake-up hints, never the only copy of anything: every message is in the database before
it is published, and each socket fills gaps from the database by ``seq`` (docs/reliability.md 27). So a
lost event delays delivery until the next event or sync; it never loses a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

Event = dict[str, Any]  # a payload as ``chat.events`` encodes it
# What a backend puts on its listeners' queues when it reconnected and may have missed events.
RESYNC: Event = {"type": "resync"}


class Broker(ABC):
    # Whether another instance may be listening. When not, the publisher (which applies its own events
    # to its own sockets at once) need not publish at all.
    reaches_other_instances = True

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def disconnect(self) -> None: ...

    @abstractmethod
    async def publish(self, event: Event) -> None: ...

    @abstractmethod
    def send(self, event: Event) -> None:
        """Publish without waiting, in order behind every event sent before; never raises (a failure is
        logged and counted: events are hints)."""

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait (at most ``timeout``) until every event sent is out: before the instance exits, since an
        event lost there would leave a peer without a message until the conversation's next one."""
        return None

    async def listeners(self) -> int:
        """How many processes listen to the events now (other instances, before this one listens)."""
        return 0

    @abstractmethod
    def listen(self) -> contextlib.AbstractAsyncContextManager[asyncio.Queue[Event]]:
        """Subscribe for as long as the context lasts; events arrive on the queue."""

    @abstractmethod
    async def ping(self) -> None: ...


class MemoryBroker(Broker):
    """In-process broker: the embedded default and the reference for other backends."""

    reaches_other_instances = False

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        self._queues.clear()

    async def publish(self, event: Event) -> None:
        self.send(event)

    def send(self, event: Event) -> None:
        # Round-trip through JSON so the memory backend is as strict as a networked one.
        wire = json.loads(json.dumps(event))
        for queue in self._queues:
            queue.put_nowait(wire)

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    async def ping(self) -> None:
        return None


def create_broker(url: str | None, *, prefix: str = "nora", redis: Redis | None = None) -> Broker:
    """``None`` or ``memory://`` gives the in-process broker; ``redis://`` the Redis one, on ``redis``
    (the instance's one Redis client, opened by the caller)."""
    if url is None or url.startswith("memory://"):
        return MemoryBroker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        if redis is None:
            raise ValueError("a Redis broker needs the instance's Redis client")
        from chat.broker_redis import RedisBroker

        return RedisBroker(redis, channel=f"{prefix}:events")
    raise ValueError(f"unsupported broker URL scheme in {url.split(':', 1)[0]!r}")
