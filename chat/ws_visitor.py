"""``/ws/visitor``: the anonymous visitor's websocket (docs/protocol.md §3)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from chat import metrics
from chat.frames import VISITOR_TYPES, parse_leave, parse_page_language, parse_resume, parse_start, parse_text
from chat.hub import VisitorConn
from chat.origin import origin_allowed
from chat.outbox import WS_1008_POLICY, Outbox
from chat.returning import RETURN_TYPES
from chat.service import ChatService
from chat.ws_common import receive_loop

THREAD_READING_S = 600.0


def deny(code: str, message: str, status: int = 403) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def close_unless_started(conn: VisitorConn, after_s: float) -> None:
    """A socket that neither starts nor resumes a conversation in time is closed: it holds a place
    and serves nobody."""
    await asyncio.sleep(after_s)
    if conn.conversation_id is None and conn.thread_id is not None:
        await asyncio.sleep(THREAD_READING_S)  # after ``return``: time to read, then start or leave a message
    if conn.conversation_id is None:
        conn.outbox.push_close(WS_1008_POLICY, "send start or resume first")


async def visitor_socket(websocket: WebSocket) -> None:
    service: ChatService = websocket.app.state.chat
    # Visitors carry no credential until their first frame: only a present, foreign Origin is refused.
    if not origin_allowed(websocket, service.settings.allowed_origins, required=False):
        await websocket.send_denial_response(deny("origin_not_allowed", "This origin may not open a chat."))
        return
    address = websocket.client.host if websocket.client else None  # in memory only, never logged
    refusal = service.admission.enter_visitor(address)
    if refusal is not None:
        await websocket.send_denial_response(deny(refusal.code, refusal.message, refusal.status))
        return
    try:
        await visitor_session(websocket, service, address)
    finally:
        service.admission.leave_visitor(address)


async def visitor_session(websocket: WebSocket, service: ChatService, address: str | None) -> None:
    await websocket.accept()
    outbox = Outbox(websocket, service.store, role="visitor", owner="visitor")
    outbox.start()
    conn = VisitorConn(outbox, address=address)
    metrics.CONNECTIONS.labels("visitor").inc()
    hello = asyncio.create_task(close_unless_started(conn, service.settings.visitor_hello_s))
    reference = service.reference()

    visitors = service.visitors
    max_chars = service.settings.max_text_chars

    returns = service.returns

    async def dispatch(kind: str, data: dict[str, Any]) -> None:
        if kind == "start" and conn.thread_id is not None and conn.conversation_id is None:
            await returns.start(conn, data)  # continues the thread of the code sent with ``return``
        elif kind == "start":
            await visitors.start(conn, parse_start(data, reference.codes("languages"), reference.codes("regions")))
        elif kind == "resume":
            await visitors.resume(conn, parse_resume(data, reference.codes("languages")))
        elif kind == "message":  # when ``submit`` could not take it: no open conversation here
            await visitors.message(conn, parse_text(data, max_chars, with_conversation=False))
        elif kind == "typing":
            await visitors.typing(conn)
        elif kind == "leave":
            await visitors.leave(conn, quick_exit=parse_leave(data))
        elif kind == "page_language":
            await visitors.page_language(conn, parse_page_language(data, reference.codes("languages")))
        elif kind == "return":
            await returns.return_(conn, data)
        elif kind == "leave_message":
            await returns.leave_message(conn, data)
        elif kind == "withdraw_code":
            await returns.withdraw(conn)

    def submit(kind: str, data: dict[str, Any]) -> asyncio.Future[None] | None:
        if kind != "message":
            return None
        return visitors.submit_message(conn, parse_text(data, max_chars, with_conversation=False))

    try:
        types = VISITOR_TYPES | RETURN_TYPES
        await receive_loop(websocket, outbox, types, service.settings.max_frame_bytes, dispatch, submit=submit)
    finally:
        hello.cancel()
        metrics.CONNECTIONS.labels("visitor").dec()
        await visitors.disconnected(conn)
        await outbox.drain_and_stop()
