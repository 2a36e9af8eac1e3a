"""Conversation transitions that more than one actor sets off: close, and back to the queue.

A visitor leaves or times out, an adviser closes, an adviser's grace period ends: each comes here, so
the store, the routing state, the system notice and the fan-out always change together, in that
order (the database first: it is the truth a lost event is recovered from).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chat.abandoned import settle_visitor_wrote
from chat.abuse import AbuseGuard
from chat.assignment import Assigner
from chat.errors import FrameError, not_found
from chat.events import Closed, Presence, Requeued, Unassigned
from chat.fanout import Fanout
from chat.hub import Hub, StaffConn
from chat.posting import MessagePath
from chat.staff import StaffDirectory
from chat.store import ConversationStore
from chat.warm_transfer import offer_left_holder
from core.clock import Clock, to_datetime
from core.models import Conversation
from core.models import ConversationState as S
from core.reference import Reference
from routing import RoutingState


class Lifecycle:
    def __init__(
        self,
        *,
        store: ConversationStore,
        routing: RoutingState,
        fanout: Fanout,
        messages: MessagePath,
        assigner: Assigner,
        clock: Clock,
    ) -> None:
        self.store = store
        self.routing = routing
        self.fanout = fanout
        self.messages = messages
        self.assigner = assigner
        self.clock = clock

    async def close(self, conversation_id: str, reason: str, *, quick_exit: bool = False) -> bool:
        """Close a queued or assigned conversation; whether this call closed it. ``quick_exit``: the
        visitor left by the widget's quick exit (reason ``visitor_left``), which the notice says."""
        now = self.clock()
        conv = await self.store.get(conversation_id)
        if conv is None or conv.state == S.CLOSED:
            return False
        if not await self.store.close_conversation(conversation_id, reason, to_datetime(now)):
            return False
        wrote = await settle_visitor_wrote(self.store, conversation_id)  # silent: abandoned, not pending
        if conv.state == S.QUEUED:
            await self.routing.withdraw(conversation_id)
        elif conv.adviser_id:
            await self.routing.release(conv.adviser_id, conversation_id, now)
        if reason == "visitor_left":
            event = "visitor_quick_exit" if quick_exit else "visitor_left"
            await self.messages.system(conv, event, conv.adviser_id)
        else:
            key = reason if reason == "visitor_timeout" else None  # abusive: the ordinary "ended" notice
            await self.messages.system(conv, "closed", conv.adviser_id, text_key=key)
        await self.fanout.publish(Closed(conversation_id, conv.adviser_id, reason, quick_exit, wrote))
        await offer_left_holder(self.fanout, conv)
        await self.assigner.route()
        return True

    async def visitor_away(self, conv: Conversation, at: float) -> bool:
        """The visitor's last socket is gone (closed here, or held by an instance that died): the grace
        period runs from ``at``; a queued chat keeps its place but is not assigned meanwhile. Whether
        this call marked it (of instances racing to, one does)."""
        if not await self.store.mark_visitor_away(conv.id, to_datetime(at)):
            return False
        if conv.state == S.QUEUED:
            await self.routing.set_present(conv.id, False)
            self.fanout.queue_dirty = True
        await self.fanout.publish(Presence(conv.id, conv.adviser_id, "away"))
        await self.messages.system(conv, "visitor_away", conv.adviser_id)
        return True

    async def requeue(self, conversation_id: str, adviser_id: str, reason: str) -> None:
        """Back to the queue at its original place, from an adviser who no longer holds it."""
        before = await self.store.get(conversation_id)
        changed = await self.store.requeue(conversation_id, adviser_id)
        conv = await self.store.get(conversation_id)
        if not changed or conv is None or before is None:
            return
        await self.messages.system(conv, "requeued", None)
        await self.fanout.publish(Unassigned(conversation_id, adviser_id, reason))
        await offer_left_holder(self.fanout, before)
        await self.fanout.publish(Requeued(conversation_id))
        await self.routing.enqueue(self.assigner.request(conv))

    async def open_transfers_to(self, adviser_id: str) -> None:
        """Chats transferred to a named adviser who has now gone are open to everyone again,
        at their original place, rather than waiting for that one person forever."""
        for conv in await self.store.waiting_for(adviser_id):
            if await self.store.open_to_everyone(conv.id, adviser_id):
                conv.target_adviser_id = None
                await self.routing.enqueue(self.assigner.request(conv))


@dataclass(frozen=True)
class CommandParts:
    """What every socket's commands work with (``VisitorCommands``, ``AdviserCommands``): built once
    per instance by ``ChatService``."""

    store: ConversationStore
    routing: RoutingState
    directory: StaffDirectory
    hub: Hub
    fanout: Fanout
    messages: MessagePath
    assigner: Assigner
    lifecycle: Lifecycle
    reference: Callable[[], Reference]
    clock: Clock
    abuse: AbuseGuard | None = None  # None: no blocks (tests that build the parts by hand)


class Commands:
    """Base of the socket commands: the parts, by name."""

    def __init__(self, parts: CommandParts) -> None:
        self.store = parts.store
        self.routing = parts.routing
        self.directory = parts.directory
        self.hub = parts.hub
        self.fanout = parts.fanout
        self.messages = parts.messages
        self.assigner = parts.assigner
        self.lifecycle = parts.lifecycle
        self.reference = parts.reference
        self.clock = parts.clock
        self.abuse = parts.abuse

    async def held(self, conn: StaffConn, conversation_id: str, ref: str) -> Conversation:
        """The conversation, if this adviser holds it and it is open."""
        conv = await self.store.get(conversation_id)
        if conv is None or conv.adviser_id != conn.user_id:
            raise not_found(ref)  # someone else's conversation reads exactly like a missing one
        if conv.state != S.ASSIGNED:
            raise FrameError("forbidden", "This conversation is closed.", ref=ref)
        return conv
