"""The console's ``assigned`` body for a conversation assigned on this instance is built from the row the
assignment returned and its notice, without reading them back, only when nothing else about the
conversation happened here in between; otherwise it is read, so that a change which reached the console
before its body (a visitor gone away, say) is in the body. Run in-process on a real store (SQLite and PostgreSQL), with
the adviser's socket replaced by one that keeps the frames it is sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlmodel import col, select

from chat.broker import MemoryBroker
from chat.conversation_sql import new_conversation
from chat.events import Presence
from chat.hub import StaffConn
from chat.outbox import RAW_SEND, Outbox
from chat.service import ChatService
from chat.staff import StaffIdentity, StaffProfile
from chat.store import ConversationStore, hash_token
from core.clock import to_datetime
from core.db import Database
from core.models import Conversation, StaffUser
from core.reference import ReferenceBox, load_reference
from core.settings import Settings
from routing import TierDelays
from routing.backends.memory import MemoryRoutingState
from tests.chat.stand_ins import StandInDirectory
from tests.conftest import Databases

pytestmark = pytest.mark.anyio


class CountingStore(ConversationStore):
    """The real store, counting the conversation reads the console's body would make."""

    reads = 0
    after_assign: Callable[[], Awaitable[None]] | None = None  # what happens just after the row is stored

    async def get(self, conversation_id: str) -> Conversation | None:
        self.reads += 1
        return await super().get(conversation_id)

    async def assign(
        self, conversation_id: str, adviser_id: str, service: str | None, at: datetime
    ) -> Conversation | None:
        conv = await super().assign(conversation_id, adviser_id, service, at)
        if self.after_assign is not None:
            await self.after_assign()
        return conv


class KeptFrames:
    """Stands in for the adviser's websocket: what the outbox writes is kept."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.scope = {RAW_SEND: self.send}

    async def send(self, message: dict[str, Any]) -> None:
        self.frames.append(json.loads(message["text"]))
        self.arrived.set()

    async def assigned(self) -> dict[str, Any]:
        while True:
            found = [f for f in self.frames if f["type"] == "assigned"]
            if found:
                return found[0]["conversation"]  # type: ignore[no-any-return]
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 5)


@dataclass
class Setup:
    service: ChatService
    store: CountingStore
    adviser_id: str
    socket: KeptFrames

    async def waiting(self, *, urgent: bool = False) -> str:
        now = to_datetime(self.service.clock())
        conv = new_conversation(
            token_hash=hash_token(f"console-body-{now.timestamp()}-{urgent}"),
            alias="Gjest 7",
            language="ar",
            region="03",
            audience="youth",
            urgent=urgent,
            state="queued",
            started_at=now,
            enqueued_at=now,
        )
        await self.store.create(conv)
        if urgent:  # its first notice comes before the assignment's
            await self.service.messages.system(conv, "urgent_help", None)
        return conv.id


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def setup(request: pytest.FixtureRequest, databases: Databases) -> AsyncIterator[Setup]:
    url = await asyncio.to_thread(databases.sqlite if request.param == "sqlite" else databases.postgres)
    db = Database.from_url(url)
    store = CountingStore(db)
    async with db.session() as session:
        reference = ReferenceBox(await load_reference(session))
        amina = (await session.exec(select(StaffUser).where(col(StaffUser.username) == "amina"))).one()
    profile = StaffProfile(amina.id, "Amina", frozenset({"adviser"}), "MR", frozenset({"03"}), frozenset({"ar"}), 3)
    service = ChatService(
        settings=Settings(),
        store=store,
        routing=MemoryRoutingState(TierDelays()),
        broker=MemoryBroker(),
        directory=StandInDirectory(profile, sessions_valid=True),
        reference=reference,
    )
    socket = KeptFrames()
    outbox = Outbox(socket, store, role="adviser", owner=amina.id)  # type: ignore[arg-type]
    outbox.start()
    service.hub.add_adviser(StaffConn(outbox, StaffIdentity(profile, "session-hash")))
    try:
        yield Setup(service, store, amina.id, socket)
    finally:
        await outbox.stop()
        await store.close()
        await db.dispose()


async def test_a_first_assignment_sends_the_body_without_reading_it_back(setup: Setup) -> None:
    cid = await setup.waiting()
    await setup.service.assigner._assign(cid, setup.adviser_id)
    body = await setup.socket.assigned()
    assert setup.store.reads == 0
    outbox = Outbox(KeptFrames(), setup.store, role="adviser", owner=setup.adviser_id)  # type: ignore[arg-type]
    assert body == await setup.service.views.body(cid, outbox)  # what a read gives (the console's `state`)
    assert [m["event"] for m in body["messages"]] == ["assigned"] and body["visitor_present"] is True


async def test_a_visitor_gone_between_the_assignment_and_the_body_is_in_the_body(setup: Setup) -> None:
    """The visitor's socket closes while the assignment is being stored: the console is told the visitor
    is away before it has the conversation (so that frame does not show), and the body must say so."""
    cid = await setup.waiting()

    async def visitor_leaves() -> None:
        await setup.store.mark_visitor_away(cid, to_datetime(setup.service.clock()))
        setup.service.fanout.publish_soon(Presence(cid, setup.adviser_id, "away"))

    setup.store.after_assign = visitor_leaves  # after the row the body could be built from was returned
    await setup.service.assigner._assign(cid, setup.adviser_id)
    body = await setup.socket.assigned()
    assert setup.store.reads == 1
    assert body["visitor_present"] is False and body["visitor_away_since"] is not None


async def test_a_conversation_with_messages_before_its_assignment_is_read(setup: Setup) -> None:
    cid = await setup.waiting(urgent=True)
    await setup.service.assigner._assign(cid, setup.adviser_id)
    body = await setup.socket.assigned()
    assert setup.store.reads == 1
    assert [m["event"] for m in body["messages"]] == ["urgent_help", "assigned"]
