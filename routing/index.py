"""Indexes that let the in-memory state make ``policy.route``'s decisions without scanning the queue.

``route`` looks at every waiting chat and, for each, at every adviser. Here an event costs O(log n) in
the n waiting, times the number of buckets it touches (bounded by the regions, languages and tiers in
use, not by n):

* waiting chats sit in **buckets** of chats that can be served by exactly the same advisers (equal
  ``ReachKey`` at their current tier, and the same adviser excluded now, ``policy.excluded``), each
  bucket a heap in priority order;
* advisers who can take a chat sit in **groups** (``policy.adviser_groups``), each a heap in the order
  of ``policy.rank``; a bucket's best adviser is the best head among the few groups it reaches;
* a bucket is **dirty** when it may hold a chat with an eligible adviser: it gained a chat, or an
  adviser in one of its groups became able to take chats (a **fresh** adviser). A step looks only at
  dirty buckets, taking their heads in global priority order, which is the order ``route`` would serve
  them in. Every other bucket has no eligible adviser (the step before settled it, and nothing since
  could change that), so ``route`` would pass over its chats too. For the same reason only fresh
  advisers can serve a bucket that gained no chat, so once they are full such buckets are skipped:
  an adviser who frees up costs one look at each bucket it reaches, not two;
* a chat's tier depends only on ``now - enqueued_at`` and on who is signed in (tiers that add nobody
  are passed, ``signed_in.SignedIn``), so per tier threshold a heap by ``enqueued_at`` yields exactly
  the chats that crossed it since the last step; they move to their new bucket, and a chat whose tier
  passing raised is reported in ``raised`` for the plain state to remember (tiers never narrow);
* likewise a heap by ``not_adviser_until`` yields the transferred chats whose hold lapsed since the last
  step; they move to the bucket that excludes nobody;
* only present chats are indexed: an absent visitor's chat is not in any bucket until it is back.

Everything is rebuilt from the plain state when the clock runs backwards (tiers would narrow).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from routing.model import Adviser, Assignment, ChatRequest
from routing.policy import (
    Group,
    ReachKey,
    TierDelays,
    adviser_groups,
    can_take,
    excluded,
    key_groups,
    passed_tier,
    reach_key,
    tier,
)
from routing.signed_in import SignedIn

BucketKey = tuple[ReachKey, str | None]  # reach key, the adviser excluded now
Priority = tuple[bool, float, str]
Rank = tuple[float, float, str]
COMPACT_SLACK = 64  # lazily deleted heap items tolerated before a heap is rebuilt


@dataclass(slots=True)
class _Chat:
    chat: ChatRequest
    tier: int
    bucket: BucketKey
    ident: int  # this enqueue of the chat (tier-threshold and hold heaps)
    slot: int  # this stay in its current bucket (bucket heap)


@dataclass(slots=True)
class _Bucket:
    groups: tuple[Group, ...]
    not_adviser: str | None
    heap: list[tuple[Priority, int, str]] = field(default_factory=list)  # (priority, slot, chat id)
    live: int = 0


@dataclass(slots=True)
class _Free:
    rank: Rank
    profile: tuple[object, ...]  # what the groups were derived from
    groups: tuple[Group, ...]
    version: int


class RoutingIndex:
    """The indexed view of one ``MemoryRoutingState``; it never holds the only copy of anything."""

    def __init__(
        self,
        delays: TierDelays,
        waiting: Iterable[ChatRequest],
        advisers: Iterable[Adviser],
        now: float,
        signed: SignedIn,
    ) -> None:
        self.delays = delays
        self.now = now
        self.signed = signed
        self.raised: dict[str, ChatRequest] = {}  # chats whose min_tier tier passing raised, to remember
        self._thresholds = (delays.t1, delays.t2, delays.t3)
        self._counter = itertools.count()
        self._chats: dict[str, _Chat] = {}
        self._buckets: dict[BucketKey, _Bucket] = {}
        self._keys_by_group: dict[Group, set[BucketKey]] = {}
        self._crossing: tuple[list[tuple[float, int, str]], ...] = ([], [], [])  # tiers 1, 2, 3
        self._lapsing: list[tuple[float, int, str]] = []  # (not_adviser_until, ident, chat id)
        self._dirty: set[BucketKey] = set()
        self._gained: set[BucketKey] = set()  # the dirty buckets that gained a chat
        self._fresh: set[str] = set()  # advisers who became able to take chats since the last step
        self._free: dict[str, _Free] = {}
        self._groups: dict[Group, list[tuple[float, float, str, int]]] = {}
        self._group_items = 0  # heap items in _groups, live or stale
        self._live_items = 0  # of which live: one per group of each adviser in _free
        for chat in waiting:
            self.add_chat(chat)
        for adviser in advisers:
            self.update_adviser(adviser)

    # -- chats

    def add_chat(self, chat: ChatRequest) -> None:
        """A chat starts (or resumes) waiting; replaces a waiting chat with the same id."""
        self.remove_chat(chat.id)
        if not chat.present:
            return
        chat, t = self._current(chat, self.now)
        not_adviser = excluded(chat, self.now)
        entry = _Chat(chat, t, (reach_key(chat, t), not_adviser), next(self._counter), 0)
        self._chats[chat.id] = entry
        self._into_bucket(entry)
        for k, heap in enumerate(self._crossing, start=1):
            if t < k and (k < 3 or chat.also_languages):
                heapq.heappush(heap, (chat.enqueued_at, entry.ident, chat.id))
        if not_adviser is not None and chat.not_adviser_until is not None:
            heapq.heappush(self._lapsing, (chat.not_adviser_until, entry.ident, chat.id))

    def _current(self, chat: ChatRequest, now: float) -> tuple[ChatRequest, int]:
        """The chat's tier now, passing tiers that add nobody signed in; a raise is remembered."""
        by_time = tier(chat, now, self.delays)
        t = passed_tier(chat, by_time, self.signed.adds)
        if t > by_time:
            chat = replace(chat, min_tier=t)
            self.raised[chat.id] = chat
        return chat, t

    def remove_chat(self, chat_id: str) -> None:
        entry = self._chats.pop(chat_id, None)
        if entry is not None:
            self._out_of_bucket(entry)

    def _into_bucket(self, entry: _Chat) -> None:
        key = entry.bucket
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(key_groups(key[0]), key[1])
            for group in bucket.groups:
                self._keys_by_group.setdefault(group, set()).add(key)
        entry.slot = next(self._counter)
        heapq.heappush(bucket.heap, (entry.chat.priority(), entry.slot, entry.chat.id))
        bucket.live += 1
        self._dirty.add(key)
        self._gained.add(key)

    def _out_of_bucket(self, entry: _Chat) -> None:
        """Forget the entry's place in its bucket; its heap item goes stale and is dropped later."""
        key = entry.bucket
        bucket = self._buckets[key]
        bucket.live -= 1
        if bucket.live == 0:
            del self._buckets[key]
            self._dirty.discard(key)
            self._gained.discard(key)
            for group in bucket.groups:
                keys = self._keys_by_group[group]
                keys.discard(key)
                if not keys:
                    del self._keys_by_group[group]
        elif len(bucket.heap) > 2 * bucket.live + COMPACT_SLACK:
            bucket.heap = [item for item in bucket.heap if self._in_bucket(item, key)]
            heapq.heapify(bucket.heap)

    def _in_bucket(self, item: tuple[Priority, int, str], key: BucketKey) -> bool:
        entry = self._chats.get(item[2])
        return entry is not None and entry.slot == item[1] and entry.bucket == key

    def _head(self, key: BucketKey, bucket: _Bucket) -> tuple[Priority, int, str]:
        heap = bucket.heap
        while not self._in_bucket(heap[0], key):
            heapq.heappop(heap)
        return heap[0]

    def _advance(self, now: float) -> None:
        """Move the chats whose tier widened or whose hold lapsed since the last step (``now`` never
        earlier)."""
        self.now = now
        lapsing = self._lapsing
        while lapsing and now >= lapsing[0][0]:  # the test ``excluded`` makes
            _, ident, chat_id = heapq.heappop(lapsing)
            entry = self._chats.get(chat_id)
            if entry is not None and entry.ident == ident:
                self._move(entry, (entry.bucket[0], None))
        if len(lapsing) > 2 * len(self._chats) + COMPACT_SLACK:
            kept = [item for item in lapsing if (e := self._chats.get(item[2])) is not None and e.ident == item[1]]
            heapq.heapify(kept)
            lapsing[:] = kept
        for threshold, heap in zip(self._thresholds, self._crossing, strict=True):
            # max(0, now - enqueued_at) >= threshold is the test ``tier`` makes, so exactly the same
            # chats cross; it holds for a prefix of the heap because it falls with enqueued_at.
            while heap and max(0.0, now - heap[0][0]) >= threshold:
                _, ident, chat_id = heapq.heappop(heap)
                entry = self._chats.get(chat_id)
                if entry is None or entry.ident != ident:
                    continue
                entry.chat, t = self._current(entry.chat, now)
                if t == entry.tier:
                    continue
                entry.tier = t
                self._move(entry, (reach_key(entry.chat, t), excluded(entry.chat, now)))
            if len(heap) > 2 * len(self._chats) + COMPACT_SLACK:
                kept = [item for item in heap if (e := self._chats.get(item[2])) is not None and e.ident == item[1]]
                heapq.heapify(kept)
                heap[:] = kept

    def _move(self, entry: _Chat, key: BucketKey) -> None:
        if key != entry.bucket:
            self._out_of_bucket(entry)
            entry.bucket = key
            self._into_bucket(entry)

    # -- advisers

    def update_adviser(self, adviser: Adviser, *, gone: bool = False) -> None:
        """Record the adviser's current state (``gone``: removed from the routing state)."""
        was = self._free.get(adviser.id)
        if gone or not can_take(adviser):
            if was is not None:
                del self._free[adviser.id]  # its heap items go stale
                self._live_items -= len(was.groups)
            return
        rank: Rank = (adviser.load, adviser.last_assigned_at, adviser.id)
        profile = (adviser.service, adviser.regions, adviser.languages)
        if was is not None and was.rank == rank and was.profile == profile:
            return  # a heartbeat or a status it already had: nothing the routing sees
        groups = was.groups if was is not None and was.profile == profile else adviser_groups(adviser)
        version = next(self._counter)
        self._free[adviser.id] = _Free(rank, profile, groups, version)
        item = (*rank, version)
        for group in groups:
            heapq.heappush(self._groups.setdefault(group, []), item)
        self._group_items += len(groups)
        self._live_items += len(groups) - (len(was.groups) if was is not None else 0)
        if was is None or was.profile != profile:
            # Newly able to take chats (or reaching other ones): buckets it reaches may now have a pair.
            self._fresh.add(adviser.id)
            for group in groups:
                self._dirty.update(self._keys_by_group.get(group, ()))
        if self._group_items > 2 * self._live_items + COMPACT_SLACK:
            self._compact_groups()

    def _compact_groups(self) -> None:
        self._groups = {}
        self._group_items = 0
        for free in self._free.values():
            for group in free.groups:
                self._groups.setdefault(group, []).append((*free.rank, free.version))
                self._group_items += 1
        for heap in self._groups.values():
            heapq.heapify(heap)

    def _best(self, bucket: _Bucket) -> tuple[float, float, str, int] | None:
        """The best adviser able to take this bucket's chats: the best live head of its groups."""
        free = self._free
        best: tuple[float, float, str, int] | None = None
        for group in bucket.groups:
            heap = self._groups.get(group)
            if not heap:
                continue
            top = heap[0]
            while (f := free.get(top[2])) is None or f.version != top[3]:  # stale: drop it
                heapq.heappop(heap)
                if not heap:
                    break
                top = heap[0]
            else:
                if top[2] == bucket.not_adviser:  # look at the next one
                    held = heapq.heappop(heap)
                    while heap and ((f := free.get(heap[0][2])) is None or f.version != heap[0][3]):
                        heapq.heappop(heap)
                    second = heap[0] if heap else None
                    heapq.heappush(heap, held)
                    if second is None:
                        continue
                    top = second
                if best is None or top < best:
                    best = top
        return best

    # -- the routing step

    def step(self, now: float, advisers: dict[str, Adviser]) -> list[Assignment]:
        """``route`` over the indexed state: same assignments in the same order.

        ``advisers`` is updated in place as ``route`` does; assigned chats leave the index (the caller
        drops them from its own records).
        """
        self._advance(now)
        # Ordered by each bucket's top item, which may be a stale one ahead of the true head; that is
        # checked only for buckets someone can serve (most buckets a freed adviser reaches cannot be
        # served once it is full again).
        gained, fresh = self._gained, {a for a in self._fresh if a in self._free}
        candidates = self._dirty if fresh else gained
        heads = [(self._buckets[key].heap[0][0], next(self._counter), key) for key in candidates]
        self._dirty, self._gained, self._fresh = set(), set(), set()
        heapq.heapify(heads)
        decisions: list[Assignment] = []
        while heads:
            priority, _, key = heapq.heappop(heads)
            bucket = self._buckets[key]
            best = self._best(bucket)
            if best is None:
                continue  # nobody can take its chats, and nobody frees up within a step
            head = self._head(key, bucket)
            if head[0] != priority:
                heapq.heappush(heads, (head[0], next(self._counter), key))  # its true place in line
                continue
            heapq.heappop(bucket.heap)
            entry = self._chats.pop(head[2])
            self._out_of_bucket(entry)
            adviser = advisers[best[2]]
            updated = replace(adviser, active=adviser.active | {entry.chat.id}, last_assigned_at=now)
            advisers[adviser.id] = updated
            self.update_adviser(updated)
            decisions.append(Assignment(entry.chat.id, adviser.id, entry.tier))
            if key in self._buckets:
                heapq.heappush(heads, (bucket.heap[0][0], next(self._counter), key))
            if adviser.id in fresh and adviser.id not in self._free:
                fresh.discard(adviser.id)
                if not fresh:  # only buckets that gained a chat can still have an eligible adviser
                    heads = [h for h in heads if h[2] in gained]
                    heapq.heapify(heads)
        # Settled: no bucket left holds a chat with an eligible adviser, so none is dirty.
        return decisions

    @property
    def waiting(self) -> int:
        return len(self._chats)
