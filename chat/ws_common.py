"""The receive loop shared by every websocket: read, parse, dispatch, turn refusals into error frames.

Reading never waits for processing: frames go to worker lanes, so uvicorn keeps reading the socket
(and its keepalive pongs) while a frame waits on the database. Frames of one lane are handled in
order; an adviser's conversations each get a lane of their own, so one slow conversation does not hold
up the others. The backlog is bounded: past it a frame is refused with ``rate_limited``.

A ``message`` needs no lane of its own: its synchronous part (checks, then handing it to the group
commit, which keeps arrival order) runs where it is read, whenever its lane has nothing queued or
running, and its outcome comes back as a future (``Submit``). That saves two task switches and two
turns of the loop per message. A later frame of another kind in the same lane waits for those futures
first, so a ``leave`` or ``close`` still comes after the messages sent before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from chat import metrics, wire
from chat.errors import FrameError
from chat.frames import check_type, parse
from chat.outbox import Outbox
from core.dependencies import RETRY_AFTER_S, OutageLog, dependency_away

log = logging.getLogger("nora.ws")
WS_1011_INTERNAL = 1011
MAX_BACKLOG = 256  # frames read but not yet handled, per socket
DRAIN_S = 5.0  # after the peer leaves, how long frames already read may still finish

Dispatch = Callable[[str, dict[str, Any]], Awaitable[None]]
# The synchronous part of a frame: a future for its outcome, or None when it must be dispatched instead.
Submit = Callable[[str, dict[str, Any]], "asyncio.Future[None] | None"]
LaneOf = Callable[[str, dict[str, Any]], str | None]
MAIN = ""
WS_OUTAGES = OutageLog("frames answered unavailable")


def single_lane(kind: str, data: dict[str, Any]) -> str | None:
    return None


def no_submit(kind: str, data: dict[str, Any]) -> asyncio.Future[None] | None:
    return None


class Lanes:
    def __init__(self, outbox: Outbox, dispatch: Dispatch, submit: Submit = no_submit) -> None:
        self.outbox = outbox
        self.dispatch = dispatch
        self.submit = submit
        self.queues: dict[str, asyncio.Queue[tuple[str, dict[str, Any]]]] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.busy: set[str] = set()  # lanes whose worker is handling a frame
        self.outstanding: dict[str, set[asyncio.Future[None]]] = {}  # submitted, not yet settled
        self.pending = 0
        self.failed = asyncio.Event()

    def offer(self, lane: str, kind: str, data: dict[str, Any]) -> None:
        """Handle a frame's synchronous part here when its lane is free, else queue it in the lane."""
        queue = self.queues.get(lane)
        if lane not in self.busy and (queue is None or queue.empty()) and self._try_submit(lane, kind, data):
            return
        self.put(lane, kind, data)

    def _try_submit(self, lane: str, kind: str, data: dict[str, Any]) -> bool:
        try:
            future = self.submit(kind, data)
        except Exception as exc:  # noqa: BLE001 - reported as the lane would report it
            self._report(exc, kind)
            return True
        if future is None:
            return False
        self.pending += 1
        self.outstanding.setdefault(lane, set()).add(future)
        future.add_done_callback(lambda f: self._settled(lane, f))
        return True

    def _settled(self, lane: str, future: asyncio.Future[None]) -> None:
        self.pending -= 1
        waiting = self.outstanding.get(lane)
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                del self.outstanding[lane]
        error = None if future.cancelled() else future.exception()
        if error is not None:
            self._report(error, "message")  # only messages are submitted

    async def _after_outstanding(self, lane: str) -> None:
        waiting = self.outstanding.get(lane)
        if waiting:
            await asyncio.wait(list(waiting))

    def put(self, lane: str, kind: str, data: dict[str, Any]) -> None:
        queue = self.queues.get(lane)
        if queue is None:
            queue = self.queues[lane] = asyncio.Queue()
            self.tasks[lane] = asyncio.create_task(self._work(lane, queue))
        self.pending += 1
        queue.put_nowait((kind, data))

    async def _work(self, lane: str, queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        while True:
            kind, data = await queue.get()
            self.busy.add(lane)
            try:
                if not self._try_submit(lane, kind, data):
                    await self._after_outstanding(lane)
                    await self._handle(kind, data)
            finally:
                self.busy.discard(lane)
                self.pending -= 1
                queue.task_done()
            if queue.empty() and lane != MAIN:
                # An idle conversation lane ends; a later frame starts a new one.
                del self.queues[lane], self.tasks[lane]
                return

    async def _handle(self, kind: str, data: dict[str, Any]) -> None:
        try:
            await self.dispatch(kind, data)
        except Exception as exc:  # noqa: BLE001 - the outermost handler: close this socket, keep the process
            self._report(exc, kind)

    def _report(self, exc: BaseException, ref: str | None = None) -> None:
        if isinstance(exc, FrameError):
            metrics.ERRORS.labels(exc.code).inc()
            self.outbox.send(exc.frame())
        elif dependency_away(exc):
            # The database or Redis is away: the frame may be sent again (a message with the same
            # client_id is stored once), so the socket stays open and the client is told when.
            metrics.ERRORS.labels("unavailable").inc()
            WS_OUTAGES.note(exc)
            message = "A service we depend on is briefly unavailable; send it again."
            self.outbox.send(wire.error("unavailable", message, ref=ref, retry_after_ms=RETRY_AFTER_S * 1000))
        else:
            log.error("unexpected error handling a frame", exc_info=exc)
            self.outbox.push_close(WS_1011_INTERNAL, "internal error")
            self.failed.set()

    async def drain(self, timeout: float) -> None:
        queues = list(self.queues.values())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in queues)), timeout)
        waiting = [f for futures in self.outstanding.values() for f in futures]
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)
        for task in list(self.tasks.values()):
            task.cancel()
        for task in list(self.tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def receive_loop(
    websocket: WebSocket,
    outbox: Outbox,
    allowed: frozenset[str],
    max_bytes: int,
    dispatch: Dispatch,
    lane_of: LaneOf = single_lane,
    submit: Submit = no_submit,
) -> None:
    """Read frames until the peer or the outbox closes the socket; handle them in lanes."""
    lanes = Lanes(outbox, dispatch, submit)
    try:
        while not outbox.closed.is_set() and not lanes.failed.is_set():
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
                if lanes.pending >= MAX_BACKLOG:
                    raise FrameError(
                        "rate_limited", "Too many frames waiting; slow down.", ref=kind, retry_after_ms=1000
                    )
            except FrameError as exc:
                metrics.ERRORS.labels(exc.code).inc()
                outbox.send(exc.frame())
                continue
            lanes.offer(lane_of(kind, data) or MAIN, kind, data)
    finally:
        await lanes.drain(DRAIN_S)
