"""Redis Pub/Sub broker for several instances. Imported only when a ``redis://`` URL is configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable

import orjson
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

from chat import metrics
from chat.broker import RESYNC, Broker, Event

CHANNEL = "nora:events"
# Events sent in one turn of the loop (``Publisher``) travel as one Pub/Sub message,
# ``{"type": "batch", "events": [...]}``, and are handed to the listener one by one. Every instance
# receives every event, and redis-py's Pub/Sub read costs about as much per message as the event itself
# (py-spy: a fifth of an instance's CPU at 1,000 messages a second across two instances); a batch pays
# it once. An instance of an older version ignores the unknown type (its clients catch up by seq, as
# with any event lost).
BATCH = "batch"
MAX_BATCH = 500  # events in one Pub/Sub message
CLIENT_NAME = "nora-publisher"
MAX_PENDING = 10_000  # events held for a publisher that cannot reach Redis; beyond, a resync replaces them


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


class Publisher:
    """Publishes on a connection of its own without waiting for each answer: every event sent in one turn
    of the event loop goes out as one PUBLISH, written at the next turn, and a reader counts the answers.

    Through the shared client every event was a command of its own: a connection taken from the pool, a
    write, a wait for the answer, and the connection given back, for every message of every chat
    (``bench/README.md``, "Issue 20: the publisher"). The connection is made by the client's own pool, so
    TLS, a password, a Unix socket and the client's settings apply as to every other command; it is
    named ``CLIENT_NAME`` in ``CLIENT LIST``.

    Events are hints (``chat.broker``), but a lost one delays a message until the next: when the
    connection breaks with PUBLISHes written and not answered, the first thing sent on the next
    connection is a resync, so every instance's sockets catch up from the database at once. Events sent
    while Redis is away wait and go out on the next connection; past ``MAX_PENDING`` they are dropped
    and a resync takes their place.
    """

    def __init__(self, redis: aioredis.Redis, channel: str, name: str = CLIENT_NAME) -> None:
        self._redis = redis
        self._channel = channel
        self._name = name
        self._pending: list[Event] = []
        self._wake = asyncio.Event()
        self._written = 0  # PUBLISH commands written on the current connection
        self._answered = 0
        self._resync = False  # the last connection broke with events maybe lost
        self._broken: BaseException | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="nora-publish")

    async def stop(self, timeout: float = 2.0) -> None:
        """Publish what is waiting, then close. Told, not cancelled, first: redis-py's connect can swallow
        a cancellation and carry on."""
        await self.flush(timeout)
        self._closing = True
        self._wake.set()
        task = self._task
        if task is not None and not (await asyncio.wait({task}, timeout=1.0))[0]:
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)

    def send(self, event: Event) -> None:
        if len(self._pending) >= MAX_PENDING:
            # Redis has been away for a while: what queued up is dropped, and a resync replaces it.
            metrics.BROKER_FAILURES.inc(len(self._pending))
            self._pending.clear()
            self._resync = True
        self._pending.append(event)
        self._wake.set()

    async def flush(self, timeout: float) -> None:
        """Wait until every event sent has been published and answered, or ``timeout`` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (self._pending or self._answered < self._written) and loop.time() < deadline:
            if self._task is None or self._task.done():
                return
            await asyncio.sleep(0.005)

    async def _run(self) -> None:
        backoff = 0.1
        while not self._closing:
            connection = self._redis.connection_pool.make_connection()  # type: ignore[no-untyped-call]
            reader: asyncio.Task[None] | None = None
            try:
                await connection.connect()
                await connection.send_command("CLIENT", "SETNAME", self._name)
                with contextlib.suppress(ResponseError):  # a name is a help, not a need (an ACL may deny it)
                    await connection.read_response()
                self._written = self._answered = 0
                self._broken = None
                reader = asyncio.create_task(self._read(connection))
                backoff = 0.1
                await self._write(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect whatever broke
                if self._answered < self._written:  # written, maybe never published; what waits, waits
                    self._resync = True
                    metrics.BROKER_FAILURES.inc(self._written - self._answered)
                log.warning("redis publisher lost its connection (%s); retrying in %.1fs", type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if reader is not None:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await reader
                with contextlib.suppress(Exception):
                    await connection.disconnect()

    async def _write(self, connection: Connection) -> None:
        while True:
            if not self._pending and not self._resync:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
            if self._broken is not None:
                raise self._broken
            batch, self._pending = self._pending, []
            if self._resync:  # events were lost (a broken connection, or too many waiting): first this
                batch.insert(0, dict(RESYNC))
                self._resync = False
            try:
                for start in range(0, len(batch), MAX_BATCH):
                    part = batch[start : start + MAX_BATCH]
                    payload = orjson.dumps(part[0] if len(part) == 1 else {"type": BATCH, "events": part})
                    await connection.send_packed_command(
                        connection.pack_command("PUBLISH", self._channel, payload), check_health=False
                    )
                    self._written += 1
            except BaseException:
                self._resync = True  # some of this batch may not have gone out
                raise

    async def _read(self, connection: Connection) -> None:
        try:
            while True:
                try:
                    await connection.read_response(disable_decoding=True, timeout=math.inf)
                except ResponseError as exc:  # that PUBLISH was refused; the connection is fine
                    metrics.BROKER_FAILURES.inc()
                    log.warning("redis refused a publish (%s)", type(exc).__name__)
                self._answered += 1
        except Exception as exc:  # noqa: BLE001 - the writer reconnects
            self._broken = exc
            self._wake.set()


class RedisBroker(Broker):
    """Publishes on, and listens to, one channel through a client the caller owns (and closes)."""

    def __init__(self, redis: aioredis.Redis, *, channel: str = CHANNEL, publisher_name: str = CLIENT_NAME) -> None:
        self._redis = redis
        self._channel = channel
        self._publisher = Publisher(redis, channel, publisher_name)

    async def connect(self) -> None:
        await self._redis.ping()
        self._publisher.start()

    async def disconnect(self) -> None:
        # The client is shared with the routing state and closed by its owner; the publisher's
        # connection is this broker's own.
        await self._publisher.stop()

    def send(self, event: Event) -> None:
        self._publisher.send(event)

    async def flush(self, timeout: float = 5.0) -> None:
        await self._publisher.flush(timeout)

    async def publish(self, event: Event) -> None:
        await self._redis.publish(self._channel, orjson.dumps(event))

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
