"""The receive loop shared by every websocket: parse, dispatch, turn refusals into error frames."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from chat import metrics
from chat.errors import FatalFrameError, FrameError
from chat.frames import check_type, parse
from chat.outbox import Outbox

log = logging.getLogger("nora.ws")
WS_1011_INTERNAL = 1011

Dispatch = Callable[[str, dict[str, Any]], Awaitable[None]]


async def receive_loop(
    websocket: WebSocket, outbox: Outbox, allowed: frozenset[str], max_bytes: int, dispatch: Dispatch
) -> None:
    """Read frames until the peer or the outbox closes the socket."""
    while not outbox.closed.is_set():
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes")
        try:
            data = parse(raw, max_bytes)
            kind = check_type(data, allowed)
            await dispatch(kind, data)
        except FatalFrameError as exc:
            metrics.ERRORS.labels(exc.code).inc()
            outbox.send(exc.frame())
            outbox.push_close(exc.close_code, exc.code)
            return
        except FrameError as exc:
            metrics.ERRORS.labels(exc.code).inc()
            outbox.send(exc.frame())
        except Exception:  # noqa: BLE001 - the outermost handler: close this socket, keep the process
            log.exception("unexpected error handling a frame")
            outbox.push_close(WS_1011_INTERNAL, "internal error")
            return
