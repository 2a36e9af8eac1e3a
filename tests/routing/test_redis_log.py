"""The Redis routing state as several instances use it: each keeps a replica of one log of operations.

Two ``RedisRoutingState`` objects on one key are two instances. They must see each other's writes,
catch up from a checkpoint when the stream was trimmed past them, start empty (not stale) when Redis
lost the log, never assign a conversation twice or overfill an adviser when they operate at once, and
end with the state a single memory state reaches from the same operations.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

import routing.backends.redis as backend
from routing import Adviser, AdviserStatus, ChatRequest, Service, Snapshot, TierDelays, UnknownAdviser
from routing.backends.memory import MemoryRoutingState
from routing.backends.redis import STATE_TTL_S, RedisRoutingState
from tests import services
from tests.conftest import free_port
from tests.routing.test_index import ADVISERS, CHATS, advisers, chats
from tests.services import PrivateRedis

pytestmark = [pytest.mark.anyio, pytest.mark.redis]
D = TierDelays(60, 120, 180)


@pytest.fixture
async def client() -> AsyncIterator[Redis]:
    redis = Redis.from_url(services.need("Redis", services.REDIS_URL))
    yield redis
    await redis.aclose()


@pytest.fixture
async def key(client: Redis) -> AsyncIterator[str]:
    name = f"nora:test:routing:{uuid.uuid4().hex}"
    yield name
    await client.delete(f"{name}:meta", f"{name}:log", f"{name}:ckpt")


def mr(id: str, capacity: int = 1) -> Adviser:
    return Adviser(id, Service.MR, frozenset({"03"}), frozenset({"nb"}), capacity, AdviserStatus.AVAILABLE)


def req(id: str, at: float = 0.0) -> ChatRequest:
    return ChatRequest(id, "nb", "03", "youth", at)


def books(snap: Snapshot) -> tuple[dict[str, ChatRequest], dict[str, Adviser], tuple[tuple[str, float], ...]]:
    """A snapshot compared without the order of its dictionaries (replicas may differ there)."""
    return {c.id: c for c in snap.waiting}, {a.id: a for a in snap.advisers}, snap.releases


async def test_an_instance_sees_what_another_wrote(client: Redis, key: str) -> None:
    one, two = RedisRoutingState(client, D, key=key), RedisRoutingState(client, D, key=key)
    await one.put_adviser(mr("a"))
    await one.enqueue(req("c1"))
    decisions = await two.step(1)  # the other instance takes in both writes before its step
    assert [(d.conversation_id, d.adviser_id) for d in decisions] == [("c1", "a")]
    assert await one.step(2) == []  # and this one takes in that step: nothing left to assign
    snap = await one.snapshot()
    assert snap.waiting == () and snap.advisers[0].active == {"c1"}
    with pytest.raises(UnknownAdviser):
        await two.set_status("nobody", AdviserStatus.AWAY, 3)
    assert books(await one.snapshot()) == books(await two.snapshot())


async def test_a_transfer_hold_made_on_one_instance_lapses_on_another(client: Redis, key: str) -> None:
    """The hold travels with the chat in the shared state: no instance needs to remember it."""
    here, there = RedisRoutingState(client, D, key=key), RedisRoutingState(client, D, key=key)
    await here.put_adviser(mr("a"))
    await here.enqueue(replace(req("c1"), not_adviser="a", not_adviser_until=60.0))
    del here  # the instance the transfer was made on is gone
    assert await there.step(59.9) == []
    assert [(d.conversation_id, d.adviser_id) for d in await there.step(60.0)] == [("c1", "a")]


async def test_every_key_expires_and_writes_renew_it(client: Redis, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "CHECKPOINT_EVERY", 3)
    state = RedisRoutingState(client, D, key=key)
    for n in range(4):
        await state.enqueue(req(f"c{n}"))
    for name in state.keys:
        assert await client.exists(name), name
        assert 0 < await client.ttl(name) <= STATE_TTL_S, name
        await client.expire(name, 100)
    await state.withdraw("c0")
    for name in state.keys:
        assert await client.ttl(name) > 100, name  # renewed by the write


async def test_a_new_instance_loads_the_checkpoint_and_replays_the_rest(
    client: Redis, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend, "CHECKPOINT_EVERY", 10)
    one = RedisRoutingState(client, D, key=key)
    await one.put_adviser(mr("a", capacity=3))
    for n in range(33):
        await one.enqueue(req(f"c{n}", n))
        if n % 7 == 0:
            await one.step(100 + n)
    # 39 entries: checkpoints at 10, 20, 30; the stream keeps what follows the one before the newest.
    first = await client.xrange(f"{key}:log", count=1)
    assert first[0][0] == b"21-0" and await client.xlen(f"{key}:log") == 19
    newcomer = RedisRoutingState(client, D, key=key)
    assert books(await newcomer.snapshot()) == books(await one.snapshot())
    # And it goes on from there: its step is the next entry, and the first instance follows it.
    await one.release("a", "c0", 200)
    assert [d.conversation_id for d in await newcomer.step(201)] == ["c3"]
    assert books(await newcomer.snapshot()) == books(await one.snapshot())


async def test_an_instance_left_behind_a_trimmed_stream_catches_up(
    client: Redis, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend, "CHECKPOINT_EVERY", 10)
    busy, idle = RedisRoutingState(client, D, key=key), RedisRoutingState(client, D, key=key)
    await idle.put_adviser(mr("a"))
    await idle.enqueue(req("early"))
    for n in range(45):  # meanwhile the other instance writes on: the stream is trimmed past entry 2
        await busy.enqueue(req(f"c{n}", n + 1))
    assert (await client.xrange(f"{key}:log", count=1))[0][0] > b"3-0"
    decisions = await idle.step(100)  # its own operation, after the entries it missed
    assert [d.conversation_id for d in decisions] == ["early"]
    assert books(await idle.snapshot()) == books(await busy.snapshot())


async def test_a_step_never_goes_back_in_time(client: Redis, key: str) -> None:
    """Two instances' clocks differ by milliseconds: a step stamped before the last runs at its time."""
    ahead, behind = RedisRoutingState(client, D, key=key), RedisRoutingState(client, D, key=key)
    busy_at = Adviser("t", Service.AT, frozenset(), frozenset({"nb"}), 1, AdviserStatus.AVAILABLE, frozenset({"x"}))
    await ahead.put_adviser(busy_at)
    await ahead.put_adviser(replace(mr("far"), regions=frozenset({"46"}), active=frozenset({"y"})))
    await ahead.enqueue(req("c1", 0))
    await ahead.step(120.0)  # tier 2: any county adviser in the language
    await ahead.release("far", "y", 120.0)
    decisions = await behind.step(119.99)  # would be tier 1 (national team only) at its own time
    assert [(d.conversation_id, d.adviser_id, d.tier) for d in decisions] == [("c1", "far", 2)]


async def test_an_append_whose_answer_was_lost_is_found_not_repeated(client: Redis, key: str) -> None:
    """The connection drops after Redis appended a step but before the answer came back: the retry
    finds the step in the log and returns its decisions, instead of stepping twice and losing them."""
    state, other = RedisRoutingState(client, D, key=key), RedisRoutingState(client, D, key=key)
    await state.put_adviser(mr("a", capacity=2))
    await state.enqueue(req("c1"))
    await other.enqueue(req("c2", 1))  # an entry of another instance before the step
    append = state._append
    lost = []

    async def answer_lost(*args: Any, **kwargs: Any) -> Any:
        reply = await append(*args, **kwargs)
        if not lost:
            lost.append(reply)
            raise RedisConnectionError("connection closed by the server")
        return reply

    state._append = answer_lost  # type: ignore[method-assign]
    decisions = await state.step(5)
    assert lost and [d.conversation_id for d in decisions] == ["c1", "c2"]
    entries = await client.xrange(f"{key}:log")
    assert [fields[b"o"] for _, fields in entries].count(b"step") == 1
    await other.enqueue(req("c3", 2))
    assert await state.step(6) == []  # full: the first step took effect once, and here
    assert books(await state.snapshot()) == books(await other.snapshot())


async def test_operations_asked_for_together_share_an_append_and_each_gets_its_answer(client: Redis, key: str) -> None:
    """A burst of starts on one instance: the first arrival is appended at once, and the arrivals and the
    step asked for while it is on its way go out together in the next script call, as consecutive
    entries in the order asked. Each caller gets its own answer (an unknown adviser's error only to
    its caller), and when the answer to that call is lost, the retry finds the entries instead of
    appending them twice."""
    state, other = RedisRoutingState(client, D, key=key), RedisRoutingState(client, D, key=key)
    await state.put_adviser(mr("a", capacity=3))
    append = state._append
    calls: list[int] = []  # operations per script call

    async def answer_lost_once(*args: Any, **kwargs: Any) -> Any:
        calls.append((len(kwargs["args"]) - 4) // 3)
        reply = await append(*args, **kwargs)
        if len(calls) == 2:
            raise RedisConnectionError("connection closed by the server")
        return reply

    state._append = answer_lost_once  # type: ignore[method-assign]
    results = await asyncio.gather(
        *(state.enqueue(req(f"c{i}", i)) for i in range(5)),
        state.step(10),
        state.set_status("nobody", AdviserStatus.AVAILABLE, 10),
        return_exceptions=True,
    )
    assert calls == [1, 6]  # the retry of the second found its entries and sent nothing again
    assert results[:5] == [None] * 5
    assert [d.conversation_id for d in results[5]] == ["c0", "c1", "c2"]  # type: ignore[union-attr]
    assert isinstance(results[6], UnknownAdviser)
    entries = await client.xrange(f"{key}:log")
    assert [fields[b"o"].decode() for _, fields in entries] == ["put_adviser", *["enqueue"] * 5, "step", "set_status"]
    assert books(await state.snapshot()) == books(await other.snapshot())


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(free_port(), str(tmp_path))
    redis.start()
    yield redis
    redis.stop()


async def test_after_redis_lost_the_log_every_instance_starts_empty(private_redis: PrivateRedis) -> None:
    clients = [Redis.from_url(private_redis.url) for _ in range(2)]
    one, two = (RedisRoutingState(c, D, key="nora:routing") for c in clients)
    try:
        await one.put_adviser(mr("a", capacity=2))
        await one.enqueue(req("c1"))
        assert len(await two.step(1)) == 1
        await one.enqueue(req("c2"))
        private_redis.stop()  # a restart without persistence: everything in it is gone
        private_redis.start()
        empty = await two.snapshot()  # not the state it had before
        assert empty.waiting == () and empty.advisers == ()
        await one.enqueue(req("c3"))  # the rebuild puts back what the database has; c2 is not kept
        waiting = [c.id for c in (await two.snapshot()).waiting]
        assert waiting == ["c3"]
        assert await one.step(2) == []  # adviser "a" is gone with the old log until its instance rebuilds
        await two.put_adviser(mr("a", capacity=2))
        assert [d.conversation_id for d in await one.step(3)] == ["c3"]
        # A flush does the same as a restart.
        await clients[0].flushall()
        assert (await one.snapshot()).advisers == ()
        assert (await two.snapshot()).advisers == ()
    finally:
        for c in clients:
            await c.aclose()


async def test_two_instances_at_once_never_assign_twice_or_over_capacity(
    client: Redis, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances (each with its own client) enqueue, step and release concurrently, with
    checkpoints and trimming going on; every chat is assigned once and nobody beyond capacity."""
    monkeypatch.setattr(backend, "CHECKPOINT_EVERY", 25)
    other = Redis.from_url(services.REDIS_URL)
    states = [RedisRoutingState(client, D, key=key), RedisRoutingState(other, D, key=key)]
    capacity = {f"a{n}": n % 3 + 1 for n in range(6)}
    for adviser_id, cap in capacity.items():
        await states[0].put_adviser(mr(adviser_id, cap))
    assigned: list[tuple[str, str]] = []
    released: set[str] = set()
    rng = random.Random(7)

    async def step(state: RedisRoutingState, now: float) -> None:
        assigned.extend((d.conversation_id, d.adviser_id) for d in await state.step(now))

    async def instance(n: int) -> None:
        state = states[n]
        for k in range(60):
            await state.enqueue(req(f"i{n}-{k}", float(k)))
            await step(state, 100.0 + k)
            if assigned and rng.random() < 0.3:
                chat_id, adviser_id = rng.choice(assigned)
                if chat_id not in released:
                    released.add(chat_id)
                    await state.release(adviser_id, chat_id, 100.0 + k)
            await asyncio.sleep(0)

    try:
        await asyncio.gather(instance(0), instance(1), *(step(states[k % 2], 150.0) for k in range(10)))
        chats_assigned = [c for c, _ in assigned]
        assert len(chats_assigned) == len(set(chats_assigned)), "a chat assigned twice"
        assert len(released) > 5 and len(assigned) > sum(capacity.values())  # advisers freed up and filled again
        one, two = await states[0].snapshot(), await states[1].snapshot()
        assert books(one) == books(two)
        for adviser in one.advisers:
            assert len(adviser.active) <= capacity[adviser.id], adviser.id
            mine = {c for c, a in assigned if a == adviser.id and c not in released}
            assert adviser.active == mine, adviser.id
        assert {c.id for c in one.waiting}.isdisjoint(chats_assigned)
    finally:
        await other.aclose()


OPS = st.sampled_from(
    [
        "enqueue",
        "enqueue",
        "withdraw",
        "set_present",
        "assign_to",
        "put_adviser",
        "set_status",
        "release",
        "remove_adviser",
        "heartbeats",
        "step",
        "step",
    ]
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), delays=st.sampled_from([(60, 120, 180), (0, 0, 0), (1, 5, 5)]))
def test_two_replicas_fed_interleaved_operations_end_where_one_memory_state_does(
    data: st.DataObject, delays: tuple[int, int, int]
) -> None:
    """Every operation goes to one of two instances, drawn at random, and to a memory state; every
    result is the memory state's, and at the end both replicas hold its state."""
    services.need("Redis", services.REDIS_URL)
    asyncio.run(_interleaved(data, TierDelays.of(delays)))


async def _interleaved(data: st.DataObject, delays: TierDelays) -> None:
    key = f"nora:test:routing:{uuid.uuid4().hex}"
    clients = [Redis.from_url(services.REDIS_URL) for _ in range(2)]
    replicas = [RedisRoutingState(c, delays, key=key) for c in clients]
    memory = MemoryRoutingState(delays)
    now = 1000.0

    async def both(op: str, *args: Any) -> None:
        replica = replicas[data.draw(st.integers(0, 1), label="instance")]
        results = []
        for state in (replica, memory):
            try:
                results.append(("ok", await getattr(state, op)(*args)))
            except UnknownAdviser as exc:
                results.append(("raised", exc.adviser_id))
        assert results[0] == results[1], (op, args, results)

    try:
        for _ in range(data.draw(st.integers(5, 40), label="operations")):
            op = data.draw(OPS, label="operation")
            now += data.draw(st.sampled_from([0.0, 0.5, 10.0, 61.0]), label="clock")
            chat_id, adviser_id = data.draw(st.sampled_from(CHATS)), data.draw(st.sampled_from(ADVISERS))
            if op == "enqueue":
                await both("enqueue", data.draw(chats(now)))
            elif op == "withdraw":
                await both("withdraw", chat_id)
            elif op == "set_present":
                await both("set_present", chat_id, data.draw(st.booleans()))
            elif op == "assign_to":
                await both("assign_to", chat_id, adviser_id, now)
            elif op == "put_adviser":
                held = data.draw(st.sets(st.sampled_from(CHATS), max_size=2))
                await both("put_adviser", replace(data.draw(advisers()), active=frozenset(held)))
            elif op == "set_status":
                await both("set_status", adviser_id, data.draw(st.sampled_from(list(AdviserStatus))), now)
            elif op == "release":
                await both("release", adviser_id, chat_id, now)
            elif op == "remove_adviser":
                await both("remove_adviser", adviser_id)
            elif op == "heartbeats":
                await both("touch", sorted(data.draw(st.sets(st.sampled_from(ADVISERS)))), now)
                await both("expire_leases", now, data.draw(st.sampled_from([0.0, 30.0])))
            else:
                await both("step", now)
        expected = books(await memory.snapshot())
        for replica in replicas:
            assert books(await replica.snapshot()) == expected
    finally:
        await clients[0].delete(*replicas[0].keys)
        for c in clients:
            await c.aclose()
