"""The resources an app instance runs on, started in order and released in reverse.

Everything is entered on one ``AsyncExitStack``: if a step fails while starting (the database is
unreachable, Redis refuses, the reference data is broken), whatever already started is closed again
before the error propagates, and on shutdown everything is closed in the reverse order it started.
One Redis client (when ``NORA_REDIS_URL`` is set) serves the broker, the routing state and the shared
limits, so an instance's Redis connections have one budget (``REDIS_MAX_CONNECTIONS``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from admin.accounts import Accounts, Directory, Sessions
from admin.context import AdminContext
from admin.passwords import Passwords, use_fast_hashing
from chat.broker import Broker, create_broker
from chat.drain import drain
from chat.service import ChatService
from chat.store import ConversationStore
from core.clock import Clock
from core.db import Database
from core.limits import Limits, RedisLimits, create_limits
from core.reference import ReferenceBox, load_reference
from core.settings import Settings
from nora.shutdown import drain_on_sigterm
from routing import RoutingState
from routing.backends.memory import MemoryRoutingState
from routing.policy import TierDelays

if TYPE_CHECKING:
    from redis.asyncio import Redis

# 64 for routing transactions and 32 for the broker's publishes and its subscription, as before they
# shared one client; a blocking pool makes a burst wait its turn instead of failing past the limit.
REDIS_MAX_CONNECTIONS = 96

log = logging.getLogger("nora.lifespan")


@dataclass(frozen=True)
class AppState:
    """What the handlers reach through ``app.state``; built once per app in the lifespan."""

    settings: Settings
    db: Database
    redis: Redis | None
    limits: Limits
    chat: ChatService
    admin: AdminContext


@contextlib.asynccontextmanager
async def open_redis(url: str) -> AsyncIterator[Redis]:
    from redis.asyncio import BlockingConnectionPool, Redis

    pool = BlockingConnectionPool.from_url(
        url, max_connections=REDIS_MAX_CONNECTIONS, timeout=30, health_check_interval=10
    )
    client = Redis(connection_pool=pool)
    try:
        await client.ping()
        yield client
    finally:
        await client.aclose(close_connection_pool=True)


@contextlib.asynccontextmanager
async def open_database(url: str, pool: int = 20) -> AsyncIterator[Database]:
    db = Database.from_url(url, pool=pool)
    try:
        yield db
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def connected(broker: Broker) -> AsyncIterator[Broker]:
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.disconnect()


@contextlib.asynccontextmanager
async def running(chat: ChatService) -> AsyncIterator[ChatService]:
    try:
        await chat.start()
        yield chat
    finally:
        await chat.stop()


@contextlib.asynccontextmanager
async def app_resources(
    settings: Settings,
    *,
    clock: Clock,
    broker: Broker | None = None,
    routing: RoutingState | None = None,
) -> AsyncIterator[AppState]:
    """Start everything an instance needs; ``broker`` and ``routing`` may be injected (tests)."""
    async with contextlib.AsyncExitStack() as stack:
        db = await stack.enter_async_context(open_database(settings.database_url, settings.db_pool_size))
        redis = await stack.enter_async_context(open_redis(settings.redis_url)) if settings.redis_url else None
        the_broker = await stack.enter_async_context(
            connected(broker or create_broker(settings.redis_url, prefix=settings.redis_prefix, redis=redis))
        )
        async with db.session() as session:
            reference = ReferenceBox(await load_reference(session))
        delays = TierDelays.of(settings.tier_delays_s)
        if routing is None and redis is not None:
            from routing.backends.redis import RedisRoutingState

            routing = RedisRoutingState(redis, delays, key=f"{settings.redis_prefix}:routing")
        limits = create_limits(redis, prefix=settings.redis_prefix, clock=clock)
        if isinstance(limits, RedisLimits) and settings.rate_leases:
            await stack.enter_async_context(limits.leasing())  # exits after the chat: leases given back
        use_fast_hashing(settings.fast_password_hashing)
        if settings.fast_password_hashing:
            log.warning("NORA_PASSWORD_HASHING=fast: passwords are hashed for a test suite, not for use")
        passwords = Passwords(max_waiting=settings.login_hash_queue)
        accounts = Accounts(db, passwords, clock=clock)
        sessions = Sessions(db, idle_s=settings.session_idle_s, absolute_s=settings.session_absolute_s, clock=clock)
        directory = Directory(accounts, sessions, settings.session_cookie_name)
        store = ConversationStore(db)
        stack.push_async_callback(store.close)
        chat = ChatService(
            settings=settings,
            store=store,
            routing=routing or MemoryRoutingState(delays),
            broker=the_broker,
            directory=directory,
            reference=reference,
            clock=clock,
            limits=limits,
        )
        admin = AdminContext(
            settings=settings,
            db=db,
            accounts=accounts,
            sessions=sessions,
            directory=directory,
            chat=chat,
            reference=reference,
            limits=limits,
            clock=clock,
        )
        await stack.enter_async_context(running(chat))
        stack.enter_context(drain_on_sigterm(partial(drain, chat)))  # SIGTERM: a rolling restart
        yield AppState(settings=settings, db=db, redis=redis, limits=limits, chat=chat, admin=admin)
