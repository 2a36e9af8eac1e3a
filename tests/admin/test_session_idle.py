"""The idle timeout counts every use of a session (issue 18 #8), and a check that a console socket is
still allowed counts only when the staff member was active. Real database, a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from admin.accounts import Accounts, Sessions
from admin.passwords import Passwords
from core.db import Database
from tests.conftest import Databases

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(databases: Databases) -> AsyncIterator[Database]:
    database = Database.from_url(await asyncio.to_thread(databases.sqlite))
    yield database
    await database.dispose()


async def new_session(db: Database, clock: Clock, idle_s: int = 60) -> tuple[Sessions, str]:
    user = await Accounts(db, Passwords()).by_username("amina")
    assert user is not None
    sessions = Sessions(db, idle_s=idle_s, absolute_s=8 * 3600, clock=clock)
    token, _ = await sessions.create(user.id)
    return sessions, token


async def test_a_session_used_every_20_s_never_idles_out(db: Database) -> None:
    clock = Clock()
    sessions, token = await new_session(db, clock)
    for _ in range(12):  # four minutes of use, every 20 s, with a 60 s idle timeout
        clock.now += 20
        assert await sessions.lookup(token) is not None
    clock.now += 61
    assert await sessions.lookup(token) is None  # and it does idle out once unused


async def test_another_instance_sees_the_use_within_a_quarter_of_the_timeout(db: Database) -> None:
    clock = Clock()
    here, token = await new_session(db, clock)
    there = Sessions(db, idle_s=60, absolute_s=8 * 3600, clock=clock)  # another instance, same database
    for _ in range(6):
        clock.now += 20
        assert await here.lookup(token) is not None
    clock.now += 60 - here.write_every  # the last write is at most write_every old
    assert await there.lookup(token) is not None


async def test_a_check_without_activity_does_not_keep_the_session_alive(db: Database) -> None:
    clock = Clock()
    sessions, token = await new_session(db, clock)
    found = await sessions.lookup(token)
    assert found is not None
    key = found[0].token_hash
    clock.now += 40
    assert await sessions.lookup_hash(key, activity=False) is not None  # still valid, not extended
    clock.now += 25
    assert await sessions.lookup_hash(key, activity=False) is None  # 65 s since the last real use
    clock2 = Clock()
    sessions2, token2 = await new_session(db, clock2)
    found2 = await sessions2.lookup(token2)
    assert found2 is not None
    clock2.now += 40
    assert await sessions2.lookup_hash(found2[0].token_hash, activity=True) is not None  # on duty
    clock2.now += 40
    assert await sessions2.lookup_hash(found2[0].token_hash, activity=False) is not None
