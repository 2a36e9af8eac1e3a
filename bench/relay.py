"""The bare relay: the floor every nora-chat figure is compared with.

A minimal Starlette app, run under the same uvicorn settings as ``nora-chat serve``, that speaks just
enough of the wire contract (docs/protocol.md) for the same load generator to drive it unchanged:

* ``/ws/visitor``: ``start`` -> ``started``; paired with the least-loaded adviser that has room
  (``assigned``, plus a ``system`` message taking seq 1 as nora does); ``message`` -> ``ack`` to the
  sender and a ``message`` frame to the adviser; ``resume`` replays from memory.
* ``/ws/adviser``: identified by its ``nora_session`` cookie (no check); ``state`` on connect,
  ``status`` -> ``status``; ``message`` -> ``ack`` + forwarded to the visitor.
* ``POST /transcript`` ``{"ids": [...]}``: what it "stored" (memory), for the harness's checks.

What it does *not* do, by design: no database, no durability (the ack is sent at once), no routing
policy, no auth, no rate limits, no broker, no outbox task per socket (each frame is written to the
peer directly from the receiving task). JSON is parsed and built per frame, as any relay of this
protocol must. It is the cost of the protocol on this stack, nothing more.

Fault injection for the harness's self-check (``BENCH_RELAY_FAULT``, e.g. ``drop:25``): every Nth
forwarded message is ``drop``ped on the wire (still acked and stored), ``dup``licated on the wire,
``gap`` (a seq number is skipped in the transcript and on the wire) or ``lose`` (acked, never stored,
never forwarded). The harness must fail the run for each of them.

With ``BENCH_RELAY_POSTGRES`` (a PostgreSQL DSN; ``python -m bench run --relay-postgres``) the relay
also commits one INSERT per message, in a table of its own dropped at shutdown, before the ack and the
forward, a conversation's messages one after another: durability done plainly, one transaction per
message, to set beside nora's group commit in the same run.

Run: ``python -m bench.relay --port 8900`` (same uvicorn settings as ``nora/cli.py cmd_serve``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from nora.gc_tuning import tune_gc

MAX_FRAME_BYTES = 16 * 1024  # nora's default NORA_MAX_FRAME_BYTES, passed to uvicorn as ws_max_size


def _now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


@dataclass(eq=False)
class AdviserState:
    id: str
    capacity: int
    sockets: set[WebSocket] = field(default_factory=set)
    available: bool = False
    active: set[str] = field(default_factory=set)


@dataclass(eq=False)
class Conv:
    id: str
    token: str
    adviser: AdviserState | None = None
    visitor: WebSocket | None = None
    seq: int = 0
    log: list[tuple[int, str, str | None, str]] = field(default_factory=list)
    by_client: dict[tuple[str, str], int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Fault:
    def __init__(self, spec: str) -> None:
        kind, _, every = spec.partition(":")
        self.kind = kind if spec else ""
        self.every = int(every or 0)
        self.count = 0

    def hit(self, kind: str) -> bool:
        if self.kind != kind or self.every <= 0:
            return False
        self.count += 1
        return self.count % self.every == 0


class Relay:
    def __init__(self, capacity: int, fault: str = "", durable: Durable | None = None) -> None:
        self.durable = durable
        self.capacity = capacity
        self.fault = Fault(fault)
        self.advisers: dict[str, AdviserState] = {}
        self.convs: dict[str, Conv] = {}
        self.by_token: dict[str, Conv] = {}
        self.waiting: deque[Conv] = deque()

    # ---------------------------------------------------------------- pairing

    def _free_adviser(self) -> AdviserState | None:
        best: AdviserState | None = None
        for adviser in self.advisers.values():
            if adviser.available and adviser.sockets and len(adviser.active) < adviser.capacity:
                if best is None or len(adviser.active) < len(best.active):
                    best = adviser
        return best

    async def _route(self) -> None:
        while self.waiting:
            adviser = self._free_adviser()
            if adviser is None:
                return
            await self._assign(self.waiting.popleft(), adviser)

    async def _assign(self, conv: Conv, adviser: AdviserState) -> None:
        conv.adviser = adviser
        adviser.active.add(conv.id)
        conv.seq += 1
        sent_at = _now_iso()
        conv.log.append((conv.seq, "system", None, "assigned"))
        system = {
            "type": "message",
            "seq": conv.seq,
            "sender": "system",
            "text": "assigned",
            "sent_at": sent_at,
            "event": "assigned",
        }
        if conv.visitor is not None:
            await _send(conv.visitor, system)
            await _send(conv.visitor, {"type": "assigned", "adviser": {"name": adviser.id, "service": "MR"}})
        body = {"type": "assigned", "conversation": self._body(conv)}
        for ws in list(adviser.sockets):
            await _send(ws, body)

    def _body(self, conv: Conv) -> dict[str, Any]:
        return {"id": conv.id, "state": "assigned", "messages": [_wire(m, None) for m in conv.log]}

    # ---------------------------------------------------------------- messages

    async def _post(
        self, conv: Conv, sender: str, client_id: str, text: str, ws: WebSocket, ack: dict[str, Any]
    ) -> None:
        """Store (in memory), ack, forward; a resent ``client_id`` gets its original seq back."""
        if self.durable is None:
            await self._post_now(conv, sender, client_id, text, ws, ack)
            return
        async with conv.lock:  # a conversation's seqs reach both sides in order
            await self._post_now(conv, sender, client_id, text, ws, ack)

    async def _post_now(
        self, conv: Conv, sender: str, client_id: str, text: str, ws: WebSocket, ack: dict[str, Any]
    ) -> None:
        known = conv.by_client.get((sender, client_id))
        if known is not None:
            await _send(ws, {**ack, "client_id": client_id, "seq": known})
            return
        if self.fault.hit("gap"):
            conv.seq += 1
        conv.seq += 1
        seq = conv.seq
        conv.by_client[(sender, client_id)] = seq
        lost = self.fault.hit("lose")
        if not lost:
            conv.log.append((seq, sender, client_id, text))
            if self.durable is not None:
                await self.durable.store(conv.id, seq, sender, client_id, text)
        await _send(ws, {**ack, "client_id": client_id, "seq": seq})
        if lost:
            return
        frame = {"type": "message", "seq": seq, "sender": sender, "text": text, "sent_at": _now_iso()}
        if sender == "visitor":
            frame = {"type": "message", "conversation_id": conv.id, **frame}
            peers = list(conv.adviser.sockets) if conv.adviser else []
        else:
            peers = [conv.visitor] if conv.visitor is not None else []
        if self.fault.hit("drop"):
            return
        copies = 2 if self.fault.hit("dup") else 1
        for peer in peers:
            for _ in range(copies):
                await _send(peer, frame)

    # ---------------------------------------------------------------- sockets

    async def visitor(self, ws: WebSocket) -> None:
        await ws.accept()
        conv: Conv | None = None
        try:
            while True:
                data = json.loads(await ws.receive_text())
                kind = data.get("type")
                if kind == "message" and conv is not None:
                    await self._post(conv, "visitor", data["client_id"], data["text"], ws, {"type": "ack"})
                elif kind == "start" and conv is None:
                    conv = Conv(secrets.token_hex(16), secrets.token_urlsafe(32), visitor=ws)
                    self.convs[conv.id] = conv
                    self.by_token[conv.token] = conv
                    await _send(
                        ws, {"type": "started", "conversation_id": conv.id, "token": conv.token, "alias": "Gjest 1000"}
                    )
                    self.waiting.append(conv)
                    await self._route()
                    if conv.adviser is None:
                        await _send(ws, {"type": "queue", "position": len(self.waiting), "estimated_wait_s": None})
                elif kind == "resume" and conv is None:
                    found = self.by_token.get(data.get("token", ""))
                    if found is None:
                        await _send(ws, {"type": "error", "code": "not_found", "message": "", "ref": "resume"})
                        continue
                    conv = found
                    conv.visitor = ws
                    state = "assigned" if conv.adviser else "queued"
                    await _send(ws, {"type": "resumed", "conversation_id": conv.id, "state": state})
                    after = int(data.get("last_seq", 0))
                    for m in conv.log:
                        if m[0] > after:
                            await _send(ws, _wire(m, "visitor"))
                    if conv.adviser:
                        await _send(ws, {"type": "assigned", "adviser": {"name": conv.adviser.id, "service": "MR"}})
                    else:
                        await _send(ws, {"type": "queue", "position": 1, "estimated_wait_s": None})
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if conv is not None and conv.visitor is ws:
                conv.visitor = None

    async def adviser(self, ws: WebSocket) -> None:
        adviser_id = ws.cookies.get("nora_session", "")
        await ws.accept()
        adviser = self.advisers.get(adviser_id)
        if adviser is None:
            adviser = self.advisers[adviser_id] = AdviserState(adviser_id, self.capacity)
        adviser.sockets.add(ws)
        mine = [self._body(self.convs[c]) for c in sorted(adviser.active)]
        await _send(
            ws,
            {
                "type": "state",
                "adviser": {"id": adviser_id, "capacity": adviser.capacity},
                "status": "available" if adviser.available else "away",
                "conversations": mine,
            },
        )
        try:
            while True:
                data = json.loads(await ws.receive_text())
                kind = data.get("type")
                if kind == "message":
                    conv = self.convs.get(data.get("conversation_id", ""))
                    if conv is None or conv.adviser is not adviser:
                        await _send(ws, {"type": "error", "code": "not_found", "message": "", "ref": "message"})
                        continue
                    await self._post(
                        conv,
                        "adviser",
                        data["client_id"],
                        data["text"],
                        ws,
                        {"type": "ack", "conversation_id": conv.id},
                    )
                elif kind == "status":
                    adviser.available = data.get("status") == "available"
                    await _send(ws, {"type": "status", "status": data.get("status")})
                    await self._route()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            adviser.sockets.discard(ws)

    async def transcript(self, request: Request) -> Response:
        body = await request.json()
        out = {}
        for cid in body.get("ids", []):
            conv = self.convs.get(cid)
            out[cid] = {"next_seq": conv.seq, "messages": [list(m) for m in conv.log]} if conv else None
        return JSONResponse(out)


def _wire(m: tuple[int, str, str | None, str], own: str | None) -> dict[str, Any]:
    seq, sender, client_id, text = m
    out: dict[str, Any] = {"type": "message", "seq": seq, "sender": sender, "text": text, "sent_at": _now_iso()}
    if client_id is not None and own == sender:
        out["client_id"] = client_id
    return out


async def _send(ws: WebSocket, body: dict[str, Any]) -> None:
    try:
        await ws.send_text(json.dumps(body))
    except Exception:  # noqa: BLE001 - a peer that went away is the other side's business
        pass


class Durable:
    """One INSERT, committed, per message before its ack (``BENCH_RELAY_POSTGRES``), on a pool of the
    size of nora's."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.table = f"bench_relay_{os.getpid()}"
        self.pool: Any = None

    async def open(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=20)
        await self.pool.execute(
            f"CREATE TABLE {self.table} (conversation_id varchar(32), seq int, sender varchar(8),"
            " client_id varchar(64), text text, PRIMARY KEY (conversation_id, seq))"
        )

    async def close(self) -> None:
        await self.pool.execute(f"DROP TABLE IF EXISTS {self.table}")
        await self.pool.close()

    async def store(self, conversation_id: str, seq: int, sender: str, client_id: str, text: str) -> None:
        await self.pool.execute(
            f"INSERT INTO {self.table} VALUES ($1, $2, $3, $4, $5)",  # noqa: S608 - our own name
            conversation_id,
            seq,
            sender,
            client_id,
            text,
        )


def create_app(capacity: int = 20, fault: str = "", postgres: str = "") -> Starlette:
    durable = Durable(postgres) if postgres else None
    relay = Relay(capacity, fault, durable)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if durable is not None:
            await durable.open()
        yield
        if durable is not None:
            await durable.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", healthz),  # what HAProxy checks (``--relay-lb``)
            Route("/transcript", relay.transcript, methods=["POST"]),
            WebSocketRoute("/ws/visitor", relay.visitor),
            WebSocketRoute("/ws/adviser", relay.adviser),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser(description="bare relay for the nora-chat benchmark")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8900)
    args = p.parse_args()
    app = create_app(
        int(os.environ.get("BENCH_RELAY_CAPACITY", "20")),
        os.environ.get("BENCH_RELAY_FAULT", ""),
        os.environ.get("BENCH_RELAY_POSTGRES", ""),
    )
    # The same collector and uvicorn settings as ``nora-chat serve`` (nora/cli.py cmd_serve): untuned,
    # the relay's own full collections (100-160 ms) landed in some measurement windows and raised the
    # denominator of every ratio.
    tune_gc()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        ws_max_size=MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
        access_log=False,
        server_header=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
