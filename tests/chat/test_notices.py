"""The supervisors' recent notices (chat/notices.py), in memory and on the real Redis: what a console
that opens later is shown, and that an instance started later shows the same."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from chat.events import Notice
from chat.notices import NOTICE_SHOWN_S, NOTICES_KEPT, Notices, RedisNotices, create_notices
from core.clock import iso, to_datetime
from core.limits import RedisLimits
from tests import services
from tests.conftest import free_port

if TYPE_CHECKING:
    from redis.asyncio import Redis

pytestmark = pytest.mark.anyio
NOW = 1_800_000_000.0


def notice(text: str, at: float, sender: str = "Sara") -> Notice:
    return Notice(text, sender, iso(to_datetime(at)) or "")


class Backend:
    def __init__(self, prefix: str, clients: list[Redis] | None = None) -> None:
        self.prefix = prefix
        self.clients = clients  # None: memory
        self.memory: Notices | None = None

    async def instance(self) -> Notices:
        """The notice log of one more instance: the same one in memory, a new Redis client on Redis."""
        if self.clients is None:
            self.memory = self.memory or create_notices(None, self.prefix)
            return self.memory
        from redis.asyncio import Redis

        client = Redis.from_url(services.need("Redis", services.REDIS_URL))
        self.clients.append(client)
        return create_notices(RedisLimits(client, prefix=self.prefix), self.prefix)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    prefix = f"nora-test-{uuid.uuid4().hex[:10]}"
    if request.param == "memory":
        yield Backend(prefix)
        return
    b = Backend(prefix, [])
    try:
        yield b
    finally:
        assert b.clients is not None
        for client in b.clients:
            keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()


async def test_a_later_console_is_shown_the_latest_notices_oldest_first(backend: Backend) -> None:
    sender = await backend.instance()
    for n in range(NOTICES_KEPT + 5):
        await sender.add(notice(f"Notis {n}", NOW + n))
    await sender.add(notice("اجتماع الساعة ٢ · Møte kl. 14", NOW + 100, sender="Åse Øren"))
    later = await backend.instance()  # on Redis: another instance, which was not running when they were sent
    shown = await later.recent(NOW + 200)
    assert len(shown) == NOTICES_KEPT
    assert [n.text for n in shown[:-1]] == [f"Notis {n}" for n in range(6, NOTICES_KEPT + 5)]
    assert shown[-1] == notice("اجتماع الساعة ٢ · Møte kl. 14", NOW + 100, sender="Åse Øren")


async def test_a_notice_older_than_twelve_hours_is_not_shown(backend: Backend) -> None:
    log = await backend.instance()
    await log.add(notice("i går", NOW))
    await log.add(notice("i dag", NOW + 6 * 3600))
    assert [n.text for n in await log.recent(NOW + NOTICE_SHOWN_S + 60)] == ["i dag"]
    assert await log.recent(NOW + 6 * 3600 + NOTICE_SHOWN_S + 60) == []


@pytest.mark.redis
async def test_on_redis_the_notices_expire_by_themselves() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(services.need("Redis", services.REDIS_URL))
    prefix = f"nora-test-{uuid.uuid4().hex[:10]}"
    try:
        log = create_notices(RedisLimits(client, prefix=prefix), prefix)
        assert isinstance(log.log, RedisNotices)
        await log.add(notice("Møte", NOW))
        ttl = await client.ttl(f"{prefix}:notices")
        assert NOTICE_SHOWN_S - 60 <= ttl <= NOTICE_SHOWN_S
    finally:
        await client.delete(f"{prefix}:notices")
        await client.aclose()


async def test_with_redis_away_a_notice_still_goes_out_and_a_console_opens_without_them() -> None:
    """Keeping and reading are best effort: neither raises to the supervisor or the console."""
    from redis.asyncio import Redis

    client = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    try:
        log = create_notices(RedisLimits(client, prefix="nora-away"), "nora-away")
        await log.add(notice("Møte", NOW))
        assert await log.recent(NOW) == []
    finally:
        await client.aclose()
