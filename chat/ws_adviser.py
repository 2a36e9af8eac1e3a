"""``/ws/adviser``: the agent console's websocket (session cookie, role adviser)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from starlette.websockets import WebSocket

from chat import metrics
from chat.errors import invalid
from chat.frames import (
    ADVISER_TYPES,
    parse_capacity,
    parse_close_reason,
    parse_conversation_id,
    parse_status,
    parse_sync,
    parse_text,
)
from chat.hub import StaffConn
from chat.origin import origin_allowed
from chat.outbox import WS_1008_POLICY, Outbox
from chat.service import ChatService
from chat.staff import StaffIdentity
from chat.ws_common import receive_loop
from chat.ws_visitor import deny
from routing import AdviserStatus

SESSION_CHECK_S = 30.0
CHAT_SERVICES = frozenset({"MR", "AT"})  # the services that chat; IR and KT register inquiries only
WARM = frozenset({"transfer_offer", "transfer_cancel", "transfer_accept", "transfer_decline"})
PER_CONVERSATION = frozenset({"message", "typing", "close", "transfer"}) | WARM


def conversation_lane(kind: str, data: dict[str, Any]) -> str | None:
    """Frames about one conversation keep their order; different conversations proceed in parallel."""
    conversation_id = data.get("conversation_id")
    if kind in PER_CONVERSATION and isinstance(conversation_id, str):
        return conversation_id[:64]
    return None


@contextlib.asynccontextmanager
async def staff_socket(websocket: WebSocket, service: ChatService, role: str) -> AsyncIterator[StaffIdentity | None]:
    """The staff member behind a socket, counted in while the socket lasts; ``None`` when refused
    before the upgrade (Origin, session, role, or too many sockets)."""
    identity = await staff_gate(websocket, service, role)
    if identity is None:
        yield None
        return
    refusal = service.admission.enter_staff(identity.session_key)
    if refusal is not None:
        await websocket.send_denial_response(deny(refusal.code, refusal.message, refusal.status))
        yield None
        return
    try:
        yield identity
    finally:
        service.admission.leave_staff(identity.session_key)


async def staff_gate(websocket: WebSocket, service: ChatService, role: str) -> StaffIdentity | None:
    """Refuse before the upgrade (403) unless Origin is allowed and the session has the role."""
    if not origin_allowed(websocket, service.settings.allowed_origins, required=True):
        await websocket.send_denial_response(deny("origin_not_allowed", "Staff sockets need an allowed Origin."))
        return None
    identity = await service.directory.identify(websocket.cookies)
    if identity is None:
        await websocket.send_denial_response(deny("unauthenticated", "Log in first."))
        return None
    if role not in identity.profile.roles:
        await websocket.send_denial_response(deny("forbidden", f"This socket needs the {role} role."))
        return None
    if role == "adviser" and identity.profile.service not in CHAT_SERVICES:
        # IR and KT advisers register inquiries but never receive chats: refused here, they never reach
        # routing (which knows MR and AT only) and never count as signed in.
        await websocket.send_denial_response(deny("forbidden", "Advisers of this service do not receive chats."))
        return None
    return identity


def active_since_last_check(service: ChatService, conn: StaffConn) -> bool:
    """Whether the adviser sent a frame since the last session check, or is on duty (``on_duty``)."""
    acted, conn.acted = conn.acted, False
    return acted or on_duty(service, conn)


def on_duty(service: ChatService, conn: StaffConn) -> bool:
    """An adviser who is available (waiting for chats) or holds a conversation is at work even when
    the console sends nothing: their open socket counts as activity, so the idle timeout does not log
    them out mid-shift. An away adviser's silent console, or a supervisor's dashboard, does not count:
    an unattended screen still locks after ``NORA_SESSION_IDLE_S``."""
    status = service.assigner.local_status.get(conn.user_id)
    return status is AdviserStatus.AVAILABLE or bool(conn.outbox.last)


async def watch_session(
    service: ChatService, identity: StaffIdentity, outbox: Outbox, active: Callable[[], bool] = lambda: False
) -> None:
    """Close the socket once the session ends (logout elsewhere, idle or absolute timeout). Every check
    tells the session whether its staff member was ``active`` on this socket since the last one."""
    while True:
        await asyncio.sleep(SESSION_CHECK_S)
        if not await service.directory.session_valid(identity.session_key, activity=active()):
            outbox.push_close(WS_1008_POLICY, "session ended")
            return


async def adviser_socket(websocket: WebSocket) -> None:
    service: ChatService = websocket.app.state.chat
    async with staff_socket(websocket, service, "adviser") as identity:
        if identity is not None:
            await adviser_session(websocket, service, identity)


async def adviser_session(websocket: WebSocket, service: ChatService, identity: StaffIdentity) -> None:
    await websocket.accept()
    outbox = Outbox(websocket, service.store, role="adviser", owner=identity.profile.user_id)
    outbox.start()
    conn = StaffConn(outbox, identity)
    metrics.CONNECTIONS.labels("adviser").inc()
    watcher = asyncio.create_task(
        watch_session(service, identity, outbox, partial(active_since_last_check, service, conn))
    )
    max_chars = service.settings.max_text_chars

    advisers = service.advisers

    async def dispatch(kind: str, data: dict[str, Any]) -> None:
        conn.acted = True
        if kind == "message":  # when ``submit`` left it to the lane: limits shared through Redis
            await advisers.message(conn, parse_text(data, max_chars, with_conversation=True))
        elif kind == "status":
            await advisers.status(conn, parse_status(data))
        elif kind == "capacity":
            await advisers.capacity(conn, parse_capacity(data))
        elif kind in ("typing", "close", "transfer"):
            errors: dict[str, str] = {}
            conversation_id = parse_conversation_id(data, errors)
            if errors:
                raise invalid(kind, errors)
            if kind == "typing":
                await advisers.typing(conn, conversation_id)
            elif kind == "close":
                await advisers.close(conn, conversation_id, parse_close_reason(data))
            else:
                await advisers.transfer(conn, conversation_id, data)
        elif kind == "sync":
            await advisers.sync(conn, parse_sync(data))
        elif kind == "colleagues":
            await advisers.warm.colleagues(conn)
        elif kind in WARM:
            errors = {}
            conversation_id = parse_conversation_id(data, errors)
            if errors:
                raise invalid(kind, errors)
            if kind == "transfer_offer":
                await advisers.warm.offer(conn, conversation_id, data)
            elif kind == "transfer_cancel":
                await advisers.warm.cancel(conn, conversation_id)
            elif kind == "transfer_accept":
                await advisers.warm.accept(conn, conversation_id)
            else:
                await advisers.warm.decline(conn, conversation_id)

    def submit(kind: str, data: dict[str, Any]) -> asyncio.Future[None] | None:
        if kind != "message":
            return None
        conn.acted = True
        return advisers.submit_message(conn, parse_text(data, max_chars, with_conversation=True))

    try:
        await advisers.connected(conn)
        await receive_loop(
            websocket,
            outbox,
            ADVISER_TYPES,
            service.settings.max_frame_bytes,
            dispatch,
            lane_of=conversation_lane,
            submit=submit,
        )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        metrics.CONNECTIONS.labels("adviser").dec()
        await advisers.disconnected(conn)
        await outbox.drain_and_stop()
