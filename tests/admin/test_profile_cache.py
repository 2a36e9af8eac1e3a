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
