"""A second, independently written client: conversations started 50 at a time, timed from ``start`` to
``assigned``.

It shares nothing with ``bench/generator.py`` but the wire contract (docs/protocol.md): its own
websocket client over plain asyncio streams (RFC 6455 framing written here, not the ``websockets``
library), its own bookkeeping, and the load shape of the independent harness of issue 20: every burst
opens 50 visitor sockets, then sends their 50 ``start`` frames back to back, and the next burst begins
when all 50 are assigned (after a pause). ``generator.py``'s ``burst-1000`` instead spreads 1,000 starts
evenly over 10 s (one every 10 ms), so no two starts ever meet; here 50 arrive in the same millisecond.

With ``rate`` it also plays the harness's chat load: each side of a conversation writes ``rate`` msg/s
from the moment it is assigned, while later bursts are still starting, and every message is timed one
way (send to receipt, one clock); latencies while bursts are still arriving and after the last one are
kept apart, which is where this client's chat-1000 and ``generator.py``'s (which times only after every
conversation is assigned) part.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

START = {"type": "start", "language": "nb", "region": "03", "audience": "youth"}
BURST = 50
PAUSE_S = 0.5


class RawSocket:
    """A minimal RFC 6455 client: text frames out (masked), text/ping/close in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, base: str, path: str, headers: dict[str, str] | None = None) -> RawSocket:
        parts = urlsplit(base)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            writer.close()
            raise ConnectionError(f"upgrade refused: {status.decode(errors='replace')}")
        return cls(reader, writer)

    def send(self, frame: dict[str, Any]) -> None:
        payload = json.dumps(frame).encode()
        n = len(payload)
        head = bytes([0x81])  # FIN, text
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
        self.writer.write(head + mask + masked)

    async def recv(self) -> dict[str, Any] | None:
        """The next text frame as JSON; ``None`` when the server closed."""
        while True:
            b0, b1 = await self.reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(n)  # server frames are not masked
            opcode = b0 & 0x0F
            if opcode == 0x1:
                parsed: dict[str, Any] = json.loads(payload)
                return parsed
            if opcode == 0x8:
                return None
            if opcode == 0x9:  # ping: answer with pong, masked
                mask = os.urandom(4)
                body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.writer.write(bytes([0x8A, 0x80 | len(payload)]) + mask + body)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.write(bytes([0x88, 0x80]) + os.urandom(4))
            self.writer.close()


@dataclass
class Tally:
    assign_ms: list[float] = field(default_factory=list)
    per_adviser: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    rate: float | None = None  # msg/s per side once assigned; None: no messages
    starting: bool = True  # bursts still arriving
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    first_ms: list[float] = field(default_factory=list)  # per burst: its first visitor's start -> assigned
    during_ms: list[float] = field(default_factory=list)  # message latency while bursts arrive
    after_ms: list[float] = field(default_factory=list)  # ... after the last burst
    sent: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, job: Any) -> None:
        task = asyncio.ensure_future(job)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def received(self, text: Any) -> None:
        try:
            sent = float(str(text).split("|", 1)[0])
        except ValueError:
            return
        (self.during_ms if self.starting else self.after_ms).append((time.perf_counter() - sent) * 1000)


async def writer(ws: RawSocket, tally: Tally, conversation_id: str | None, side: str) -> None:
    """``rate`` messages a second from now until the end, at a random phase."""
    assert tally.rate is not None
    interval = 1.0 / tally.rate
    await asyncio.sleep(random.uniform(0, interval))
    n = 0
    while not tally.stop.is_set():
        n += 1
        frame: dict[str, Any] = {"type": "message", "client_id": f"{side}{n}", "text": f"{time.perf_counter():.6f}|x"}
        if conversation_id is not None:
            frame["conversation_id"] = conversation_id
        ws.send(frame)
        tally.sent += 1
        await asyncio.sleep(interval)


async def adviser(base: str, index: int, cookie: str, tally: Tally, ready: asyncio.Event) -> RawSocket:
    ws = await RawSocket.open(base, "/ws/adviser", {"Origin": base, "Cookie": cookie})
    ws.send({"type": "status", "status": "available"})

    async def read() -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while (frame := await ws.recv()) is not None:
                kind = frame.get("type")
                if kind == "status" and frame.get("status") == "available":
                    ready.set()
                elif kind == "assigned":
                    tally.per_adviser[index] = tally.per_adviser.get(index, 0) + 1
                    if tally.rate is not None:
                        tally.spawn(writer(ws, tally, frame["conversation"]["id"], "a"))
                elif kind == "message" and frame.get("sender") == "visitor":
                    tally.received(frame.get("text"))
                elif kind == "error":
                    tally.errors.append(f"adviser {index}: {frame.get('code')}")

    tally.spawn(read())
    return ws


async def visitor(base: str, go: asyncio.Event, tally: Tally, timeout: float) -> RawSocket:
    ws = await RawSocket.open(base, "/ws/visitor")
    await go.wait()
    t0 = time.perf_counter()
    ws.send(START)
    try:
        async with asyncio.timeout(timeout):
            while (frame := await ws.recv()) is not None:
                if frame.get("type") == "assigned":
                    tally.assign_ms.append((time.perf_counter() - t0) * 1000)
                    if tally.rate is not None:
                        tally.spawn(writer(ws, tally, None, "v"))
                        tally.spawn(visitor_reads(ws, tally))
                    return ws
                if frame.get("type") == "error":
                    tally.errors.append(f"visitor: {frame.get('code')}")
    except TimeoutError:
        tally.errors.append("visitor not assigned in time")
    return ws


async def visitor_reads(ws: RawSocket, tally: Tally) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while (frame := await ws.recv()) is not None:
            if frame.get("type") == "message" and frame.get("sender") == "adviser":
                tally.received(frame.get("text"))


async def run(
    base: str,
    cookies: list[str],
    conversations: int,
    capacity: int,
    *,
    rate: float | None = None,
    chat_s: float = 0.0,
    timeout: float = 30.0,
) -> Tally:
    """Advisers first, then ``conversations`` starts in bursts of ``BURST``; every socket stays open until
    the end (conversations are not closed, so adviser room only shrinks, as in the harness). With
    ``rate``, both sides write from their assignment on, and for ``chat_s`` after the last burst."""
    tally = Tally(rate=rate)
    sockets: list[RawSocket] = []
    try:
        for i, cookie in enumerate(cookies):
            ready = asyncio.Event()
            sockets.append(await adviser(base, i, cookie, tally, ready))
            await asyncio.wait_for(ready.wait(), 10)
        for first in range(0, conversations, BURST):
            go = asyncio.Event()
            count = min(BURST, conversations - first)
            opening = [asyncio.ensure_future(visitor(base, go, tally, timeout)) for _ in range(count)]
            await asyncio.sleep(0.2)  # let all 50 connect: the start frames then leave together
            before = len(tally.assign_ms)
            go.set()
            sockets += await asyncio.gather(*opening)
            if len(tally.assign_ms) > before:
                # How long even the quickest of the burst waited: near the last one's when the server
                # takes every start through each stage before any reaches the next.
                tally.first_ms.append(min(tally.assign_ms[before:]))
            await asyncio.sleep(PAUSE_S)
        tally.starting = False
        await asyncio.sleep(chat_s)
        tally.stop.set()
        over = {i: n for i, n in tally.per_adviser.items() if n > capacity}
        if over:
            tally.errors.append(f"advisers over capacity: {over}")
        if sum(tally.per_adviser.values()) != conversations:
            tally.errors.append(f"{sum(tally.per_adviser.values())} assignments for {conversations} starts")
    finally:
        tally.stop.set()
        pending = list(tally.tasks)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for ws in sockets:
            ws.close()
    return tally
