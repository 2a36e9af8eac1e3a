"""Token buckets for per-sender message limits (docs/protocol.md §1.7: 5/s sustained, bursts of 10)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

from core.clock import Clock, system_clock

MAX_BUCKETS = 100_000


class Limits(Protocol):
    def take_now(self, key: str, *, rate: float, burst: int) -> int:
        """Take a token from ``key``'s bucket: 0 if there was one, else milliseconds until there is."""
        ...


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


class LocalBuckets:
    """Buckets of one instance, at most ``capacity`` of them: the least recently used is dropped first,
    and a dropped bucket is one that had long refilled (a sender idle while ``capacity`` others sent)."""

    def __init__(self, clock: Clock = system_clock, capacity: int = MAX_BUCKETS) -> None:
        self.clock = clock
        self.capacity = capacity
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take_now(self, key: str, *, rate: float, burst: int) -> int:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, burst, self.clock)
            if len(self._buckets) > self.capacity:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take()
