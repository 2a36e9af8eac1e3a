"""The periodic tick when the database drops its connections (a PostgreSQL restart): the next tick
tries again, and the log gets a warning, not a traceback every second; any other failure still logs
its traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import SimpleNamespace

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from chat.scheduler import Scheduler

pytestmark = pytest.mark.anyio


async def ticks_failing_with(error: Exception) -> int:
    calls = 0

    async def tick() -> None:
        nonlocal calls
        calls += 1
        raise error

    fake = SimpleNamespace(settings=SimpleNamespace(tick_s=0.01), tick=tick)
    task = asyncio.create_task(Scheduler._tick_forever(fake))  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return calls


async def test_a_dropped_database_connection_is_a_warning_and_the_ticks_go_on(caplog: pytest.LogCaptureFixture) -> None:
    dropped = sa_exc.DBAPIError("SELECT 1", {}, asyncpg.exceptions.ConnectionDoesNotExistError("terminated"))
    with caplog.at_level(logging.WARNING):
        calls = await ticks_failing_with(dropped)
    assert calls >= 3  # the loop went on
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a dependency that is away"
    assert any("periodic ticks skipped" in r.getMessage() for r in caplog.records)


async def test_any_other_failure_still_logs_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        await ticks_failing_with(ValueError("a bug"))
    assert [r for r in caplog.records if r.exc_info and "periodic routing tick failed" in r.getMessage()]
