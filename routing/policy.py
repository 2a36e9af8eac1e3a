"""The routing policy of docs/design.md §3 as pure functions.

Tiers widen with waiting time ("bullseye" routing) and never narrow:

0. minority advisers (MR) covering the visitor's region, in the visitor's language; staff inquiries
   also reach the ambulating team (AT), which exists to support schools;
1. (after ``t1``) AT in the visitor's language, anywhere;
2. (after ``t2``) any MR in the visitor's language, any region;
3. (after ``t3``, only with ``also_languages``) the same reach in those languages as well.

A visitor without region starts at tier 1. A tier that adds nobody signed in (an adviser in the routing
state: available, away, or offline within the reconnect grace) is passed at once, tier after tier, and
a chat that passed a tier never narrows back (its ``min_tier`` keeps it). Among eligible advisers the
least loaded wins, then the one idle longest. Waiting conversations are served urgent first, then
oldest; a conversation whose visitor is absent (no open socket) is never assigned and keeps its place.
A transferred conversation is not offered back to the adviser who transferred it until its hold lapses
(``excluded``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from routing.model import Adviser, AdviserStatus, Assignment, ChatRequest, QueueEstimate, Service

STAFF_AUDIENCE = "staff"
MAX_TIER = 3
RATE_WINDOW_S = 1800.0
MIN_RELEASES_FOR_ESTIMATE = 1


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


def start_tier(chat: ChatRequest) -> int:
    return 0 if chat.region is not None else 1


def top_tier(chat: ChatRequest) -> int:
    """The widest tier passing can reach; a chat for a named adviser never passes tiers."""
    if chat.only_adviser is not None:
        return 0
    return MAX_TIER if chat.also_languages else 2


def tier(chat: ChatRequest, now: float, delays: TierDelays) -> int:
    """The tier by waiting time and by what was passed already (``min_tier``)."""
    waited = max(0.0, now - chat.enqueued_at)
    by_time = 0
    if waited >= delays.t1:
        by_time = 1
    if waited >= delays.t2:
        by_time = 2
    if waited >= delays.t3 and chat.also_languages:
        by_time = 3
    return max(start_tier(chat), by_time, min(chat.min_tier, MAX_TIER))


Adds = Callable[[ChatRequest, int], bool]
"""Whether tier t of a chat reaches somebody signed in whom tier t - 1 did not."""


def passed_tier(chat: ChatRequest, t: int, adds: Adds) -> int:
    """From tier ``t`` on, pass every tier that adds nobody signed in (up to ``top_tier``)."""
    top = top_tier(chat)
    while t < top and not adds(chat, t):
        t += 1
    return t


def adds_by_definition(signed: Iterable[Adviser]) -> Adds:
    """``Adds`` over a plain list of the signed-in advisers: the reference for ``signed_in.SignedIn``."""
    everyone = tuple(signed)
    # Chats with equal reach keys reach the same advisers (``reach_key``), so one scan per pair of keys
    # serves them all: the reference stays a scan, without scanning again for every chat of a step.
    seen: dict[tuple[ReachKey, ReachKey | None], bool] = {}

    def adds(chat: ChatRequest, t: int) -> bool:
        lower = t > start_tier(chat)
        key = (reach_key(chat, t), reach_key(chat, t - 1) if lower else None)
        answer = seen.get(key)
        if answer is None:
            below = {a.id for a in everyone if reaches(a, chat, t - 1)} if lower else set()
            answer = seen[key] = any(reaches(a, chat, t) and a.id not in below for a in everyone)
        return answer

    return adds


def current_tier(chat: ChatRequest, now: float, delays: TierDelays, adds: Adds) -> int:
    return passed_tier(chat, tier(chat, now, delays), adds)


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


def excluded(chat: ChatRequest, now: float) -> str | None:
    """The adviser this chat is not offered to at ``now``: the one who transferred it, until the hold
    (``not_adviser_until``) lapses. Then they may get it back at its place in line, so that a chat
    nobody else can take does not wait forever."""
    if chat.not_adviser is None or (chat.not_adviser_until is not None and now >= chat.not_adviser_until):
        return None
    return chat.not_adviser


def eligible(adviser: Adviser, chat: ChatRequest, now: float, delays: TierDelays) -> bool:
    return can_take(adviser) and adviser.id != excluded(chat, now) and reaches(adviser, chat, tier(chat, now, delays))


def rank(adviser: Adviser) -> tuple[float, float, str]:
    """Least loaded, then idle longest; the id keeps the choice deterministic."""
    return (adviser.load, adviser.last_assigned_at, adviser.id)


def choose(candidates: Iterable[Adviser]) -> Adviser | None:
    return min(candidates, key=rank, default=None)


# -- the reach rule as index keys, so that the indexed state and ``estimates`` can look advisers up
# instead of testing every pair. ``reaches(a, c, t)`` holds exactly when ``adviser_groups(a)`` and
# ``key_groups(reach_key(c, t))`` share a group (property-tested in tests/routing/test_index.py).

Group = tuple[str, ...]
"""``("id", adviser)``, ``("mr", region, language)``, ``("mr*", language)`` or ``("at", language)``."""


class ReachKey(NamedTuple):
    """What decides who can serve a chat at its tier; chats with equal keys reach the same advisers."""

    only: str | None  # only this adviser (transfer to a named adviser); the other fields are then blank
    service: str  # "" for any service
    languages: tuple[str, ...]  # sorted
    wide: bool  # MR in any region (tier 2 and up)
    region: str | None  # MR covering this region (tiers 0-1)
    at: bool  # the ambulating team is reached


def reach_key(chat: ChatRequest, tier_: int) -> ReachKey:
    if chat.only_adviser is not None:
        return ReachKey(chat.only_adviser, "", (), False, None, False)
    service = chat.service.value if chat.service is not None else ""
    languages = tuple(sorted(languages_at(chat, tier_)))
    if tier_ >= 2:
        return ReachKey(None, service, languages, True, None, service != Service.MR.value)
    at = service != Service.MR.value and (tier_ >= 1 or chat.audience == STAFF_AUDIENCE)
    region = chat.region if service != Service.AT.value else None
    return ReachKey(None, service, languages, False, region, at)


def key_groups(key: ReachKey) -> tuple[Group, ...]:
    """The adviser groups whose members a chat with this key reaches."""
    if key.only is not None:
        return (("id", key.only),)
    groups: list[Group] = []
    for language in key.languages:
        if key.service != Service.AT.value:
            if key.wide:
                groups.append(("mr*", language))
            elif key.region is not None:
                groups.append(("mr", key.region, language))
        if key.at:
            groups.append(("at", language))
    return tuple(groups)


def adviser_groups(adviser: Adviser) -> tuple[Group, ...]:
    """Every group the adviser belongs to (MR: per language, and per region and language)."""
    groups: list[Group] = [("id", adviser.id)]
    for language in sorted(adviser.languages):
        if adviser.service is Service.AT:
            groups.append(("at", language))
        else:
            groups.append(("mr*", language))
            groups.extend(("mr", region, language) for region in sorted(adviser.regions))
    return tuple(groups)


def route(
    waiting: Iterable[ChatRequest], advisers: dict[str, Adviser], now: float, delays: TierDelays
) -> list[Assignment]:
    """One routing step: pair every present waiting chat, in priority order, with its best eligible
    adviser, at its tier after passing the tiers that add nobody signed in (every adviser in
    ``advisers`` is signed in).

    ``advisers`` is updated in place (active sets, last assignment time). After the step no available
    eligible adviser and present waiting chat coexist: a chat passed over found nobody, and later
    assignments only take room away.
    """
    decisions: list[Assignment] = []
    free = {a.id: a for a in advisers.values() if can_take(a)}
    adds = adds_by_definition(advisers.values())
    for chat in sorted(waiting, key=ChatRequest.priority):
        if not free:
            break
        if not chat.present:
            continue
        t = current_tier(chat, now, delays, adds)
        not_adviser = excluded(chat, now)
        best = choose(a for a in free.values() if a.id != not_adviser and reaches(a, chat, t))
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
    """Queue position and estimated wait for every waiting chat: ``estimates_by_definition``, faster.

    The service asks for every waiting visitor about once a second, so this must not be quadratic.
    Chats that reach the same online advisers share a signature (one per reach key at most; s of them,
    bounded by the regions, languages and tiers in use, not by the n chats), a bitmask over advisers.
    Walking the chats in priority order, one big integer packs a counter per signature: how many chats
    seen so far overlap it. A chat reads its signature's counter (its position) and then adds, in one
    addition, one to the counter of every signature overlapping its own. Cost: O(n log n) for the sort
    and O(n · s/word) for the walk, instead of O(n · (advisers + s)).
    """
    bits: dict[str, int] = {}
    groups_of: dict[str, set[Group]] = {}  # online adviser -> its groups
    members: dict[Group, list[str]] = {}
    for adviser in advisers:
        if adviser.status is AdviserStatus.OFFLINE:
            continue
        bits.setdefault(adviser.id, 1 << len(bits))
        mine = groups_of.setdefault(adviser.id, set())
        for group in adviser_groups(adviser):
            if group not in mine:
                mine.add(group)
                members.setdefault(group, []).append(adviser.id)
    member_mask = {g: sum(bits[a] for a in ids) for g, ids in members.items()}
    finished_by_bit: dict[int, int] = {}
    for adviser_id, at in releases:
        if now - at <= RATE_WINDOW_S and adviser_id in bits:
            bit = bits[adviser_id]
            finished_by_bit[bit] = finished_by_bit.get(bit, 0) + 1
    finished_mask = sum(finished_by_bit)

    order = sorted((c for c in waiting if c.present), key=ChatRequest.priority)
    masks: list[int] = []  # signature -> its advisers
    groups: list[tuple[Group, ...]] = []  # signature -> the groups of (one of) its reach keys
    signature_of_mask: dict[int, int] = {}
    signature_of: dict[tuple[object, ...], int] = {}  # by the chat fields the reach key depends on
    signatures: list[int] = []
    for chat in order:
        t = tier(chat, now, delays)
        raw = (t, chat.language, chat.also_languages, chat.region, chat.audience, chat.service, chat.only_adviser)
        signature = signature_of.get(raw)
        if signature is None:
            reached = key_groups(reach_key(chat, t))
            mask = 0
            for group in reached:
                mask |= member_mask.get(group, 0)
            signature = signature_of_mask.setdefault(mask, len(masks))
            if signature == len(masks):
                masks.append(mask)
                groups.append(reached)
            signature_of[raw] = signature
        signatures.append(signature)

    # Which signatures overlap, through the groups rather than adviser by adviser: ``using[g]`` has a
    # one in the counter of each signature reaching group g, ``near[g]`` in that of each signature
    # sharing an adviser with g.
    width = max(len(order), 1).bit_length()  # a counter never exceeds the number of chats
    field = (1 << width) - 1
    using: dict[Group, int] = {}
    for signature, reached in enumerate(groups):
        for group in reached:
            using[group] = using.get(group, 0) | 1 << (width * signature)
    containing = {a: _union(using.get(g, 0) for g in mine) for a, mine in groups_of.items()}
    near = {g: _union(containing[a] for a in members.get(g, ())) for g in using}
    overlapping: list[int] = []  # signature -> a one in the counter of each signature it overlaps
    rates: list[float | None] = []
    for signature, mask in enumerate(masks):
        if mask:
            overlapping.append(_union(near[g] for g in groups[signature]))
        else:
            overlapping.append(1 << (width * signature))  # nobody can serve these; they queue among themselves
        finished = sum(finished_by_bit[b] for b in _bits(mask & finished_mask))
        rates.append(finished / RATE_WINDOW_S if mask and finished >= MIN_RELEASES_FOR_ESTIMATE else None)

    counters = 0
    out: dict[str, QueueEstimate] = {}
    for chat, signature in zip(order, signatures, strict=True):
        position = 1 + ((counters >> (width * signature)) & field)
        counters += overlapping[signature]
        rate = rates[signature]
        out[chat.id] = QueueEstimate(position, None if rate is None else int(math.ceil(position / rate)))
    return out


def _union(masks: Iterable[int]) -> int:
    out = 0
    for mask in masks:
        out |= mask
    return out


def _bits(mask: int) -> Iterable[int]:
    while mask:
        low = mask & -mask
        yield low
        mask ^= low


def estimates_by_definition(
    waiting: Sequence[ChatRequest],
    advisers: Sequence[Adviser],
    releases: Sequence[tuple[str, float]],
    now: float,
    delays: TierDelays,
) -> dict[str, QueueEstimate]:
    """The definition ``estimates`` implements, pair by pair; the tests compare the two.

    Only present visitors have (and count for) a position. Position counts the present chats ahead that
    an adviser able to serve this one could also serve. The wait comes from how fast those advisers
    have finished conversations lately; with no history it is ``None`` ("unknown") rather than a guess.
    """
    online = [a for a in advisers if a.status is not AdviserStatus.OFFLINE]
    recent: dict[str, int] = {}
    for adviser_id, at in releases:
        if now - at <= RATE_WINDOW_S:
            recent[adviser_id] = recent.get(adviser_id, 0) + 1
    seen: dict[frozenset[str], int] = {}
    out: dict[str, QueueEstimate] = {}
    for chat in sorted((c for c in waiting if c.present), key=ChatRequest.priority):
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
