"""The supervisor's day and week in figures (docs/design.md §2, issue 17): computed from the conversation
rows alone, so nothing is counted twice and nothing needs a registration.

For the conversations **started** in the period (Europe/Oslo days):
- **answered**: an adviser took it (``answered_at``, the first assignment; ``assigned_at`` for rows
  from before that was recorded);
- **abandoned while waiting**: it closed before anyone took it;
- **silent**: it closed before the visitor wrote anything (not a registration, chat/abandoned.py);
- **waiting now**: still in the queue, never taken;
- **wait p50 / p90**: from joining the queue to the first answer, over the answered ones, by nearest
  rank (the smallest wait with at least 50 % / 90 % of the waits at or below it).
The same per service (of the adviser who answered; ``none`` when unanswered), county and language.

Per adviser: **handled**, the conversations that closed in the period while assigned to them, and
**active time**, the time they held at least one conversation (each from its assignment to its close,
overlaps counted once, clipped to the period). A conversation transferred away counts for whoever held it
at the end: the database keeps the last holder only.

The **chart**: per hour of a day (per day of a week), the most conversations waiting at the same
moment, and how many were answered in it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from core.clock import as_utc, iso
from core.models import OSLO, Conversation, ConversationState

GROUPINGS = ("service", "region", "language")
NONE = "none"


@dataclass(frozen=True)
class Period:
    kind: str  # "day" or "week"
    first: date  # its first Oslo day
    start: datetime  # UTC
    end: datetime  # UTC: the end of the period, or now when it is not over

    @property
    def bins(self) -> list[tuple[datetime, datetime, str]]:
        """(start, end, label) of each chart bar: hours of a day, days of a week, up to ``end``."""
        out = []
        if self.kind == "day":
            for hour in range(24):
                lo = datetime.combine(self.first, time(hour), OSLO).astimezone(UTC)
                hi = lo + timedelta(hours=1)
                if lo >= self.end:
                    break
                out.append((lo, min(hi, self.end), f"{hour:02d}"))
        else:
            for offset in range(7):
                day = self.first + timedelta(days=offset)
                lo, hi = oslo_start(day), oslo_start(day + timedelta(days=1))
                if lo >= self.end:
                    break
                out.append((lo, min(hi, self.end), day.isoformat()))
        return out


def oslo_start(day: date) -> datetime:
    """Midnight of an Oslo day, in UTC (23 or 25 hours apart around the clock changes)."""
    return datetime.combine(day, time.min, OSLO).astimezone(UTC)


def period_of(kind: str, day: date, now: datetime) -> Period:
    """The day, or the ISO week (Monday first) holding ``day``; it ends at ``now`` if not over yet."""
    first = day if kind == "day" else day - timedelta(days=day.weekday())
    last = first + timedelta(days=1 if kind == "day" else 7)
    return Period(kind, first, oslo_start(first), min(oslo_start(last), as_utc(now)))


def nearest_rank(values: Sequence[float], share: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return int(round(ordered[max(0, math.ceil(share * len(ordered)) - 1)]))


def _answered_at(conv: Conversation) -> datetime | None:
    at = conv.answered_at or conv.assigned_at
    return as_utc(at) if at is not None else None


def _wait_end(conv: Conversation, until: datetime) -> datetime:
    """When the first wait ended: answered, closed unanswered, or still waiting at ``until``."""
    answered = _answered_at(conv)
    if answered is not None:
        return answered
    return as_utc(conv.closed_at) if conv.closed_at is not None else until


def _waits(convs: list[Conversation]) -> list[float]:
    out = []
    for conv in convs:
        answered = _answered_at(conv)
        if answered is not None:
            out.append(max(0.0, (answered - as_utc(conv.enqueued_at)).total_seconds()))
    return out


def _summary(convs: list[Conversation]) -> dict[str, Any]:
    waits = _waits(convs)
    return {
        "started": len(convs),
        "answered": sum(1 for c in convs if _answered_at(c) is not None),
        "abandoned_waiting": sum(1 for c in convs if _answered_at(c) is None and c.state == ConversationState.CLOSED),
        "waiting_now": sum(1 for c in convs if _answered_at(c) is None and c.state != ConversationState.CLOSED),
        "silent": sum(1 for c in convs if c.visitor_wrote is False),
        "wait_p50_s": nearest_rank(waits, 0.5),
        "wait_p90_s": nearest_rank(waits, 0.9),
    }


def _group_key(conv: Conversation, grouping: str) -> str:
    value = {"service": conv.service if _answered_at(conv) else None, "region": conv.region, "language": conv.language}[
        grouping
    ]
    return value or NONE


def _union_seconds(spans: Iterable[tuple[datetime, datetime]]) -> int:
    total, reach = 0.0, None
    for lo, hi in sorted(spans):
        if reach is None or lo > reach:
            total += (hi - lo).total_seconds()
            reach = hi
        elif hi > reach:
            total += (hi - reach).total_seconds()
            reach = hi
    return int(round(total))


def _peak(spans: list[tuple[datetime, datetime]], lo: datetime, hi: datetime) -> int:
    """The most spans open at the same moment within [lo, hi)."""
    events = []
    for start, end in spans:
        if start < hi and end > lo:
            events.append((max(start, lo), 1))
            events.append((min(end, hi), -1))
    peak = current = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start at the same moment
        current += step
        peak = max(peak, current)
    return peak


def day_figures(convs: list[Conversation], period: Period, names: dict[str, str]) -> dict[str, Any]:
    """Every figure of the day page for the conversations that touch ``period``."""
    until = period.end
    started = [c for c in convs if period.start <= as_utc(c.started_at) < until]
    by: dict[str, list[dict[str, Any]]] = {}
    for grouping in GROUPINGS:
        groups: dict[str, list[Conversation]] = {}
        for conv in started:
            groups.setdefault(_group_key(conv, grouping), []).append(conv)
        by[grouping] = [{"key": key, **_summary(group)} for key, group in sorted(groups.items())]

    advisers: dict[str, dict[str, Any]] = {}
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for conv in convs:
        if not conv.adviser_id or conv.assigned_at is None:
            continue
        lo = max(as_utc(conv.assigned_at), period.start)
        hi = min(as_utc(conv.closed_at) if conv.closed_at is not None else until, until)
        if hi > lo:
            spans.setdefault(conv.adviser_id, []).append((lo, hi))
        blank = {"id": conv.adviser_id, "name": names.get(conv.adviser_id, ""), "handled": 0}
        row = advisers.setdefault(conv.adviser_id, blank)
        closed = conv.closed_at is not None and period.start <= as_utc(conv.closed_at) < until
        row["handled"] += 1 if closed and conv.state == ConversationState.CLOSED else 0
    for adviser_id, row in advisers.items():
        row["active_s"] = _union_seconds(spans.get(adviser_id, []))

    waiting = [(as_utc(c.enqueued_at), _wait_end(c, until)) for c in convs]
    answered_times = [a for a in (_answered_at(c) for c in convs) if a is not None]
    bars = [
        {
            "label": label,
            "start": iso(lo),
            "waiting": _peak(waiting, lo, hi),
            "answered": sum(1 for a in answered_times if lo <= a < hi),
        }
        for lo, hi, label in period.bins
    ]
    return {
        "period": period.kind,
        "date": period.first.isoformat(),
        "from": iso(period.start),
        "to": iso(until),
        "totals": _summary(started),
        "by": by,
        "advisers": sorted(advisers.values(), key=lambda r: (-r["handled"], r["name"])),
        "chart": {"unit": "hour" if period.kind == "day" else "day", "bars": bars},
    }
