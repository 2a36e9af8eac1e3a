"""Fixtures shared by the chat package's tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chat.store import ConversationStore
from core.db import Database
from tests.conftest import Databases


@pytest.fixture
async def sqlite_store(databases: Databases) -> AsyncIterator[ConversationStore]:
    """A conversation store on a fresh SQLite file of the current schema."""
    db = Database.from_url(await asyncio.to_thread(databases.sqlite))
    the_store = ConversationStore(db)
    yield the_store
    await the_store.close()
    await db.dispose()
