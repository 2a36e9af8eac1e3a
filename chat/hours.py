"""Opening hours in Europe/Oslo time around the pure schedule of ``routing.hours``."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from core.clock import iso
from routing.hours import OpeningHours

OSLO = ZoneInfo("Europe/Oslo")


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
