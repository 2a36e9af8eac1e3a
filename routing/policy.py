"""The routing policy of DESIGN.md §3 as pure functions.

Tiers widen with waiting time ("bullseye" routing) and never narrow:

0. minority advisers (MR) covering the visitor's region, in the visitor's language; staff inquiries
   also reach the ambulating team (AT), which exists to support schools;
1. (after ``t1``) AT in the visitor's language, anywhere;
2. (after ``t2``) any MR in the visitor's language, any region;
3. (after ``t3``, only with ``also_languages``) the same reach in those languages as well.

A visitor without region starts at tier 1. Among eligible advisers the least loaded wins, then the one
idle longest. Waiting conversations are served urgent first, then oldest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from routing.model import Adviser, AdviserStatus, Assignment, ChatRequest, QueueEstimate, Service

STAFF_AUDIENCE = "staff"
MAX_TIER = 3
RATE_WINDOW_S = 1800.0
MIN_RELEASES_FOR_ESTIMATE = 3


@dataclass(frozen=True, slots=True)
class TierDelays:
    """Seconds of waiting after which tiers 1, 2 and 3 open (``NORA_TIER_DELAYS``)."""

    t1: float = 60.0
    t2: float = 120.0
    t3: float = 180.0

    @classmethod
    def of(cls, delays: Sequence[float]) -> TierDelays:
        if len(delays) != 3 or list(delays) != sorted(delays) or min(delays) < 0:
            raise ValueError("tier delays must be three increasing non-negative numbers")
        return cls(float(delays[0]), float(delays[1]), float(delays[2]))


def tier(chat: ChatRequest, now: float, delays: TierDelays) -> int:
    waited = max(0.0, now - chat.enqueued_at)
    by_time = 0
    if waited >= delays.t1:
        by_time = 1
    if waited >= delays.t2:
        by_time = 2
    if waited >= delays.t3 and chat.also_languages:
        by_time = 3
    start = 0 if chat.region is not None else 1
    return max(start, by_time, min(chat.min_tier, MAX_TIER))


def languages_at(chat: ChatRequest, tier_: int) -> frozenset[str]:
    if tier_ >= 3:
        return frozenset((chat.language, *chat.also_languages))
    return frozenset((chat.language,))


def reaches(adviser: Adviser, chat: ChatRequest, tier_: int) -> bool:
    """Whether the tier lets this adviser serve this chat, regardless of status and load."""
    if chat.only_adviser is not None:
        return adviser.id == chat.only_adviser
    if chat.service is not None and adviser.service is not chat.service:
        return False
    if adviser.languages.isdisjoint(languages_at(chat, tier_)):
        return False
    if tier_ >= 2:
        return True
    if adviser.service is Service.AT:
        return tier_ >= 1 or chat.audience == STAFF_AUDIENCE
    return chat.region is not None and chat.region in adviser.regions


def can_take(adviser: Adviser) -> bool:
    return adviser.status is AdviserStatus.AVAILABLE and adviser.has_room


def eligible(adviser: Adviser, chat: ChatRequest, now: float, delays: TierDelays) -> bool:
    return can_take(adviser) and adviser.id != chat.not_adviser and reaches(adviser, chat, tier(chat, now, delays))


def choose(candidates: Iterable[Adviser]) -> Adviser | None:
    """Least loaded, then idle longest; the id keeps the choice deterministic."""
    return min(candidates, key=lambda a: (a.load, a.last_assigned_at, a.id), default=None)


def route(
    waiting: Iterable[ChatRequest], advisers: dict[str, Adviser], now: float, delays: TierDelays
) -> list[Assignment]:
    """One routing step: pair every waiting chat, in priority order, with its best eligible adviser.

    ``advisers`` is updated in place (active sets, last assignment time). After the step no available
    eligible adviser and waiting chat coexist: a chat passed over found nobody, and later assignments
    only take room away.
    """
    decisions: list[Assignment] = []
    free = {a.id: a for a in advisers.values() if can_take(a)}
    for chat in sorted(waiting, key=ChatRequest.priority):
        if not free:
            break
        t = tier(chat, now, delays)
        best = choose(a for a in free.values() if a.id != chat.not_adviser and reaches(a, chat, t))
        if best is None:
            continue
        updated = replace(best, active=best.active | {chat.id}, last_assigned_at=now)
        advisers[best.id] = updated
        if updated.has_room:
            free[best.id] = updated
        else:
            del free[best.id]
        decisions.append(Assignment(chat.id, best.id, t))
    return decisions


def estimates(
    waiting: Sequence[ChatRequest],
    advisers: Sequence[Adviser],
    releases: Sequence[tuple[str, float]],
    now: float,
    delays: TierDelays,
) -> dict[str, QueueEstimate]:
    """Queue position and estimated wait for every waiting chat.

    Position counts the chats ahead that an adviser able to serve this one could also serve. The wait
    comes from how fast those advisers have finished conversations lately; with too little history it is
    ``None`` ("unknown") rather than a guess.
    """
    online = [a for a in advisers if a.status is not AdviserStatus.OFFLINE]
    recent: dict[str, int] = {}
    for adviser_id, at in releases:
        if now - at <= RATE_WINDOW_S:
            recent[adviser_id] = recent.get(adviser_id, 0) + 1
    seen: dict[frozenset[str], int] = {}
    out: dict[str, QueueEstimate] = {}
    for chat in sorted(waiting, key=ChatRequest.priority):
        t = tier(chat, now, delays)
        candidates = frozenset(a.id for a in online if reaches(a, chat, t))
        ahead = sum(n for sig, n in seen.items() if (sig & candidates) or (not sig and not candidates))
        seen[candidates] = seen.get(candidates, 0) + 1
        position = ahead + 1
        finished = sum(recent.get(a, 0) for a in candidates)
        wait: int | None = None
        if candidates and finished >= MIN_RELEASES_FOR_ESTIMATE:
            rate = finished / RATE_WINDOW_S
            wait = int(math.ceil(position / rate))
        out[chat.id] = QueueEstimate(position, wait)
    return out
