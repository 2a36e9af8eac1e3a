"""Rate-limit buckets leased to the instance that uses them (``core.bucket_leases``), on the real Redis.

What a user would notice: a sender on one instance is checked without a round trip, and a sender whose
sockets are on two instances still meets one limit, also when an instance stops or dies."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from core import bucket_leases
from core.bucket_leases import ALIVE_S, HOLD_WAIT_S, MARGIN_S
from core.limits import RedisLimits
from tests import services

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

KEY = "msg:adviser-amina:conv-1"
RATE, BURST = 0.5, 5  # slow enough that nothing refills noticeably within a test


@pytest.fixture
async def instances() -> AsyncIterator[tuple[RedisLimits, RedisLimits, Redis]]:
    """Two instances' limits on one Redis, each with its own client."""
    url = services.need("Redis", services.REDIS_URL)
    first, second = Redis.from_url(url), Redis.from_url(url)
    prefix = f"nora-test-{uuid.uuid4().hex[:10]}"
    try:
        yield RedisLimits(first, prefix=prefix), RedisLimits(second, prefix=prefix), first
    finally:
        keys = [k async for k in first.scan_iter(match=f"{prefix}:*")]
        if keys:
            await first.delete(*keys)
        await first.aclose()
        await second.aclose()


async def test_a_sender_on_one_instance_is_checked_without_a_round_trip(
    instances: tuple[RedisLimits, RedisLimits, Redis],
) -> None:
    a, _, _ = instances
    async with a.leasing():
        assert a.take_now(KEY, rate=RATE, burst=BURST) is None  # not leased yet: the first take asks Redis
        assert await a.take(KEY, rate=RATE, burst=BURST) == 0
        answers = [a.take_now(KEY, rate=RATE, burst=BURST) for _ in range(BURST)]
        assert answers[: BURST - 1] == [0] * (BURST - 1)
        assert answers[-1] is not None and 1000 < answers[-1] <= 2000  # one token every 2 s
        assert a.take_now("msg:visitor:conv-2", rate=RATE, burst=BURST) is None  # another sender: not leased


async def test_a_sender_split_across_two_instances_meets_one_limit(
    instances: tuple[RedisLimits, RedisLimits, Redis],
) -> None:
    a, b, _ = instances
    async with a.leasing(), b.leasing():
        started = time.monotonic()
        answers = [await (a if n % 2 == 0 else b).take(KEY, rate=RATE, burst=BURST) for n in range(16)]
        took = time.monotonic() - started
    accepted = answers.count(0)
    assert answers[:BURST] == [0] * BURST
    assert BURST <= accepted <= BURST + int(took * RATE), (answers, took)
    assert took < 2, "the hand-over from one instance to the other waits for one poll, not for a lapse"


async def test_leases_are_given_back_with_their_tokens_when_an_instance_stops(
    instances: tuple[RedisLimits, RedisLimits, Redis],
) -> None:
    a, b, _ = instances
    async with a.leasing():
        assert [await a.take(KEY, rate=RATE, burst=BURST) for _ in range(BURST - 1)] == [0] * (BURST - 1)
    async with b.leasing():
        started = time.monotonic()
        assert await b.take(KEY, rate=RATE, burst=BURST) == 0  # the one token left
        assert time.monotonic() - started < 0.5  # given back on exit: nobody waits for a lapse
        assert b.take_now(KEY, rate=RATE, burst=BURST) not in (None, 0)  # leased to b, and empty


async def test_a_dead_holder_stops_deciding_and_its_leases_lapse(
    instances: tuple[RedisLimits, RedisLimits, Redis],
) -> None:
    a, b, _ = instances
    async with contextlib.AsyncExitStack() as stack:
        leases = await stack.enter_async_context(a.leasing())
        await stack.enter_async_context(b.leasing())
        assert await a.take(KEY, rate=RATE, burst=BURST) == 0
        assert leases._keeper is not None
        leases._stopping.set()  # a stalled or cut-off instance: it renews nothing from now on
        await leases._keeper
        assert KEY in leases._held  # a still has the bucket; only its liveness stops
        started = time.monotonic()
        answer = await b.take(KEY, rate=RATE, burst=BURST)
        waited = time.monotonic() - started
        assert answer == 0
        assert waited <= ALIVE_S + 0.3 < HOLD_WAIT_S  # it lapsed; b did not need to force it
        # a's last renewal is more than ALIVE_S - MARGIN_S old: it no longer decides on its own.
        await asyncio.sleep(max(0.0, ALIVE_S - MARGIN_S - waited) + 0.05)
        assert a.take_now(KEY, rate=RATE, burst=BURST) is None


async def test_every_lease_key_expires_and_names_nobody(instances: tuple[RedisLimits, RedisLimits, Redis]) -> None:
    a, b, redis = instances
    async with a.leasing(), b.leasing():
        await a.take(KEY, rate=RATE, burst=BURST)
        await b.take(KEY, rate=RATE, burst=BURST)  # asks a for it: a wanted set, then a shared bucket
        await a.take("msg:visitor:conv-9", rate=RATE, burst=BURST)  # leased
        keys = [k.decode() async for k in redis.scan_iter(match=f"{a.prefix}*")]
        kinds = {key[len(a.prefix) :].split(":")[0] for key in keys}
        assert {"alive", "bucket", "lease", "shared"} <= kinds, keys
        for key in keys:
            assert 0 < await redis.pttl(key) <= 600_000, key
            assert "amina" not in key and "conv" not in key, key


async def test_parallel_first_takes_on_one_instance_share_one_bucket(
    instances: tuple[RedisLimits, RedisLimits, Redis],
) -> None:
    """Takes asked for together before the lease is known go to Redis in one batch, and every one of
    them is granted the lease: the bucket still starts once, not once per take."""
    a, _, _ = instances
    async with a.leasing():
        answers = await asyncio.gather(*(a.take(KEY, rate=RATE, burst=BURST) for _ in range(BURST + 3)))
    assert answers.count(0) == BURST, answers


async def test_a_lease_redis_still_names_a_forgetful_holder_for_is_let_go_when_asked(
    instances: tuple[RedisLimits, RedisLimits, Redis],
) -> None:
    """After its leases lapsed once (a stall, an outage), an instance may be named in Redis for a
    bucket it no longer holds; asked for it, it lets it go instead of making the other wait it out."""
    a, b, _ = instances
    async with a.leasing() as leases, b.leasing():
        assert await a.take(KEY, rate=RATE, burst=BURST) == 0
        leases.lost(KEY)  # as after a lapse: a no longer decides it, Redis still names a
        started = time.monotonic()
        assert await b.take(KEY, rate=RATE, burst=BURST) == 0
        assert time.monotonic() - started < 1.0 < HOLD_WAIT_S


async def test_a_sender_still_writing_keeps_its_lease_and_an_idle_one_gives_it_back(
    instances: tuple[RedisLimits, RedisLimits, Redis], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full bucket holds nothing worth keeping, but a sender writing a message a second always finds
    its bucket full: given back at every sweep, each of its next messages waited for Redis again. Only
    a lease unused since the last sweep goes back."""
    monkeypatch.setattr(bucket_leases, "IDLE_SWEEP_S", 0.3)
    a, _, _ = instances
    fast, idle = "msg:visitor:conv-writing", "msg:visitor:conv-quiet"
    rate, burst = 1000.0, 5  # refilled a millisecond after a take: full at every sweep
    async with a.leasing():
        assert await a.take(fast, rate=rate, burst=burst) == 0
        assert await a.take(idle, rate=rate, burst=burst) == 0
        await asyncio.sleep(0.025)  # the takes fall between the keeper's beats (every 0.1 s), not with them
        for _ in range(24):  # 1.2 s: four sweeps
            await asyncio.sleep(0.05)
            assert a.take_now(fast, rate=rate, burst=burst) == 0, "a sender still writing lost its lease"
        assert a.take_now(idle, rate=rate, burst=burst) is None  # given back: the next take asks Redis
        assert await a.take(idle, rate=rate, burst=burst) == 0
