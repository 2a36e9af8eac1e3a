"""In-process routing state: the reference implementation, and the embedded default.

The plain dictionaries are the state; ``routing.index.RoutingIndex`` is derived from them so that a
step costs O(log n) per event instead of ``route``'s O(waiting × advisers). It is built on the first
step (not on ``load``: a replica of the Redis backend loaded from a checkpoint builds it when it first
routes) and then kept up to date by every operation.

Tier passing (``policy.passed_tier``) is remembered in each chat's ``min_tier`` so that tiers never
narrow. A chat's passing can only rise when it arrives or comes back, when its waiting time crosses a
tier delay (at a step), or when somebody signs out; it is evaluated exactly then, at the time of the
last step, in both modes (the reference by definition, the indexed one through ``SignedIn``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import fields, replace
from typing import Any

from routing.errors import UnknownAdviser
from routing.index import RoutingIndex
from routing.model import Adviser, AdviserStatus, Assignment, ChatRequest, Service, Snapshot
from routing.policy import Adds, TierDelays, adds_by_definition, can_take, current_tier, route, tier
from routing.signed_in import SignedIn
from routing.state import RoutingState

RELEASE_HISTORY = 1000
_CHAT_FIELDS = tuple(f.name for f in fields(ChatRequest))
_ADVISER_FIELDS = tuple(f.name for f in fields(Adviser))


class MemoryRoutingState(RoutingState):
    """Single-process state. Methods never await in the middle, so each one is atomic.

    ``indexed=False`` makes every step run the reference ``policy.route`` over the whole state instead
    of the index (tests and benchmarks compare the two).
    """

    def __init__(
        self, delays: TierDelays | None = None, *, release_history: int = RELEASE_HISTORY, indexed: bool = True
    ) -> None:
        self.delays = delays or TierDelays()
        self.indexed = indexed
        self._waiting: dict[str, ChatRequest] = {}
        self._advisers: dict[str, Adviser] = {}
        self._releases: deque[tuple[str, float]] = deque(maxlen=release_history)
        self._index: RoutingIndex | None = None
        self._signed = SignedIn()
        self._now = 0.0  # the time of the last step: tier passing is evaluated as of then

    def _put(self, adviser: Adviser) -> None:
        self._advisers[adviser.id] = adviser
        shrank = self._signed.put(adviser)
        if self._index is not None:
            self._index.update_adviser(adviser)
        if shrank:
            self._pass_tiers()

    def _adds(self) -> Adds:
        return self._signed.adds if self.indexed else adds_by_definition(self._advisers.values())

    def _raised(self, chat: ChatRequest, adds: Adds | None = None) -> ChatRequest:
        """The chat with the tiers it passes now remembered (unchanged while its visitor is absent)."""
        if not chat.present:
            return chat
        t = current_tier(chat, self._now, self.delays, adds or self._adds())
        return replace(chat, min_tier=t) if t > tier(chat, self._now, self.delays) else chat

    def _pass_tiers(self) -> None:
        """Somebody signed out: waiting chats may now pass tiers."""
        adds = self._adds()
        for chat in list(self._waiting.values()):
            raised = self._raised(chat, adds)
            if raised is not chat:
                self._waiting[chat.id] = raised
                if self._index is not None:
                    self._index.add_chat(raised)

    async def enqueue(self, chat: ChatRequest) -> None:
        chat = self._raised(chat)
        self._waiting[chat.id] = chat
        if self._index is not None:
            self._index.add_chat(chat)

    async def set_present(self, chat_id: str, present: bool) -> bool:
        chat = self._waiting.get(chat_id)
        if chat is None:
            return False
        if chat.present != present:
            await self.enqueue(replace(chat, present=present))
        return True

    async def withdraw(self, chat_id: str) -> ChatRequest | None:
        if self._index is not None:
            self._index.remove_chat(chat_id)
        return self._waiting.pop(chat_id, None)

    async def assign_to(self, chat_id: str, adviser_id: str, now: float) -> Assignment | None:
        chat, adviser = self._waiting.get(chat_id), self._advisers.get(adviser_id)
        if chat is None or adviser is None or not chat.present or not can_take(adviser):
            return None
        del self._waiting[chat_id]
        if self._index is not None:
            self._index.remove_chat(chat_id)
        self._put(replace(adviser, active=adviser.active | {chat_id}, last_assigned_at=now))
        return Assignment(chat_id, adviser_id, tier(chat, now, self.delays))

    async def put_adviser(self, adviser: Adviser) -> None:
        known = self._advisers.get(adviser.id)
        if known is not None:
            adviser = replace(
                adviser,
                active=known.active | adviser.active,
                last_assigned_at=max(known.last_assigned_at, adviser.last_assigned_at),
                seen_at=max(known.seen_at, adviser.seen_at),
            )
        else:
            adviser = replace(adviser)  # ours: the caller may change its object later, the index would not see it
        self._put(adviser)

    async def set_status(self, adviser_id: str, status: AdviserStatus, now: float) -> Adviser:
        known = self._advisers.get(adviser_id)
        if known is None:
            raise UnknownAdviser(adviser_id)
        if status is AdviserStatus.OFFLINE:
            before = known.status if known.status is not AdviserStatus.OFFLINE else known.status_before_offline
            updated = replace(
                known, status=status, offline_since=known.offline_since or now, status_before_offline=before
            )
        else:
            updated = replace(known, status=status, offline_since=None, status_before_offline=None, seen_at=now)
        self._put(updated)
        return updated

    async def release(self, adviser_id: str, chat_id: str, now: float) -> None:
        known = self._advisers.get(adviser_id)
        if known is None or chat_id not in known.active:
            return
        self._put(replace(known, active=known.active - {chat_id}))
        self._releases.append((adviser_id, now))

    async def remove_adviser(self, adviser_id: str) -> Adviser | None:
        removed = self._advisers.pop(adviser_id, None)
        if removed is not None and self._index is not None:
            self._index.update_adviser(removed, gone=True)
        if self._signed.remove(adviser_id):
            self._pass_tiers()
        return removed

    async def touch(self, adviser_ids: Iterable[str], now: float) -> None:
        for adviser_id in adviser_ids:
            known = self._advisers.get(adviser_id)
            if known is not None and known.status is not AdviserStatus.OFFLINE:
                self._put(replace(known, seen_at=now))

    async def expire_leases(self, now: float, lease_s: float) -> list[str]:
        expired = [
            a.id for a in self._advisers.values() if a.status is not AdviserStatus.OFFLINE and now - a.seen_at > lease_s
        ]
        for adviser_id in expired:
            await self.set_status(adviser_id, AdviserStatus.OFFLINE, now)
        return expired

    async def step(self, now: float) -> list[Assignment]:
        self._now = now
        if not self.indexed:
            decisions = route(self._waiting.values(), self._advisers, now, self.delays)
        else:
            if self._index is None or now < self._index.now:
                # First step, or the clock went back (tiers would narrow): derive the index afresh.
                self._index = RoutingIndex(
                    self.delays, self._waiting.values(), self._advisers.values(), now, self._signed
                )
            decisions = self._index.step(now, self._advisers)
        for decision in decisions:
            del self._waiting[decision.conversation_id]
        if self._index is not None:
            for chat_id, chat in self._index.raised.items():
                if chat_id in self._waiting:
                    self._waiting[chat_id] = chat
            self._index.raised.clear()
        elif not self.indexed:
            # The reference remembers what every chat passed at this step (the index does it as
            # waiting times cross the tier delays).
            adds = self._adds()
            self._waiting.update((c.id, self._raised(c, adds)) for c in list(self._waiting.values()))
        return decisions

    async def snapshot(self) -> Snapshot:
        return Snapshot(tuple(self._waiting.values()), tuple(self._advisers.values()), tuple(self._releases))

    @property
    def stepped_at(self) -> float:
        """The time of the last step (0 before the first)."""
        return self._now

    # -- plain-data form, so that another backend can keep this state elsewhere (see backends.redis)

    def dump(self) -> dict[str, Any]:
        return {
            "waiting": [chat_data(c) for c in self._waiting.values()],
            "advisers": [adviser_data(a) for a in self._advisers.values()],
            "releases": [list(r) for r in self._releases],
            "now": self._now,
        }

    @classmethod
    def load(cls, data: dict[str, Any], delays: TierDelays, *, indexed: bool = True) -> MemoryRoutingState:
        """The inverse of ``dump``; the index is derived again on the first step."""
        state = cls(delays, indexed=indexed)
        for c in data.get("waiting", []):
            chat = chat_of(c)
            state._waiting[chat.id] = chat
        for a in data.get("advisers", []):
            adviser = adviser_of(a)
            state._advisers[adviser.id] = adviser
            state._signed.put(adviser)
        state._now = float(data.get("now", 0.0))
        state._releases.extend((str(r[0]), float(r[1])) for r in data.get("releases", []))
        return state


# Shallow, field by field: ``asdict`` deep-copies, which cost milliseconds per thousand chats.


def chat_data(chat: ChatRequest) -> dict[str, Any]:
    """A chat as plain JSON-able data (``chat_of`` is the inverse)."""
    return {name: getattr(chat, name) for name in _CHAT_FIELDS}


def chat_of(data: dict[str, Any]) -> ChatRequest:
    service = data.get("service")
    return ChatRequest(
        **{**data, "also_languages": tuple(data["also_languages"]), "service": Service(service) if service else None}
    )


def adviser_data(adviser: Adviser) -> dict[str, Any]:
    """An adviser as plain JSON-able data, sets sorted (``adviser_of`` is the inverse)."""
    return {
        **{name: getattr(adviser, name) for name in _ADVISER_FIELDS},
        "regions": sorted(adviser.regions),
        "languages": sorted(adviser.languages),
        "active": sorted(adviser.active),
    }


def adviser_of(data: dict[str, Any]) -> Adviser:
    before = data.get("status_before_offline")
    return Adviser(
        **{
            **data,
            "service": Service(data["service"]),
            "status": AdviserStatus(data["status"]),
            "status_before_offline": AdviserStatus(before) if before else None,
            "regions": frozenset(data["regions"]),
            "languages": frozenset(data["languages"]),
            "active": frozenset(data["active"]),
        }
    )
