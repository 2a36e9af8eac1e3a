"""The load generator: N visitors and M advisers speaking the real wire contract (docs/protocol.md).

One asyncio process, ``websockets`` clients. It knows nothing about the server it drives beyond its
base URLs and one session cookie per adviser, so the same code drives nora-chat (one or several
instances) and the bare relay.

Latency is one-way: each message text carries the sender's ``time.monotonic()`` (one clock: sender and
receiver live in this process), and the receiver subtracts it on arrival. Messages replayed after a
resume, and resent ones, are checked but not timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from bench.checks import Outgoing, Sent, View
from bench.scenarios import Scenario

now = time.monotonic
START = {"type": "start", "language": "nb", "region": "03", "audience": "youth"}
WS_1012_SERVICE_RESTART = 1012


class RunFailure(Exception):
    """The run could not go as planned (nobody assigned, a socket refused ...): it fails loudly."""


async def open_ws(url: str, *, origin: str | None = None, cookie: str | None = None) -> ClientConnection:
    headers = {"Cookie": cookie} if cookie else {}
    return await connect(
        url,
        origin=Origin(origin) if origin is not None else None,
        additional_headers=headers,
        compression=None,
        open_timeout=30,
        ping_interval=None,
        max_size=2**22,
        max_queue=None,
    )


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://", 1) + path


@dataclass
class Conv:
    """One conversation as the generator sees it from both ends."""

    cid: str
    visitor: Visitor | None = None
    adviser: Adviser | None = None
    vview: View = field(default_factory=lambda: View("visitor"))
    aview: View = field(default_factory=lambda: View("adviser"))
    vout: Outgoing = field(default_factory=lambda: Outgoing("visitor"))
    aout: Outgoing = field(default_factory=lambda: Outgoing("adviser"))
    assigned_to: list[str] = field(default_factory=list)


@dataclass
class Stats:
    latency_ms: list[float] = field(default_factory=list)
    latency_at: list[float] = field(default_factory=list)  # when each of latency_ms was sent (BENCH_DUMP)
    ack_ms: list[float] = field(default_factory=list)
    assign_ms: list[float] = field(default_factory=list)
    delivered_in_window: int = 0
    acked_in_window: int = 0
    sent: int = 0
    resent: int = 0
    skipped: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    closed_unexpectedly: int = 0
    loop_lag_ms: list[float] = field(default_factory=list)
    latency_v2a: list[float] = field(default_factory=list)
    latency_a2v: list[float] = field(default_factory=list)
    ack_times: list[float] = field(default_factory=list)
    restart_closes: int = 0  # sockets the server closed with 1012 (a rolling restart), each rejoined
    rejoin_s: list[float] = field(default_factory=list)  # from such a close until the socket works again

    def acks_in_last_5s(self) -> int:
        t = now() - 5
        return sum(1 for x in self.ack_times[-100000:] if x >= t)


class Generator:
    def __init__(self, scenario: Scenario, bases: list[str], cookies: list[str], *, seed: int = 1) -> None:
        self.s = scenario
        self.bases = bases
        self.cookies = cookies
        self.rng = random.Random(seed)
        self.convs: dict[str, Conv] = {}
        self.visitors: list[Visitor] = []
        self.advisers: list[Adviser] = []
        self.stats = Stats()
        self.window = (float("inf"), float("inf"))
        self.sending = False
        self.closing = False
        self.pad = "x" * max(0, scenario.text_chars - 40)

    # ------------------------------------------------------------------ bookkeeping

    def conv(self, cid: str) -> Conv:
        conv = self.convs.get(cid)
        if conv is None:
            conv = self.convs[cid] = Conv(cid)
        return conv

    def in_window(self, t: float) -> bool:
        return self.window[0] <= t < self.window[1]

    def text(self, side: str, conv_idx: int, n: int, t: float) -> str:
        return f"{side}|{conv_idx}|{n}|{t:.6f}|{self.pad}"

    def received(self, text: str | None, replay: bool) -> None:
        t = now()
        if self.in_window(t):
            self.stats.delivered_in_window += 1
        if replay or not text:
            return
        try:
            sent = float(text.split("|", 4)[3])
        except (IndexError, ValueError):
            return
        if self.in_window(sent):
            ms = (t - sent) * 1000
            self.stats.latency_ms.append(ms)
            self.stats.latency_at.append(sent)
            (self.stats.latency_v2a if text[0] == "v" else self.stats.latency_a2v).append(ms)

    def acked(self, out: Outgoing, client_id: str, seq: int) -> bool:
        """Record an ack; returns whether it acknowledged something outstanding."""
        sent = out.by_client.get(client_id)
        if sent is None:
            self.stats.errors["ack_for_unknown_client_id"] += 1
            return False
        if sent.seq is not None:
            if sent.seq != seq:
                self.stats.errors["ack_seq_changed"] += 1
            return False
        sent.seq = seq
        out.unacked -= 1
        t = now()
        self.stats.ack_times.append(t)
        if self.in_window(t):
            self.stats.acked_in_window += 1
        if not sent.resent and self.in_window(sent.t_sent):
            self.stats.ack_ms.append((t - sent.t_sent) * 1000)
        return True

    async def watch_loop(self) -> None:
        """How late this process's own event loop runs (a busy generator inflates latencies)."""
        while True:
            t = now()
            await asyncio.sleep(0.05)
            if self.in_window(t):
                self.stats.loop_lag_ms.append(max(0.0, (now() - t - 0.05) * 1000))

    # ------------------------------------------------------------------ phases

    async def connect_advisers(self) -> None:
        self.advisers = [
            Adviser(self, i, self.bases[i % len(self.bases)], self.cookies[i]) for i in range(self.s.advisers)
        ]
        sem = asyncio.Semaphore(50)

        async def one(a: Adviser) -> None:
            async with sem:
                await a.connect()

        await asyncio.gather(*(one(a) for a in self.advisers))

    async def start_visitors(self, count: int, *, spread_s: float = 0.0, concurrency: int = 50) -> None:
        first = len(self.visitors)
        new = [Visitor(self, first + i, self.bases[(first + i) % len(self.bases)]) for i in range(count)]
        self.visitors += new
        sem = asyncio.Semaphore(concurrency)
        t0 = now()

        async def one(v: Visitor, at: float) -> None:
            if at > 0:
                await asyncio.sleep(max(0.0, t0 + at - now()))
            async with sem:
                await v.connect()
                await v.start()

        await asyncio.gather(*(one(v, spread_s * i / max(1, count)) for i, v in enumerate(new)))

    async def wait_assigned(self, timeout: float) -> None:
        deadline = now() + timeout
        while now() < deadline:
            if all(v.assigned.is_set() for v in self.visitors) and all(
                c.adviser is not None for c in self.convs.values()
            ):
                return
            await asyncio.sleep(0.1)
        waiting = sum(not v.assigned.is_set() for v in self.visitors)
        raise RunFailure(f"{waiting} of {len(self.visitors)} visitors not assigned within {timeout:.0f}s")

    async def play(self) -> None:
        """Messages both ways for warm-up + duration, with the planned drops; then stop sending."""
        s = self.s
        t0 = now()
        self.window = (t0 + s.warmup_s, t0 + s.warmup_s + s.duration_s)
        self.sending = True
        tasks = []
        for v in self.visitors:
            conv = self.convs[v.cid]  # type: ignore[index]
            tasks.append(asyncio.create_task(self.sender(conv, "visitor", t0)))
            tasks.append(asyncio.create_task(self.sender(conv, "adviser", t0)))
        drops = []
        if s.drops:
            end = s.warmup_s + s.duration_s * 0.8
            for v in self.rng.sample(self.visitors, int(len(self.visitors) * s.drops)):
                drops.append(asyncio.create_task(v.drop_and_resume(t0 + self.rng.uniform(0.5, end))))
            for a in self.rng.sample(self.advisers, max(1, int(len(self.advisers) * s.drops))):
                drops.append(asyncio.create_task(a.drop_and_resume(t0 + self.rng.uniform(0.5, end))))
        await asyncio.sleep(max(0.0, self.window[1] - now()))
        self.sending = False
        for v in self.visitors:
            v.wake()
        for conv in self.convs.values():
            if conv.adviser is not None:
                conv.adviser.wake(conv.cid)
        await asyncio.gather(*tasks, return_exceptions=True)
        for r in await asyncio.gather(*drops, return_exceptions=True):
            if isinstance(r, BaseException):
                raise RunFailure(f"a drop/resume failed: {r!r}")

    async def sender(self, conv: Conv, side: str, t0: float) -> None:
        s = self.s
        visitor = conv.visitor
        assert visitor is not None
        if s.rate is None:
            slots = asyncio.Semaphore(s.window)
            if side == "visitor":
                visitor.slots = slots
            else:
                assert conv.adviser is not None
                conv.adviser.slots[conv.cid] = slots
            while True:
                await slots.acquire()
                if not self.sending:
                    return
                await self.send_one(conv, side)
        interval = 1.0 / s.rate
        at = t0 + self.rng.uniform(0, interval)
        out = conv.vout if side == "visitor" else conv.aout
        while self.sending:
            delay = at - now()
            if delay > 0:
                await asyncio.sleep(delay)
            if not self.sending:
                return
            at += interval
            if now() - at > interval:
                at = now() + interval  # this process fell behind: do not burst to catch up
            if out.unacked >= s.max_outstanding:
                self.stats.skipped += 1
                continue
            await self.send_one(conv, side)

    async def send_one(self, conv: Conv, side: str) -> None:
        visitor = conv.visitor
        assert visitor is not None
        if side == "visitor":
            await visitor.connected.wait()
            out, n = conv.vout, len(conv.vout.by_client) + 1
            cid = f"v{n}"
            t = now()
            sent = out.by_client[cid] = Sent(cid, self.text("v", visitor.idx, n, t), t)
            out.unacked += 1
            self.stats.sent += 1
            await visitor.send({"type": "message", "client_id": cid, "text": sent.text})
        else:
            adviser = conv.adviser
            assert adviser is not None
            await adviser.connected.wait()
            out, n = conv.aout, len(conv.aout.by_client) + 1
            cid = f"a{n}"
            t = now()
            sent = out.by_client[cid] = Sent(cid, self.text("a", visitor.idx, n, t), t)
            out.unacked += 1
            self.stats.sent += 1
            await adviser.send({"type": "message", "conversation_id": conv.cid, "client_id": cid, "text": sent.text})

    def freeze(self) -> dict[str, Conv]:
        """A copy of what the clients have seen and sent so far, to compare with a transcript read *after*
        it: every ack in the copy was sent after its commit, so the later snapshot must hold it."""
        import copy

        return {
            cid: Conv(
                cid,
                None,
                None,
                copy.deepcopy(c.vview),
                copy.deepcopy(c.aview),
                copy.deepcopy(c.vout),
                copy.deepcopy(c.aout),
                list(c.assigned_to),
            )
            for cid, c in self.convs.items()
        }

    def unacked(self) -> int:
        return sum(c.vout.unacked + c.aout.unacked for c in self.convs.values())

    def settled(self) -> bool:
        """Every message acked, and both ends of every conversation have seen everything known."""
        for conv in self.convs.values():
            if not (conv.vout.acked() and conv.aout.acked()):
                return False
            top = max(
                conv.vview.max_seen,
                conv.aview.max_seen,
                *(x.seq or 0 for x in conv.vout.by_client.values()),
                *(x.seq or 0 for x in conv.aout.by_client.values()),
            )
            if conv.vview.contiguous() != top or conv.aview.contiguous() != top:
                return False
        return True

    async def drain(self, timeout: float) -> bool:
        deadline = now() + timeout
        while now() < deadline:
            if self.settled():
                await asyncio.sleep(0.5)  # anything late (a system notice) lands in the views too
                if self.settled():
                    return True
            await asyncio.sleep(0.1)
        return False

    async def close_all(self) -> None:
        self.closing = True

        async def close(ws: ClientConnection | None) -> None:
            if ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 2)

        conns = [v.ws for v in self.visitors] + [a.ws for a in self.advisers]
        for i in range(0, len(conns), 500):
            await asyncio.gather(*(close(c) for c in conns[i : i + 500]))


class Visitor:
    role = "visitor"

    def __init__(self, gen: Generator, idx: int, base: str) -> None:
        self.gen = gen
        self.idx = idx
        self.base = base
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.cid: str | None = None
        self.token: str | None = None
        self.started = asyncio.Event()
        self.assigned = asyncio.Event()
        self.connected = asyncio.Event()
        self.replaying = False
        self.dropping = False
        self.t_start = 0.0
        self.t_assigned: float | None = None
        self.slots: asyncio.Semaphore | None = None
        self.rejoining = False
        self.tasks: set[asyncio.Task[None]] = set()

    def out(self) -> Outgoing:
        assert self.cid is not None
        return self.gen.convs[self.cid].vout

    def wake(self) -> None:
        if self.slots is not None:
            self.slots.release()

    async def connect(self) -> None:
        self.ws = await open_ws(ws_url(self.base, "/ws/visitor"))
        self.reader = asyncio.create_task(self.read(self.ws))

    async def start(self, timeout: float = 60.0) -> None:
        self.t_start = now()
        await self.send(START)
        try:
            await asyncio.wait_for(self.started.wait(), timeout)
        except TimeoutError:
            self.gen.stats.errors["visitor_start_unanswered"] += 1
            return
        self.connected.set()

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(orjson.dumps(frame).decode())

    async def read(self, ws: ClientConnection) -> None:
        gen = self.gen
        try:
            async for raw in ws:
                f = orjson.loads(raw)
                kind = f.get("type")
                if kind == "message":
                    conv = gen.conv(self.cid)  # type: ignore[arg-type]
                    new = conv.vview.record(
                        f["seq"], f["sender"], f.get("client_id"), f.get("text"), replay=self.replaying
                    )
                    if new and f["sender"] == "adviser":
                        gen.received(f.get("text"), self.replaying)
                elif kind == "ack":
                    conv = gen.conv(self.cid)  # type: ignore[arg-type]
                    sent = conv.vout.by_client.get(f["client_id"])
                    conv.vview.record(f["seq"], "visitor", f["client_id"], sent.text if sent else None, replay=True)
                    if gen.acked(conv.vout, f["client_id"], f["seq"]) and self.slots is not None:
                        self.slots.release()
                elif kind == "started":
                    self.cid, self.token = f["conversation_id"], f["token"]
                    gen.conv(self.cid).visitor = self
                    self.started.set()
                elif kind == "assigned":
                    if self.replaying or self.rejoining:
                        self.replaying = self.rejoining = False
                        await self.resend()
                        self.connected.set()
                    elif self.t_assigned is None:
                        self.t_assigned = now()
                        gen.stats.assign_ms.append((self.t_assigned - self.t_start) * 1000)
                    self.assigned.set()
                elif kind == "resumed":
                    self.replaying = True
                elif kind == "error":
                    gen.stats.errors[f"visitor:{f.get('code')}"] += 1
                elif kind == "closed":
                    gen.stats.errors[f"visitor_closed:{f.get('reason')}"] += 1
        except ConnectionClosed:
            pass
        if not self.dropping and not gen.closing:
            if ws.close_code == WS_1012_SERVICE_RESTART and self.cid is not None:
                rejoin(self, self.rejoin())
                return
            gen.stats.closed_unexpectedly += 1
            gen.stats.errors[f"{self.role}_socket_closed:{ws.close_code}:{ws.close_reason or ''}"] += 1

    async def rejoin(self) -> None:
        """Told to reconnect (1012, a rolling restart): connect again (through the load balancer, to
        another instance) and resume from the last seq seen in a row. What arrives is not a replay for
        the checks: a seq seen twice or out of order after a restart counts."""
        t0 = now()
        self.gen.stats.restart_closes += 1
        self.connected.clear()
        self.rejoining = True
        await reconnect(self.connect)
        assert self.cid is not None
        last = self.gen.convs[self.cid].vview.contiguous()
        await self.send({"type": "resume", "token": self.token, "last_seq": last})
        await asyncio.wait_for(self.connected.wait(), 30)
        self.gen.stats.rejoin_s.append(now() - t0)

    async def resend(self) -> None:
        for sent in list(self.out().by_client.values()):
            if sent.seq is None:
                sent.resent += 1
                self.gen.stats.resent += 1
                await self.send({"type": "message", "client_id": sent.client_id, "text": sent.text})

    async def drop_and_resume(self, at: float) -> None:
        await asyncio.sleep(max(0.0, at - now()))
        assert self.ws is not None and self.cid is not None
        self.dropping = True
        self.connected.clear()
        self.ws.transport.abort()  # a lost connection, not a polite close
        if self.reader is not None:
            await self.reader
        await asyncio.sleep(self.gen.rng.uniform(0.2, 1.0))
        self.dropping = False
        self.replaying = True
        await self.connect()
        last = self.gen.convs[self.cid].vview.contiguous()
        await self.send({"type": "resume", "token": self.token, "last_seq": last})
        await asyncio.wait_for(self.connected.wait(), 30)


class Adviser:
    role = "adviser"

    def __init__(self, gen: Generator, idx: int, base: str, cookie: str) -> None:
        self.gen = gen
        self.idx = idx
        self.base = base
        self.cookie = cookie
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.ready = asyncio.Event()
        self.convs: set[str] = set()
        self.slots: dict[str, asyncio.Semaphore] = {}
        self.dropping = False
        self.resuming = False
        self.capacity = gen.s.capacity
        self.tasks: set[asyncio.Task[None]] = set()

    def wake(self, cid: str) -> None:
        slots = self.slots.get(cid)
        if slots is not None:
            slots.release()

    async def connect(self) -> None:
        self.ready.clear()
        self.ws = await open_ws(ws_url(self.base, "/ws/adviser"), origin=self.base, cookie=self.cookie)
        self.reader = asyncio.create_task(self.read(self.ws))
        await self.send({"type": "status", "status": "available"})
        await asyncio.wait_for(self.ready.wait(), 30)
        self.connected.set()

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(orjson.dumps(frame).decode())

    def take(self, body: dict[str, Any], replay: bool) -> None:
        cid = body["id"]
        conv = self.gen.conv(cid)
        if not replay:
            conv.assigned_to.append(f"adviser{self.idx}")
        conv.adviser = self
        self.convs.add(cid)
        for m in body.get("messages", []):
            conv.aview.record(m["seq"], m["sender"], m.get("client_id"), m.get("text"), replay=True)

    async def read(self, ws: ClientConnection) -> None:
        gen = self.gen
        try:
            async for raw in ws:
                f = orjson.loads(raw)
                kind = f.get("type")
                if kind == "message":
                    conv = gen.conv(f["conversation_id"])
                    new = conv.aview.record(
                        f["seq"], f["sender"], f.get("client_id"), f.get("text"), replay=self.resuming
                    )
                    if new and f["sender"] == "visitor":
                        gen.received(f.get("text"), self.resuming)
                elif kind == "ack":
                    conv = gen.conv(f["conversation_id"])
                    sent = conv.aout.by_client.get(f["client_id"])
                    conv.aview.record(f["seq"], "adviser", f["client_id"], sent.text if sent else None, replay=True)
                    if gen.acked(conv.aout, f["client_id"], f["seq"]) and f["conversation_id"] in self.slots:
                        self.slots[f["conversation_id"]].release()
                elif kind == "assigned":
                    self.take(f["conversation"], replay=False)
                elif kind == "state":
                    for body in f.get("conversations", []):
                        self.take(body, replay=True)
                elif kind == "status":
                    if f.get("status") == "available":
                        self.ready.set()
                elif kind == "error":
                    gen.stats.errors[f"adviser:{f.get('code')}"] += 1
                elif kind in ("unassigned", "conversation_closed"):
                    gen.stats.errors[f"adviser_{kind}:{f.get('reason')}"] += 1
        except ConnectionClosed:
            pass
        if not self.dropping and not gen.closing:
            if ws.close_code == WS_1012_SERVICE_RESTART:
                rejoin(self, self.rejoin())
                return
            gen.stats.closed_unexpectedly += 1
            gen.stats.errors[f"{self.role}_socket_closed:{ws.close_code}:{ws.close_reason or ''}"] += 1

    async def rejoin(self) -> None:
        """Told to reconnect (1012): open the console socket again (its ``state`` brings every held
        conversation) and resend what was not acknowledged."""
        t0 = now()
        self.gen.stats.restart_closes += 1
        self.connected.clear()
        await reconnect(self.connect)
        self.gen.stats.rejoin_s.append(now() - t0)
        await self.resend_unacked()

    async def resend_unacked(self) -> None:
        for cid in sorted(self.convs):
            conv = self.gen.convs[cid]
            for sent in list(conv.aout.by_client.values()):
                if sent.seq is None:
                    sent.resent += 1
                    self.gen.stats.resent += 1
                    await self.send(
                        {"type": "message", "conversation_id": cid, "client_id": sent.client_id, "text": sent.text}
                    )

    async def drop_and_resume(self, at: float) -> None:
        await asyncio.sleep(max(0.0, at - now()))
        assert self.ws is not None
        self.dropping = True
        self.connected.clear()
        self.ws.transport.abort()
        if self.reader is not None:
            await self.reader
        await asyncio.sleep(self.gen.rng.uniform(0.2, 1.0))
        self.dropping = False
        self.resuming = True  # frames until ``status`` confirm may repeat what we saw
        await self.connect()
        self.resuming = False
        for cid in sorted(self.convs):
            conv = self.gen.convs[cid]
            for sent in list(conv.aout.by_client.values()):
                if sent.seq is None:
                    sent.resent += 1
                    self.gen.stats.resent += 1
                    await self.send(
                        {"type": "message", "conversation_id": cid, "client_id": sent.client_id, "text": sent.text}
                    )


def rejoin(client: Visitor | Adviser, job: Any) -> None:
    """Run a client's rejoin in a task of its own (the reader that saw the close is ending)."""
    task = asyncio.ensure_future(job)
    client.tasks.add(task)
    task.add_done_callback(client.tasks.discard)


async def reconnect(connect: Any, timeout: float = 30.0) -> None:
    """``connect`` until it succeeds: right after a 1012 the balancer may not yet have taken the
    instance out (its refusal, 503, is retried elsewhere by HAProxy; a refused connection too)."""
    deadline = now() + timeout
    while True:
        try:
            await connect()
            return
        except (OSError, InvalidStatus, TimeoutError):
            if now() > deadline:
                raise
            await asyncio.sleep(0.1)
