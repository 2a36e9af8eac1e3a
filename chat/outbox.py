"""Ordered, gap-free delivery to one websocket.

Every frame for a socket goes through its outbox, one writer task per socket. The writer remembers
the last ``seq`` it delivered per conversation: a message it has already delivered is dropped, and a
message that skips ahead makes it first read the missing ones from the database. That is what makes
broker events mere hints (a lost or reordered event costs nothing), and what keeps replay and live
delivery from racing (docs/reliability.md 23, 26).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState

from chat import wire
from chat.messages import StoredMessage
from chat.store import ConversationStore
from chat.wire import encode

log = logging.getLogger("nora.outbox")

RAW_SEND = "nora.raw_send"  # scope key: the server's own send callable (``KeepRawSend``)
MAX_PENDING = 2000
WS_1000_NORMAL = 1000
WS_1008_POLICY = 1008
WS_1013_TRY_LATER = 1013


@dataclass(frozen=True, slots=True)
class Frame:
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Deliver:
    conversation_id: str
    message: StoredMessage


@dataclass(frozen=True, slots=True)
class Ack:
    conversation_id: str
    client_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class Replay:
    """Deliver everything after ``after`` (resume, sync); starts tracking the conversation."""

    conversation_id: str
    after: int


@dataclass(frozen=True, slots=True)
class Run:
    """Run a coroutine in the writer's order (it may load from the database and send frames)."""

    job: Callable[[Outbox], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Untrack:
    conversation_id: str


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str = ""


Item = Frame | Deliver | Ack | Replay | Run | Untrack | Close


class KeepRawSend:
    """ASGI middleware, first in the app's list: keeps the server's own ``send`` in a websocket's scope
    (Starlette's outer error middleware hands a websocket's ``send`` through untouched).

    Every frame an outbox writes would otherwise go through Starlette's ``WebSocket.send`` and two
    exception-handling wrappers, three coroutines per frame that only matter for the handshake and
    the close; the outbox writes its text frames straight to the server instead (``Outbox._write``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


class Outbox:
    def __init__(self, websocket: WebSocket, store: ConversationStore, *, role: str, owner: str | None = None) -> None:
        self.websocket = websocket
        self.store = store
        self.role = role  # "visitor", "adviser" or "supervisor": decides the frame shape
        self.owner = owner  # sender id whose client ids this socket may see echoed
        self.last: dict[str, int] = {}
        # client ids this socket sent and not yet acknowledged, counted (a resend is acked again)
        self.expected: dict[tuple[str, str], int] = {}
        # A deque and one waiter rather than an asyncio.Queue: one writer only ever waits here, and a
        # Queue's get() is a coroutine, a future and a getter list per frame, for thousands of sockets.
        self._items: deque[Item] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self._raw_send: Send | None = websocket.scope.get(RAW_SEND)

    async def write_now(self, body: dict[str, Any]) -> None:
        """Write a frame at once: only from a ``Run`` job, which the writer runs in its order."""
        await self._write(encode(body))

    async def _write(self, text: str) -> None:
        if self._raw_send is not None:
            await self._raw_send({"type": "websocket.send", "text": text})
        else:
            await self.websocket.send_text(text)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def push(self, item: Item) -> None:
        if self.closed.is_set():
            return
        if len(self._items) >= MAX_PENDING:
            # A reader this far behind is stalled; it will resync from its last seq on reconnect.
            self._items.clear()
            item = Close(WS_1013_TRY_LATER, "too far behind; reconnect and resume")
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def drain_and_stop(self, timeout: float = 0.5) -> None:
        """Let frames already queued (a final ``closed``) go out, then stop the writer."""
        if not self.closed.is_set() and self._items:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), timeout)
        await self.stop()

    def expect_ack(self, conversation_id: str, client_id: str) -> None:
        """Called before a message from this socket is stored: if a gap fill reads it back before its
        ack is queued, the socket gets the ack there, never its own text as a ``message``."""
        key = (conversation_id, client_id)
        self.expected[key] = self.expected.get(key, 0) + 1

    def forget_ack(self, conversation_id: str, client_id: str) -> None:
        """The message was refused (an error frame answers it): no ack will come."""
        self._take_expected(conversation_id, client_id)

    def _take_expected(self, conversation_id: str, client_id: str | None) -> bool:
        key = (conversation_id, client_id or "")
        count = self.expected.get(key, 0)
        if count <= 0:
            return False
        if count == 1:
            del self.expected[key]
        else:
            self.expected[key] = count - 1
        return True

    def push_close(self, code: int, reason: str = "") -> None:
        self.push(Close(code, reason))

    def send(self, body: dict[str, Any]) -> None:
        self.push(Frame(body))

    async def _run(self) -> None:
        items = self._items
        try:
            while True:
                if not items:
                    self._waiter = asyncio.get_running_loop().create_future()
                    await self._waiter
                    continue
                item = items.popleft()
                if isinstance(item, Close):
                    await self._close(item)
                    return
                await self._handle(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a dead socket must not take the process down
            log.debug("outbox stopped: %s", type(exc).__name__)
        finally:
            self.closed.set()

    async def _close(self, item: Close) -> None:
        if self.websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.websocket.close(item.code, item.reason)

    async def _handle(self, item: Item) -> None:
        if isinstance(item, Frame):
            await self._write(encode(item.body))
        elif isinstance(item, Deliver):
            last = self.last.get(item.conversation_id)
            if last is None or item.message.seq <= last:
                return
            if item.message.seq > last + 1:
                await self._fill(item.conversation_id, last, item.message.seq - 1)
            await self._deliver(item.conversation_id, item.message)
        elif isinstance(item, Ack):
            if not self._take_expected(item.conversation_id, item.client_id):
                return  # acknowledged already: a gap fill read the message back first
            last = self.last.get(item.conversation_id, 0)
            if item.seq > last + 1:
                await self._fill(item.conversation_id, last, item.seq - 1)
            await self._write(
                encode(wire.ack(item.client_id, item.seq, conversation_id=self._addressed(item.conversation_id)))
            )
            if item.seq > self.last.get(item.conversation_id, 0):
                self.last[item.conversation_id] = item.seq
        elif isinstance(item, Replay):
            self.last[item.conversation_id] = item.after
            await self._fill(item.conversation_id, item.after, None)
        elif isinstance(item, Run):
            await item.job(self)
        elif isinstance(item, Untrack):
            self.last.pop(item.conversation_id, None)

    def _addressed(self, conversation_id: str) -> str | None:
        """Adviser sockets carry several conversations, so their frames name the conversation."""
        return conversation_id if self.role == "adviser" else None

    async def _fill(self, conversation_id: str, after: int, upto: int | None) -> None:
        for message in await self.store.messages_after(conversation_id, after, upto):
            await self._deliver(conversation_id, message)

    async def _deliver(self, conversation_id: str, message: StoredMessage) -> None:
        addressed = self._addressed(conversation_id)
        if message.sender_id == self.owner and self._take_expected(conversation_id, message.client_id):
            # Our own message, read back before its ack was queued: it is acknowledged here.
            body = wire.ack(message.client_id, message.seq, conversation_id=addressed)
        else:
            body = wire.message(message, owner=self.owner, conversation_id=addressed)
        await self._write(encode(body))
        self.last[conversation_id] = message.seq
