"""The message path: a message from its socket to the group commit, then to its ack and delivery.

It reads in one direction. The socket's reader calls ``MessagePath.post``, which checks the sender's
rate and hands a ``PendingMessage`` to the store's group commit without waiting. The commit answers
each pending message in its own turn of the loop (``PendingMessage.settled``); a stored one is then
acknowledged to its sender's outbox and published (``Fanout``) to everyone else in the conversation,
whose outboxes turn it into frames (``chat.wire``). A message its conversation no longer accepts is
answered with the precise error frame instead. No step waits in a coroutine of its own: that saves two
task switches and two loop turns per message (bench/README.md).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from chat import metrics
from chat.errors import FrameError, not_found
from chat.events import MessagePosted
from chat.fanout import Fanout
from chat.frames import Text
from chat.group_commit import Guard, Outcome
from chat.messages import StoredMessage
from chat.outbox import Ack, Outbox
from chat.ratelimit import Limits
from chat.store import ConversationStore
from chat.texts import notice
from core.clock import Clock, to_datetime
from core.models import Conversation
from core.settings import Settings

log = logging.getLogger("nora.chat")
VISITOR = "visitor"  # the sender id of every visitor message (visitors are anonymous)


@dataclass(eq=False, slots=True)
class PendingMessage:
    """A message handed to the group commit, and the socket waiting to hear what became of it."""

    path: MessagePath
    outbox: Outbox
    conversation_id: str
    sender: str  # "visitor" or "adviser"
    sender_id: str
    text: str
    client_id: str
    at: datetime
    origin: str  # the sending socket, which gets the ack instead of the message
    guard: Guard
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def settled(self, outcome: Outcome | BaseException) -> None:
        """Called by the group commit right after the commit, in the same turn of the loop."""
        try:
            self.path.settle(self, outcome)
        except Exception as exc:  # noqa: BLE001 - the socket's lane reports it and closes the socket
            if not self.done.done():
                self.done.set_exception(exc)


class MessagePath:
    def __init__(
        self, store: ConversationStore, fanout: Fanout, limits: Limits, settings: Settings, clock: Clock
    ) -> None:
        self.store = store
        self.fanout = fanout
        self.limits = limits
        self.settings = settings
        self.clock = clock
        self._explaining: set[asyncio.Task[None]] = set()

    def post(
        self,
        outbox: Outbox,
        conversation_id: str,
        text: Text,
        *,
        sender: str,
        sender_id: str,
        origin: str,
        guard: Guard,
    ) -> asyncio.Future[None]:
        """Hand a message to the next group commit; the future completes once it is stored and
        acknowledged, or carries the ``FrameError`` that refuses it. Raises ``rate_limited`` at once."""
        self.check_rate(sender_id, conversation_id)
        pending = PendingMessage(
            self,
            outbox,
            conversation_id,
            sender,
            sender_id,
            text.text,
            text.client_id,
            to_datetime(self.clock()),
            origin,
            guard,
        )
        # Before it is stored: if a gap fill reads it back before its ack is queued, the sender gets
        # the ack there, never its own text as a ``message``.
        outbox.expect_ack(conversation_id, pending.client_id)
        self.store.append_nowait(
            conversation_id,
            sender=sender,
            text=pending.text,
            at=pending.at,
            client_id=pending.client_id,
            sender_id=sender_id,
            only_if=guard,
            on_settle=pending.settled,
        )
        return pending.done

    def check_rate(self, sender_id: str, conversation_id: str) -> None:
        wait_ms = self.limits.take_now(
            f"msg:{sender_id}:{conversation_id}", rate=self.settings.rate_per_s, burst=self.settings.rate_burst
        )
        if wait_ms:
            raise FrameError("rate_limited", "Too many messages; wait a moment.", ref="message", retry_after_ms=wait_ms)

    def typing_allowed(self, sender_id: str, conversation_id: str) -> bool:
        """Typing hints are dropped, not refused, past two a second."""
        return (
            self.limits.take_now(f"typing:{sender_id}:{conversation_id}", rate=self.settings.typing_per_s, burst=2) == 0
        )

    def settle(self, pending: PendingMessage, outcome: Outcome | BaseException) -> None:
        if isinstance(outcome, BaseException) or outcome is None:
            pending.outbox.forget_ack(pending.conversation_id, pending.client_id)
            if outcome is not None:
                pending.done.set_exception(outcome)
            else:
                self._explain_refusal(pending)
            return
        seq, created, adviser_id = outcome
        pending.outbox.push(Ack(pending.conversation_id, pending.client_id, seq))
        if created:  # a resend is acknowledged again, but was delivered the first time
            metrics.MESSAGES_BY_SENDER[pending.sender].inc()
            message = StoredMessage(
                seq, pending.sender, pending.text, pending.at, pending.client_id, None, pending.sender_id
            )
            self.fanout.publish_soon(MessagePosted(pending.conversation_id, adviser_id, message, pending.origin))
        pending.done.set_result(None)

    def _explain_refusal(self, pending: PendingMessage) -> None:
        """The guard turned the message down: read the conversation to say precisely why."""
        task = asyncio.create_task(self._refuse(pending))
        self._explaining.add(task)
        task.add_done_callback(self._explaining.discard)

    async def _refuse(self, pending: PendingMessage) -> None:
        try:
            error: BaseException = await self.why_refused(pending.conversation_id, pending.guard)
        except Exception as exc:  # noqa: BLE001 - reading it failed: that is the error then
            error = exc
        if not pending.done.done():
            pending.done.set_exception(error)

    async def why_refused(self, conversation_id: str, guard: Guard) -> FrameError:
        if guard.kind != "adviser":
            return FrameError("not_found", "This conversation has ended.", ref="message")
        conv = await self.store.get(conversation_id)
        if conv is None or conv.adviser_id != guard.adviser_id:
            return not_found("message")  # someone else's conversation reads exactly like a missing one
        return FrameError("forbidden", "This conversation is closed.", ref="message")

    async def system(
        self, conv: Conversation, event: str, adviser_id: str | None, *, text_key: str | None = None, **values: str
    ) -> StoredMessage:
        """Store a system notice in the conversation's language and deliver it like any message."""
        text = notice(text_key or event, conv.language, **values)
        stored = await self.store.append(conv.id, sender="system", text=text, at=to_datetime(self.clock()), event=event)
        await self.fanout.publish(MessagePosted(conv.id, adviser_id, stored.message))
        return stored.message
