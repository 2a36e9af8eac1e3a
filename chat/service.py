"""The chat service: the parts of the conversation lifecycle, wired together once per instance.

Each part is a room of its own (docs/architecture.md):

- ``Fanout`` (``chat.fanout``): events to sockets, here and on the other instances;
- ``MessagePath`` (``chat.posting``): a message from its socket to the database, its ack, its delivery;
- ``Assigner`` (``chat.assignment``): routing steps carried out; recovery after a restart or outage;
- ``Lifecycle`` (``chat.lifecycle``): close, and back to the queue;
- ``VisitorCommands`` / ``AdviserCommands`` (``chat.visitors``, ``chat.advisers``): what each socket can do;
- ``Scheduler`` (``chat.scheduler``): what happens with time (ticks, grace periods, leases, purge).

The websocket endpoints and the staff pages reach them through this object.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from chat.abuse import AbuseGuard, create_blocks
from chat.admission import Admission
from chat.advisers import AdviserCommands
from chat.assignment import Assigner
from chat.broker import Broker
from chat.catalogue import catalogue
from chat.events import Event
from chat.fanout import Fanout
from chat.hours import OpeningHoursBook, settings_schedule
from chat.hub import Hub, StaffConn
from chat.lifecycle import CommandParts, Lifecycle
from chat.notices import create_notices
from chat.posting import MessagePath
from chat.retention import Purged
from chat.returning import ReturnCommands
from chat.scheduler import Scheduler
from chat.staff import StaffDirectory
from chat.store import ConversationStore
from chat.supervision import QueueActions
from chat.threads import ThreadStore
from chat.views import ConversationViews
from chat.visitors import VisitorCommands
from core.clock import Clock, system_clock
from core.limits import Limits, MemoryLimits
from core.reference import Reference
from core.settings import Settings
from routing import RoutingState
from routing.policy import TierDelays

if TYPE_CHECKING:
    import asyncio


class ChatService:
    def __init__(
        self,
        *,
        settings: Settings,
        store: ConversationStore,
        routing: RoutingState,
        broker: Broker,
        directory: StaffDirectory,
        reference: Callable[[], Reference],
        clock: Clock = system_clock,
        limits: Limits | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.routing = routing
        self.broker = broker
        self.directory = directory
        self.reference = reference
        self.clock = clock
        self.delays = TierDelays.of(settings.tier_delays_s)
        self.hub = Hub()
        self.admission = Admission(settings, clock)
        self.views = ConversationViews(store, reference, clock)
        self.fanout = Fanout(broker, self.hub, self.views)
        self.messages = MessagePath(store, self.fanout, limits or MemoryLimits(clock=clock), settings, clock)
        # An abusive end keeps that browser session from starting another chat for a while (chat/abuse.py).
        self.abuse = AbuseGuard(create_blocks(limits, clock), settings.abuse_block_s)
        self.fanout.on_abusive = self.abuse.closed_as_abusive
        self.fanout.on_staff_changed = directory.forget
        self.fanout.notices = create_notices(limits, settings.redis_prefix)
        self.assigner = Assigner(
            store=store,
            routing=routing,
            directory=directory,
            fanout=self.fanout,
            messages=self.messages,
            hub=self.hub,
            delays=self.delays,
            clock=clock,
        )
        self.lifecycle = Lifecycle(
            store=store,
            routing=routing,
            fanout=self.fanout,
            messages=self.messages,
            assigner=self.assigner,
            clock=clock,
        )
        parts = CommandParts(
            store=store,
            routing=routing,
            directory=directory,
            hub=self.hub,
            fanout=self.fanout,
            messages=self.messages,
            assigner=self.assigner,
            lifecycle=self.lifecycle,
            reference=reference,
            clock=clock,
            abuse=self.abuse,
        )
        self.queue_actions = QueueActions(
            store=store, routing=routing, assigner=self.assigner, fanout=self.fanout, clock=clock
        )
        # The opening hours in force: what an administrator saved, or the settings (chat.hours).
        self.hours = OpeningHoursBook(store.db, clock, settings_schedule(settings.opening_hours, settings.closed_dates))
        self.visitors = VisitorCommands(parts, hours=self.hours, admission=self.admission)
        # Return codes and messages left while closed (chat/threads.py, chat/returning.py).
        self.threads = ThreadStore(store.db, secret_key=settings.secret_key, days=settings.return_code_days)
        self.returns = ReturnCommands(
            parts,
            threads=self.threads,
            visitors=self.visitors,
            admission=self.admission,
            limits=self.messages.limits,
            settings=settings,
            is_open=self.is_open,
        )
        self.advisers = AdviserCommands(parts, views=self.views)
        self.scheduler = Scheduler(
            settings=settings,
            store=store,
            routing=routing,
            hub=self.hub,
            fanout=self.fanout,
            assigner=self.assigner,
            lifecycle=self.lifecycle,
            clock=clock,
        )

    async def start(self) -> None:
        # Recovery rebuilds the live state after every instance was down. While other instances run
        # (one restarting in a rolling restart), the state is live and theirs: recovering would mark
        # their advisers offline and their visitors away. What a dead instance leaves behind is taken
        # care of by the leases (docs/design.md).
        await self.store.warm()
        if await self.broker.listeners() == 0:
            await self.assigner.recover()
        await self.fanout.start()
        await self.hours.start()
        self.scheduler.start()
        # Read the visitor texts now, not inside the first chats' assignments (a burst of starts
        # would wait for it).
        catalogue()

    async def stop(self) -> None:
        await self.scheduler.stop()
        # Stopped on purpose: its sockets were handed over (chat/drain.py), nobody need take its place.
        with contextlib.suppress(SQLAlchemyError, OSError):
            await self.scheduler.leases.forget(self.fanout.instance)
        await self.hours.stop()
        await self.fanout.stop()

    def now(self) -> float:
        return self.clock()

    def is_open(self, now: float) -> bool:
        """Whether the opening hours in force have the chat open at ``now``."""
        hours = self.hours.current()
        return hours is None or hours.is_open(now)

    async def publish(self, event: Event) -> None:
        """Tell every instance (staff pages use it, e.g. to close the sockets of a revoked session)."""
        await self.fanout.publish(event)

    async def route(self) -> None:
        await self.assigner.route()

    async def withdraw_adviser(self, adviser_id: str) -> int:
        """An adviser's access ended (account disabled): what the end of a grace period does, at once.
        Their conversations go back to the queue at their original places (the visitor gets the
        ``requeued`` notice) and chats transferred to them by name are open to everyone; returns how
        many conversations went back."""
        removed = await self.routing.remove_adviser(adviser_id)
        self.assigner.local_status.pop(adviser_id, None)
        held = set(removed.active) if removed is not None else set()
        held.update(conv.id for conv in await self.store.held_by(adviser_id))
        for conversation_id in sorted(held):
            await self.lifecycle.requeue(conversation_id, adviser_id, "disabled")
        await self.lifecycle.open_transfers_to(adviser_id)
        await self.assigner.route()
        return len(held)

    async def purge(self) -> Purged:
        return await self.scheduler.purge()

    @contextlib.contextmanager
    def supervising(self, conn: StaffConn) -> Iterator[asyncio.Event]:
        """A supervisor's feed: the socket is closed with its session like any staff socket, and the
        event is set whenever the queue or an adviser's status or capacity changes."""
        self.hub.supervisors.add(conn)
        try:
            with self.fanout.watching_queue() as changed:
                yield changed
        finally:
            self.hub.supervisors.discard(conn)
