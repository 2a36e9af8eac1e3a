"""Transcript purge on the retention schedule, on SQLite and PostgreSQL: texts gone, registrations kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import select

from chat.retention import purge_transcripts
from chat.store import ConversationStore, hash_token
from core.clock import to_datetime
from core.db import Database
from core.models import Conversation, Message, Registration
from tests.conftest import Databases

pytestmark = pytest.mark.anyio
NOW = to_datetime(1_800_000_000)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, databases: Databases) -> AsyncIterator[Database]:
    import asyncio

    url = await asyncio.to_thread(databases.sqlite if request.param == "sqlite" else databases.postgres)
    database = Database.from_url(url)
    yield database
    await database.dispose()


async def conversation(store: ConversationStore, token: str, closed_hours_ago: float | None) -> str:
    closed = NOW - timedelta(hours=closed_hours_ago) if closed_hours_ago is not None else None
    conv = await store.create(
        Conversation(
            token_hash=hash_token(token),
            alias="Gjest 1000",
            language="nb",
            region="03",
            audience="youth",
            state="closed" if closed else "assigned",
            started_at=NOW - timedelta(days=5),
            enqueued_at=NOW - timedelta(days=5),
            closed_at=closed,
            close_reason="adviser_closed" if closed else None,
            service="MR",
        )
    )
    await store.append(conv.id, sender="visitor", text=f"secret of {token}", at=NOW - timedelta(days=5), client_id="c1")
    return conv.id


async def test_purge_erases_old_transcripts_only_and_keeps_registrations(db: Database) -> None:
    store = ConversationStore(db)
    try:
        await _purge_erases_old_transcripts_only(db, store)
    finally:
        await store.close()


async def _purge_erases_old_transcripts_only(db: Database, store: ConversationStore) -> None:
    old = await conversation(store, "old-token-aaaaaaaaaaaaaaa", 73)
    recent = await conversation(store, "new-token-aaaaaaaaaaaaaaa", 71)
    live = await conversation(store, "live-token-aaaaaaaaaaaaaa", None)
    async with db.writing() as session:
        session.add(
            Registration(
                conversation_id=old,
                is_case=True,
                main_category="forced_marriage",
                service="MR",
                closed_at=NOW - timedelta(hours=73),
                created_at=NOW,
                updated_at=NOW,
            )
        )

    assert await purge_transcripts(db, NOW - timedelta(hours=72), NOW) == 1
    assert await purge_transcripts(db, NOW - timedelta(hours=72), NOW) == 0  # idempotent
    assert await store.messages_after(old, 0) == []
    assert [m.text for m in await store.messages_after(recent, 0)] == ["secret of new-token-aaaaaaaaaaaaaaa"]
    assert len(await store.messages_after(live, 0)) == 1
    assert await store.by_token("old-token-aaaaaaaaaaaaaaa") is None  # the token no longer opens anything
    async with db.session() as session:
        registration = (await session.exec(select(Registration))).one()
        purged = await session.get(Conversation, old)
        left = (await session.exec(select(Message))).all()
    assert registration.conversation_id == old and registration.main_category == "forced_marriage"
    assert purged is not None and purged.purged_at is not None
    assert all("old-token" not in (m.text or "") for m in left)
