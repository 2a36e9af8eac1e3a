"""What happens with time rather than with a frame: the routing tick, adviser leases, grace periods,
queue positions and the transcript purge. (Transfer holds lapse by time inside the routing state.)"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from chat import wire
from chat.assignment import Assigner
from chat.events import QueueChanged
from chat.fanout import Fanout
from chat.hub import Hub
from chat.instances import InstanceLeases
from chat.lifecycle import Lifecycle
from chat.retention import Purged, purge
from chat.store import ConversationStore
from core.clock import Clock, as_utc, to_datetime
from core.dependencies import OutageLog, dependency_away
from core.models import ConversationState as S
from core.settings import Settings
from routing import AdviserStatus, RoutingState

log = logging.getLogger("nora.chat")
TICK_OUTAGES = OutageLog("periodic ticks skipped")
HEARTBEAT_EVERY_TICKS = 5  # at most; a third of the instance lease when that is shorter (tests)
PURGE_EVERY_S = 600.0
QUEUE_REFRESH_S = 0.25


class Scheduler:
    def __init__(
        self,
        *,
        settings: Settings,
        store: ConversationStore,
        routing: RoutingState,
        hub: Hub,
        fanout: Fanout,
        assigner: Assigner,
        lifecycle: Lifecycle,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.routing = routing
        self.hub = hub
        self.fanout = fanout
        self.assigner = assigner
        self.lifecycle = lifecycle
        self.clock = clock
        self._ticks = 0
        self._missing: set[str] = set()  # queued conversations the routing state lacked at the last heartbeat
        self._heartbeat_every = max(1, min(HEARTBEAT_EVERY_TICKS, int(settings.instance_lease_s / 3)))
        self.leases = InstanceLeases(store.db, fanout.instance, settings.instance_lease_s)
        self._last_purge = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._tick_forever(), name="nora-tick"))
        self._tasks.append(asyncio.create_task(self._refresh_forever(), name="nora-queue-refresh"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_s)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                if dependency_away(exc):
                    # The database or Redis dropped its connections (a restart): the next tick tries
                    # again; a warning now and then, not a traceback a second.
                    TICK_OUTAGES.note(exc)
                else:
                    log.exception("periodic routing tick failed")

    async def _refresh_forever(self) -> None:
        """Queue positions are recomputed at most every ``QUEUE_REFRESH_S``, however many changes came:
        under a burst of starts that is one computation instead of one per start."""
        while True:
            await asyncio.sleep(QUEUE_REFRESH_S)
            if not self.fanout.queue_dirty:
                continue
            self.fanout.queue_dirty = False
            try:
                await self.refresh_queues()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("queue refresh failed")

    async def tick(self) -> None:
        """Widen tiers, end grace periods and refresh queue positions."""
        now = self.clock()
        self._ticks += 1
        if self.fanout.rebuild_due:
            await self.assigner.rebuild()
            self.fanout.rebuild_due = False
        if self.fanout.diversions_stale:
            self.fanout.diversions_stale = False
            self.assigner.diversions.stale = True
        await self.assigner.diversions.refresh()
        if self._ticks % self._heartbeat_every == 0:
            await self._visitors_here_are_present()
            await self.routing.touch(list(self.hub.advisers), now)
            expired = await self.routing.expire_leases(now, self.settings.instance_lease_s)
            if expired:
                log.warning("%d adviser lease(s) expired (instance gone?); grace period started", len(expired))
            if self.fanout.broker.reaches_other_instances:  # alone, the recovery after a restart does both
                await self._visitors_of_dead_instances(now)
                await self._queue_again_what_the_state_lost(now)
        if now - self._last_purge >= PURGE_EVERY_S:
            self._last_purge = now
            purged = await self.purge(now)
            if purged != Purged():
                log.info(
                    "purged past their retention periods: %d transcript(s), %d registration(s), %d case(s), "
                    "%d conversation(s), %d audit entr(ies), %d return-code thread(s)",
                    purged.transcripts,
                    purged.registrations,
                    purged.cases,
                    purged.conversations,
                    purged.audit_entries,
                    purged.threads,
                )
        await self._requeue_expired_advisers(now)
        await self._close_timed_out_visitors(now)
        await self.assigner.route()
        await self.fanout.publish(QueueChanged())

    async def purge(self, now: float | None = None) -> Purged:
        """Erase what is past its retention period (chat/retention.py): transcripts with their free
        texts, registrations, the audit log; says how many of each."""
        s = self.settings
        return await purge(
            self.store.db,
            to_datetime(self.clock() if now is None else now),
            transcript_hours=s.transcript_retention_hours,
            registration_years=s.registration_retention_years,
            audit_years=s.audit_retention_years,
            return_code_days=s.return_code_days,
        )

    async def refresh_queues(self) -> None:
        """Send each waiting visitor here its position, if it changed; wake the supervisors' feeds."""
        waiting = [c for c in self.hub.all_visitors() if c.state == S.QUEUED]
        if waiting:
            current = await self.assigner.queue_estimates()
            for conn in waiting:
                value = current.get(conn.conversation_id or "")
                if value is not None and value != conn.last_queue:
                    conn.last_queue = value
                    conn.outbox.send(wire.queue_position(*value))
        self.fanout.queue_changed()

    async def _visitors_here_are_present(self) -> None:
        """A visitor with a socket here is present, whatever the database says: another instance that
        restarted marks every visitor away, and the instance holding the socket puts that right."""
        ids = [c.conversation_id for c in self.hub.all_visitors() if c.conversation_id and c.state != S.CLOSED]
        for conv in await self.store.away_among(ids[:1000]) if ids else ():
            if self.hub.visitors_of(conv.id) and await self.store.mark_visitor_back(conv.id, self.fanout.instance):
                if conv.state == S.QUEUED:
                    await self.routing.set_present(conv.id, True)
                self.fanout.queue_dirty = True

    async def _visitors_of_dead_instances(self, now: float) -> None:
        """Beat, and mark away the visitors an instance that stopped beating still holds (chat/instances.py)."""
        await self.leases.beat(now)
        for dead in await self.leases.dead(now):
            marked = 0
            for conv in await self.leases.orphaned_visitors(dead.id):
                if not self.hub.visitors_of(conv.id):
                    marked += await self.lifecycle.visitor_away(conv, as_utc(dead.seen_at).timestamp())
            await self.leases.forget(dead.id)
            log.warning("an instance stopped beating (gone?); %d of its visitors marked away", marked)

    async def _queue_again_what_the_state_lost(self, now: float) -> None:
        """Every conversation the database has queued must be waiting in the routing state. One that is
        not was decided by an instance that died before it stored the assignment (the adviser's load
        counts it; their console never heard of it), or lost with the state. Missing at two heartbeats
        in a row (a start or an assignment in flight takes milliseconds), it is released from that
        adviser and queued again at its place; of instances doing the same, the second changes nothing."""
        snap = await self.routing.snapshot()
        waiting = {chat.id for chat in snap.waiting}
        missing = await self.store.queued_ids() - waiting
        lost, self._missing = missing & self._missing, missing
        holders = {cid: adviser.id for adviser in snap.advisers for cid in adviser.active}
        for conversation_id in sorted(lost):
            conv = await self.store.get(conversation_id)
            if conv is None or conv.state != S.QUEUED:
                continue
            if conversation_id in holders:
                await self.routing.release(holders[conversation_id], conversation_id, now)
            await self.routing.enqueue(self.assigner.request(conv))
        if lost:
            log.warning("%d queued conversation(s) missing from the routing state were queued again", len(lost))

    async def _close_timed_out_visitors(self, now: float) -> None:
        for conv in await self.store.visitor_away_before(to_datetime(now - self.settings.visitor_grace_s)):
            if not self.hub.visitors_of(conv.id):
                await self.lifecycle.close(conv.id, "visitor_timeout")

    async def _requeue_expired_advisers(self, now: float) -> None:
        snap = await self.routing.snapshot()
        for adviser in snap.advisers:
            if (
                adviser.status is AdviserStatus.OFFLINE
                and adviser.offline_since is not None
                and now - adviser.offline_since >= self.settings.adviser_grace_s
            ):
                removed = await self.routing.remove_adviser(adviser.id)
                for conversation_id in removed.active if removed else ():
                    await self.lifecycle.requeue(conversation_id, adviser.id, "timeout")
                await self.lifecycle.open_transfers_to(adviser.id)
