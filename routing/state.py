"""The interface to the live routing state.

Every method is one atomic operation, with no read-modify-write across calls, so that a Redis
implementation can do each in a single Lua script and two instances never assign the same chat or
overfill an adviser. The in-memory implementation (``routing.backends.memory``) is the reference.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from routing.model import Adviser, AdviserStatus, Assignment, ChatRequest, Snapshot


class RoutingState(ABC):
    @abstractmethod
    async def enqueue(self, chat: ChatRequest) -> None:
        """Add (or replace) a waiting chat; its ``enqueued_at`` keeps its place in line."""

    @abstractmethod
    async def withdraw(self, chat_id: str) -> ChatRequest | None:
        """Take a chat out of the queue (visitor left); ``None`` if it was not waiting."""

    @abstractmethod
    async def set_present(self, chat_id: str, present: bool) -> bool:
        """The waiting chat's visitor closed its last socket (``False``) or is back (``True``): an
        absent visitor is never assigned and keeps its place. ``False`` when it is not waiting."""

    @abstractmethod
    async def assign_to(self, chat_id: str, adviser_id: str, now: float) -> Assignment | None:
        """A supervisor's choice: this waiting chat to this adviser, whatever the tiers say, if the
        visitor is present and the adviser available with room; ``None`` (nothing changed) otherwise."""

    @abstractmethod
    async def put_adviser(self, adviser: Adviser) -> None:
        """Register an adviser as connected, keeping the active set and idle time already known."""

    @abstractmethod
    async def set_status(self, adviser_id: str, status: AdviserStatus, now: float) -> Adviser:
        """Change status; raises ``UnknownAdviser``. ``OFFLINE`` starts the grace period."""

    @abstractmethod
    async def release(self, adviser_id: str, chat_id: str, now: float) -> None:
        """The adviser no longer holds this chat (closed, transferred or requeued). Idempotent."""

    @abstractmethod
    async def remove_adviser(self, adviser_id: str) -> Adviser | None:
        """Forget an adviser whose grace period has ended; returns what they held."""

    @abstractmethod
    async def touch(self, adviser_ids: Iterable[str], now: float) -> None:
        """Heartbeat: these advisers still have a live socket on the calling instance."""

    @abstractmethod
    async def expire_leases(self, now: float, lease_s: float) -> list[str]:
        """Mark advisers without a heartbeat for ``lease_s`` offline (their instance died); returns them."""

    @abstractmethod
    async def step(self, now: float) -> list[Assignment]:
        """Run one routing step atomically and return the assignments it made."""

    @abstractmethod
    async def snapshot(self) -> Snapshot:
        """A consistent copy of the waiting chats, the advisers and recent finishes."""
