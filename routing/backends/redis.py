"""Routing state in Redis, shared by several instances: a log of operations that every instance replays.

Every ``RoutingState`` operation is one entry (its name and arguments as JSON) appended to a Redis
stream by one Lua script call. Each instance keeps a replica, the indexed ``MemoryRoutingState``, and
applies the entries in stream order. To perform an operation it appends it, takes in the entries other
instances appended before it (the script returns them when they are few), applies its own and returns
the result it got there. The log decides the order; every replica applies the same operations in the
same order with the same explicit times, so all reach the same state and the same decisions (the memory
state decides from its plain data alone, whatever its index went through: ``tests/routing/test_index.py``
loads it afresh at random points). So two instances never assign one conversation twice or overfill an
adviser, and nobody retries: an append cannot conflict, it only lands at its place. One operation costs
one round trip and O(log n) in the n waiting, where the whole state used to travel on each one; the
operations an instance is asked for while an append is on its way share the next round trip.

Keys (``<key>`` is ``<prefix>:routing``), each renewed to ``STATE_TTL_S`` by every append:

* ``<key>:meta``, a hash: ``gen``, a random name for this log's life; ``seq``, the number of its last
  entry; ``ckpt``, the entry the newest checkpoint covers;
* ``<key>:log``, the stream: entry ``<seq>-0`` with fields ``o`` (the operation), ``a`` (arguments) and
  ``i`` (a name for it, so that an append whose answer was lost is found instead of appended twice);
* ``<key>:ckpt``, the newest checkpoint: the replica's ``dump()`` as of entry ``seq``, with ``gen``.
  Whoever appends entry k·``CHECKPOINT_EVERY`` writes one; the stream keeps the entries after the one
  before it, so a replica a little behind reads the stream and one far behind (or new) loads the
  checkpoint and replays after it.

If Redis loses the keys (a restart without persistence, a flush), ``gen`` is gone: the next instance to
write starts a new log under a new name, and every replica that sees a name other than its own starts
empty, rather than keep a state nobody else has; the chat layer's rebuild (``chat/assignment.py``)
then puts back the waiting conversations from the database. If Redis went back to an older copy of the
same log, a replica ahead of it loads the checkpoint again and replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from routing.backends.memory import MemoryRoutingState, adviser_data, adviser_of, chat_data, chat_of
from routing.errors import RoutingError
from routing.model import Adviser, AdviserStatus, Assignment, ChatRequest, Snapshot
from routing.policy import TierDelays
from routing.state import RoutingState

RECONNECT_ATTEMPTS = 3
STATE_TTL_S = 7 * 24 * 3600  # every key expires (docs/reliability.md 35); every append renews them all
CHECKPOINT_EVERY = 1000  # entries between checkpoints; the stream holds at most about twice as many
MISSED_INLINE = 64  # entries of others an append returns at once; more are read in batches of READ_BATCH
MAX_APPEND = 200  # operations appended by one script call
READ_BATCH = 1000

# KEYS: meta, log, ckpt. ARGV: gen, ttl, the replica's seq, MISSED_INLINE, then for each operation its
# name, arguments and entry name. Appends them as consecutive entries; returns {seq of the first, the
# entries between the replica's and it (when few)}, or {-1, gen} when the log is not the replica's.
APPEND_LUA = """
local gen = redis.call('HGET', KEYS[1], 'gen')
if gen ~= ARGV[1] then return {-1, gen or ''} end
local count = (#ARGV - 4) / 3
local last = redis.call('HINCRBY', KEYS[1], 'seq', count)
local first = last - count + 1
for k = 0, count - 1 do
  local j = 5 + 3 * k
  redis.call('XADD', KEYS[2], (first + k) .. '-0', 'o', ARGV[j], 'a', ARGV[j + 1], 'i', ARGV[j + 2])
end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
local have = tonumber(ARGV[3])
local missed = {}
if first - 1 > have and first - 1 - have <= tonumber(ARGV[4]) then
  missed = redis.call('XRANGE', KEYS[2], (have + 1) .. '-0', (first - 1) .. '-0')
end
return {first, missed}
"""

# KEYS: meta, log. ARGV: gen, the replica's seq, the last entry wanted (0: the newest), count.
# Returns {seq of the newest entry, entries after the replica's}, {-1, gen} (another log) or {-2, seq}
# (the log is shorter than the replica: Redis went back to an older copy).
READ_LUA = """
local meta = redis.call('HMGET', KEYS[1], 'gen', 'seq')
if meta[1] ~= ARGV[1] then return {-1, meta[1] or ''} end
local seq, have, upto = tonumber(meta[2]), tonumber(ARGV[2]), tonumber(ARGV[3])
if seq < have then return {-2, seq} end
if upto == 0 or upto > seq then upto = seq end
if upto <= have then return {seq, {}} end
return {seq, redis.call('XRANGE', KEYS[2], (have + 1) .. '-0', upto .. '-0', 'COUNT', ARGV[4])}
"""

# KEYS: meta, log, ckpt. ARGV: a new gen, ttl. Starts a log if there is none; returns the current gen.
START_LUA = """
local gen = redis.call('HGET', KEYS[1], 'gen')
if gen then return gen end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'gen', ARGV[1], 'seq', 0, 'ckpt', 0)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return ARGV[1]
"""

# KEYS: meta, log, ckpt. ARGV: gen, seq, checkpoint, ttl. Keeps the newest checkpoint and the entries
# after the one before it.
CHECKPOINT_LUA = """
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] then return 0 end
local before, seq = tonumber(redis.call('HGET', KEYS[1], 'ckpt') or '0'), tonumber(ARGV[2])
if seq <= before then return 0 end
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
redis.call('HSET', KEYS[1], 'ckpt', seq)
if before > 0 then redis.call('XTRIM', KEYS[2], 'MINID', (before + 1) .. '-0') end
return 1
"""

# KEYS: meta. ARGV: gen. The log cannot be replayed (its stream and checkpoint are gone): end it, so
# that the next write starts another.
ABANDON_LUA = """
if redis.call('HGET', KEYS[1], 'gen') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(slots=True)
class _Operation:
    """An operation waiting to be appended, and its caller's answer."""

    op: str
    raw: bytes  # its arguments as JSON, as every replica decodes them
    name: str  # ``<replica name>:<count>``: finds the entry again if an append went unanswered
    future: asyncio.Future[Any]


class ReplicaBehind(RoutingError):
    """The log was trimmed past this replica while its operation was appended (about a thousand entries
    within one round trip); the operation took effect, its result is unknown here."""


class _OtherLog(Exception):
    """The log in Redis is not the one the replica follows: start again from the one there is."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _seq_of(entry_id: Any) -> int:
    return int(_text(entry_id).split("-", 1)[0])


class RedisRoutingState(RoutingState):
    def __init__(self, redis: Redis, delays: TierDelays, *, key: str = "nora:routing") -> None:
        self.redis = redis
        self.delays = delays
        self.key = key
        self.keys = [f"{key}:meta", f"{key}:log", f"{key}:ckpt"]
        self._append = redis.register_script(APPEND_LUA)
        self._read = redis.register_script(READ_LUA)
        self._start = redis.register_script(START_LUA)
        self._checkpoint = redis.register_script(CHECKPOINT_LUA)
        self._abandon = redis.register_script(ABANDON_LUA)
        self._name = uuid.uuid4().hex[:12]  # names this object's entries: ``<name>:<count>``
        self._appended = 0
        self._gen: str | None = None  # the log the replica follows
        self._seq = 0  # the last entry applied
        self._replica = MemoryRoutingState(delays)
        # One append at a time per instance: the replica is brought up to date, then changed.
        self._lock = asyncio.Lock()
        self._queued: deque[_Operation] = deque()  # asked for, not yet sent
        self._worker: asyncio.Task[None] | None = None  # sends them (``_work``)

    # -- the interface: each operation is an entry of the log

    async def enqueue(self, chat: ChatRequest) -> None:
        await self._perform("enqueue", [chat_data(chat)])

    async def withdraw(self, chat_id: str) -> ChatRequest | None:
        result: ChatRequest | None = await self._perform("withdraw", [chat_id])
        return result

    async def set_present(self, chat_id: str, present: bool) -> bool:
        return bool(await self._perform("set_present", [chat_id, present]))

    async def assign_to(self, chat_id: str, adviser_id: str, now: float) -> Assignment | None:
        result: Assignment | None = await self._perform("assign_to", [chat_id, adviser_id, now])
        return result

    async def put_adviser(self, adviser: Adviser) -> None:
        await self._perform("put_adviser", [adviser_data(adviser)])

    async def set_status(self, adviser_id: str, status: AdviserStatus, now: float) -> Adviser:
        result: Adviser = await self._perform("set_status", [adviser_id, status.value, now])
        return result

    async def release(self, adviser_id: str, chat_id: str, now: float) -> None:
        await self._perform("release", [adviser_id, chat_id, now])

    async def remove_adviser(self, adviser_id: str) -> Adviser | None:
        result: Adviser | None = await self._perform("remove_adviser", [adviser_id])
        return result

    async def touch(self, adviser_ids: Iterable[str], now: float) -> None:
        ids = list(adviser_ids)
        if ids:
            await self._perform("touch", [ids, now])

    async def expire_leases(self, now: float, lease_s: float) -> list[str]:
        result: list[str] = await self._perform("expire_leases", [now, lease_s])
        return result

    async def step(self, now: float) -> list[Assignment]:
        result: list[Assignment] = await self._perform("step", [now])
        return result

    async def snapshot(self) -> Snapshot:
        async with self._lock:
            for attempt in range(RECONNECT_ATTEMPTS + 2):
                try:
                    await self._follow()
                    await self._catch_up(0)
                    return await self._replica.snapshot()
                except _OtherLog:
                    self._forget()
                except (RedisConnectionError, RedisTimeoutError):
                    if attempt >= RECONNECT_ATTEMPTS:
                        raise
                    await asyncio.sleep(0.05 * (attempt + 1))
            raise RoutingError("the routing log kept changing")

    # -- the log

    async def _perform(self, op: str, args: list[Any]) -> Any:
        """Append an operation to the log and apply it here; its result, as every replica computes it.

        Operations asked for while an append is on its way wait and go out together in the next script
        call, as consecutive entries: a burst of 50 starts on one instance was about a hundred round
        trips to Redis one after another, each under this instance's lock. An operation whose caller
        gives up before it is sent is not made; once sent it may have been, as before."""
        self._appended += 1
        name = f"{self._name}:{self._appended}"
        operation = _Operation(op, orjson.dumps(args), name, asyncio.get_running_loop().create_future())
        if self._worker is None and not self._queued and not self._lock.locked():
            # Nothing on its way: appended here and now, without a hop to the worker's task. What is
            # asked for meanwhile queues for the worker, which waits for this append.
            async with self._lock:
                await self._append_batch([operation])
            return operation.future.result()
        self._queued.append(operation)
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="routing-log")
        try:
            return await operation.future
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):
                self._queued.remove(operation)
            raise

    async def _work(self) -> None:
        """Append what is queued, a batch at a time, until nothing is; every operation is answered."""
        batch: list[_Operation] = []
        try:
            while self._queued:
                batch = [self._queued.popleft() for _ in range(min(MAX_APPEND, len(self._queued)))]
                async with self._lock:
                    batch = [operation for operation in batch if not operation.future.cancelled()]
                    if not batch:  # every caller gave up while a snapshot held the lock
                        continue
                    try:
                        await self._append_batch(batch)
                    except Exception as exc:  # noqa: BLE001 - each caller gets it, as from its own append
                        for operation in batch:
                            if not operation.future.done():
                                operation.future.set_exception(exc)
        finally:
            self._worker = None
            for operation in [*batch, *self._queued]:  # cancelled (the loop is closing)
                if not operation.future.done():
                    operation.future.cancel()

    async def _append_batch(self, batch: list[_Operation]) -> None:
        first = 0  # where the first entry landed, once known (the others follow it)
        unsure = False  # an append was sent and not answered: it may have landed
        for attempt in range(RECONNECT_ATTEMPTS + 2):
            try:
                await self._follow()
                if unsure:  # never append an operation twice: look for the batch first
                    first = await self._catch_up(0, batch[0].name)
                    unsure = False
                if not first:
                    unsure = True
                    args: list[Any] = [self._gen or "", STATE_TTL_S, self._seq, MISSED_INLINE]
                    for operation in batch:
                        args += [operation.op, operation.raw, operation.name]
                    reply = await self._append(keys=self.keys, args=args)
                    unsure = False
                    first = int(reply[0])
                    if first < 0:
                        raise _OtherLog
                    if first <= self._seq:  # Redis went back to an older copy of this log: replay it
                        self._restart()
                    self._take(reply[1], first - 1)  # the entries of others before it, when few
                if self._seq < first - 1:
                    await self._catch_up(first - 1)
                for k, operation in enumerate(batch):
                    try:
                        result = self._apply(operation.op, orjson.loads(operation.raw))  # as every replica
                    except Exception as exc:  # noqa: BLE001 - its caller's error (an unknown adviser, say)
                        if not operation.future.done():
                            operation.future.set_exception(exc)
                    else:
                        if not operation.future.done():
                            operation.future.set_result(result)
                    self._seq = first + k
                    if self._seq % CHECKPOINT_EVERY == 0:
                        await self._write_checkpoint()
                return
            except _OtherLog:
                # Redis lost the log (or was flushed): follow the one there is, or start one, and
                # append the operations there; nothing of the old log is kept.
                self._forget()
                first, unsure = 0, False
            except (RedisConnectionError, RedisTimeoutError):
                # After a Redis restart the first command on a pooled connection fails; the pool
                # reconnects on the next one. Give up (and let the callers fail) after a few.
                if attempt >= RECONNECT_ATTEMPTS:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise RoutingError("the routing log kept changing")

    async def _follow(self) -> None:
        """Adopt the log in Redis (starting one if there is none) with an empty replica."""
        if self._gen is None:
            self._gen = _text(await self._start(keys=self.keys, args=[uuid.uuid4().hex, STATE_TTL_S]))
            self._restart()

    def _forget(self) -> None:
        self._gen = None
        self._restart()

    def _restart(self) -> None:
        self._seq = 0
        self._replica = MemoryRoutingState(self.delays)

    def _take(self, entries: list[Any], upto: int, mine: str | None = None) -> int:
        """Apply entries if they continue the replica's, up to ``upto``, stopping before the entry
        named ``mine`` (whose seq it returns; 0 when not met)."""
        if entries and _seq_of(entries[0][0]) == self._seq + 1:
            for entry_id, fields in entries:  # fields: o, the operation, a, its arguments, i, its name
                seq = _seq_of(entry_id)
                if seq > upto:
                    break
                if mine is not None and _text(fields[5]) == mine:
                    return seq
                try:
                    self._apply(_text(fields[1]), orjson.loads(fields[3]))
                except RoutingError:
                    pass  # its caller was told (an unknown adviser); it changed nothing
                self._seq = seq
        return 0

    async def _catch_up(self, upto: int, mine: str | None = None) -> int:
        """Bring the replica to entry ``upto`` (0: the newest), from the stream or the checkpoint; with
        ``mine``, only to just before that entry, returning its seq (0: not in the log)."""
        while True:
            reply = await self._read(keys=self.keys[:2], args=[self._gen or "", self._seq, upto, READ_BATCH])
            status, entries = int(reply[0]), reply[1]
            if status == -1:
                raise _OtherLog
            if status == -2:  # Redis went back to an older copy of this log: replay it
                self._restart()
                continue
            target = status if upto == 0 else min(upto, status)
            if self._seq >= target:
                return 0
            if not entries or _seq_of(entries[0][0]) != self._seq + 1:
                await self._load_checkpoint(target)  # trimmed past the replica
            elif found := self._take(entries, target, mine):
                return found

    async def _load_checkpoint(self, upto: int) -> None:
        raw = await self.redis.get(self.keys[2])
        data = orjson.loads(raw) if raw else None
        if data is None or data["gen"] != self._gen or data["seq"] <= self._seq:
            # Neither the stream nor a checkpoint continues the replica (the keys were deleted by
            # hand): end this log, so that the next write starts another, and start afresh.
            await self._abandon(keys=self.keys[:1], args=[self._gen or ""])
            raise _OtherLog
        if data["seq"] > upto:
            raise ReplicaBehind(f"the routing log moved past entry {upto} while it was read")
        self._replica = MemoryRoutingState.load(data["state"], self.delays)
        self._seq = data["seq"]

    async def _write_checkpoint(self) -> None:
        """A missed checkpoint costs nothing but a longer stream until the next one."""
        data = orjson.dumps({"gen": self._gen, "seq": self._seq, "state": self._replica.dump()})
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
            await self._checkpoint(keys=self.keys, args=[self._gen or "", self._seq, data, STATE_TTL_S])

    def _apply(self, op: str, args: list[Any]) -> Any:
        """One entry on the replica. Its coroutines never suspend, so they are driven here directly."""
        replica = self._replica
        if op == "step":
            # Instances' clocks, and the moments between reading one and appending, differ by
            # milliseconds: a step never goes back before the last (that would narrow tiers for those
            # milliseconds and rebuild the index).
            return _run(replica.step(max(args[0], replica.stepped_at)))
        if op == "enqueue":
            return _run(replica.enqueue(chat_of(args[0])))
        if op == "put_adviser":
            return _run(replica.put_adviser(adviser_of(args[0])))
        if op == "set_status":
            return _run(replica.set_status(args[0], AdviserStatus(args[1]), args[2]))
        if op in _PLAIN:
            return _run(getattr(replica, op)(*args))
        raise RoutingError(f"unknown operation {op!r} in the routing log")


_PLAIN = frozenset({"withdraw", "set_present", "assign_to", "release", "remove_adviser", "touch", "expire_leases"})


def _run(coro: Any) -> Any:
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a memory state operation suspended")
