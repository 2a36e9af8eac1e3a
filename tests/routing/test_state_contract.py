"""One contract for every ``RoutingState`` backend: each test runs against each implementation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from routing import Adviser, AdviserStatus, ChatRequest, RoutingState, Service, TierDelays, UnknownAdviser
from routing.backends.memory import MemoryRoutingState
from tests import services

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[RoutingState]:
    delays = TierDelays(60, 120, 180)
    if request.param == "memory":
        yield MemoryRoutingState(delays)
        return
    from redis.asyncio import Redis

    from routing.backends.redis import RedisRoutingState

    client = Redis.from_url(services.need("Redis", services.REDIS_URL))
    key = f"nora:test:routing:{uuid.uuid4().hex}"
    state = RedisRoutingState(client, delays, key=key)
    try:
        yield state
    finally:
        await client.delete(*state.keys)
        await client.aclose()


def mr(id: str, capacity: int = 1, status: AdviserStatus = AdviserStatus.AVAILABLE) -> Adviser:
    return Adviser(id, Service.MR, frozenset({"03"}), frozenset({"nb"}), capacity, status)


def req(id: str, at: float = 0.0) -> ChatRequest:
    return ChatRequest(id, "nb", "03", "youth", at)


async def test_step_assigns_once_and_removes_from_the_queue(state: RoutingState) -> None:
    await state.put_adviser(mr("a"))
    await state.enqueue(req("c1"))
    decisions = await state.step(1)
    assert [(d.conversation_id, d.adviser_id) for d in decisions] == [("c1", "a")]
    assert await state.step(2) == []
    snap = await state.snapshot()
    assert snap.waiting == () and snap.advisers[0].active == {"c1"}


async def test_release_frees_room_and_is_idempotent(state: RoutingState) -> None:
    await state.put_adviser(mr("a"))
    await state.enqueue(req("c1"))
    await state.enqueue(req("c2", 1))
    assert [d.conversation_id for d in await state.step(2)] == ["c1"]
    await state.release("a", "c1", 3)
    await state.release("a", "c1", 3)
    assert [d.conversation_id for d in await state.step(4)] == ["c2"]
    assert len((await state.snapshot()).releases) == 1


async def test_withdraw_and_status(state: RoutingState) -> None:
    await state.put_adviser(mr("a", status=AdviserStatus.AWAY))
    await state.enqueue(req("c1"))
    assert await state.step(1) == []
    assert (await state.withdraw("c1")) == req("c1")
    assert await state.withdraw("c1") is None
    await state.set_status("a", AdviserStatus.AVAILABLE, 2)
    await state.enqueue(req("c2"))
    assert len(await state.step(3)) == 1
    with pytest.raises(UnknownAdviser):
        await state.set_status("nobody", AdviserStatus.AWAY, 3)


async def test_offline_keeps_conversations_and_remembers_the_status(state: RoutingState) -> None:
    await state.put_adviser(mr("a", capacity=2))
    await state.enqueue(req("c1"))
    await state.step(1)
    offline = await state.set_status("a", AdviserStatus.OFFLINE, 5)
    assert offline.offline_since == 5 and offline.status_before_offline is AdviserStatus.AVAILABLE
    await state.enqueue(req("c2"))
    assert await state.step(6) == []  # an offline adviser gets nothing new
    again = await state.set_status("a", AdviserStatus.OFFLINE, 9)
    assert again.offline_since == 5  # the grace period does not restart
    removed = await state.remove_adviser("a")
    assert removed is not None and removed.active == {"c1"}


async def test_reconnect_keeps_active_set(state: RoutingState) -> None:
    await state.put_adviser(mr("a", capacity=2))
    await state.enqueue(req("c1"))
    await state.step(1)
    await state.put_adviser(mr("a", capacity=2))  # a second tab or a reconnect
    (adviser,) = (await state.snapshot()).advisers
    assert adviser.active == {"c1"}


async def test_heartbeats_keep_advisers_and_a_silent_instance_loses_them(state: RoutingState) -> None:
    await state.put_adviser(mr("a"))
    await state.put_adviser(mr("b"))
    await state.set_status("a", AdviserStatus.AVAILABLE, 0)
    await state.set_status("b", AdviserStatus.AVAILABLE, 0)
    await state.touch(["a"], 25)
    assert await state.expire_leases(40, 30) == ["b"]
    advisers = {a.id: a for a in (await state.snapshot()).advisers}
    assert advisers["a"].status is AdviserStatus.AVAILABLE
    assert advisers["b"].status is AdviserStatus.OFFLINE and advisers["b"].offline_since == 40
    await state.enqueue(req("c1"))
    assert [d.adviser_id for d in await state.step(41)] == ["a"]


async def test_concurrent_steps_never_assign_twice(state: RoutingState) -> None:
    import asyncio

    for n in range(3):
        await state.put_adviser(mr(f"a{n}", capacity=2))
    for n in range(10):
        await state.enqueue(req(f"c{n}", n))
    results = await asyncio.gather(*(state.step(100) for _ in range(8)))
    decisions = [d for batch in results for d in batch]
    assert len(decisions) == 6 and len({d.conversation_id for d in decisions}) == 6
    snap = await state.snapshot()
    assert all(len(a.active) == 2 for a in snap.advisers) and len(snap.waiting) == 4


async def test_a_transfer_hold_keeps_the_chat_from_its_adviser_until_it_lapses(state: RoutingState) -> None:
    await state.put_adviser(mr("a"))
    await state.enqueue(replace(req("c1"), not_adviser="a", not_adviser_until=60))
    await state.enqueue(replace(req("c2"), not_adviser="a"))  # no end: excluded while it waits
    assert await state.step(1) == []  # the adviser who transferred it is not offered it at once
    assert await state.step(59.9) == []
    assert [(d.conversation_id, d.adviser_id) for d in await state.step(60)] == [("c1", "a")]
    await state.release("a", "c1", 61)
    assert await state.step(1000) == []  # the chat without an end to its hold never goes back to "a"
    (waiting,) = (await state.snapshot()).waiting
    assert waiting.id == "c2" and waiting.not_adviser == "a"


async def test_an_absent_visitor_keeps_its_place_and_is_served_when_back(state: RoutingState) -> None:
    await state.put_adviser(mr("a"))
    await state.enqueue(req("early", 0))
    await state.enqueue(req("late", 5))
    assert await state.set_present("early", False)
    assert [d.conversation_id for d in await state.step(6)] == ["late"]  # the present one, not the absent
    await state.release("a", "late", 7)
    await state.enqueue(req("later", 8))
    assert await state.set_present("early", True)
    assert [d.conversation_id for d in await state.step(9)] == ["early"]  # back, and first in line again
    assert not await state.set_present("gone", True)


async def test_a_county_without_a_signed_in_adviser_reaches_the_national_team_at_once(state: RoutingState) -> None:
    at = Adviser("t", Service.AT, frozenset(), frozenset({"nb"}), 1, AdviserStatus.AVAILABLE)
    elsewhere = Adviser("m", Service.MR, frozenset({"46"}), frozenset({"nb"}), 1, AdviserStatus.AVAILABLE)
    await state.put_adviser(elsewhere)
    await state.put_adviser(at)
    await state.enqueue(req("c1", 0))
    decisions = await state.step(1)  # long before the first tier delay (60 s)
    assert [(d.conversation_id, d.adviser_id, d.tier) for d in decisions] == [("c1", "t", 1)]


async def test_a_passed_tier_does_not_narrow_when_an_adviser_signs_in(state: RoutingState) -> None:
    busy_at = Adviser("t", Service.AT, frozenset(), frozenset({"nb"}), 1, AdviserStatus.AVAILABLE, frozenset({"x"}))
    await state.put_adviser(busy_at)
    await state.enqueue(req("c1", 0))
    assert await state.step(1) == []  # tier 1 now: only the (busy) national team adds somebody
    await state.put_adviser(mr("a"))  # a county adviser signs in: tier 0 would reach them ...
    await state.release("t", "x", 2)
    decisions = await state.step(2)
    # ... but the chat stays at tier 1 (which reaches both) instead of narrowing back to tier 0.
    assert [(d.conversation_id, d.tier) for d in decisions] == [("c1", 1)]


async def test_a_supervisor_assigns_to_a_named_adviser_with_room_only(state: RoutingState) -> None:
    far = Adviser("far", Service.MR, frozenset({"46"}), frozenset({"so"}), 1, AdviserStatus.AVAILABLE)
    await state.put_adviser(far)
    await state.put_adviser(mr("away", status=AdviserStatus.AWAY))
    await state.enqueue(req("c1"))
    await state.enqueue(replace(req("absent"), present=False))
    assert await state.assign_to("c1", "away", 1) is None  # not available
    assert await state.assign_to("absent", "far", 1) is None  # the visitor is not there
    assert await state.assign_to("c1", "nobody", 1) is None
    decision = await state.assign_to("c1", "far", 1)  # another region and language: the supervisor decides
    assert decision is not None and decision.adviser_id == "far"
    assert await state.assign_to("c1", "far", 2) is None  # not waiting any more
    snap = await state.snapshot()
    assert [c.id for c in snap.waiting] == ["absent"]
    assert {a.id: a.active for a in snap.advisers}["far"] == {"c1"}
