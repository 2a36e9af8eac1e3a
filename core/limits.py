"""Rate limits and attempt counters, kept in memory (one instance) or shared through Redis (several).

Two kinds of limit behind one small interface:

- ``take``: a token bucket (``rate`` tokens a second, at most ``burst`` saved up). 0 means one token
  was taken; otherwise the answer is the milliseconds until a token is available.
- ``hit``: an attempt counter over a window that starts at the first attempt. The count is checked
  and incremented in one atomic step, so of N parallel callers exactly ``limit`` pass; 0 means this
  attempt is within the limit (and is now counted), otherwise the seconds until the window ends.
  ``clear`` forgets a counter (a successful login).

``MemoryLimits`` holds the state of one instance in a bounded table; ``RedisLimits`` keeps it in Redis,
where each check is one Lua script (one atomic round trip), every key expires once it no longer
matters, and key material (which may name a person or an account) is hashed before it becomes a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from core.bucket_leases import GRANTED, HELD, HOLD_WAIT_S, LEASE_MS, SHARED_S, TAKE_LUA, BucketLeases
from core.clock import Clock, system_clock

if TYPE_CHECKING:
    from redis.asyncio import Redis

MAX_ENTRIES = 100_000
MAX_TAKES = 500  # token buckets taken in one Redis script call
EPSILON = 1e-9


class Limits(Protocol):
    async def take(self, key: str, *, rate: float, burst: int) -> int:
        """Token bucket: 0 = allowed (one token taken); else milliseconds until a token is available."""
        ...

    def take_now(self, key: str, *, rate: float, burst: int) -> int | None:
        """``take`` where it can be answered without awaiting, else ``None`` (then ``take``)."""
        ...

    async def hit(self, key: str, *, limit: int, window_s: float) -> int:
        """Count one attempt: 0 = within ``limit`` (now counted); else seconds until the window ends."""
        ...

    async def clear(self, key: str) -> None:
        """Forget the counter (and bucket) of ``key``."""
        ...


@dataclass
class _Bucket:
    tokens: float
    at: float
    expires: float  # when the bucket is full again and so no different from a new one


@dataclass
class _Counter:
    count: int
    expires: float  # the end of the window


class MemoryLimits:
    """The limits of one instance, in a table of at most ``max_entries`` entries.

    An entry that no longer matters (a bucket that has refilled, a window that has ended) is the same
    as no entry, so it is dropped when met. When the table is full the least recently used entry goes
    (an ``OrderedDict`` kept in order of use). The alternative, clearing the whole table past a
    threshold, would reset every sender's bucket and every login counter at once, and would let anyone
    who can create entries (logins with made-up usernames, say) wipe the counter of the account they
    are guessing at. Evicting the least recently used entry forgets only the sender who has been quiet
    longest; to push out an account's counter an attacker would have to create ``max_entries`` fresh
    entries, each of which costs a login attempt that first waits its turn for a password hash.
    """

    def __init__(self, *, clock: Clock = system_clock, max_entries: int = MAX_ENTRIES) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self._table: OrderedDict[tuple[str, str], _Bucket | _Counter] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def _get(self, slot: tuple[str, str], now: float) -> _Bucket | _Counter | None:
        entry = self._table.get(slot)
        if entry is None:
            return None
        if entry.expires <= now:
            del self._table[slot]
            return None
        self._table.move_to_end(slot)
        return entry

    def _put(self, slot: tuple[str, str], entry: _Bucket | _Counter, now: float) -> None:
        self._table[slot] = entry
        self._table.move_to_end(slot)
        table = self._table
        # Expired entries gather at the old end (they are the ones not touched for longest): drop them.
        while table:
            oldest = next(iter(table.values()))
            if oldest.expires > now:
                break
            table.popitem(last=False)
        while len(table) > self.max_entries:
            table.popitem(last=False)

    def take_now(self, key: str, *, rate: float, burst: int) -> int:
        """``take`` without awaiting, for the message path of a single instance."""
        now = self.clock()
        slot = ("b", key)
        entry = self._get(slot, now)
        if isinstance(entry, _Bucket):
            tokens = min(float(burst), entry.tokens + max(0.0, now - entry.at) * rate)
        else:
            tokens = float(burst)
        if tokens >= 1.0 - EPSILON:  # a client that waited exactly as told is not refused for rounding
            tokens = max(0.0, tokens - 1.0)
            self._put(slot, _Bucket(tokens, now, now + (burst - tokens) / rate), now)
            return 0
        if isinstance(entry, _Bucket):
            entry.tokens, entry.at = tokens, now
        return max(1, math.ceil(round((1.0 - tokens) / rate * 1000, 6)))

    async def take(self, key: str, *, rate: float, burst: int) -> int:
        return self.take_now(key, rate=rate, burst=burst)

    def tokens(self, key: str, *, rate: float, burst: int) -> float:
        """The tokens in ``key``'s bucket now (``burst`` for a bucket never used or refilled)."""
        now = self.clock()
        entry = self._get(("b", key), now)
        if not isinstance(entry, _Bucket):
            return float(burst)
        return min(float(burst), entry.tokens + max(0.0, now - entry.at) * rate)

    def is_full(self, key: str) -> bool:
        """True when ``key``'s bucket has refilled (it is then no different from a new one)."""
        return not isinstance(self._get(("b", key), self.clock()), _Bucket)

    def set_bucket(self, key: str, tokens: float, *, rate: float, burst: int) -> None:
        """Start ``key``'s bucket at ``tokens`` (a bucket handed over from elsewhere)."""
        now = self.clock()
        tokens = max(0.0, min(float(burst), tokens))
        self._put(("b", key), _Bucket(tokens, now, now + (burst - tokens) / rate), now)

    def hit_now(self, key: str, *, limit: int, window_s: float) -> int:
        now = self.clock()
        slot = ("c", key)
        entry = self._get(slot, now)
        if not isinstance(entry, _Counter):
            if limit < 1:
                return max(1, math.ceil(window_s))
            self._put(slot, _Counter(1, now + window_s), now)
            return 0
        if entry.count < limit:
            entry.count += 1
            return 0
        return max(1, math.ceil(round(entry.expires - now, 6)))

    async def hit(self, key: str, *, limit: int, window_s: float) -> int:
        return self.hit_now(key, limit=limit, window_s=window_s)

    async def clear(self, key: str) -> None:
        self._table.pop(("c", key), None)
        self._table.pop(("b", key), None)


# KEYS[1]: the counter. ARGV: limit, window in milliseconds. The window starts at the first attempt
# (the key's expiry); attempts past the limit are refused without being counted.
HIT_LUA = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count < limit then
  count = redis.call('INCR', KEYS[1])
  if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], window)
  end
  return 0
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], window)
  ttl = window
end
return ttl
"""


class RedisLimits:
    """Limits shared by every instance on one Redis; one Lua script call per check, except that the
    token buckets of the message path are taken in batches: every ``take`` asked for while the last
    batch was on its way goes in the next script call, like the group commit of messages. Each message
    awaits its rate check before it is stored (its lane keeps frames in order), and one call per message
    cost a quarter of an instance's CPU at 1,000 messages a second (redis-py's command path, a pooled
    connection each, a round trip each); a batch costs that once.

    With ``leasing()`` open, a bucket used from this instance only is leased to it and decided here
    without a round trip (``core.bucket_leases``): ``take_now`` answers, and ``take`` does not await."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:limit:"
        self._take = redis.register_script(TAKE_LUA)
        self._hit = redis.register_script(HIT_LUA)
        self._takes: list[tuple[str, str, int, bool, asyncio.Future[str]]] = []
        self._sender: asyncio.Task[None] | None = None
        self.leases: BucketLeases | None = None

    def key(self, kind: str, key: str) -> str:
        """``{prefix}:limit:{kind}:{namespace}:{sha256}``: the part before the first ``:`` stays
        readable (``login``, ``msg``), the rest, which may name a person or account, is hashed."""
        return f"{self.prefix}{kind}:{self._name(key)}"

    @staticmethod
    def _name(key: str) -> str:
        namespace, _, rest = key.partition(":")
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{namespace if rest else 'key'}:{digest}"

    @contextlib.asynccontextmanager
    async def leasing(self, instance: str | None = None) -> AsyncIterator[BucketLeases]:
        """Lease the buckets this instance uses while the context is open (an instance's lifetime)."""
        leases = BucketLeases(self.redis, base=self.prefix, local=MemoryLimits(clock=time.monotonic), instance=instance)
        async with leases.running():
            self.leases = leases
            try:
                yield leases
            finally:
                self.leases = None

    def take_now(self, key: str, *, rate: float, burst: int) -> int | None:
        """The answer without a round trip when this instance holds the bucket's lease, else ``None``."""
        return None if self.leases is None else self.leases.take_now(key, rate=rate, burst=burst)

    async def take(self, key: str, *, rate: float, burst: int) -> int:
        if (answer := self.take_now(key, rate=rate, burst=burst)) is not None:
            return answer
        name = self._name(key)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOLD_WAIT_S
        delay = 0.01
        while True:
            leases = self.leases
            if leases is not None:
                await leases.settled(name)
            force = loop.time() >= deadline
            reply = await self._ask(name, rate, burst, force=force)
            leases = self.leases
            if reply == HELD:  # the holder is asked for it and hands it over within about POLL_S
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)
                continue
            if reply.startswith(GRANTED):
                if leases is None:  # stopped leasing meanwhile: the lease lapses, take it from Redis
                    reply = await self._ask(name, rate, burst, force=True)
                else:  # new here, or already held (two takes in one batch): ``granted`` tells
                    tokens = float(reply.partition(":")[2])
                    return leases.granted(key, name, tokens, rate=rate, burst=burst)
            elif leases is not None:
                leases.lost(key)
            return int(reply)

    async def _ask(self, name: str, rate: float, burst: int, *, force: bool) -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._takes.append((name, repr(float(rate)), int(burst), force, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_takes())
        return await future

    async def _send_takes(self) -> None:
        """One script call for everything waiting, in the order asked, until nothing waits."""
        while self._takes:
            batch, self._takes = self._takes[:MAX_TAKES], self._takes[MAX_TAKES:]
            leases = self.leases
            head: list[str | int] = [
                leases.instance if leases is not None else "-",
                self.prefix,
                1 if leases is not None and leases.may_lease() else 0,
                LEASE_MS,
                math.ceil(SHARED_S * 1000),
            ]
            try:
                args = head + [v for name, rate, burst, force, _ in batch for v in (name, rate, burst, int(force))]
                answers = await self._take(args=args)
            except Exception as exc:  # noqa: BLE001 - each caller gets the error (and falls back)
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (*_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer.decode() if isinstance(answer, bytes) else str(answer))

    async def hit(self, key: str, *, limit: int, window_s: float) -> int:
        window_ms = max(1, math.ceil(window_s * 1000))
        ttl_ms = int(await self._hit(keys=[self.key("count", key)], args=[int(limit), window_ms]))
        return 0 if ttl_ms == 0 else max(1, math.ceil(ttl_ms / 1000))

    async def clear(self, key: str) -> None:
        await self.redis.delete(self.key("count", key), self.key("bucket", key))


def create_limits(redis: Redis | None, *, prefix: str, clock: Clock) -> Limits:
    """Redis-backed limits when the instance has a Redis client (several instances), else memory."""
    if redis is None:
        return MemoryLimits(clock=clock)
    return RedisLimits(redis, prefix=prefix)
