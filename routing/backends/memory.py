"""In-process routing state: the reference implementation, and the embedded default."""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from routing.errors import UnknownAdviser
from routing.model import Adviser, AdviserStatus, Assignment, ChatRequest, Snapshot
from routing.policy import TierDelays, route
from routing.state import RoutingState


class MemoryRoutingState(RoutingState):
    """Single-process state. Methods never await in the middle, so each one is atomic."""

    def __init__(self, delays: TierDelays | None = None, *, release_history: int = 1000) -> None:
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
            updated = replace(known, status=status, offline_since=None, status_before_offline=None)
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

    async def step(self, now: float) -> list[Assignment]:
        decisions = route(self._waiting.values(), self._advisers, now, self.delays)
        for decision in decisions:
            del self._waiting[decision.conversation_id]
        return decisions

    async def snapshot(self) -> Snapshot:
        return Snapshot(tuple(self._waiting.values()), tuple(self._advisers.values()), tuple(self._releases))
