"""One contract for both ``core.limits`` backends: each test runs in memory and on the real Redis.

Memory runs on a clock the test moves; Redis keeps its own time, so there the test waits for real,
with rates and windows small enough that no test waits more than about a second.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from core.limits import Limits, MemoryLimits, RedisLimits, create_limits
from tests import services

if TYPE_CHECKING:
    from redis.asyncio import Redis

pytestmark = pytest.mark.anyio


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    limits: Limits
    clock: FakeClock | None = None
    redis: Redis | None = None
    prefix: str = ""
    extra: list[Redis] = field(default_factory=list)

    async def advance(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.now += seconds
        else:
            await asyncio.sleep(seconds)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = FakeClock()
        yield Backend(create_limits(None, prefix="unused", clock=clock), clock=clock)
        return
    from redis.asyncio import Redis

    client = Redis.from_url(services.need("Redis", services.REDIS_URL))
    prefix = f"nora-test-{uuid.uuid4().hex[:10]}"
    b = Backend(create_limits(client, prefix=prefix, clock=FakeClock()), redis=client, prefix=prefix)
    try:
        yield b
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        for extra in b.extra:
            await extra.aclose()
        await client.aclose()


REDIS_ONLY = pytest.mark.parametrize("backend", [pytest.param("redis", marks=pytest.mark.redis)], indirect=True)


async def test_the_backend_is_the_one_asked_for(backend: Backend) -> None:
    assert isinstance(backend.limits, MemoryLimits if backend.redis is None else RedisLimits)


async def test_a_burst_passes_then_the_next_is_refused_with_a_sensible_wait(backend: Backend) -> None:
    limits = backend.limits
    assert [await limits.take("msg:c1:visitor", rate=5, burst=10) for _ in range(10)] == [0] * 10
    wait_ms = await limits.take("msg:c1:visitor", rate=5, burst=10)
    assert 0 < wait_ms <= 200  # one token every 200 ms
    # Another sender has a bucket of its own.
    assert await limits.take("msg:c1:adviser", rate=5, burst=10) == 0


async def test_the_bucket_refills_over_time(backend: Backend) -> None:
    limits = backend.limits
    assert [await limits.take("msg:c2:v", rate=10, burst=2) for _ in range(2)] == [0, 0]
    assert await limits.take("msg:c2:v", rate=10, burst=2) > 0
    await backend.advance(0.25)  # 10/s: two tokens back after 200 ms
    assert [await limits.take("msg:c2:v", rate=10, burst=2) for _ in range(2)] == [0, 0]
    assert await limits.take("msg:c2:v", rate=10, burst=2) > 0
    # Never more than the burst, however long it rested: 1.2 s at 2/s would be 2.4 tokens. (A slow bucket
    # here, so that on a busy machine no token comes back while the three takes are on their way.)
    assert [await limits.take("msg:c3:v", rate=2, burst=2) for _ in range(2)] == [0, 0]
    await backend.advance(1.2)
    assert [await limits.take("msg:c3:v", rate=2, burst=2) == 0 for _ in range(3)] == [True, True, False]


async def test_of_fifty_parallel_attempts_exactly_the_limit_pass(backend: Backend) -> None:
    results = await asyncio.gather(*(backend.limits.hit("login:user:amina", limit=5, window_s=60) for _ in range(50)))
    assert results.count(0) == 5
    assert all(0 < r <= 60 for r in results if r != 0)


async def test_the_window_ends_and_the_count_starts_again(backend: Backend) -> None:
    limits = backend.limits
    assert [await limits.hit("login:user:omar", limit=2, window_s=0.5) for _ in range(2)] == [0, 0]
    assert await limits.hit("login:user:omar", limit=2, window_s=0.5) == 1  # seconds, rounded up
    await backend.advance(0.6)
    assert await limits.hit("login:user:omar", limit=2, window_s=0.5) == 0


async def test_refused_attempts_do_not_stretch_the_window(backend: Backend) -> None:
    limits = backend.limits
    assert await limits.hit("login:user:sara", limit=1, window_s=0.8) == 0
    await backend.advance(0.5)
    assert await limits.hit("login:user:sara", limit=1, window_s=0.8) > 0
    await backend.advance(0.4)  # 0.9 s after the first attempt: the window has ended
    assert await limits.hit("login:user:sara", limit=1, window_s=0.8) == 0


async def test_clear_forgets_a_counter_and_no_other(backend: Backend) -> None:
    limits = backend.limits
    for key in ("login:user:jonas", "login:user:admin"):
        for _ in range(3):
            await limits.hit(key, limit=3, window_s=60)
        assert await limits.hit(key, limit=3, window_s=60) > 0
    await limits.clear("login:user:jonas")
    assert await limits.hit("login:user:jonas", limit=3, window_s=60) == 0
    assert await limits.hit("login:user:admin", limit=3, window_s=60) > 0
    await limits.clear("login:user:never-seen")  # forgetting nothing is fine


@REDIS_ONLY
async def test_every_redis_key_expires_and_names_nobody(backend: Backend) -> None:
    assert backend.redis is not None
    limits = backend.limits
    await limits.take("msg:conv-1:visitor", rate=5, burst=10)
    for _ in range(3):
        await limits.take("msg:conv-1:adviser-amina", rate=5, burst=2)
    await limits.hit("login:user:amina", limit=5, window_s=900)
    await limits.hit("login:device:amina:nonce", limit=5, window_s=900)
    await limits.hit("plain-key-without-namespace", limit=1, window_s=900)
    keys = [k.decode() async for k in backend.redis.scan_iter(match=f"{backend.prefix}:*")]
    assert len(keys) == 5
    for key in keys:
        assert key.startswith(f"{backend.prefix}:limit:")
        assert 0 < await backend.redis.pttl(key) <= 900_000, key
        assert "amina" not in key and "plain" not in key and "conv-1" not in key, key


@REDIS_ONLY
async def test_two_redis_clients_share_one_bucket_and_one_counter(backend: Backend) -> None:
    assert backend.redis is not None
    from redis.asyncio import Redis

    other_client = Redis.from_url(services.REDIS_URL)
    backend.extra.append(other_client)
    first, second = backend.limits, create_limits(other_client, prefix=backend.prefix, clock=FakeClock())
    taken = [await (first if n % 2 else second).take("msg:shared:v", rate=1, burst=6) for n in range(10)]
    assert taken.count(0) == 6 and taken[:6] == [0] * 6
    results = await asyncio.gather(
        *((first if n % 2 else second).hit("login:user:shared", limit=5, window_s=60) for n in range(50))
    )
    assert results.count(0) == 5
    await second.clear("login:user:shared")
    assert await first.hit("login:user:shared", limit=5, window_s=60) == 0


@REDIS_ONLY
async def test_parallel_takes_go_in_batches_and_answer_as_one_at_a_time_would(backend: Backend) -> None:
    """Takes asked for at once share a few script calls (the message path awaits one per message),
    and each answers as if taken alone, in the order asked: a bucket of 10 lets exactly the first 10
    of 40 parallel takes through, while 40 other senders each get their token."""
    assert isinstance(backend.limits, RedisLimits)
    calls = 0
    script = backend.limits._take

    async def counted(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await script(**kwargs)

    backend.limits._take = counted  # type: ignore[assignment]
    same = [backend.limits.take("msg:one:v", rate=1, burst=10) for _ in range(40)]
    others = [backend.limits.take(f"msg:other{n}:v", rate=1, burst=10) for n in range(40)]
    answers = await asyncio.gather(*same, *others)
    assert answers[:10] == [0] * 10 and all(wait > 0 for wait in answers[10:40])
    assert answers[40:] == [0] * 40
    assert calls <= 3, f"{calls} script calls for 80 takes"


async def test_memory_take_now_answers_without_awaiting() -> None:
    clock = FakeClock()
    limits = MemoryLimits(clock=clock)
    assert [limits.take_now("k", rate=5, burst=2) for _ in range(2)] == [0, 0]
    assert limits.take_now("k", rate=5, burst=2) == 200
    clock.now += 0.1
    assert limits.take_now("k", rate=5, burst=2) == 100
    clock.now += 0.1
    assert limits.take_now("k", rate=5, burst=2) == 0


async def test_memory_table_is_bounded_and_evicts_the_least_recently_used_only() -> None:
    clock = FakeClock()
    limits = MemoryLimits(clock=clock, max_entries=10)
    # A flooding sender and the account under attack, both at their limits.
    for _ in range(3):
        limits.take_now("msg:c:flooder", rate=0.01, burst=3)
        await limits.hit("login:user:amina", limit=3, window_s=900)
    assert limits.take_now("msg:c:flooder", rate=0.01, burst=3) > 0
    # Many other senders come and go; the two stay in use, so neither is reset.
    for n in range(100):
        limits.take_now(f"msg:c:sender-{n}", rate=0.01, burst=3)
        if n % 5 == 0:
            assert limits.take_now("msg:c:flooder", rate=0.01, burst=3) > 0
            assert await limits.hit("login:user:amina", limit=3, window_s=900) > 0
        assert len(limits) <= 10
    # The quietest were evicted: sender 0 gets a fresh bucket; the most recent one is remembered.
    assert [limits.take_now("msg:c:sender-99", rate=0.01, burst=3) == 0 for _ in range(3)] == [True, True, False]
    assert [limits.take_now("msg:c:sender-0", rate=0.01, burst=3) for _ in range(3)] == [0, 0, 0]


async def test_memory_entries_that_no_longer_matter_are_dropped() -> None:
    clock = FakeClock()
    limits = MemoryLimits(clock=clock)
    for n in range(50):
        limits.take_now(f"msg:c:{n}", rate=10, burst=5)
        await limits.hit(f"login:user:{n}", limit=5, window_s=60)
    assert len(limits) == 100
    clock.now += 61  # every bucket has refilled, every window has ended
    limits.take_now("msg:c:new", rate=10, burst=5)
    assert len(limits) == 1
