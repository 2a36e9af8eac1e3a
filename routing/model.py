"""Value types of the routing core. Times are POSIX seconds (floats) supplied by the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Service(StrEnum):
    MR = "MR"  # minority adviser, covers regions
    AT = "AT"  # ambulating team, national


class AdviserStatus(StrEnum):
    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"  # disconnected; conversations held for the grace period


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A conversation waiting for an adviser."""

    id: str
    language: str
    region: str | None
    audience: str
    enqueued_at: float
    urgent: bool = False
    also_languages: tuple[str, ...] = ()
    min_tier: int = 0
    not_adviser: str | None = None  # the adviser who transferred it is not offered it again at once ...
    not_adviser_until: float | None = None  # ... until this time (``None``: while it waits); policy.excluded
    only_adviser: str | None = None  # transferred to a named adviser
    service: Service | None = None  # transferred to a service
    present: bool = True  # the visitor has an open socket; an absent visitor keeps its place, unserved

    def priority(self) -> tuple[bool, float, str]:
        """Urgent first, then oldest; the id breaks ties so the order is total."""
        return (not self.urgent, self.enqueued_at, self.id)


@dataclass(slots=True)
class Adviser:
    id: str
    service: Service
    regions: frozenset[str]
    languages: frozenset[str]
    capacity: int
    status: AdviserStatus = AdviserStatus.AWAY
    active: frozenset[str] = frozenset()
    last_assigned_at: float = 0.0
    offline_since: float | None = None
    status_before_offline: AdviserStatus | None = None  # restored on reconnect within the grace period
    seen_at: float = 0.0  # last heartbeat from the instance holding the adviser's socket

    @property
    def load(self) -> float:
        return len(self.active) / self.capacity if self.capacity > 0 else 1.0

    @property
    def has_room(self) -> bool:
        return len(self.active) < self.capacity


@dataclass(frozen=True, slots=True)
class Assignment:
    conversation_id: str
    adviser_id: str
    tier: int


@dataclass(frozen=True, slots=True)
class QueueEstimate:
    position: int
    estimated_wait_s: int | None


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the live state, for queue positions and the supervisor."""

    waiting: tuple[ChatRequest, ...]
    advisers: tuple[Adviser, ...]
    releases: tuple[tuple[str, float], ...] = field(default=())  # (adviser id, time) of recent finishes
