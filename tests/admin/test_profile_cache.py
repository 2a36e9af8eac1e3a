"""The staff profile cache (``admin.accounts.Directory``): cached for minutes, read again at its next
use once an administrator's change is announced, and never refilled by a read that began before it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from admin.accounts import Accounts, Directory, Sessions
from core.models import StaffUser

pytestmark = pytest.mark.anyio


class SlowAccounts:
    """``Accounts.get`` over one row that a test changes; a read can be held open to race a change."""

    def __init__(self) -> None:
        self.name = "Amina"
        self.reads = 0
        self.hold: asyncio.Event | None = None

    async def get(self, user_id: str) -> StaffUser:
        self.reads += 1
        name = self.name  # what the database held when the read began
        if self.hold is not None:
            await self.hold.wait()
        return StaffUser(
            id=user_id, username="amina", name=name, password_hash="-", roles="adviser", created_at=datetime.now(UTC)
        )


def directory(accounts: SlowAccounts) -> Directory:
    return Directory(cast(Accounts, accounts), cast(Sessions, cast(Any, None)), "nora_staff")


async def name(staff: Directory) -> str:
    profile = await staff.profile("u1")
    assert profile is not None
    return profile.name


async def test_a_profile_is_read_once_then_again_after_a_change() -> None:
    accounts = SlowAccounts()
    staff = directory(accounts)
    assert await name(staff) == "Amina"
    assert await name(staff) == "Amina"
    assert accounts.reads == 1
    accounts.name = "Amina K."
    assert await name(staff) == "Amina"  # not told yet: cached
    staff.forget("u1")
    assert await name(staff) == "Amina K."
    assert accounts.reads == 2


async def test_a_read_that_began_before_a_change_is_not_kept() -> None:
    accounts = SlowAccounts()
    staff = directory(accounts)
    accounts.hold = asyncio.Event()
    early = asyncio.create_task(name(staff))
    await asyncio.sleep(0)  # the read has begun, with the old name
    accounts.name = "Amina K."
    staff.forget("u1")
    accounts.hold.set()
    assert await early == "Amina"  # what that read saw
    accounts.hold = None
    assert await name(staff) == "Amina K."  # not the stale one


async def test_after_lost_events_every_profile_is_read_again_in_the_background() -> None:
    accounts = SlowAccounts()
    staff = directory(accounts)
    await staff.profile("u1")
    accounts.name = "Amina K."
    staff.forget(None)  # the broker reconnected: changes may have been missed
    assert await name(staff) == "Amina"  # used while it is read again
    for _ in range(3):
        await asyncio.sleep(0)
    assert await name(staff) == "Amina K."


class ManyAccounts(SlowAccounts):
    """``Accounts.get_many`` beside ``get``, counting the queries."""

    def __init__(self) -> None:
        super().__init__()
        self.queries = 0

    async def get_many(self, user_ids: list[str]) -> list[StaffUser]:
        self.queries += 1
        return [await self.get(user_id) for user_id in user_ids if user_id != "gone"]


async def test_the_profiles_a_routing_step_needs_are_read_together() -> None:
    """A step's decisions name advisers connected to other instances as well: their profiles are read in
    one query before the assignments, not one read each in the middle of them; those already cached
    are not read again, and an account that no longer exists is left to ``profile``."""
    accounts = ManyAccounts()
    staff = Directory(cast(Accounts, accounts), cast(Sessions, cast(Any, None)), "nora_staff")
    await staff.profile("adv-1")  # cached already
    accounts.reads = 0
    await staff.warm(["adv-1", "adv-2", "adv-3", "adv-2", "gone"])
    assert accounts.queries == 1 and accounts.reads == 2  # adv-2 and adv-3, once each
    for user_id in ("adv-1", "adv-2", "adv-3"):
        profile = await staff.profile(user_id)
        assert profile is not None and profile.user_id == user_id
    assert accounts.reads == 2  # all three from the cache
    await staff.warm(["adv-2", "adv-3"])
    assert accounts.queries == 1  # nothing missing: no query
