"""Clients that behave like the widget and the console behind a load balancer: they reconnect when their
socket closes (a killed instance, or 1012 from one restarting), resume from their last ``seq``, resend
what was not acknowledged, and record everything they saw, so a test can check that nothing was lost,
duplicated or reordered, and how long a client went without a working socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

START = {"type": "start", "language": "ar", "region": "03", "audience": "youth"}


@dataclass
class Seen:
    """One participant's view of one conversation."""

    frames: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # seq -> (sender, text)
    duplicates: int = 0
    reordered: int = 0

    @property
    def top(self) -> int:
        return max(self.frames, default=0)

    def contiguous(self) -> int:
        n = 0
        while n + 1 in self.frames:
            n += 1
        return n

    def live(self, seq: int, sender: str, text: str | None) -> None:
        """A ``message`` frame as it arrived on the wire."""
        if seq in self.frames:
            self.duplicates += 1
            return
        if seq < self.top:
            self.reordered += 1
        self.frames[seq] = (sender, text)

    def known(self, seq: int, sender: str, text: str | None) -> None:
        """A seq learnt from an ack or a snapshot (the console's ``state``): no wire order to judge."""
        self.frames.setdefault(seq, (sender, text))


@dataclass
class Outgoing:
    texts: dict[str, str] = field(default_factory=dict)  # client_id -> text, in order sent
    acked: dict[str, int] = field(default_factory=dict)  # client_id -> seq

    def unacked(self) -> list[tuple[str, str]]:
        return [(cid, text) for cid, text in self.texts.items() if cid not in self.acked]


class Client:
    """A socket that comes back: ``run`` until ``stop``; ``gaps`` holds each stretch without one."""

    path = ""

    def __init__(self, base: str, name: str) -> None:
        self.base = base
        self.name = name
        self.ws: ClientConnection | None = None
        self.live = asyncio.Event()
        self.stopping = False
        self.close_codes: list[int | None] = []
        self.gaps: list[float] = []
        self.errors: list[dict[str, Any]] = []
        self._lost_at: float | None = None

    @property
    def url(self) -> str:
        return self.base.replace("http://", "ws://", 1) + self.path

    async def open(self) -> ClientConnection:
        return await connect(self.url, compression=None, open_timeout=5, ping_interval=None)

    async def hello(self) -> None:
        """What the client sends first on a new socket."""

    def handle(self, frame: dict[str, Any]) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        while not self.stopping:
            try:
                self.ws = await self.open()
            except (OSError, InvalidStatus, TimeoutError):
                await asyncio.sleep(0.1)
                continue
            try:
                await self.hello()
                async for raw in self.ws:
                    self.handle(json.loads(raw))
            except ConnectionClosed:
                pass
            self.live.clear()
            self.close_codes.append(self.ws.close_code)
            if self._lost_at is None:
                self._lost_at = time.monotonic()
            await asyncio.sleep(0.05)

    def back(self) -> None:
        """The socket works again (resumed, or the console's state arrived): resend what is unacked."""
        if self._lost_at is not None:
            self.gaps.append(time.monotonic() - self._lost_at)
            self._lost_at = None
        self.live.set()

    async def send(self, frame: dict[str, Any]) -> None:
        if self.ws is not None and self.live.is_set():
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(json.dumps(frame))

    async def stop(self) -> None:
        self.stopping = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


class Visitor(Client):
    path = "/ws/visitor"

    def __init__(self, base: str, name: str) -> None:
        super().__init__(base, name)
        self.conversation_id: str | None = None
        self.token: str | None = None
        self.assigned = asyncio.Event()
        self.seen = Seen()
        self.out = Outgoing()

    async def hello(self) -> None:
        assert self.ws is not None
        if self.token is None:
            await self.ws.send(json.dumps(START))
        else:
            await self.ws.send(json.dumps({"type": "resume", "token": self.token, "last_seq": self.seen.contiguous()}))

    def handle(self, f: dict[str, Any]) -> None:
        kind = f.get("type")
        if kind == "started":
            self.conversation_id, self.token = f["conversation_id"], f["token"]
            self.back()
        elif kind == "resumed":
            self.back()
            for client_id, text in self.out.unacked():
                asyncio.ensure_future(self.send({"type": "message", "client_id": client_id, "text": text}))
        elif kind == "assigned":
            self.assigned.set()
        elif kind == "message":
            self.seen.live(f["seq"], f["sender"], f.get("text"))
        elif kind == "ack":
            self.out.acked[f["client_id"]] = f["seq"]
            self.seen.known(f["seq"], "visitor", self.out.texts.get(f["client_id"]))
        elif kind == "error":
            self.errors.append(f)

    async def say(self, text: str) -> None:
        client_id = f"v{len(self.out.texts) + 1}"
        self.out.texts[client_id] = text
        await self.send({"type": "message", "client_id": client_id, "text": text})


class Adviser(Client):
    path = "/ws/adviser"

    def __init__(self, base: str, name: str, cookie: str) -> None:
        super().__init__(base, name)
        self.cookie = cookie
        self.seen: dict[str, Seen] = {}
        self.out: dict[str, Outgoing] = {}
        self.unassigned: list[dict[str, Any]] = []
        self.states = 0

    async def open(self) -> ClientConnection:
        return await connect(
            self.url,
            origin=Origin(self.base),
            additional_headers={"Cookie": self.cookie},
            compression=None,
            open_timeout=5,
            ping_interval=None,
        )

    async def hello(self) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({"type": "status", "status": "available"}))

    def _take(self, body: dict[str, Any]) -> None:
        seen = self.seen.setdefault(body["id"], Seen())
        self.out.setdefault(body["id"], Outgoing())
        for m in body.get("messages", []):
            seen.known(m["seq"], m["sender"], m.get("text"))

    def handle(self, f: dict[str, Any]) -> None:
        kind = f.get("type")
        if kind == "state":
            self.states += 1
            for body in f.get("conversations", []):
                self._take(body)
            self.back()
            for cid, out in self.out.items():
                for client_id, text in out.unacked():
                    frame = {"type": "message", "conversation_id": cid, "client_id": client_id, "text": text}
                    asyncio.ensure_future(self.send(frame))
        elif kind == "assigned":
            self._take(f["conversation"])
        elif kind == "message":
            self.seen.setdefault(f["conversation_id"], Seen()).live(f["seq"], f["sender"], f.get("text"))
        elif kind == "ack":
            cid = f["conversation_id"]
            out = self.out.setdefault(cid, Outgoing())
            out.acked[f["client_id"]] = f["seq"]
            self.seen.setdefault(cid, Seen()).known(f["seq"], "adviser", out.texts.get(f["client_id"]))
        elif kind in ("unassigned", "conversation_closed"):
            self.unassigned.append(f)
        elif kind == "error":
            self.errors.append(f)

    async def say(self, conversation_id: str, text: str) -> None:
        out = self.out.setdefault(conversation_id, Outgoing())
        client_id = f"a{len(out.texts) + 1}"
        out.texts[client_id] = text
        await self.send({"type": "message", "conversation_id": conversation_id, "client_id": client_id, "text": text})


async def talk(visitors: list[Visitor], adviser: Adviser, until: asyncio.Event, every_s: float = 0.1) -> None:
    """Both sides of every conversation write every ``every_s`` until ``until`` is set."""
    n = 0
    while not until.is_set():
        n += 1
        for v in visitors:
            await v.say(f"{v.name} {n}")
            assert v.conversation_id is not None
            await adviser.say(v.conversation_id, f"to {v.name} {n}")
        await asyncio.sleep(every_s)


def settled(visitors: list[Visitor], adviser: Adviser) -> bool:
    """Everything acknowledged, and both ends of every conversation have seen the same seqs."""
    for v in visitors:
        cid = v.conversation_id or ""
        if v.out.unacked() or adviser.out.get(cid, Outgoing()).unacked():
            return False
        a_seen = adviser.seen.get(cid, Seen())
        if v.seen.contiguous() != v.seen.top or a_seen.contiguous() != a_seen.top or v.seen.top != a_seen.top:
            return False
    return True


async def wait_settled(visitors: list[Visitor], adviser: Adviser, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not settled(visitors, adviser):
        if time.monotonic() > deadline:
            unacked = sum(len(v.out.unacked()) for v in visitors)
            raise AssertionError(f"not settled within {timeout}s: {unacked} visitor message(s) unacked")
        await asyncio.sleep(0.1)


async def check_against_database(database_url: str, visitors: list[Visitor], adviser: Adviser) -> list[str]:
    """Every problem found: a seq missing, stored twice, or not what was acknowledged or seen."""
    problems: list[str] = []
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for v in visitors:
            cid = v.conversation_id or ""
            rows = await conn.fetch(
                "SELECT seq, sender, client_id, text FROM message WHERE conversation_id = $1 ORDER BY seq", cid
            )
            seqs = [r["seq"] for r in rows]
            if seqs != list(range(1, len(seqs) + 1)):
                problems.append(f"{v.name}: stored seqs are not 1..n: {seqs}")
            by_client = {(r["sender"], r["client_id"]): r for r in rows if r["client_id"]}
            sides = (("visitor", v.out), ("adviser", adviser.out.get(cid, Outgoing())))
            for sender, out in sides:
                stored = sum(1 for r in rows if r["sender"] == sender)
                if stored != len(out.texts):
                    problems.append(f"{v.name}: {len(out.texts)} {sender} message(s) sent, {stored} stored")
                for client_id, text in out.texts.items():
                    row = by_client.get((sender, client_id))
                    if row is None or row["text"] != text or row["seq"] != out.acked.get(client_id):
                        problems.append(f"{v.name}: {sender} {client_id} not stored once as acknowledged")
            for who, seen in (("visitor", v.seen), ("adviser", adviser.seen.get(cid, Seen()))):
                if sorted(seen.frames) != seqs:
                    problems.append(f"{v.name}: the {who} saw {len(seen.frames)} of {len(seqs)} seqs")
                if seen.duplicates or seen.reordered:
                    problems.append(f"{v.name}: the {who} got {seen.duplicates} twice, {seen.reordered} out of order")
    finally:
        await conn.close()
    return problems
