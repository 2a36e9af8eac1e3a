"""Routing state in Redis, shared by several instances.

Each operation is one optimistic transaction (WATCH the state key, run the reference logic of
``MemoryRoutingState`` on it, MULTI/SET/EXEC, retry if another instance wrote in between). So two
instances never assign the same conversation or overfill an adviser, and a stalled instance cannot
corrupt the state the way an expired lock could. The whole state travels on each write: right for a
national service of this size (hundreds waiting at most), and measured in ``bench/``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from routing.backends.memory import MemoryRoutingState
from routing.errors import StateBusy
from routing.model import Adviser, AdviserStatus, Assignment, ChatRequest, Snapshot
from routing.policy import TierDelays
from routing.state import RoutingState

T = TypeVar("T")
BUSY_BUDGET_S = 10.0  # how long one operation keeps retrying while other instances write the state
MAX_BACKOFF_S = 0.05
RECONNECT_ATTEMPTS = 3
STATE_TTL_S = 7 * 24 * 3600  # every key expires (docs/reliability.md 35); any write renews it


class RoutingContention(StateBusy):
    """Other instances wrote the routing state all through ``BUSY_BUDGET_S``; the caller may retry."""


class RedisRoutingState(RoutingState):
    def __init__(self, redis: Redis, delays: TierDelays, *, key: str = "nora:routing") -> None:
        self.redis = redis
        self.delays = delays
        self.key = key
        # One transaction at a time per instance: concurrent WATCHes of one key from the same process
        # only invalidate each other (a burst of 1,000 starts exhausted the retries). What remains is
        # contention between instances, met with jittered backoff.
        self._lock = asyncio.Lock()

    def _decode(self, raw: Any) -> MemoryRoutingState:
        if not raw:
            return MemoryRoutingState(self.delays)
        return MemoryRoutingState.load(orjson.loads(raw), self.delays)

    async def _apply(self, op: Callable[[MemoryRoutingState], Awaitable[T]]) -> T:
        async with self._lock:
            return await self._transact(op)

    async def _transact(self, op: Callable[[MemoryRoutingState], Awaitable[T]]) -> T:
        deadline = time.monotonic() + BUSY_BUDGET_S
        attempt = -1
        while True:
            attempt += 1
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(self.key)
                    state = self._decode(await pipe.get(self.key))
                    result = await op(state)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(self.key, orjson.dumps(state.dump()), ex=STATE_TTL_S)
                    await pipe.execute()
                    return result
                except WatchError:
                    # Another instance wrote first. Under a burst of starts on two busy instances that
                    # can happen a hundred times in a row; a time budget, not a count, decides.
                    if time.monotonic() >= deadline:
                        raise RoutingContention(
                            f"routing state busy for {BUSY_BUDGET_S:.0f} s ({attempt + 1} attempts)"
                        ) from None
                    await asyncio.sleep(random.uniform(0, min(MAX_BACKOFF_S, 0.002 * (attempt + 1))))
                    continue
                except (RedisConnectionError, RedisTimeoutError):
                    # After a Redis restart the first command on a pooled connection fails; the pool
                    # reconnects on the next one. Give up (and let the caller fail) after a few.
                    if attempt >= RECONNECT_ATTEMPTS:
                        raise
                    await asyncio.sleep(0.05 * (attempt + 1))

    async def enqueue(self, chat: ChatRequest) -> None:
        await self._apply(lambda s: s.enqueue(chat))

    async def withdraw(self, chat_id: str) -> ChatRequest | None:
        return await self._apply(lambda s: s.withdraw(chat_id))

    async def set_present(self, chat_id: str, present: bool) -> bool:
        return await self._apply(lambda s: s.set_present(chat_id, present))

    async def assign_to(self, chat_id: str, adviser_id: str, now: float) -> Assignment | None:
        return await self._apply(lambda s: s.assign_to(chat_id, adviser_id, now))

    async def lift_exclusion(self, chat_id: str) -> bool:
        return await self._apply(lambda s: s.lift_exclusion(chat_id))

    async def put_adviser(self, adviser: Adviser) -> None:
        await self._apply(lambda s: s.put_adviser(adviser))

    async def set_status(self, adviser_id: str, status: AdviserStatus, now: float) -> Adviser:
        return await self._apply(lambda s: s.set_status(adviser_id, status, now))

    async def release(self, adviser_id: str, chat_id: str, now: float) -> None:
        await self._apply(lambda s: s.release(adviser_id, chat_id, now))

    async def remove_adviser(self, adviser_id: str) -> Adviser | None:
        return await self._apply(lambda s: s.remove_adviser(adviser_id))

    async def touch(self, adviser_ids: Iterable[str], now: float) -> None:
        ids = list(adviser_ids)
        if ids:
            await self._apply(lambda s: s.touch(ids, now))

    async def expire_leases(self, now: float, lease_s: float) -> list[str]:
        return await self._apply(lambda s: s.expire_leases(now, lease_s))

    async def step(self, now: float) -> list[Assignment]:
        return await self._apply(lambda s: s.step(now))

    async def snapshot(self) -> Snapshot:
        return await self._decode(await self.redis.get(self.key)).snapshot()
