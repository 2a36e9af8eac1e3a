"""What a visitor's socket can do: start or resume a conversation, write, type, leave, drop."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime

from chat import metrics, wire
from chat.abuse import session_key
from chat.admission import Admission
from chat.conversation_sql import new_conversation
from chat.errors import FrameError, invalid
from chat.events import Presence, Typing
from chat.frames import Resume, Start, Text
from chat.group_commit import Guard
from chat.hours import OpeningHoursBook
from chat.hub import VisitorConn
from chat.lifecycle import CommandParts, Commands
from chat.outbox import WS_1000_NORMAL, Replay
from chat.posting import VISITOR
from chat.store import AlreadyExists, hash_token
from chat.threads import Continuation
from core.clock import to_datetime
from core.models import Conversation
from core.models import ConversationState as S

OPEN = Guard("open")


def alias() -> str:
    return f"Gjest {secrets.randbelow(9000) + 1000}"


def no_conversation(ref: str) -> FrameError:
    return FrameError("not_found", "No conversation on this connection: send start or resume first.", ref=ref)


def ended(ref: str) -> FrameError:
    return FrameError("not_found", "This conversation has ended.", ref=ref)


class VisitorCommands(Commands):
    def __init__(self, parts: CommandParts, *, hours: OpeningHoursBook, admission: Admission) -> None:
        super().__init__(parts)
        self.hours = hours
        self.admission = admission

    async def start(self, conn: VisitorConn, start: Start, *, continuation: Continuation | None = None) -> None:
        """A new conversation; ``continuation``: it continues a return code's thread (chat/returning.py)."""
        if conn.conversation_id is not None:
            raise FrameError("forbidden", "This connection already has a conversation.", ref="start")
        wait_ms = self.admission.start_wait_ms(conn.address)
        if wait_ms:
            raise FrameError(
                "rate_limited", "Too many chats started from here; wait a moment.", ref="start", retry_after_ms=wait_ms
            )
        await self._not_blocked(conn, start.session)
        now = self.clock()
        opening_hours = self.hours.current()
        if opening_hours is not None and not opening_hours.is_open(now):
            conn.outbox.send(wire.closed_hours(opening_hours.next_opening_iso(now), self.reference().help_lines()))
            conn.outbox.push_close(WS_1000_NORMAL)
            return
        start_key = hash_token(start.client_id) if start.client_id else None
        if start_key is not None and await self._start_again(conn, start_key):
            return
        token = secrets.token_urlsafe(32)
        try:
            conv = await self._create(start, start_key, token, to_datetime(now), continuation)
        except AlreadyExists:
            # The same start arrived twice at once (two sockets after a flaky network): join the twin.
            if start_key is not None and await self._start_again(conn, start_key):
                return
            raise
        metrics.CONVERSATIONS.inc()
        conn.conversation_id, conn.language, conn.state = conv.id, conv.language, S.QUEUED
        conn.outbox.last[conv.id] = 0
        self.hub.add_visitor(conn)
        conn.outbox.send(wire.started(conv.id, token, conv.alias))
        if continuation is not None:
            await continuation.joined(conv)
        if conv.urgent:
            await self.messages.system(conv, "urgent_help", None)
        await self.routing.enqueue(self.assigner.request(conv))
        if continuation is not None and continuation.adviser_id is not None:
            # The adviser of the last visit first, if available with room (checked atomically); otherwise
            # the step below routes it to the same service in the visitor's region.
            await self.assigner.assign_to(conv.id, continuation.adviser_id)
        await self.assigner.route()
        self.fanout.queue_dirty = True  # the first `queue` frame comes with the next refresh (< 0.25 s)

    async def _start_again(self, conn: VisitorConn, start_key: str) -> bool:
        """A ``start`` repeated with its ``client_id`` (its ``started`` was lost with the connection)
        gets the same conversation, with a fresh token, and everything that happened since."""
        conv = await self.store.by_start_key(start_key)
        if conv is None:
            return False
        if conv.state == S.CLOSED or conv.purged_at is not None:
            await self.store.forget_start_key(conv.id)  # that one is over: start afresh
            return False
        token = secrets.token_urlsafe(32)
        await self.store.renew_token(conv.id, hash_token(token))
        conn.outbox.send(wire.started(conv.id, token, conv.alias))
        await self._attach(conn, conv, 0)
        return True

    async def _create(
        self, start: Start, start_key: str | None, token: str, now: datetime, continuation: Continuation | None = None
    ) -> Conversation:
        return await self.store.create(
            new_conversation(
                token_hash=hash_token(token),
                start_key=start_key,
                alias=alias(),
                language=start.language,
                also_languages=",".join(start.also_languages),
                ui_language=start.page_language,
                region=start.region,
                audience=start.audience,
                urgent=start.urgent,
                state=S.QUEUED,
                started_at=now,
                enqueued_at=now,
                target_service=continuation.service if continuation is not None else None,
                visitor_instance=self.fanout.instance,
            )
        )

    async def _not_blocked(self, conn: VisitorConn, session: str | None) -> None:
        """A browser session whose chat an adviser ended as abusive starts none for a while (chat/abuse.py)."""
        conn.session_key = session_key(session) if session else None
        wait_ms = await self.abuse.start_wait_ms(conn.session_key) if self.abuse is not None else 0
        if wait_ms:
            raise FrameError(
                "blocked", "This browser session cannot start a new chat yet.", ref="start", retry_after_ms=wait_ms
            )

    async def resume(self, conn: VisitorConn, resume: Resume) -> None:
        if conn.conversation_id is not None:
            raise FrameError("forbidden", "This connection already has a conversation.", ref="resume")
        if resume.session:
            conn.session_key = session_key(resume.session)  # so an abusive end still reaches this tab
        conv = await self.store.by_token(resume.token)
        if conv is None or conv.purged_at is not None:
            raise FrameError("not_found", "No conversation for this token.", ref="resume")
        if resume.last_seq > conv.next_seq:
            # A client ahead of the conversation would never be sent what comes next: say so instead.
            raise invalid(
                "resume", {"last_seq": f"past the end of this conversation (its last seq is {conv.next_seq})"}
            )
        if resume.page_language is not None and resume.page_language != conv.ui_language:
            await self.store.set_ui_language(conv.id, resume.page_language)
            conv.ui_language = resume.page_language
        conn.conversation_id, conn.language, conn.state = conv.id, conv.language, conv.state
        conn.outbox.send(wire.resumed(conv.id, conv.state))
        if conv.state == S.CLOSED:
            conn.outbox.push(Replay(conv.id, resume.last_seq))
            conn.outbox.send(wire.closed(conv.close_reason or "adviser_closed"))
            conn.outbox.push_close(WS_1000_NORMAL)
            return
        await self._attach(conn, conv, resume.last_seq)

    async def _attach(self, conn: VisitorConn, conv: Conversation, last_seq: int) -> None:
        """Join a socket to a live conversation: replay after ``last_seq``, then where it stands."""
        conn.conversation_id, conn.language, conn.state = conv.id, conv.language, conv.state
        self.hub.add_visitor(conn)
        conn.outbox.push(Replay(conv.id, last_seq))
        # Away because a restarting instance closed the socket on purpose: nothing to tell the adviser.
        was_away = conv.visitor_away_since is not None and not self.fanout.handed_over(conv.id)
        await self.store.mark_visitor_back(conv.id, self.fanout.instance)
        if conv.state == S.ASSIGNED and conv.adviser_id:
            profile = await self.directory.profile(conv.adviser_id)
            conn.outbox.send(wire.adviser_joined(profile.name if profile else "", conv.service))
        else:
            await self._send_queue(conn)
        if was_away:
            await self.fanout.publish(Presence(conv.id, conv.adviser_id, "back"))
            await self.messages.system(conv, "visitor_back", conv.adviser_id)
            if conv.state == S.QUEUED and await self.routing.set_present(conv.id, True):
                await self.assigner.route()  # back at its place in line, and served if someone is free
                self.fanout.queue_dirty = True

    async def _send_queue(self, conn: VisitorConn) -> None:
        if conn.conversation_id is None or conn.state != S.QUEUED:
            return
        current = (await self.assigner.queue_estimates()).get(conn.conversation_id)
        if current is not None:
            conn.last_queue = current
            conn.outbox.send(wire.queue_position(*current))

    def submit_message(self, conn: VisitorConn, text: Text) -> asyncio.Future[None] | None:
        """Hand a message over without waiting (``MessagePath.post``); ``None`` when it must go through
        ``message`` instead: no open conversation here (answered with the precise error), or a rate
        check that is a round trip to Redis (awaited in the socket's lane)."""
        conversation_id = conn.conversation_id
        if conversation_id is None or conn.state == S.CLOSED:
            return None
        return self.messages.post(
            conn.outbox, conversation_id, text, sender="visitor", sender_id=VISITOR, origin=conn.id, guard=OPEN
        )

    async def message(self, conn: VisitorConn, text: Text) -> None:
        conversation_id = conn.conversation_id
        if conversation_id is None or conn.state == S.CLOSED:
            await self._conversation(conn, "message")  # raises the precise error
            raise ended("message")
        await self.messages.post_checked(
            conn.outbox, conversation_id, text, sender="visitor", sender_id=VISITOR, origin=conn.id, guard=OPEN
        )

    async def _conversation(self, conn: VisitorConn, ref: str) -> Conversation:
        if conn.conversation_id is None:
            raise no_conversation(ref)
        conv = await self.store.get(conn.conversation_id)
        if conv is None or conv.state == S.CLOSED:
            raise ended(ref)
        return conv

    async def typing(self, conn: VisitorConn) -> None:
        if conn.conversation_id is None or conn.state != S.ASSIGNED:
            return  # typing is a hint: silently ignored when nobody could see it
        if await self.messages.typing_allowed(VISITOR, conn.conversation_id):
            conv = await self.store.get(conn.conversation_id)
            if conv is not None and conv.adviser_id:
                await self.fanout.publish(Typing(conv.id, conv.adviser_id, "visitor"))

    async def page_language(self, conn: VisitorConn, language: str) -> None:
        """The visitor switched the page's language: notices from now on are written in it."""
        conv = await self._conversation(conn, "page_language")
        await self.store.set_ui_language(conv.id, language)

    async def leave(self, conn: VisitorConn, *, quick_exit: bool = False) -> None:
        """The visitor ends the chat; by the widget's quick exit, the adviser is told so (it can mean danger)."""
        conv = await self._conversation(conn, "leave")
        conn.left = True
        if conv.adviser_id:
            await self.fanout.publish(Presence(conv.id, conv.adviser_id, "left", quick_exit))
        await self.lifecycle.close(conv.id, "visitor_left", quick_exit=quick_exit)

    async def disconnected(self, conn: VisitorConn) -> None:
        remaining = self.hub.remove_visitor(conn)
        if conn.conversation_id is None or conn.left or remaining or conn.handed_over:
            return  # handed over: marked away before its socket was told to reconnect (chat/drain.py)
        conv = await self.store.get(conn.conversation_id)
        if conv is None or conv.state == S.CLOSED:
            return
        await self.lifecycle.visitor_away(conv, self.clock())
