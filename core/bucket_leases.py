"""Token buckets leased to the instance that uses them, so a message's rate check needs no round trip.

Shared limits in Redis cost every message a round trip before it is stored (``RedisLimits.take``):
with two instances on one machine that hop was about half of a message's latency (bench/README.md,
"Rate-limit leases"). Yet almost every sender's sockets are all on one instance. So the first take of
a bucket on an instance *leases* it: the bucket's tokens move to that instance, which then decides
every later take in its own memory, with no await, while it holds the lease.

The limit stays one limit: at any moment one place decides a bucket, either the instance holding its
lease or Redis (the bucket is then *shared*). When a take arrives at another instance, that instance
asks the holder for the bucket; the holder, which looks for such requests every ``POLL_S``, writes its
tokens back to Redis and marks the bucket shared, and from then on both instances take from Redis,
as before. A shared bucket that only one instance has used for ``SHARED_S`` is leased again.

An instance holds leases only while it is alive in Redis (a key it renews every ``POLL_S`` that expires
after ``ALIVE_S``), and decides locally only while its last renewal is recent enough. When it dies, its
leases lapse within ``ALIVE_S`` and the bucket is taken from Redis again, at the tokens it had when it
was leased: a sender may then get up to one more burst than the limit allows, once, after an instance
dies. A take for a bucket held by a live instance waits for the hand-over (about ``POLL_S``) and after
``HOLD_WAIT_S`` is taken from Redis regardless (an instance that does not answer requests, such as one
of an older version during a rolling upgrade).

Redis keys, under ``{prefix}:limit:`` with the bucket's hashed name (``{namespace}:{sha256}``):
``lease:…`` (the holder's id; 10 min), ``shared:…`` (the instance that took last; ``SHARED_S``),
``alive:{instance}`` (``ALIVE_S``), ``wanted:{instance}`` (a set of buckets asked for; ``SHARED_S``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from core.limits import MemoryLimits

log = logging.getLogger("nora.limits")

POLL_S = 0.1  # how often the holder renews its liveness and looks for buckets asked for
ALIVE_S = 2.0  # a holder not heard from for this long has lost its leases
MARGIN_S = 0.5  # local decisions stop this long before the liveness key could have expired
SHARED_S = 5.0  # a bucket used from one instance only for this long may be leased again
HOLD_WAIT_S = 2.5  # a take waits this long for a live holder to hand a bucket over
LEASE_MS = 600_000  # a lease key outlives its holder only to be cleaned up
IDLE_SWEEP_S = 5.0  # how often leases of buckets unused since the last sweep, and refilled, are given back
MAX_LEASES = 50_000  # beyond this, new buckets are taken from Redis
EXIT_WAIT_S = 2.0  # at shutdown, how long the keeper's last call and the give-back may take each

HELD = "H"  # another live instance holds the lease: ask again
GRANTED = "L"  # the lease is this instance's: the tokens follow


# ARGV[1..5]: this instance, the key base ({prefix}:limit:), 1 if it may hold leases, the lease and
# shared lifetimes in ms. Then four per bucket: its hashed name, rate per second, burst, 1 to ignore any
# lease (a holder that did not answer). One answer per bucket, in order: "0" (taken), milliseconds to
# wait, "H" (held by a live instance, which is asked for it), or "L:<tokens>" (leased to the caller,
# which takes its token itself from <tokens>). Time is Redis's own.
TAKE_LUA = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local me, base, may_lease = ARGV[1], ARGV[2], ARGV[3] == '1'
local lease_ms, shared_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
for i = 1, (#ARGV - 5) / 4 do
  local j = 5 + 4 * (i - 1)
  local name, rate, burst, force = ARGV[j + 1], tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3]), ARGV[j + 4] == '1'
  local bucket, lease, shared = base .. 'bucket:' .. name, base .. 'lease:' .. name, base .. 'shared:' .. name
  local holder = redis.call('GET', lease)
  local live = holder and redis.call('EXISTS', base .. 'alive:' .. holder) == 1
  if live and holder ~= me and not force then
    local wanted = base .. 'wanted:' .. holder
    redis.call('SADD', wanted, name)
    redis.call('PEXPIRE', wanted, shared_ms)
    out[i] = 'H'
  else
    local state = redis.call('HMGET', bucket, 't', 'at')
    local tokens, at = tonumber(state[1]), tonumber(state[2])
    if tokens == nil or at == nil then
      tokens = burst
    else
      tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
    end
    local last = may_lease and redis.call('GET', shared)
    if may_lease and not last and not force then
      redis.call('SET', lease, me, 'PX', lease_ms)
      out[i] = 'L:' .. string.format('%.6f', tokens)
    else
      if holder then
        redis.call('DEL', lease)
      end
      if may_lease and last ~= me then
        redis.call('SET', shared, me, 'PX', shared_ms)
      end
      if tokens < 1 then
        out[i] = tostring(math.max(1, math.ceil((1 - tokens) * 1000 / rate)))
      else
        tokens = tokens - 1
        redis.call('HSET', bucket, 't', tostring(tokens), 'at', tostring(now))
        redis.call('PEXPIRE', bucket, math.ceil((burst - tokens) * 1000 / rate) + 1000)
        out[i] = '0'
      end
    end
  end
end
return out
"""

# ARGV: this instance, the key base, the alive lifetime in ms. Renews this instance's liveness and
# returns whether it was still alive (1/0), then the buckets asked for since the last call.
KEEP_LUA = """
local me, base = ARGV[1], ARGV[2]
local alive = base .. 'alive:' .. me
local was = redis.call('EXISTS', alive)
redis.call('SET', alive, '1', 'PX', tonumber(ARGV[3]))
local wanted = base .. 'wanted:' .. me
local names = redis.call('SMEMBERS', wanted)
redis.call('DEL', wanted)
table.insert(names, 1, tostring(was))
return names
"""

# ARGV: this instance, the key base, the shared lifetime in ms. Then five per bucket: its hashed name,
# its tokens now (-1: unknown here, leave the bucket as it is), rate, burst, 1 if another instance asked
# for it (it is then marked shared). A bucket whose lease is no longer this instance's is left alone.
RELEASE_LUA = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local me, base, shared_ms = ARGV[1], ARGV[2], tonumber(ARGV[3])
for i = 1, (#ARGV - 3) / 5 do
  local j = 3 + 5 * (i - 1)
  local name, tokens, rate, burst = ARGV[j + 1], tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3]), tonumber(ARGV[j + 4])
  local lease = base .. 'lease:' .. name
  if redis.call('GET', lease) == me then
    local bucket = base .. 'bucket:' .. name
    if tokens < 0 then
      -- not held here any more (its leases lapsed once): the bucket stays as Redis has it
    elseif tokens >= burst then
      redis.call('DEL', bucket)
    else
      redis.call('HSET', bucket, 't', tostring(tokens), 'at', tostring(now))
      redis.call('PEXPIRE', bucket, math.ceil((burst - tokens) * 1000 / rate) + 1000)
    end
    redis.call('DEL', lease)
    if ARGV[j + 5] == '1' then
      redis.call('SET', base .. 'shared:' .. name, me, 'PX', shared_ms)
    end
  end
end
return 1
"""


@dataclass(slots=True)
class Lease:
    key: str  # the bucket's own name, for the local table (never sent anywhere)
    name: str  # its hashed name, as in Redis
    rate: float
    burst: int


class BucketLeases:
    """This instance's leased buckets: decided in ``local`` while the lease and liveness hold."""

    def __init__(self, redis: Redis, *, base: str, local: MemoryLimits, instance: str | None = None) -> None:
        self.redis = redis
        self.base = base
        self.local = local
        self.instance = instance or uuid.uuid4().hex[:16]
        self._keep = redis.register_script(KEEP_LUA)
        self._release = redis.register_script(RELEASE_LUA)
        self._held: dict[str, Lease] = {}
        self._by_name: dict[str, str] = {}
        self._releasing: dict[str, asyncio.Future[None]] = {}
        self._unknown: set[str] = set()  # asked for in the last beat, not held here
        self._used: set[str] = set()  # buckets taken from here since the last idle sweep
        self._alive_until = 0.0  # time.monotonic(); 0: not alive, no lease may be granted or used
        self._keeper: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def alive(self) -> bool:
        return time.monotonic() < self._alive_until

    def take_now(self, key: str, *, rate: float, burst: int) -> int | None:
        """The answer from the local bucket if this instance holds its lease; else ``None``."""
        if key not in self._held or time.monotonic() >= self._alive_until:
            return None
        self._used.add(key)
        return self.local.take_now(key, rate=rate, burst=burst)

    def may_lease(self) -> bool:
        return self.alive and len(self._held) < MAX_LEASES

    async def settled(self, name: str) -> None:
        """Wait while this instance is handing the bucket back (its tokens are on their way)."""
        if (pending := self._releasing.get(name)) is not None:
            await asyncio.shield(pending)

    def granted(self, key: str, name: str, tokens: float, *, rate: float, burst: int) -> int:
        """Record a lease Redis granted with ``tokens`` in the bucket, and take one from it here. A
        bucket still held here keeps its own count: Redis's is older (renewed while the liveness
        check was late)."""
        if key not in self._held:
            self._held[key] = Lease(key, name, rate, burst)
            self._by_name[name] = key
            self.local.set_bucket(key, tokens, rate=rate, burst=burst)
        self._used.add(key)
        return self.local.take_now(key, rate=rate, burst=burst)

    def lost(self, key: str) -> None:
        """Redis says the bucket is decided elsewhere now (this instance was taken for dead)."""
        if (lease := self._held.pop(key, None)) is not None:
            self._by_name.pop(lease.name, None)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[BucketLeases]:
        """Keep this instance alive in Redis while the context is open; give every lease back on exit.

        The keeper is told to stop, not cancelled: a Redis command cancelled half-way is not worth the
        risk at shutdown. Neither step may hold the exit up for long; what is not given back lapses
        within ``ALIVE_S`` by itself."""
        await self._beat()
        self._keeper = asyncio.create_task(self._keep_alive(), name="bucket-leases")
        try:
            yield self
        finally:
            self._stopping.set()
            await asyncio.wait({self._keeper}, timeout=EXIT_WAIT_S)
            self._alive_until = 0.0
            give_back = asyncio.create_task(self._give_back_all())
            done, _ = await asyncio.wait({give_back}, timeout=EXIT_WAIT_S)
            if not done:
                log.warning("rate-limit leases not given back within %.0f s; they lapse by themselves", EXIT_WAIT_S)

    async def _give_back_all(self) -> None:
        try:
            await self._give_back(list(self._held.values()), wanted=False)
            await self.redis.delete(f"{self.base}alive:{self.instance}")
        except Exception as exc:  # noqa: BLE001 - the leases then lapse within ALIVE_S by themselves
            log.warning("could not give the rate-limit leases back (%s)", type(exc).__name__)

    async def _keep_alive(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + IDLE_SWEEP_S
        failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), POLL_S)
            if self._stopping.is_set():
                return
            try:
                await self._beat()
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + IDLE_SWEEP_S
                    # A full bucket carries nothing, but a sender still writing would take it again at
                    # once, a round trip before its next message: at one message a second per sender,
                    # a sweep of every full bucket re-leased each one every 5 s (about 400 takes from
                    # Redis a second in bench/'s chat-1000-2x-lb). Only the unused go back.
                    used, self._used = self._used, set()
                    idle = [
                        lease
                        for lease in self._held.values()
                        if lease.key not in used and self.local.is_full(lease.key)
                    ]
                    await self._give_back(idle, wanted=False)
            except Exception as exc:  # noqa: BLE001 - local decisions stop by themselves (``_alive_until``)
                if not failing:
                    log.warning("rate-limit leases: Redis unreachable (%s); no local decisions", type(exc).__name__)
                failing = True
                continue
            if failing:
                log.info("rate-limit leases: Redis reachable again")
                failing = False

    async def _beat(self) -> None:
        sent = time.monotonic()
        answer: list[Any] = await self._keep(args=[self.instance, self.base, math.ceil(ALIVE_S * 1000)])
        was_alive, names = answer[0], [n.decode() if isinstance(n, bytes) else str(n) for n in answer[1:]]
        if int(was_alive) == 0 and self._held:
            # Taken for dead (a stall or an outage longer than ALIVE_S): others may decide these buckets now.
            log.warning("rate-limit leases lapsed; %d bucket(s) go back to Redis", len(self._held))
            self._held.clear()
            self._by_name.clear()
        self._alive_until = sent + ALIVE_S - MARGIN_S
        asked = [self._held[key] for name in names if (key := self._by_name.get(name)) in self._held]
        if asked:
            await self._give_back(asked, wanted=True)
        # Leases Redis still names this instance for, from before they lapsed here: let them go rather
        # than keep the asking instance waiting until it overrules them. Only once asked for in two
        # beats running, so that a grant whose answer is still on its way here is not let go.
        unknown = {name for name in names if name not in self._by_name}
        stale, self._unknown = unknown & self._unknown, unknown
        if stale:
            args: list[str | int] = [self.instance, self.base, math.ceil(SHARED_S * 1000)]
            for name in sorted(stale):
                args += [name, -1, 1, 1, 1]
            await self._release(args=args)

    async def _give_back(self, leases: list[Lease], *, wanted: bool) -> None:
        """Write each bucket's tokens back to Redis and drop its lease; no local decision after this."""
        if not leases:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        args: list[str | float | int] = [self.instance, self.base, math.ceil(SHARED_S * 1000)]
        for lease in leases:
            self.lost(lease.key)
            self._releasing[lease.name] = done
            tokens = self.local.tokens(lease.key, rate=lease.rate, burst=lease.burst)
            args += [lease.name, f"{tokens:.6f}", repr(float(lease.rate)), lease.burst, 1 if wanted else 0]
        try:
            await self._release(args=args)
        finally:
            for lease in leases:
                if self._releasing.get(lease.name) is done:
                    del self._releasing[lease.name]
            done.set_result(None)
