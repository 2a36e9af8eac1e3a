"""A routing decision whose instance died before storing it: the routing state has the chat on the
adviser (their load counts it), the database still has it queued, and nobody would ever tell the
adviser or the visitor. Another instance's heartbeat finds it missing from the waiting chats twice
in a row, releases it and queues it again; the next step assigns it for real."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
from sqlmodel import select

from chat.broker import MemoryBroker
from chat.conversation_sql import new_conversation
from chat.service import ChatService
from chat.staff import StaffProfile
from chat.store import ConversationStore
from core.clock import to_datetime
from core.models import ConversationState as S
from core.models import StaffUser
from core.reference import Reference
from core.settings import Settings
from routing import Adviser, AdviserStatus, Service
from routing.backends.memory import MemoryRoutingState
from routing.policy import TierDelays
from tests.chat.stand_ins import StandInDirectory

pytestmark = pytest.mark.anyio
NOW = 1_800_000_000.0


class SharedBroker(MemoryBroker):
    """As if other instances listened: an instance that can be one of several checks for their faults."""

    reaches_other_instances = True


async def test_a_decision_its_instance_never_stored_is_queued_again_and_assigned(
    sqlite_store: ConversationStore,
) -> None:
    store = sqlite_store
    async with store.db.session() as session:
        amina = (await session.exec(select(StaffUser).where(StaffUser.username == "amina"))).one().id
    profile = StaffProfile(amina, "Amina", frozenset({"adviser"}), "MR", frozenset({"03"}), frozenset({"ar"}), 1)
    state = MemoryRoutingState(TierDelays())
    clock = [NOW]
    service = ChatService(
        settings=Settings(instance_lease_s=3),  # a heartbeat every tick
        store=store,
        routing=state,
        broker=SharedBroker(),
        directory=StandInDirectory(profile),
        reference=cast(Callable[[], Reference], lambda: None),
        clock=lambda: clock[0],
    )
    at = to_datetime(NOW)
    conv = await store.create(
        new_conversation(
            token_hash="lost-decision", alias="Gjest 1111", language="ar", region="03", audience="youth",
            state=S.QUEUED, started_at=at, enqueued_at=at,
        )
    )  # fmt: skip
    await state.put_adviser(
        Adviser(amina, Service.MR, frozenset({"03"}), frozenset({"ar"}), 1, AdviserStatus.AVAILABLE, seen_at=NOW)
    )
    await state.enqueue(service.assigner.request(conv))
    decided = await state.step(NOW)  # ... and the instance that took this step died before storing it
    assert [(d.conversation_id, d.adviser_id) for d in decided] == [(conv.id, amina)]

    await service.scheduler.tick()  # missing once: it could be in flight
    again = await store.get(conv.id)
    assert again is not None and again.state == S.QUEUED
    clock[0] += 1
    await service.scheduler.tick()  # missing twice: released, queued again, and the tick's step assigns it
    stored = await store.get(conv.id)
    assert stored is not None and (stored.state, stored.adviser_id) == (S.ASSIGNED, amina)
    adviser = next(a for a in (await state.snapshot()).advisers if a.id == amina)
    assert adviser.active == frozenset({conv.id})  # counted once, not twice
