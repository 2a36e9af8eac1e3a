"""Who may open a socket, and how many: caps that keep one client from taking the service.

Counted here, in this process's memory only: open sockets in all, open visitor sockets per client
address, conversations started per client address, and console sockets per staff session. A client
address is held only as a key of these counters while it has a socket open (or a start counted in the
last minutes), and is never logged or stored (docs/design.md §6.1). The caps are per instance; behind a
load balancer each instance applies its own.

A school or a reception centre can put many young people behind one address, so the per-address caps
are generous (``NORA_MAX_SOCKETS_PER_ADDRESS``, ``NORA_STARTS_PER_ADDRESS``): they stop a script
opening thousands of sockets, not a classroom.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock
from core.limits import MemoryLimits
from core.settings import Settings


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int  # the HTTP status of the denial response, before the upgrade
    code: str
    message: str


class Admission:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.open = 0
        # Set when this instance was asked to stop (chat/drain.py): every new socket is refused with
        # 503, which a load balancer tries again on another instance.
        self.draining = False
        self._by_address: dict[str, int] = {}
        self._by_session: dict[str, int] = {}
        self._starts = MemoryLimits(clock=clock)

    def enter_visitor(self, address: str | None) -> Refusal | None:
        """Count a visitor socket in, or say why not; ``leave_visitor`` when it ends."""
        refusal = self._full()
        key = address or ""
        if refusal is None and self._by_address.get(key, 0) >= self.settings.max_sockets_per_address:
            refusal = Refusal(429, "too_many_connections", "Too many chat windows are open from here.")
        if refusal is None:
            self.open += 1
            self._by_address[key] = self._by_address.get(key, 0) + 1
        return refusal

    def leave_visitor(self, address: str | None) -> None:
        self.open -= 1
        _down(self._by_address, address or "")

    def enter_staff(self, session_key: str) -> Refusal | None:
        refusal = self._full()
        if refusal is None and self._by_session.get(session_key, 0) >= self.settings.staff_sockets_per_session:
            refusal = Refusal(429, "too_many_connections", "Too many console windows are open in this session.")
        if refusal is None:
            self.open += 1
            self._by_session[session_key] = self._by_session.get(session_key, 0) + 1
        return refusal

    def leave_staff(self, session_key: str) -> None:
        self.open -= 1
        _down(self._by_session, session_key)

    def start_wait_ms(self, address: str | None) -> int:
        """0 if one more conversation may start from this address now, else milliseconds to wait."""
        per_minute = self.settings.starts_per_address
        return self._starts.take_now(f"start:{address or ''}", rate=per_minute / 60.0, burst=per_minute)

    def _full(self) -> Refusal | None:
        if self.draining:
            return Refusal(503, "unavailable", "This server is restarting; connect again.")
        if self.open >= self.settings.max_connections:
            return Refusal(503, "unavailable", "The chat is full right now; try again in a minute.")
        return None


def _down(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
