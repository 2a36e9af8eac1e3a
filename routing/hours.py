"""Opening hours (``NORA_OPENING_HOURS``, ``NORA_CLOSED_DATES``) as a pure weekly schedule.

Times are local wall-clock times; the caller converts to and from Europe/Oslo, so this module needs
no time-zone database and stays free of I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WINDOW = re.compile(r"^(?P<days>[a-z,\-]+)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$")


def _days(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        if "-" in part:
            first, last = part.split("-", 1)
            a, b = DAYS.index(first), DAYS.index(last)
            if b < a:
                raise ValueError(f"day range {part!r} runs backwards")
            out.extend(range(a, b + 1))
        else:
            out.append(DAYS.index(part))
    return out


@dataclass(frozen=True)
class OpeningHours:
    windows: tuple[tuple[tuple[time, time], ...], ...]  # indexed by weekday, Monday = 0
    closed: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, spec: str, closed_dates: tuple[str, ...] = ()) -> OpeningHours:
        """``"mon-fri 08:00-16:00; sat 10:00-14:00"``; raises ``ValueError`` naming the bad part."""
        week: list[list[tuple[time, time]]] = [[] for _ in DAYS]
        for chunk in (c.strip().lower() for c in spec.split(";")):
            if not chunk:
                continue
            match = WINDOW.match(chunk)
            if match is None:
                raise ValueError(f"opening hours: cannot read {chunk!r} (use e.g. 'mon-fri 08:00-16:00')")
            try:
                start, end = time.fromisoformat(match["start"]), time.fromisoformat(match["end"])
                days = _days(match["days"])
            except ValueError as exc:
                raise ValueError(f"opening hours: cannot read {chunk!r}: {exc}") from None
            if end <= start:
                raise ValueError(f"opening hours: {chunk!r} ends before it starts")
            for day in days:
                week[day].append((start, end))
        try:
            closed = frozenset(date.fromisoformat(d) for d in closed_dates)
        except ValueError as exc:
            raise ValueError(f"closed dates: {exc}") from None
        return cls(tuple(tuple(sorted(w)) for w in week), closed)

    def is_open(self, local: datetime) -> bool:
        if local.date() in self.closed:
            return False
        now = local.time()
        return any(start <= now < end for start, end in self.windows[local.weekday()])

    def next_opening(self, local: datetime) -> datetime | None:
        """The next local datetime at which the service opens (``local`` itself if open now)."""
        if self.is_open(local):
            return local
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        for offset in range(0, 400):
            current = day + timedelta(days=offset)
            if current.date() in self.closed:
                continue
            for start, _end in self.windows[current.weekday()]:
                candidate = current.replace(hour=start.hour, minute=start.minute)
                if candidate > local:
                    return candidate
        return None
