"""Routing decision latency with 1k, 10k and 100k waiting conversations and 1,000 advisers.

    .venv/bin/python -m bench.routing_bench            # the full table (well under two minutes)
    .venv/bin/python -m bench.routing_bench --quick    # 1k and 10k only
    .venv/bin/python -m bench.routing_bench --redis redis://127.0.0.1:6379/15   # the state in Redis

The state is that of an overloaded service, the only way that many conversations wait: 900 advisers in
20 languages and 15 regions are full, 100 more speak two languages nobody is queued for and have room.
Conversations arrive at a steady 10 per second, so the oldest of n waiting has waited n/10 s, tiers are
mixed accordingly and about 3 chats cross a tier threshold per 0.1 s at every size. Each event is timed
from the call to the end of the routing step that follows it, as the service runs them, and moves the
clock 0.1 s (the tick 1 s):

* ``arrival``: a new chat is enqueued, then a step; 9 in 10 join the queue, 1 in 10 is in a spare
  language and is assigned at once;
* ``frees up``: an adviser finishes a conversation, then a step; the adviser takes the best waiting chat
  it can;
* ``presence``: a waiting visitor closes the tab, or an absent one comes back, then a step (one in 20
  of the visitors waiting at the start is absent; an absent one is never assigned and keeps its place);
* ``tick``: the once-a-second step, after a second's arrivals (untimed);
* ``estimates()``: ``routing.policy.estimates`` for every waiting chat, from a snapshot, as the
  service's once-a-second queue refresh calls it.

After each event, untimed, chats given to spare advisers end and newcomers arrive or the oldest visitors
leave, so the queue stays at n. ``p99 CPU`` is this thread's CPU time, which a busy machine's other
processes do not inflate as they do the wall clock. The state built during setup is ``gc.freeze()``d,
so collections do not rescan it (a service can do the same after start-up).

The reference (``MemoryRoutingState(indexed=False)``, running ``policy.route`` over everything on each
step, and ``estimates_by_definition``) replays the same events at 1k and, for a few events, at 10k, and
must make the same decisions. At 100k it is skipped: ``route`` takes about 2 s per event there (measured
once on the machine the first figures came from), minutes per row, and ``estimates_by_definition`` longer.

``--redis URL`` measures the same decisions with the state in Redis (``RedisRoutingState``), as the
service calls it: 10,000 waiting (1 in 20 visitors absent, so presence is part of the state) and 1,000
advisers by default. Events are timed from the call of the operation to the end of the step after it
(two calls, each through Redis): ``arrival`` (enqueue, step), ``frees up`` (release, step) and
``presence`` (a waiting visitor closes or reopens its socket, step). ``--instances 2`` sends
consecutive events to two state objects on the same Redis, as two instances would, so that every
operation first has to take in the other's. Its decisions are checked against the memory state fed the
same operations, right after each event; the ``in memory`` rows time those, and the ``2 x PING`` rows
two bare round trips to Redis right after that, so that the machine's own noise (other processes on a
shared machine, which also delay Redis) shows beside the Redis figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):  # run as ``python bench/routing_bench.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from routing.backends.memory import MemoryRoutingState
from routing.model import Adviser, AdviserStatus, Assignment, ChatRequest, Service
from routing.policy import TierDelays, estimates, estimates_by_definition
from routing.state import RoutingState

T = TypeVar("T")
REGIONS = ["03", "11", "15", "18", "31", "32", "33", "34", "39", "40", "42", "46", "50", "55", "56"]
LANGUAGES = ["ar", "so", "ti", "fa", "prs", "ps", "ku", "uk", "ru", "pl", "en", "ur", "vi", "th", "es"]
LANGUAGES += ["fr", "sw", "am", "tr", "lt"]
SPARE = ["de", "fi"]  # only the spare advisers speak these; nobody waits for them
LANGUAGE_WEIGHTS = [1.0 / (rank + 1) for rank in range(len(LANGUAGES))]  # a few languages dominate
ARRIVALS_PER_S = 10.0
ABSENT_SHARE = 0.05  # of the visitors waiting at the start, those who closed their tab (issue 14)
DELAYS = TierDelays()


def sync(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never suspends (MemoryRoutingState's) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise RuntimeError("the coroutine suspended")


class World:
    """Generates the advisers and chats, identically for the indexed and the reference state."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.next_id = 0

    def chat(
        self, now: float, *, spare: bool = False, enqueued_at: float | None = None, present: bool = True
    ) -> ChatRequest:
        rng = self.rng
        self.next_id += 1
        language = rng.choice(SPARE) if spare else rng.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0]
        also = (rng.choice(LANGUAGES),) if not spare and rng.random() < 0.25 else ()
        return ChatRequest(
            id=f"c{self.next_id}",
            language=language,
            region=None if rng.random() < 0.1 else rng.choice(REGIONS),
            audience="staff" if rng.random() < 0.15 else "youth",
            enqueued_at=now if enqueued_at is None else enqueued_at,
            urgent=rng.random() < 0.02,
            also_languages=tuple(x for x in also if x != language),
            present=present,
        )

    def advisers(self, n: int) -> list[Adviser]:
        rng = self.rng
        out = []
        for i in range(n):
            spare = i >= n * 9 // 10
            service = Service.AT if rng.random() < 0.25 else Service.MR
            capacity = rng.randint(2, 4)
            languages = set(SPARE) if spare else set(rng.sample(LANGUAGES, rng.randint(1, 3)))
            out.append(
                Adviser(
                    id=f"a{i}",
                    service=service,
                    regions=frozenset(rng.sample(REGIONS, rng.randint(1, 2))) if service is Service.MR else frozenset(),
                    languages=frozenset(languages),
                    capacity=capacity,
                    status=AdviserStatus.AVAILABLE,
                    active=frozenset() if spare else frozenset(f"held-{i}-{k}" for k in range(capacity)),
                    last_assigned_at=rng.uniform(0, 100),
                )
            )
        return out


Event = Callable[[], tuple[int, int, int]]  # wall ns, CPU ns, decisions made


@dataclass
class Row:
    waiting: str
    event: str
    wall_ns: list[int]
    cpu_ns: list[int]
    decisions: int
    note: str = ""

    def cells(self) -> list[str]:
        if not self.wall_ns:
            return [self.waiting, self.event, "", "", "", "", "", "", self.note]
        wall, cpu = sorted(self.wall_ns), sorted(self.cpu_ns)
        return [
            self.waiting,
            self.event,
            str(len(wall)),
            _us(_pct(wall, 0.5)),
            _us(_pct(wall, 0.99)),
            _us(_pct(cpu, 0.99)),
            f"{len(wall) / (sum(wall) / 1e9):,.0f}",
            str(self.decisions),
            self.note,
        ]


def _pct(values: list[int], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] / 1000


def _us(value: float) -> str:
    return f"{value:,.1f}" if value < 1000 else f"{value / 1000:,.1f} ms"


def timed(fn: Callable[[], T]) -> tuple[int, int, T]:
    wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
    result = fn()
    return time.perf_counter_ns() - wall, time.thread_time_ns() - cpu, result


class Run:
    """One state (indexed or reference) driven through the events, logging its decisions."""

    def __init__(self, n_waiting: int, n_advisers: int, *, indexed: bool, seed: int) -> None:
        self.world = World(seed)
        self.state = MemoryRoutingState(DELAYS, indexed=indexed)
        self.now = 1_000_000.0
        self.advisers = self.world.advisers(n_advisers)
        self.busy = [a.id for a in self.advisers if a.active]
        self.busy_ids = set(self.busy)
        self.target = n_waiting
        self.line: deque[str] = deque()  # waiting chat ids, oldest first (some already assigned)
        for adviser in self.advisers:
            sync(self.state.put_adviser(adviser))
        span = n_waiting / ARRIVALS_PER_S
        for k in range(n_waiting):
            enqueued_at = self.now - span + k / ARRIVALS_PER_S
            absent = self.world.rng.random() < ABSENT_SHARE
            self._enqueue(self.world.chat(self.now, enqueued_at=enqueued_at, present=not absent))
        self.first_step = timed(lambda: sync(self.state.step(self.now)))  # builds the index
        self.log: list[list[Assignment]] = []

    def _enqueue(self, chat: ChatRequest) -> None:
        sync(self.state.enqueue(chat))
        self.line.append(chat.id)

    def _step(self) -> list[Assignment]:
        decisions = sync(self.state.step(self.now))
        self.log.append(decisions)
        return decisions

    def _settle(self, decisions: list[Assignment]) -> None:
        """Untimed, to keep the state steady: chats given to spare advisers end at once, newcomers
        arrive to make up for the chats assigned, or the oldest visitors leave."""
        for d in decisions:
            if d.adviser_id not in self.busy_ids:
                sync(self.state.release(d.adviser_id, d.conversation_id, self.now))
        while len(self.state._waiting) < self.target:
            self._enqueue(self.world.chat(self.now))
        while len(self.state._waiting) > self.target:
            sync(self.state.withdraw(self.line.popleft()))  # ids already assigned are skipped by withdraw

    def _active(self, adviser_id: str) -> frozenset[str]:
        return self.state._advisers[adviser_id].active  # the bench reads the memory state directly

    def arrival(self) -> tuple[int, int, int]:
        self.now += 1 / ARRIVALS_PER_S
        chat = self.world.chat(self.now, spare=self.world.rng.random() < 0.1)
        self.line.append(chat.id)

        def event() -> list[Assignment]:
            sync(self.state.enqueue(chat))
            return self._step()

        wall, cpu, decisions = timed(event)
        self._settle(decisions)
        return wall, cpu, len(decisions)

    def frees_up(self) -> tuple[int, int, int]:
        self.now += 1 / ARRIVALS_PER_S
        adviser_id = self.world.rng.choice(self.busy)
        while not self._active(adviser_id):  # found nobody to take last time; rare
            adviser_id = self.world.rng.choice(self.busy)
        chat_id = self.world.rng.choice(sorted(self._active(adviser_id)))

        def event() -> list[Assignment]:
            sync(self.state.release(adviser_id, chat_id, self.now))
            return self._step()

        wall, cpu, decisions = timed(event)
        self._settle(decisions)
        return wall, cpu, len(decisions)

    def presence(self) -> tuple[int, int, int]:
        """A waiting visitor closes the tab or comes back, then a step (served at its place if back)."""
        self.now += 1 / ARRIVALS_PER_S
        chat = self.state._waiting[self.world.rng.choice(list(self.state._waiting))]  # untimed pick

        def event() -> list[Assignment]:
            sync(self.state.set_present(chat.id, not chat.present))
            return self._step()

        wall, cpu, decisions = timed(event)
        self._settle(decisions)
        return wall, cpu, len(decisions)

    def tick(self) -> tuple[int, int, int]:
        for _ in range(int(ARRIVALS_PER_S)):  # a second's arrivals (untimed)
            self._enqueue(self.world.chat(self.now))
        self.now += 1.0
        wall, cpu, decisions = timed(self._step)
        self._settle(decisions)
        return wall, cpu, len(decisions)

    def estimates(self, by_definition: bool = False) -> tuple[int, int, int]:
        snap = sync(self.state.snapshot())
        fn = estimates_by_definition if by_definition else estimates
        wall, cpu, _ = timed(lambda: fn(snap.waiting, snap.advisers, snap.releases, self.now, DELAYS))
        return wall, cpu, 0

    def describe(self) -> str:
        index = self.state._index
        buckets = f", {len(index._buckets)} buckets" if index is not None else ""
        return f"{len(self.state._waiting):,} waiting{buckets}"


def measure(event: Event, n: int) -> tuple[list[int], list[int], int]:
    walls, cpus, decisions = [], [], 0
    for _ in range(n):
        wall, cpu, made = event()
        walls.append(wall)
        cpus.append(cpu)
        decisions += made
    return walls, cpus, decisions


def label(n: int) -> str:
    return f"{n // 1000}k"


EVENTS = ("arrival", "frees_up", "presence", "tick")


def bench_size(n_waiting: int, counts: dict[str, int], reference: int, seed: int) -> list[Row]:
    """The indexed state's rows; with ``reference`` > 0 the reference replays that many of each event."""
    rows = []
    started = time.perf_counter()
    run = Run(n_waiting, 1000, indexed=True, seed=seed)
    gc.collect()
    gc.freeze()  # the long-lived state is not scanned by every collection (as in a tuned service)
    wall, cpu, _ = run.first_step
    note = f"setup {time.perf_counter() - started:.1f} s; {run.describe()}"
    rows.append(Row(label(n_waiting), "first step: index build", [wall], [cpu], 0, note))
    for name in EVENTS:
        walls, cpus, made = measure(getattr(run, name), counts[name])
        rows.append(Row(label(n_waiting), name.replace("_", " "), walls, cpus, made))
    walls, cpus, _ = measure(run.estimates, counts["estimates"])
    rows.append(Row(label(n_waiting), "estimates() for all", walls, cpus, 0, run.describe()))
    if reference:
        ref = Run(n_waiting, 1000, indexed=False, seed=seed)
        fast = Run(n_waiting, 1000, indexed=True, seed=seed)  # fresh, to replay exactly the same events
        tag = f"{label(n_waiting)} ref"
        for name in EVENTS:
            walls, cpus, made = measure(getattr(ref, name), reference)
            measure(getattr(fast, name), reference)
            rows.append(Row(tag, name.replace("_", " "), walls, cpus, made, "route()"))
        walls, cpus, _ = measure(lambda: ref.estimates(by_definition=True), 1)
        rows.append(Row(tag, "estimates() for all", walls, cpus, 0, "estimates_by_definition()"))
        same = ref.log == fast.log
        rows.append(Row(tag, "same decisions as indexed", [], [], 0, "yes" if same else "NO: the index differs"))
        if not same:
            raise SystemExit("the indexed state and route() disagree")
    gc.unfreeze()
    return rows


class RedisRun:
    """The Redis state driven through arrivals, finishes and presence changes, each followed by a step.

    A memory state (``shadow``) gets the same operations, untimed, and must make the same decisions.
    The bench keeps its own books of who holds what (it cannot read the Redis state's dictionaries).
    """

    def __init__(self, states: list[RoutingState], n_waiting: int, n_advisers: int, seed: int) -> None:
        self.states = states
        self.turn = 0
        self.world = World(seed)
        self.shadow = MemoryRoutingState(DELAYS)
        self.now = 1_000_000.0
        self.advisers = self.world.advisers(n_advisers)
        self.busy = [a.id for a in self.advisers if a.active]
        self.busy_ids = set(self.busy)
        self.active = {a.id: set(a.active) for a in self.advisers}
        self.target = n_waiting
        self.line: deque[str] = deque()  # waiting chat ids, oldest first (some already assigned)
        self.waiting: dict[str, bool] = {}  # waiting chat id -> present
        self.mismatches = 0
        self.floor: list[tuple[int, int]] = []  # the same decisions in the memory state, right after
        self.pings: list[tuple[int, int]] = []  # two bare round trips to Redis, right after that

    @property
    def state(self) -> RoutingState:
        return self.states[self.turn % len(self.states)]

    async def both(self, op: str, *args: Any) -> Any:
        """The operation on the Redis state (the next instance in turn) and, untimed, on the shadow."""
        result = await getattr(self.state, op)(*args)
        self.turn += 1
        if op == "step":
            self.decided(result, sync(self.shadow.step(*args)))
        else:
            sync(getattr(self.shadow, op)(*args))
        return result

    def decided(self, got: list[Assignment], expected: list[Assignment]) -> None:
        if got != expected:
            self.mismatches += 1
        for d in got:
            self.waiting.pop(d.conversation_id, None)
            self.active[d.adviser_id].add(d.conversation_id)

    async def setup(self) -> float:
        """Fill the state: 1 in 20 waiting visitors absent. Returns the seconds it took."""
        started = time.perf_counter()
        span = self.target / ARRIVALS_PER_S
        chats = [
            self.world.chat(
                self.now, enqueued_at=self.now - span + k / ARRIVALS_PER_S, present=self.world.rng.random() >= 0.05
            )
            for k in range(self.target)
        ]
        for adviser in self.advisers:
            sync(self.shadow.put_adviser(adviser))
        for chat in chats:
            sync(self.shadow.enqueue(chat))
            self.line.append(chat.id)
            self.waiting[chat.id] = chat.present
        for adviser in self.advisers:  # through the interface, as the service fills it
            await self.state.put_adviser(adviser)
        for chat in chats:
            await self.state.enqueue(chat)
        await self.both("step", self.now)
        return time.perf_counter() - started

    async def settle(self, decisions: list[Assignment]) -> None:
        """Untimed, as ``Run._settle``: chats given to spare advisers end, the queue stays at n."""
        for d in decisions:
            if d.adviser_id not in self.busy_ids:
                await self.both("release", d.adviser_id, d.conversation_id, self.now)
                self.active[d.adviser_id].discard(d.conversation_id)
        while len(self.waiting) < self.target:
            chat = self.world.chat(self.now)
            await self.both("enqueue", chat)
            self.line.append(chat.id)
            self.waiting[chat.id] = True
        while len(self.waiting) > self.target:
            gone = self.line.popleft()
            if gone in self.waiting:
                await self.both("withdraw", gone)
                del self.waiting[gone]

    async def timed(self, first: tuple[Any, ...]) -> tuple[int, int, list[Assignment]]:
        wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
        await getattr(self.state, first[0])(*first[1:])
        self.turn += 1
        decisions = await self.state.step(self.now)
        self.turn += 1
        wall, cpu = time.perf_counter_ns() - wall, time.thread_time_ns() - cpu
        floor_wall, floor_cpu = time.perf_counter_ns(), time.thread_time_ns()
        sync(getattr(self.shadow, first[0])(*first[1:]))
        expected = sync(self.shadow.step(self.now))
        self.floor.append((time.perf_counter_ns() - floor_wall, time.thread_time_ns() - floor_cpu))
        ping_wall, ping_cpu = time.perf_counter_ns(), time.thread_time_ns()
        redis = self.state.redis  # type: ignore[attr-defined]
        await redis.ping()
        await redis.ping()
        self.pings.append((time.perf_counter_ns() - ping_wall, time.thread_time_ns() - ping_cpu))
        self.decided(decisions, expected)
        return wall, cpu, decisions

    async def arrival(self) -> tuple[int, int, int]:
        self.now += 1 / ARRIVALS_PER_S
        chat = self.world.chat(self.now, spare=self.world.rng.random() < 0.1)
        self.line.append(chat.id)
        self.waiting[chat.id] = True
        wall, cpu, decisions = await self.timed(("enqueue", chat))
        await self.settle(decisions)
        return wall, cpu, len(decisions)

    async def frees_up(self) -> tuple[int, int, int]:
        self.now += 1 / ARRIVALS_PER_S
        adviser_id = self.world.rng.choice(self.busy)
        while not self.active[adviser_id]:
            adviser_id = self.world.rng.choice(self.busy)
        chat_id = self.world.rng.choice(sorted(self.active[adviser_id]))
        self.active[adviser_id].discard(chat_id)
        wall, cpu, decisions = await self.timed(("release", adviser_id, chat_id, self.now))
        await self.settle(decisions)
        return wall, cpu, len(decisions)

    async def presence(self) -> tuple[int, int, int]:
        self.now += 1 / ARRIVALS_PER_S
        chat_id = self.line[self.world.rng.randrange(len(self.line))]
        while chat_id not in self.waiting:
            chat_id = self.line[self.world.rng.randrange(len(self.line))]
        present = not self.waiting[chat_id]
        self.waiting[chat_id] = present
        wall, cpu, decisions = await self.timed(("set_present", chat_id, present))
        await self.settle(decisions)
        return wall, cpu, len(decisions)


REDIS_EVENTS = ("arrival", "frees_up", "presence")


async def bench_redis(url: str, n_waiting: int, count: int, instances: int, seed: int) -> list[Row]:
    import uuid

    from redis.asyncio import Redis

    from routing.backends.redis import RedisRoutingState

    clients = [Redis.from_url(url) for _ in range(instances)]
    key = f"nora:bench:routing:{uuid.uuid4().hex[:8]}"
    states: list[RoutingState] = [RedisRoutingState(c, DELAYS, key=key) for c in clients]
    run = RedisRun(states, n_waiting, 1000, seed)
    tag = f"{label(n_waiting)} redis x{instances}"
    try:
        setup_s = await run.setup()
        gc.collect()
        gc.freeze()
        rows = [Row(tag, "setup", [], [], 0, f"{setup_s:.1f} s, {len(run.waiting):,} waiting")]
        before = await _script_stats(clients[0])
        for name in REDIS_EVENTS:
            walls, cpus, made = [], [], 0
            for _ in range(count):
                wall, cpu, n = await getattr(run, name)()
                walls.append(wall)
                cpus.append(cpu)
                made += n
            rows.append(Row(tag, name.replace("_", " "), walls, cpus, made))
            floor, run.floor = run.floor, []
            note = "the same operations on the memory state, right after each"
            rows.append(Row(tag, "  in memory", [w for w, _ in floor], [c for _, c in floor], made, note))
            pings, run.pings = run.pings, []
            note = "two PINGs, right after each: the floor of two round trips at that moment"
            rows.append(Row(tag, "  2 x PING", [w for w, _ in pings], [c for _, c in pings], 0, note))
        calls, usec = (after - earlier for after, earlier in zip(await _script_stats(clients[0]), before, strict=True))
        note = f"{usec / max(calls, 1):.1f} µs per script call inside Redis ({calls:,} calls)"
        rows.append(Row(tag, "Redis's own time", [], [], 0, note))
        snap = await run.states[0].snapshot()
        same = run.mismatches == 0 and {c.id for c in snap.waiting} == set(run.waiting)
        rows.append(Row(tag, "same decisions as memory", [], [], 0, "yes" if same else "NO"))
        gc.unfreeze()
        if not same:
            raise SystemExit("the Redis state and the memory state disagree")
        return rows
    finally:
        keys = [k async for k in clients[0].scan_iter(match=f"{key}*")]
        if keys:
            await clients[0].delete(*keys)
        for c in clients:
            await c.aclose()


async def _script_stats(client: Any) -> tuple[int, int]:
    """Script calls and the microseconds Redis spent in them so far (every client's, this bench's most)."""
    stats = await client.info("commandstats")
    evalsha = stats.get("cmdstat_evalsha", {})
    return int(evalsha.get("calls", 0)), int(evalsha.get("usec", 0))


def write_table(rows: list[Row], title: str, started: float) -> None:
    head = ["waiting", "event", "n", "p50", "p99", "p99 CPU", "events/s", "decisions", "note"]
    table = [head, *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    out = sys.stdout
    out.write(title + "\n\n")
    for i, line in enumerate(table):
        cells = [c.rjust(w) if 2 <= j <= 7 else c.ljust(w) for j, (c, w) in enumerate(zip(line, widths, strict=True))]
        out.write("  ".join(cells).rstrip() + "\n")
        if i == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")
    out.write(f"\n(total {time.perf_counter() - started:.0f} s)\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Routing decision latency (see the module docstring).")
    parser.add_argument("--quick", action="store_true", help="1k and 10k waiting only")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis", metavar="URL", help="measure the Redis state on this Redis instead")
    parser.add_argument("--waiting", type=int, default=10_000, help="with --redis: waiting chats")
    parser.add_argument("--events", type=int, default=1000, help="with --redis: timed events of each kind")
    parser.add_argument("--instances", type=int, default=1, help="with --redis: state objects taking turns")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.redis:
        redis_rows = asyncio.run(bench_redis(args.redis, args.waiting, args.events, args.instances, args.seed))
        write_table(
            redis_rows,
            f"Routing state in Redis, 1,000 advisers (900 full, 100 spare), 1 in 20 waiting visitors absent, "
            f"Python {sys.version.split()[0]}; each event is an operation and the step after it, in µs unless "
            "marked (wall clock; CPU: this thread's, Redis's own not included)",
            started,
        )
        return 0
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    rows: list[Row] = []
    for n in sizes:
        counts = {
            "arrival": 3000,
            "frees_up": 3000,
            "presence": 3000,
            "tick": 300,
            "estimates": 3 if n >= 100_000 else 10,
        }
        reference = {1_000: 200, 10_000: 10}.get(n, 0)
        rows += bench_size(n, counts, reference, args.seed)
        if not reference:
            rows.append(Row(f"{label(n)} ref", "route(), by definition", [], [], 0, "skipped: ~2 s per event"))
    write_table(
        rows,
        f"Routing, 1,000 advisers (900 full, 100 spare), {ARRIVALS_PER_S:g} arrivals/s, 1 in 20 of those "
        f"waiting at the start absent, tier delays "
        f"{DELAYS.t1:g}/{DELAYS.t2:g}/{DELAYS.t3:g} s, Python {sys.version.split()[0]}; "
        "latencies in µs unless marked (wall clock; CPU: this thread's CPU time)",
        started,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
