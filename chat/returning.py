"""What a visitor can do with a return code (docs/protocol.md §3.4; docs/design.md §9).

- Take a code at the end of a chat: ``POST /api/v1/return-codes`` with the conversation's resume token.
- ``return`` on a fresh visitor socket with the code: the thread as retention allows (``thread`` frame);
  then on the same socket ``start`` (continue live: the last adviser first, else the same service and
  region), ``leave_message`` or ``withdraw_code``.
- ``leave_message`` when the chat is closed or nobody in the visitor's language is signed in: on a fresh
  socket it opens a thread and answers with a new code (``message_left``), after ``return`` it adds to
  the thread.

Guessing is limited twice, before a code is even looked at: per client address in this process's
memory (``NORA_RETURN_ATTEMPTS_PER_ADDRESS`` an hour; the address is a key of a counter, never stored or
logged) and for the whole service (``NORA_RETURN_ATTEMPTS_PER_HOUR``, shared through Redis when several
instances run). A wrong, expired or withdrawn code gets one and the same answer. The code is in one
answer only, never in a log line or a later frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat.admission import Admission
from chat.codes import MAX_CODE_CHARS
from chat.errors import FrameError, invalid
from chat.events import MessagePosted
from chat.frames import CONTROL_CHARS, NO_CONTROL_CHARS, TOKEN, Start, parse_start
from chat.hub import VisitorConn
from chat.lifecycle import CommandParts, Commands
from chat.messages import StoredMessage
from chat.outbox import WS_1000_NORMAL
from chat.posting import VISITOR
from chat.threads import Continuation, Facts, ThreadStore, facts_of
from chat.visitors import VisitorCommands
from chat.wire import message
from core.clock import iso, to_datetime
from core.http import NO_STORE, HTTPError, read_json_object
from core.limits import Limits, MemoryLimits
from core.models import Conversation, ReturnThread
from core.settings import Settings
from routing import AdviserStatus

RETURN_TYPES = frozenset({"return", "leave_message", "withdraw_code"})
WINDOW_S = 3600.0
MAX_WAITING = 5  # messages one thread may have waiting for an answer
WRONG_CODE = "No thread for this code: it is wrong, has expired or was withdrawn."
CODE_SHAPE = re.compile(rf"[^\x00-\x1f\x7f]{{1,{MAX_CODE_CHARS}}}")


# ---------------------------------------------------------------------------------- frames


def conversation_for_visitor(conv: Conversation, messages: list[StoredMessage] | None) -> dict[str, Any]:
    """An earlier conversation as the visitor sees it: when, and the messages while they are kept."""
    return {
        "started_at": iso(conv.started_at),
        "closed_at": iso(conv.closed_at),
        "answered": conv.close_reason == "answered",
        "messages": None if messages is None else [message(m, owner=VISITOR) for m in messages],
    }


def thread_frame(
    thread: ReturnThread,
    valid_until: datetime,
    conversations: list[dict[str, Any]],
    waiting: list[dict[str, Any]],
    adviser: dict[str, Any] | None,
    *,
    open_now: bool,
) -> dict[str, Any]:
    return {
        "type": "thread",
        "valid_until": iso(valid_until),
        "language": thread.language,
        "region": thread.region,
        "audience": thread.audience,
        "open": open_now,
        "adviser": adviser,
        "conversations": conversations,
        "waiting": waiting,
    }


def message_left(valid_until: datetime, code: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "message_left", "valid_until": iso(valid_until)}
    if code is not None:
        out["code"] = code
    return out


# ---------------------------------------------------------------------------------- commands


class ReturnCommands(Commands):
    def __init__(
        self,
        parts: CommandParts,
        *,
        threads: ThreadStore,
        visitors: VisitorCommands,
        admission: Admission,
        limits: Limits,
        settings: Settings,
        is_open: Callable[[float], bool],
    ) -> None:
        super().__init__(parts)
        self.threads = threads
        self.visitors = visitors
        self.admission = admission
        self.shared = limits
        self.settings = settings
        self.is_open = is_open
        self._addresses = MemoryLimits(clock=parts.clock)

    async def _throttle(self, address: str | None, ref: str) -> None:
        """Count one attempt to use a code, per address and for the whole service."""
        wait_s = self._addresses.hit_now(
            f"return:{address or ''}", limit=self.settings.return_attempts_per_address, window_s=WINDOW_S
        )
        if not wait_s:
            wait_s = await self.shared.hit(
                "return:all", limit=self.settings.return_attempts_per_hour, window_s=WINDOW_S
            )
        if wait_s:
            raise FrameError(
                "rate_limited", "Too many tries with return codes; wait.", ref=ref, retry_after_ms=wait_s * 1000
            )

    async def return_(self, conn: VisitorConn, data: dict[str, Any]) -> None:
        if conn.conversation_id is not None or conn.thread_id is not None:
            raise FrameError("forbidden", "This connection already has a conversation or a thread.", ref="return")
        code = data.get("code")
        if not isinstance(code, str) or not CODE_SHAPE.fullmatch(code):
            raise invalid("return", {"code": f"required, the return code (at most {MAX_CODE_CHARS} characters)"})
        page_language = data.get("page_language")
        if page_language is not None and page_language not in self.reference().codes("languages"):
            raise invalid("return", {"page_language": "unknown code"})
        await self._throttle(conn.address, "return")
        now = to_datetime(self.clock())
        thread = await self.threads.find(code, now)
        if thread is None:
            raise FrameError("not_found", WRONG_CODE, ref="return")
        conn.thread_id = thread.id
        conn.thread_language = page_language
        conn.outbox.send(await self.view(thread))

    async def view(self, thread: ReturnThread) -> dict[str, Any]:
        """The thread as the visitor may see it: every conversation with its messages while they are
        kept, the messages still waiting for an answer, and the last adviser (and whether they are free)."""
        conversations = []
        for conv in await self.threads.conversations(thread.id):
            kept = None if conv.purged_at is not None else await self.store.messages_after(conv.id, 0)
            conversations.append(conversation_for_visitor(conv, kept))
        waiting = [{"text": m.text, "left_at": iso(m.left_at)} for m in await self.threads.waiting(thread.id)]
        adviser_id, service = await self.threads.last_adviser(thread.id)
        adviser = None
        if adviser_id is not None:
            profile = await self.directory.profile(adviser_id)
            snap = await self.routing.snapshot()
            free = any(a.id == adviser_id and a.status is AdviserStatus.AVAILABLE and a.has_room for a in snap.advisers)
            adviser = {"name": profile.name if profile else "", "service": service, "available": free}
        return thread_frame(
            thread,
            self.threads.valid_until(thread),
            conversations,
            waiting,
            adviser,
            open_now=self.is_open(self.clock()),
        )

    async def start(self, conn: VisitorConn, data: dict[str, Any]) -> None:
        """``start`` after ``return``: a new conversation in the thread. Fields not given are the thread's."""
        thread = await self._thread(conn, "start")
        defaults = {
            "language": thread.language,
            "region": thread.region,
            "audience": thread.audience,
            "page_language": conn.thread_language or thread.ui_language,
        }
        reference = self.reference()
        start = parse_start({**defaults, **data}, reference.codes("languages"), reference.codes("regions"))
        adviser_id, service = await self.threads.last_adviser(thread.id)

        async def joined(conv: Conversation) -> None:
            await self.threads.link(thread.id, conv)
            for left in await self.threads.take_waiting(thread.id):
                # The messages waiting for an answer open the conversation, so whoever takes it reads them.
                stored = await self.store.append(
                    conv.id, sender="visitor", text=left.text, at=left.left_at, sender_id=VISITOR
                )
                await self.fanout.publish(MessagePosted(conv.id, None, stored.message))

        await self.visitors.start(conn, start, continuation=Continuation(adviser_id, service, joined))

    async def leave_message(self, conn: VisitorConn, data: dict[str, Any]) -> None:
        """A message for the advisers while nobody can chat: a new thread and code on a fresh socket, or
        one more message in the thread after ``return``."""
        if conn.conversation_id is not None:
            raise FrameError("forbidden", "This connection has a conversation: write in it.", ref="leave_message")
        text = self._text(data)
        thread = await self._thread(conn, "leave_message") if conn.thread_id is not None else None
        start: Start | None = None
        if thread is None:
            reference = self.reference()
            start = parse_start(
                {k: v for k, v in data.items() if k != "text"},
                reference.codes("languages"),
                reference.codes("regions"),
            )
        language = thread.language if thread is not None else start.language if start is not None else ""
        if not await self._nobody_can_chat(language):
            raise FrameError(
                "forbidden", "The chat is open and someone can answer: start a chat instead.", ref="leave_message"
            )
        wait_ms = self.admission.start_wait_ms(conn.address)
        if wait_ms:
            raise FrameError(
                "rate_limited", "Too many from here; wait a moment.", ref="leave_message", retry_after_ms=wait_ms
            )
        now = to_datetime(self.clock())
        code = None
        if thread is None:
            assert start is not None  # noqa: S101 - parsed above when there is no thread
            facts = Facts(start.language, start.region, start.audience, start.page_language)
            thread_id, code = await self.threads.issue(None, facts, start.page_language or start.language, now)
            found = await self.threads.get(thread_id, now)
            assert found is not None  # noqa: S101 - just made
            thread = found
        elif len(await self.threads.waiting(thread.id)) >= MAX_WAITING:
            raise FrameError(
                "forbidden", f"{MAX_WAITING} messages are waiting for an answer already.", ref="leave_message"
            )
        await self.threads.leave(thread.id, text, now)
        conn.outbox.send(message_left(self.threads.valid_until(thread), code))
        conn.outbox.push_close(WS_1000_NORMAL)

    async def withdraw(self, conn: VisitorConn) -> None:
        """The visitor gives the code up: the thread, its links and waiting messages are erased now."""
        thread = await self._thread(conn, "withdraw_code")
        await self.threads.erase(thread.id)
        conn.thread_id = None
        conn.outbox.send({"type": "code_withdrawn"})
        conn.outbox.push_close(WS_1000_NORMAL)

    async def _thread(self, conn: VisitorConn, ref: str) -> ReturnThread:
        thread = await self.threads.get(conn.thread_id, to_datetime(self.clock())) if conn.thread_id else None
        if thread is None:
            raise FrameError("not_found", "No thread on this connection: send return with a code first.", ref=ref)
        return thread

    def _text(self, data: dict[str, Any]) -> str:
        text = data.get("text")
        limit = self.settings.max_text_chars
        if not isinstance(text, str):
            raise invalid("leave_message", {"text": "required, a string"})
        if CONTROL_CHARS.search(text) is not None:
            raise invalid("leave_message", {"text": NO_CONTROL_CHARS})
        text = text.strip()
        if not text or len(text) > limit:
            raise invalid("leave_message", {"text": f"1-{limit} characters"})
        return text

    async def _nobody_can_chat(self, language: str) -> bool:
        """Closed, or nobody who chats in ``language`` signed in (available or away)."""
        if not self.is_open(self.clock()):
            return True
        snap = await self.routing.snapshot()
        return not any(language in a.languages for a in snap.advisers if a.status is not AdviserStatus.OFFLINE)

    # ------------------------------------------------------------------------- take a code (HTTP)

    async def take_code(self, token: str, language: str, address: str | None) -> tuple[str, datetime]:
        """A code for the conversation of a resume token (and its thread); ``HTTPError`` otherwise."""
        conv = await self.store.by_token(token)
        if conv is None or conv.purged_at is not None:
            raise HTTPError("not_found", "No conversation for this token.")
        wait_ms = self.admission.start_wait_ms(address)
        if wait_ms:
            raise HTTPError("rate_limited", "Too many from here; wait a moment.", retry_after=max(1, wait_ms // 1000))
        now = to_datetime(self.clock())
        thread = await self.threads.thread_of(conv.id, now)
        thread_id, code = await self.threads.issue(thread, facts_of(conv), language, now)
        await self.threads.link(thread_id, conv)
        fresh = await self.threads.get(thread_id, now)
        assert fresh is not None  # noqa: S101 - just issued
        return code, self.threads.valid_until(fresh)


async def take_code(request: Request) -> Response:
    """``POST /api/v1/return-codes`` ``{"token","language"}`` → 201 ``{"code","valid_until"}``."""
    service = request.app.state.chat
    returns: ReturnCommands = service.returns
    data = await read_json_object(request)
    fields: dict[str, str] = {}
    token = data.get("token")
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        fields["token"] = "required, the conversation's resume token"
    language = data.get("language")
    if not isinstance(language, str) or language not in service.reference().codes("languages"):
        fields["language"] = "required, the language of the visitor's page (a code from /api/v1/reference)"
    for name in sorted(set(data) - {"token", "language"}):
        fields[name[:60]] = "unknown field"
    if fields:
        raise HTTPError("invalid", "Some fields are not valid.", fields=fields)
    address = request.client.host if request.client else None  # in memory only, never logged
    code, valid_until = await returns.take_code(str(token), str(language), address)
    return JSONResponse({"code": code, "valid_until": iso(valid_until)}, status_code=201, headers=NO_STORE)
