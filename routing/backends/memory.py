"""In-process routing state: the reference implementation, and the embedded default."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, replace
from typing import Any

from routing.errors import UnknownAdviser
from routing.model import Adviser, AdviserStatus, Assignment, ChatRequest, Service, Snapshot
from routing.policy import TierDelays, route
from routing.state import RoutingState

RELEASE_HISTORY = 1000


class MemoryRoutingState(RoutingState):
    """Single-process state. Methods never await in the middle, so each one is atomic."""

    def __init__(self, delays: TierDelays | None = None, *, release_history: int = RELEASE_HISTORY) -> None:
        self.delays = delays or TierDelays()
        self._waiting: dict[str, ChatRequest] = {}
        self._advisers: dict[str, Adviser] = {}
        self._releases: deque[tuple[str, float]] = deque(maxlen=release_history)

    async def enqueue(self, chat: ChatRequest) -> None:
        self._waiting[chat.id] = chat

    async def withdraw(self, chat_id: str) -> ChatRequest | None:
        return self._waiting.pop(chat_id, None)

    async def put_adviser(self, adviser: Adviser) -> None:
        known = self._advisers.get(adviser.id)
        if known is not None:
            adviser = replace(
                adviser,
                active=known.active | adviser.active,
                last_assigned_at=max(known.last_assigned_at, adviser.last_assigned_at),
                seen_at=max(known.seen_at, adviser.seen_at),
            )
        self._advisers[adviser.id] = adviser

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
        self._advisers[adviser_id] = updated
        return updated

    async def release(self, adviser_id: str, chat_id: str, now: float) -> None:
        known = self._advisers.get(adviser_id)
        if known is None or chat_id not in known.active:
            return
        self._advisers[adviser_id] = replace(known, active=known.active - {chat_id})
        self._releases.append((adviser_id, now))

    async def remove_adviser(self, adviser_id: str) -> Adviser | None:
        return self._advisers.pop(adviser_id, None)

    async def touch(self, adviser_ids: Iterable[str], now: float) -> None:
        for adviser_id in adviser_ids:
            known = self._advisers.get(adviser_id)
            if known is not None and known.status is not AdviserStatus.OFFLINE:
                self._advisers[adviser_id] = replace(known, seen_at=now)

    async def expire_leases(self, now: float, lease_s: float) -> list[str]:
        expired = [
            a.id for a in self._advisers.values() if a.status is not AdviserStatus.OFFLINE and now - a.seen_at > lease_s
        ]
        for adviser_id in expired:
            await self.set_status(adviser_id, AdviserStatus.OFFLINE, now)
        return expired

    async def step(self, now: float) -> list[Assignment]:
        decisions = route(self._waiting.values(), self._advisers, now, self.delays)
        for decision in decisions:
            del self._waiting[decision.conversation_id]
        return decisions

    async def snapshot(self) -> Snapshot:
        return Snapshot(tuple(self._waiting.values()), tuple(self._advisers.values()), tuple(self._releases))

    # -- plain-data form, so that another backend can keep this state elsewhere (see backends.redis)

    def dump(self) -> dict[str, Any]:
        return {
            "waiting": [asdict(c) for c in self._waiting.values()],
            "advisers": [
                {
                    **asdict(a),
                    "regions": sorted(a.regions),
                    "languages": sorted(a.languages),
                    "active": sorted(a.active),
                }
                for a in self._advisers.values()
            ],
            "releases": [list(r) for r in self._releases],
        }

    @classmethod
    def load(cls, data: dict[str, Any], delays: TierDelays) -> MemoryRoutingState:
        state = cls(delays)
        for c in data.get("waiting", []):
            service = c.get("service")
            chat = ChatRequest(
                **{**c, "also_languages": tuple(c["also_languages"]), "service": Service(service) if service else None}
            )
            state._waiting[chat.id] = chat
        for a in data.get("advisers", []):
            before = a.get("status_before_offline")
            adviser = Adviser(
                **{
                    **a,
                    "service": Service(a["service"]),
                    "status": AdviserStatus(a["status"]),
                    "status_before_offline": AdviserStatus(before) if before else None,
                    "regions": frozenset(a["regions"]),
                    "languages": frozenset(a["languages"]),
                    "active": frozenset(a["active"]),
                }
            )
            state._advisers[adviser.id] = adviser
        state._releases.extend((str(r[0]), float(r[1])) for r in data.get("releases", []))
        return state
