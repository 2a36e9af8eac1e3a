"""A conversation read back by the store drivers (built without ``__init__``, chat/conversation_sql.py
``loaded``) is the same object as one built the usual way: equal, same dump, its attributes settable,
an ORM session can still read the row; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from chat import sqlite_inline
from chat.conversation_sql import new_conversation
from chat.store import ConversationStore, hash_token
from core.clock import as_utc, to_datetime
from core.db import Database
from core.models import Conversation
from tests.conftest import Databases

pytestmark = pytest.mark.anyio
NOW = to_datetime(1_800_000_000)


def utc(values: dict[str, Any]) -> dict[str, Any]:
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in values.items()}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, databases: Databases) -> AsyncIterator[ConversationStore]:
    url = await asyncio.to_thread(databases.sqlite if request.param == "sqlite" else databases.postgres)
    db = Database.from_url(url)
    the_store = ConversationStore(db)
    try:
        yield the_store
    finally:
        await the_store.close()
        await db.dispose()


async def test_a_conversation_read_back_is_the_one_stored(store: ConversationStore) -> None:
    new = Conversation(
        token_hash=hash_token("rows-token-aaaaaaaaaaaaaaaaaaaaaa"),
        alias="Gjest 1234",
        language="ar",
        also_languages="nb,en",
        region="03",
        audience="youth",
        urgent=True,
        state="queued",
        started_at=NOW,
        enqueued_at=NOW,
    )
    created = await store.create(new)
    got = await store.get(created.id)
    assert got is not None
    assert got == Conversation(**got.model_dump())
    assert utc(got.model_dump()) == utc(created.model_dump())  # SQLite hands back naive UTC times, as before
    assert (got.language, got.urgent, got.next_seq, got.adviser_id) == ("ar", True, 0, None)
    got.target_adviser_id = "someone"  # the service sets fields on what it read
    assert got.model_dump()["target_adviser_id"] == "someone"
    assert await store.by_token("rows-token-aaaaaaaaaaaaaaaaaaaaaa") == got.model_copy(
        update={"target_adviser_id": None}
    )
    async with store.db.session() as session:  # the ORM reads the same row
        orm = await session.get(Conversation, created.id)
    assert orm is not None and orm.model_dump() == (await store.get(created.id)).model_dump()  # type: ignore[union-attr]


def test_a_new_conversation_built_fast_is_one_built_the_usual_way() -> None:
    """``new_conversation`` (a start's row, built without ``__init__``) has every default the model
    gives, a fresh id each time, and refuses a missing or unknown column instead of storing a guess."""
    values: dict[str, Any] = {
        "token_hash": hash_token("fast-token"),
        "alias": "Gjest 4321",
        "language": "so",
        "audience": "school_staff",
        "state": "queued",
        "started_at": NOW,
        "enqueued_at": NOW,
    }
    fast, usual = new_conversation(**values), Conversation(**values)
    assert fast.model_dump() | {"id": usual.id} == usual.model_dump()
    assert fast.id != new_conversation(**values).id
    assert (fast.also_languages, fast.urgent, fast.next_seq, fast.answered_at) == ("", False, 0, None)
    with pytest.raises(TypeError, match="alias"):
        new_conversation(**{k: v for k, v in values.items() if k != "alias"})
    with pytest.raises(TypeError, match="colour"):
        new_conversation(**values, colour="red")


async def test_the_visitors_gone_too_long_are_found_among_the_open_conversations_only(
    store: ConversationStore,
) -> None:
    """The scheduler asks every second which open conversations' visitors have been gone past their
    grace period. Closed conversations are kept for years and most had their visitor leave; the answer
    must not include them, and on SQLite the query must seek the ones gone before the cutoff in the
    index on (state, visitor_away_since) rather than read every conversation, open or kept (on
    PostgreSQL the planner chooses by the table's size)."""
    long_ago, cutoff, lately = to_datetime(1_700_000_000), to_datetime(1_800_000_000), to_datetime(1_800_000_500)

    def conversation(state: str, away: datetime | None) -> Conversation:
        return new_conversation(
            token_hash=hash_token(secrets.token_hex(16)),
            alias="Gjest 1",
            language="nb",
            audience="youth",
            state=state,
            started_at=long_ago,
            enqueued_at=long_ago,
            visitor_away_since=away,
        )

    for _ in range(40):
        await store.create(conversation("closed", long_ago))
    gone_queued = await store.create(conversation("queued", long_ago))
    gone_assigned = await store.create(conversation("assigned", long_ago))
    await store.create(conversation("assigned", lately))  # gone, but within its grace period
    await store.create(conversation("queued", None))  # still here

    found = await store.visitor_away_before(cutoff)
    assert sorted(c.id for c in found) == sorted([gone_queued.id, gone_assigned.id])

    if store.db.is_sqlite:
        async with store.db.engine.connect() as conn:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sqlite_inline.AWAY_BEFORE}", ("2027-01-01",))
            plan = " ".join(str(row[-1]) for row in rows)
        assert "USING INDEX ix_conversation_state_away (state=? AND visitor_away_since<?)" in plan, plan
        assert "SCAN conversation" not in plan, plan
