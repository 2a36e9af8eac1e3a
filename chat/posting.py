"""The message path: a message from its socket to the group commit, then to its ack and delivery.

It reads in one direction. The socket's reader calls ``MessagePath.post``, which checks the sender's
rate and hands a ``PendingMessage`` to the store's group commit without waiting. The commit answers
each pending message in its own turn of the loop (``PendingMessage.settled``); a stored one is then
acknowledged to its sender's outbox and published (``Fanout``) to everyone else in the conversation,
whose outboxes turn it into frames (``chat.wire``). A message its conversation no longer accepts is
answered with the precise error frame instead. No step waits in a coroutine of its own: that saves two
task switches and two loop turns per message (bench/README.md).

With limits in this process (one instance) the rate check is synchronous and the whole hand-over
happens where the frame is read (``post``). With limits shared through Redis (several instances, one
limit per sender) it is synchronous too once this instance holds the lease of the sender's bucket
(``core.bucket_leases``); until then, or while the bucket is shared with another instance, the check
is a round trip: the socket's lane awaits it, in frame order, and then hands the message over the same
way (``post_checked``).
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
from chat.store import ConversationStore
from chat.texts import notice
from core.clock import Clock, to_datetime
from core.limits import Limits, MemoryLimits
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
        # While the shared limits cannot be reached, each instance limits on its own: a Redis outage
        # must not stop anyone's messages (docs/reliability.md 33).
        self._fallback = limits if isinstance(limits, MemoryLimits) else MemoryLimits(clock=clock)
        self._shared_down_since: float | None = None
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
    ) -> asyncio.Future[None] | None:
        """Hand a message to the next group commit; the future completes once it is stored and
        acknowledged, or carries the ``FrameError`` that refuses it. Raises ``rate_limited`` at once.
        ``None`` (nothing done) when the rate check must be awaited: then ``post_checked``."""
        key = self._rate_key(sender_id, conversation_id)
        wait_ms = self._take_now(key, rate=self.settings.rate_per_s, burst=self.settings.rate_burst)
        if wait_ms is None:
            return None
        self._refuse_past(wait_ms)
        return self._hand_over(outbox, conversation_id, text, sender, sender_id, origin, guard)

    def _take_now(self, key: str, *, rate: float, burst: int) -> int | None:
        if self._shared_down_since is not None:
            return None  # ``_take`` falls back, and notices when the shared limits are back
        return self.limits.take_now(key, rate=rate, burst=burst)

    async def post_checked(
        self,
        outbox: Outbox,
        conversation_id: str,
        text: Text,
        *,
        sender: str,
        sender_id: str,
        origin: str,
        guard: Guard,
    ) -> None:
        """``post`` with the rate checked against the shared limits first; returns once answered."""
        rate, burst = self.settings.rate_per_s, self.settings.rate_burst
        self._refuse_past(await self._take(self._rate_key(sender_id, conversation_id), rate=rate, burst=burst))
        await self._hand_over(outbox, conversation_id, text, sender, sender_id, origin, guard)

    def _hand_over(
        self,
        outbox: Outbox,
        conversation_id: str,
        text: Text,
        sender: str,
        sender_id: str,
        origin: str,
        guard: Guard,
    ) -> asyncio.Future[None]:
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

    @staticmethod
    def _rate_key(sender_id: str, conversation_id: str) -> str:
        """One limit per sender and conversation (every visitor's sender id is the same)."""
        return f"msg:{sender_id}:{conversation_id}"

    @staticmethod
    def _refuse_past(wait_ms: int) -> None:
        if wait_ms:
            raise FrameError("rate_limited", "Too many messages; wait a moment.", ref="message", retry_after_ms=wait_ms)

    async def typing_allowed(self, sender_id: str, conversation_id: str) -> bool:
        """Typing hints are dropped, not refused, past two a second."""
        key = f"typing:{sender_id}:{conversation_id}"
        return await self._take(key, rate=self.settings.typing_per_s, burst=2) == 0

    async def _take(self, key: str, *, rate: float, burst: int) -> int:
        if (wait_ms := self._take_now(key, rate=rate, burst=burst)) is not None:
            return wait_ms
        try:
            wait_ms = await self.limits.take(key, rate=rate, burst=burst)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the message must not fail with it
            if self._shared_down_since is None:
                self._shared_down_since = self.clock()
                log.warning("shared rate limits unreachable (%s); limiting per instance", type(exc).__name__)
            return self._fallback.take_now(key, rate=rate, burst=burst)
        if self._shared_down_since is not None:
            self._shared_down_since = None
            log.info("shared rate limits reachable again")
        return wait_ms

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
        """Store a system notice in the visitor's page language (the chat language for clients that do
        not say) and deliver it like any message."""
        text = notice(text_key or event, conv.ui_language or conv.language, **values)
        stored = await self.store.append(conv.id, sender="system", text=text, at=to_datetime(self.clock()), event=event)
        await self.fanout.publish(MessagePosted(conv.id, adviser_id, stored.message))
        return stored.message
