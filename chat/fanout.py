"""Events to sockets: publish to the other instances, listen to them, and apply each event here.

The publishing instance applies its own events to its own sockets at once, before the broker hop: its
sockets then get a message before any later message's ack, in seq order, with no read-back from the
database and no JSON round trip. Other instances get the event through the broker (``chat.events``
encodes it) and apply it the same way. Each event type has one handler (``_handlers``), which turns it
into frames (``chat.wire``) for the sockets of the ``Hub`` it concerns.

A broker outage is logged, never raised: the database holds the truth and every socket catches up by
``seq`` once events flow again (docs/reliability.md 27).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from chat import events, wire
from chat.broker import Broker
from chat.events import (
    Assigned,
    CapacityChanged,
    Closed,
    DiversionsChanged,
    Event,
    HandedOver,
    MessagePosted,
    Notice,
    Presence,
    QueueChanged,
    Requeued,
    Resync,
    SessionRevoked,
    StaffChanged,
    StatusChanged,
    TransferEnded,
    TransferOffered,
    Typing,
    Unassigned,
)
from chat.hub import Hub, StaffConn, VisitorConn
from chat.notices import MemoryNotices, Notices
from chat.outbox import WS_1000_NORMAL, WS_1008_POLICY, Deliver, Replay, Run, Untrack
from chat.views import ConversationViews, KnownBody
from chat.warm_transfer import Offers
from core.models import ConversationState as S

log = logging.getLogger("nora.chat")
HANDED_OVER_S = 120.0  # how long a conversation handed over by a restarting instance is remembered
WATCHED_MAX = 10_000  # conversations counted at once (``watch``); beyond, the counts start afresh
UNKNOWN = -1  # ``watched``: the count was lost (not watched, watched twice at once, or dropped)


class Fanout:
    def __init__(self, broker: Broker, hub: Hub, views: ConversationViews) -> None:
        self.broker = broker
        self.hub = hub
        self.views = views
        self.instance = secrets.token_hex(8)  # marks this instance's own events on the broker
        self.queue_dirty = False  # queue positions are due for a refresh (``Scheduler``)
        self.rebuild_due = False  # the routing state may have been lost with Redis (``Scheduler``)
        self.diversions_stale = False  # another instance changed the diversions (``Scheduler``)
        # Told the browser-session hashes of a conversation's visitor sockets here when it ends as abusive.
        self.on_abusive: Callable[[list[str]], None] | None = None
        # Told a staff account that changed (``None``: any may have, events were lost): its cached profile
        # is read again (``StaffDirectory.forget``).
        self.on_staff_changed: Callable[[str | None], None] | None = None
        self.offers = Offers(hub)  # tells the consoles of warm transfers (chat/warm_transfer.py)
        # The latest supervisors' notices, for consoles that open later (chat/notices.py): set by
        # ``ChatService``, shared through Redis when the instances share one.
        self.notices = Notices(MemoryNotices())
        self._queue_watchers: set[Callable[[], None]] = set()
        # Conversations whose visitor sockets a restarting instance closed on purpose, until when.
        self._handed_over: dict[str, float] = {}
        # Conversations being assigned here, and how many events about each were applied since
        # (``watch``); and the console body of one assigned here, for the ``Assigned`` applied next.
        self._watched: dict[str, int] = {}
        self._known: dict[str, KnownBody] = {}
        self._listening = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            MessagePosted: self._message_posted,
            Typing: self._typing,
            Assigned: self._assigned,
            Closed: self._closed,
            Presence: self._presence,
            Unassigned: self._unassigned,
            Requeued: self._requeued,
            CapacityChanged: self._capacity_changed,
            StatusChanged: self._status_changed,
            QueueChanged: self._queue_changed,
            SessionRevoked: self._session_revoked,
            HandedOver: self._handed_over_here,
            Notice: self._notice,
            TransferOffered: self.offers.offered,
            TransferEnded: self.offers.ended,
            StaffChanged: self._staff_changed,
            DiversionsChanged: self._diversions_changed,
            Resync: self._resync,
        }

    # ------------------------------------------------------------ publishing

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="nora-listen")
        await asyncio.wait_for(self._listening.wait(), timeout=10)

    async def stop(self) -> None:
        await self.flush()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def publish(self, event: Event) -> None:
        """Apply an event to this instance's sockets, then send it to the others (in order behind any
        event still on its way out). Never waits: kept a coroutine for its many callers."""
        self.publish_soon(event)

    def publish_soon(self, event: Event) -> None:
        """Apply an event here at once, and send it to the other instances in order (``Broker.send``)."""
        self.apply(event)
        if self.broker.reaches_other_instances:
            self.broker.send(events.encode(event, self.instance))

    async def flush(self, timeout: float = 5.0) -> None:
        """Send every event still waiting to go to the other instances (before this one exits: an event
        lost there would leave a peer without a message until the conversation's next one)."""
        await self.broker.flush(timeout)

    def watch(self, conversation_id: str) -> None:
        """Count the events about this conversation applied here from now until ``watched``."""
        if conversation_id in self._watched:
            self._watched[conversation_id] = UNKNOWN - 1_000_000  # two at once: neither count is its own
            return
        if len(self._watched) >= WATCHED_MAX:
            self._watched.clear()  # only left behind by a failure; a cleared count reads as unknown
        self._watched[conversation_id] = 0

    def watched(self, conversation_id: str) -> int:
        """How many events about it were applied since ``watch`` (``UNKNOWN``: no count), and stop."""
        return max(UNKNOWN, self._watched.pop(conversation_id, UNKNOWN))

    def publish_assigned(self, event: Assigned, known: KnownBody | None) -> None:
        """``publish_soon`` of an assignment made here; ``known``: its console body, without a read."""
        if known is not None:
            self._known[event.conversation_id] = known
        try:
            self.publish_soon(event)
        finally:
            self._known.pop(event.conversation_id, None)

    def handed_over(self, conversation_id: str) -> bool:
        """Whether a restarting instance closed this conversation's visitor socket in the last minutes."""
        until = self._handed_over.get(conversation_id)
        return until is not None and until >= asyncio.get_running_loop().time()

    # ------------------------------------------------------------ listening

    async def _listen(self) -> None:
        while True:
            try:
                async with self.broker.listen() as queue:
                    self._listening.set()
                    while True:
                        self._receive(await queue.get())
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.warning("broker listener failed; restarting")
                await asyncio.sleep(1)

    def _receive(self, payload: dict[str, Any]) -> None:
        if payload.get("instance") == self.instance:
            return  # our own, applied when published: half of what two instances read, not decoded
        try:
            event, _ = events.decode(payload)
        except events.UnknownEvent as exc:
            log.warning("ignored an event this version does not know (%s)", exc)
            return
        self.apply(event)

    # ------------------------------------------------------------ supervisors

    @contextlib.contextmanager
    def watching_queue(self) -> Iterator[asyncio.Event]:
        """An event set whenever the queue or an adviser's status or capacity changes here."""
        changed = asyncio.Event()
        self._queue_watchers.add(changed.set)
        try:
            yield changed
        finally:
            self._queue_watchers.discard(changed.set)

    def queue_changed(self) -> None:
        for watcher in list(self._queue_watchers):
            watcher()

    # ------------------------------------------------------------ applying events here

    def apply(self, event: Event) -> None:
        if self._watched:
            conversation_id = getattr(event, "conversation_id", None)
            if conversation_id in self._watched:
                self._watched[conversation_id] += 1
        try:
            self._handlers[type(event)](event)
        except Exception:  # noqa: BLE001 - one bad event must not stop delivery
            log.exception("event handling failed for %s", events.NAMES.get(type(event)))

    def _message_posted(self, event: MessagePosted) -> None:
        cid, message = event.conversation_id, event.message
        for vconn in self.hub.visitors_of(cid):
            if vconn.id != event.origin:
                vconn.outbox.push(Deliver(cid, message))
        for sconn in self.hub.advisers_of(event.adviser_id):
            if sconn.id != event.origin:
                sconn.outbox.push(Deliver(cid, message))

    def _typing(self, event: Typing) -> None:
        if event.sender == "adviser":
            for vconn in self.hub.visitors_of(event.conversation_id):
                vconn.outbox.send(wire.adviser_typing())
        else:
            for sconn in self.hub.advisers_of(event.adviser_id):
                sconn.outbox.send(wire.visitor_typing(event.conversation_id))

    def _assigned(self, event: Assigned) -> None:
        for vconn in self.hub.visitors_of(event.conversation_id):
            vconn.state = S.ASSIGNED
            vconn.outbox.send(wire.adviser_joined(event.name, event.service))
        known = self._known.pop(event.conversation_id, None)
        for sconn in self.hub.advisers_of(event.adviser_id):
            sconn.outbox.push(Run(partial(self.views.send_assigned, event.conversation_id, known=known)))

    def _closed(self, event: Closed) -> None:
        sessions = [v.session_key for v in self.hub.visitors_of(event.conversation_id) if v.session_key]
        if event.reason == "abusive" and sessions and self.on_abusive is not None:
            self.on_abusive(sessions)  # chat/abuse.py: no new chat from those browser sessions for a while
        for vconn in list(self.hub.visitors_of(event.conversation_id)):
            vconn.state = S.CLOSED
            vconn.outbox.send(wire.closed(event.reason))
            vconn.outbox.push_close(WS_1000_NORMAL)
            self.hub.remove_visitor(vconn)
        for sconn in self.hub.advisers_of(event.adviser_id):
            due = event.registration_due is not False
            sconn.outbox.send(
                wire.conversation_closed(event.conversation_id, event.reason, bool(event.quick_exit), due)
            )
            sconn.outbox.push(Untrack(event.conversation_id))

    def _presence(self, event: Presence) -> None:
        for sconn in self.hub.advisers_of(event.adviser_id):
            sconn.outbox.send(wire.visitor_presence(event.conversation_id, event.presence, bool(event.quick_exit)))

    def _unassigned(self, event: Unassigned) -> None:
        for sconn in self.hub.advisers_of(event.adviser_id):
            sconn.outbox.send(wire.unassigned(event.conversation_id, event.reason))
            sconn.outbox.push(Untrack(event.conversation_id))

    def _requeued(self, event: Requeued) -> None:
        for vconn in self.hub.visitors_of(event.conversation_id):
            vconn.state, vconn.last_queue = S.QUEUED, None
        self.queue_dirty = True

    def _capacity_changed(self, event: CapacityChanged) -> None:
        for sconn in self.hub.advisers_of(event.adviser_id):
            sconn.outbox.send(wire.capacity(event.capacity))
        self.queue_changed()

    def _status_changed(self, event: StatusChanged) -> None:
        for sconn in self.hub.advisers_of(event.adviser_id):
            sconn.outbox.send(wire.status(event.status))
        self.queue_changed()

    def _queue_changed(self, event: QueueChanged) -> None:
        self.queue_dirty = True

    def _session_revoked(self, event: SessionRevoked) -> None:
        for sconn in list(self.hub.all_staff()):
            if sconn.identity.session_key == event.session_key or sconn.user_id == event.user_id:
                sconn.outbox.push_close(WS_1008_POLICY, "session ended")
        self.queue_changed()

    def _staff_changed(self, event: StaffChanged) -> None:
        if self.on_staff_changed is not None:
            self.on_staff_changed(event.user_id)

    def _handed_over_here(self, event: HandedOver) -> None:
        now = asyncio.get_running_loop().time()
        for conversation_id, until in list(self._handed_over.items()):
            if until < now:
                del self._handed_over[conversation_id]
        for conversation_id in event.conversation_ids:
            self._handed_over[str(conversation_id)] = now + HANDED_OVER_S

    def _notice(self, event: Notice) -> None:
        for conns in list(self.hub.advisers.values()):
            for sconn in conns:
                sconn.outbox.send(wire.notice(event.text, event.sender, event.at))

    def _diversions_changed(self, event: DiversionsChanged) -> None:
        self.diversions_stale = True
        self.queue_changed()

    def _resync(self, event: Resync) -> None:
        """Events may have been lost while the broker was away: every socket here catches up from its
        last seq, and the routing state is rebuilt by the next tick (retried until Redis answers)."""
        conns: list[VisitorConn | StaffConn] = [*self.hub.all_visitors(), *self.hub.all_staff()]
        for conn in conns:
            for conversation_id, last in list(conn.outbox.last.items()):
                conn.outbox.push(Replay(conversation_id, last))
        self.rebuild_due = True
        if self.on_staff_changed is not None:
            self.on_staff_changed(None)  # a change of an account may have been among what was lost
