"""Time in one place, so that tests can move it and SQLite's naive datetimes stay UTC."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]


def system_clock() -> float:
    return time.time()


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and a ``Z``, as docs/protocol.md §1.2 writes times."""
    if value is None:
        return None
    return as_utc(value).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
