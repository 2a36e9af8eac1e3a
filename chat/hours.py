"""Opening hours in Europe/Oslo time around the pure schedule of ``routing.hours``.

The hours in force are what an administrator last saved (``core.models.ServiceHours``), or, with
nothing saved, the settings ``NORA_OPENING_HOURS`` and ``NORA_CLOSED_DATES``. Each instance keeps them in
memory (a visitor's ``start`` and ``/api/v1/status`` cost no query) and reads the row again every
``REFRESH_S``, so a change made on one instance is in force on every instance within seconds. If the
database cannot be read, the hours last read stay in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import select

from core.clock import Clock, iso
from core.db import Database
from core.models import ServiceHours
from routing.hours import DAYS, OpeningHours

OSLO = ZoneInfo("Europe/Oslo")
REFRESH_S = 2.0
log = logging.getLogger("nora.hours")


class Hours:
    def __init__(self, schedule: OpeningHours) -> None:
        self.schedule = schedule

    def is_open(self, ts: float) -> bool:
        return self.schedule.is_open(datetime.fromtimestamp(ts, OSLO))

    def next_opening_iso(self, ts: float) -> str | None:
        nxt = self.schedule.next_opening(datetime.fromtimestamp(ts, OSLO))
        return iso(nxt.astimezone(UTC)) if nxt is not None else None


def hours_from(spec: str | None, closed: tuple[str, ...]) -> Hours | None:
    if spec is None and not closed:
        return None
    schedule = OpeningHours.parse(spec or "", closed)
    if spec is None:  # closed dates only: open around the clock on every other day
        schedule = OpeningHours(tuple(((time.min, time.max),) for _ in range(7)), schedule.closed)
    return Hours(schedule)


@dataclass(frozen=True)
class ClosedDate:
    day: date
    label: str = ""


@dataclass(frozen=True)
class Schedule:
    """The hours in force and where they come from: ``weekly`` in the setting's syntax (``None``: open
    around the clock), the closed dates with their labels, and who saved them (``version`` 0: nobody,
    the settings are in force)."""

    weekly: str | None
    closed: tuple[ClosedDate, ...] = ()
    version: int = 0
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def from_settings(self) -> bool:
        return self.version == 0

    def hours(self) -> Hours | None:
        return hours_from(self.weekly, tuple(c.day.isoformat() for c in self.closed))

    def windows(self) -> list[dict[str, str]] | None:
        """``weekly`` as ``[{"day":"mon","open":"08:00","close":"16:00"}, …]`` (``None``: around the clock)."""
        if self.weekly is None:
            return None
        week = OpeningHours.parse(self.weekly).windows
        return [
            {"day": DAYS[day], "open": start.strftime("%H:%M"), "close": end.strftime("%H:%M")}
            for day, spans in enumerate(week)
            for start, end in spans
        ]

    def closed_dates(self) -> list[dict[str, str]]:
        return [{"date": c.day.isoformat(), "label": c.label} for c in sorted(self.closed, key=lambda c: c.day)]

    def closed_json(self) -> str:
        return json.dumps(self.closed_dates(), ensure_ascii=False)


def weekly_spec(windows: list[tuple[str, time, time]]) -> str:
    """Windows ``(day, open, close)`` in the setting's syntax, in day order."""
    ordered = sorted(windows, key=lambda w: (DAYS.index(w[0]), w[1]))
    return "; ".join(f"{day} {start:%H:%M}-{end:%H:%M}" for day, start, end in ordered)


def settings_schedule(spec: str | None, closed: tuple[str, ...]) -> Schedule:
    return Schedule(spec, tuple(ClosedDate(date.fromisoformat(d)) for d in closed))


def stored_schedule(row: ServiceHours) -> Schedule:
    items = json.loads(row.closed_dates)
    closed = tuple(ClosedDate(date.fromisoformat(c["date"]), str(c.get("label", ""))) for c in items)
    return Schedule(row.weekly, closed, row.version, row.updated_at, row.updated_by)


class OpeningHoursBook:
    """This instance's copy of the hours in force (``current``), read again every ``REFRESH_S``."""

    def __init__(self, db: Database, clock: Clock, defaults: Schedule) -> None:
        self.db = db
        self.clock = clock
        self.defaults = defaults
        self.schedule = defaults
        self._hours = defaults.hours()
        self._read_at = float("-inf")
        self._warned_at = float("-inf")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read the hours in force, then keep reading them every ``REFRESH_S``."""
        await self.refresh(force=True)
        self._task = asyncio.create_task(self._refresh_forever(), name="opening-hours")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            await self.refresh(force=True)

    def current(self) -> Hours | None:
        """The hours in force (``None``: always open)."""
        return self._hours

    def use(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self._hours = schedule.hours()

    async def refresh(self, *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._read_at < REFRESH_S:
            return
        self._read_at = now
        try:
            async with self.db.session() as session:
                row = (await session.exec(select(ServiceHours))).first()
        except Exception as exc:  # noqa: BLE001 - an outage must not stop the tick; keep what was read
            if now - self._warned_at >= 60:
                self._warned_at = now
                log.warning("opening hours not read (%s); the hours read before stay in force", type(exc).__name__)
            return
        schedule = self.defaults if row is None else stored_schedule(row)
        if schedule != self.schedule:
            self.use(schedule)

    def body(self) -> dict[str, Any]:
        """What ``GET /api/v1/hours`` says about the hours in force now."""
        s, now = self.schedule, self.clock()
        hours = self.current()
        is_open = hours.is_open(now) if hours else True
        return {
            "source": "settings" if s.from_settings else "database",
            "weekly": s.windows(),
            "closed_dates": s.closed_dates(),
            "version": s.version,
            "updated_at": iso(s.updated_at),
            "open_now": is_open,
            "next_opening": None if is_open or hours is None else hours.next_opening_iso(now),
            "defaults": {"weekly": self.defaults.windows(), "closed_dates": self.defaults.closed_dates()},
        }
