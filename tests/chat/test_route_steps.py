"""``ChatService.route``: callers queued behind a routing step share the next one, and a step the live
state is too busy for (other instances writing it) fails no caller. The state here is the in-memory
reference wrapped to count steps and to answer "busy" when told; the two-instance e2e tests and the
``chat-1000-2x-redis`` benchmark run the Redis one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import cast

import pytest

from chat.broker import MemoryBroker
from chat.service import ChatService
from chat.store import ConversationStore
from core.db import Database
from core.reference import Reference
from core.settings import Settings
from routing import Assignment, StateBusy, TierDelays
from routing.backends.memory import MemoryRoutingState
from tests.chat.stand_ins import StandInDirectory
from tests.conftest import Databases

pytestmark = pytest.mark.anyio


class CountingState(MemoryRoutingState):
    def __init__(self, busy_steps: int = 0) -> None:
        super().__init__(TierDelays())
        self.steps = 0
        self.busy_steps = busy_steps

    async def step(self, now: float) -> list[Assignment]:
        self.steps += 1
        await asyncio.sleep(0.01)  # a transaction on a shared key takes a while
        if self.busy_steps:
            self.busy_steps -= 1
            raise StateBusy("other instances kept writing the state")
        return await super().step(now)


@pytest.fixture
async def make_service(databases: Databases) -> AsyncIterator[Callable[[CountingState], ChatService]]:
    db = Database.from_url(await asyncio.to_thread(databases.sqlite))
    store = ConversationStore(db)

    def make(state: CountingState) -> ChatService:
        return ChatService(
            settings=Settings(),
            store=store,
            routing=state,
            broker=MemoryBroker(),
            directory=StandInDirectory(),
            reference=cast(Callable[[], Reference], lambda: None),
        )

    yield make
    await store.close()
    await db.dispose()


async def test_route_calls_queued_behind_a_step_share_the_next_one(
    make_service: Callable[[CountingState], ChatService],
) -> None:
    state = CountingState()
    service = make_service(state)
    await asyncio.gather(*(service.route() for _ in range(20)))  # a burst of starts, say
    assert state.steps == 2  # the one running when they came, and one that covers them all
    await service.route()
    assert state.steps == 3  # a later call gets a step of its own


async def test_a_step_the_state_is_too_busy_for_fails_no_caller(
    make_service: Callable[[CountingState], ChatService],
) -> None:
    state = CountingState(busy_steps=1)
    service = make_service(state)
    await service.route()  # logged and left to the next tick, not raised into a visitor's start
    assert state.steps == 1
    await service.route()
    assert state.steps == 2
