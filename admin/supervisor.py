"""Live queue load for supervisors: ``GET /api/v1/queue`` and the ``/ws/supervisor`` feed."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from admin.auth import require
from admin.context import AdminContext, context
from admin.threads import waiting_summary
from chat import wire
from chat.hub import StaffConn
from chat.outbox import Outbox
from chat.staff import StaffIdentity
from chat.ws_adviser import staff_socket, watch_session
from chat.ws_common import receive_loop
from core.clock import iso, to_datetime
from core.http import NO_STORE
from routing import AdviserStatus
from routing.policy import tier

PUSH_EVERY_S = 1.9  # the contract promises a frame at least every 2 s
COALESCE_S = 0.2


async def queue_view(ctx: AdminContext) -> dict[str, Any]:
    chat = ctx.chat
    snap = await chat.routing.snapshot()
    now = chat.now()
    waiting = []
    groups: dict[tuple[str | None, str], list[int]] = {}
    for w in sorted(snap.waiting, key=lambda c: c.priority()):
        waited = max(0, int(now - w.enqueued_at))
        waiting.append(
            {
                "conversation_id": w.id,
                "region": w.region,
                "language": w.language,
                "audience": w.audience,
                "urgent": w.urgent,
                "waited_s": waited,
                "tier": tier(w, now, chat.delays),
                "present": w.present,
            }
        )
        groups.setdefault((w.region, w.language), []).append(waited)
    advisers = []
    active = 0
    counts = {"signed_in": 0, "available": 0, "busy": 0, "away": 0, "offline": 0}
    for a in sorted(snap.advisers, key=lambda a: a.id):
        profile = await ctx.directory.profile(a.id)
        active += len(a.active)
        status = a.status.value
        if a.status is not AdviserStatus.OFFLINE and a.active and a.status is AdviserStatus.AVAILABLE:
            status = "busy" if not a.has_room else "available"
        counts["signed_in"] += 1  # everyone listed: offline ones are within their reconnect grace
        counts[status] += 1
        advisers.append(
            {
                "id": a.id,
                "name": profile.name if profile else "",
                "service": a.service.value,
                "status": status,
                "active": len(a.active),
                "capacity": a.capacity,
            }
        )
    return {
        "at": iso(to_datetime(now)),
        "waiting": waiting,
        "by_region_language": [
            {"region": r, "language": lang, "waiting": len(w), "longest_wait_s": max(w)}
            for (r, lang), w in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
        ],
        "advisers": advisers,
        "adviser_counts": counts,
        "active_conversations": active,
        "diversions": [d.body() for d in chat.queue_actions.diversions()],
        # Additive: messages left while closed that nobody has answered yet, with how long they waited.
        "left_messages": await waiting_summary(ctx),
    }


async def queue(request: Request) -> Response:
    await require(request, "supervisor")
    return JSONResponse(await queue_view(context(request)), headers=NO_STORE)


async def supervisor_socket(websocket: WebSocket) -> None:
    ctx = context(websocket)
    async with staff_socket(websocket, ctx.chat, "supervisor") as identity:
        if identity is not None:
            await supervisor_session(ctx, websocket, identity)


async def supervisor_session(ctx: AdminContext, websocket: WebSocket, identity: StaffIdentity) -> None:
    await websocket.accept()
    outbox = Outbox(websocket, ctx.chat.store, role="supervisor")
    outbox.start()
    conn = StaffConn(outbox, identity)
    with ctx.chat.supervising(conn) as changed:  # logout elsewhere closes this socket too
        await feed(ctx, websocket, identity, outbox, changed)


async def feed(
    ctx: AdminContext, websocket: WebSocket, identity: StaffIdentity, outbox: Outbox, changed: asyncio.Event
) -> None:
    """A ``queue`` frame at once, then after each burst of changes and at least every 2 s."""

    async def push() -> None:
        loop = asyncio.get_running_loop()
        while not outbox.closed.is_set():
            sent = loop.time()
            outbox.send(wire.supervisor_queue(await queue_view(ctx)))
            changed.clear()
            await asyncio.sleep(COALESCE_S)  # one frame for a burst of changes
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), max(0.0, PUSH_EVERY_S - (loop.time() - sent)))

    async def dispatch(kind: str, data: dict[str, Any]) -> None:
        return None  # supervisors only read; no client frames are defined

    tasks = [asyncio.create_task(push()), asyncio.create_task(watch_session(ctx.chat, identity, outbox))]
    try:
        await receive_loop(websocket, outbox, frozenset(), ctx.settings.max_frame_bytes, dispatch)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await outbox.drain_and_stop()
