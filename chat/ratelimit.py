"""Token buckets for per-sender message limits (PROTOCOL.md: 5/s sustained, bursts of 10)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.clock import Clock, system_clock


@dataclass
class TokenBucket:
    rate: float
    burst: int
    clock: Clock = system_clock
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._at = self.clock()

    def take(self) -> int:
        """Take one token; returns 0 on success, else the milliseconds until one is available."""
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0
        return max(1, int((1.0 - self._tokens) / self.rate * 1000))
