"""Carrying out routing: run a step of the routing state and assign what it decided; put the state
back together after a restart or a Redis outage; queue positions for visitors.

The decisions themselves are ``routing``'s (pure, no I/O); this module gives them effect in the
store and tells everyone through the fan-out.
"""

from __future__ import annotations

import asyncio
import logging

from chat import metrics
from chat.diversions import Diversions
from chat.events import Assigned, QueueChanged
from chat.fanout import Fanout
from chat.hub import Hub
from chat.posting import MessagePath
from chat.staff import StaffDirectory, StaffProfile
from chat.store import ConversationStore
from chat.views import KnownBody
from core.clock import Clock, as_utc, to_datetime
from core.models import Conversation
from routing import Adviser, AdviserStatus, ChatRequest, RoutingState, Service, StateBusy
from routing.policy import TierDelays, estimates

log = logging.getLogger("nora.chat")


def chat_request(
    conv: Conversation, *, not_adviser: str | None = None, hold_until: float | None = None, diverted: bool = False
) -> ChatRequest:
    """The routing view of a conversation; a transfer's target overrides region, language or service.
    A diverted conversation (``chat.diversions``) starts at tier 1, where the national team is.
    ``not_adviser`` (who transferred it) is not offered it before ``hold_until``."""
    return ChatRequest(
        id=conv.id,
        language=conv.target_language or conv.language,
        region=conv.target_region or conv.region,
        audience=conv.audience,
        enqueued_at=as_utc(conv.enqueued_at).timestamp(),
        urgent=conv.urgent,
        also_languages=tuple(x for x in conv.also_languages.split(",") if x),
        not_adviser=not_adviser,
        not_adviser_until=hold_until,
        only_adviser=conv.target_adviser_id,
        service=Service(conv.target_service) if conv.target_service else None,
        # A transfer to the national team must reach it now, not after the tier-1 delay.
        min_tier=1 if diverted or conv.target_service == Service.AT.value else 0,
        present=conv.visitor_away_since is None,
    )


def adviser_model(profile: StaffProfile, *, active: frozenset[str], status: AdviserStatus, now: float) -> Adviser:
    """The routing view of a staff member connected as an adviser."""
    return Adviser(
        seen_at=now,
        id=profile.user_id,
        service=Service.AT if profile.service == "AT" else Service.MR,
        regions=profile.regions,
        languages=profile.languages,
        capacity=profile.capacity,
        status=status,
        active=active,
    )


class Assigner:
    def __init__(
        self,
        *,
        store: ConversationStore,
        routing: RoutingState,
        directory: StaffDirectory,
        fanout: Fanout,
        messages: MessagePath,
        hub: Hub,
        delays: TierDelays,
        clock: Clock,
    ) -> None:
        self.store = store
        self.routing = routing
        self.directory = directory
        self.fanout = fanout
        self.messages = messages
        self.hub = hub
        self.delays = delays
        self.clock = clock
        self.local_status: dict[str, AdviserStatus] = {}  # advisers connected here, to rebuild state
        self.diversions = Diversions(store.db, clock)
        self._step_lock = asyncio.Lock()
        self._route_calls = 0  # route() calls so far
        self._routed_calls = 0  # of which a step that started after them has run (or is running)

    def request(self, conv: Conversation, *, not_adviser: str | None = None) -> ChatRequest:
        """``chat_request`` with the diversions in force. A transferred chat is held from the adviser
        who transferred it (``not_adviser``) for the first tier delay: not offered to them at once, but
        not never either (a chat nobody else can take must not wait forever). The hold is part of the
        routing state, so it lapses on every instance alike."""
        hold_until = self.clock() + self.delays.t1 if not_adviser is not None else None
        return chat_request(
            conv, not_adviser=not_adviser, hold_until=hold_until, diverted=self.diversions.applies(conv)
        )

    async def route(self) -> None:
        """Run a routing step and carry out its assignments.

        Callers queued behind a step share the next one: a step that starts after a call sees
        everything that call changed, so a burst of starts costs a few steps, not one each (with the
        Redis state, each is a transaction on one key that every instance writes). When other
        instances keep the state busy, the step is left to the next tick, a second away; the change
        that asked for it is already stored."""
        self._route_calls += 1
        call = self._route_calls
        async with self._step_lock:
            if self._routed_calls >= call:
                return  # a step that started after this call has run
            self._routed_calls = self._route_calls
            try:
                decisions = await self.routing.step(self.clock())
            except StateBusy:
                log.warning("routing state busy; the next tick routes")
                return
        # Each decision is a conversation of its own: their writes go to the database together (the
        # notices in one group commit), not one after another. Of a burst of 50 starts on PostgreSQL,
        # the last waited for the 49 before it: 2-3 commits each (bench/README.md, burst50).
        if len(decisions) == 1:  # the usual step, one per start: no task of its own (a turn of the loop)
            try:
                await self._assign(decisions[0].conversation_id, decisions[0].adviser_id)
            finally:
                await self.fanout.publish(QueueChanged())
            return
        try:
            await self.directory.warm(d.adviser_id for d in decisions)
        except Exception as exc:  # noqa: BLE001 - each assignment then reads its adviser's profile itself
            log.warning("could not read the advisers' profiles together (%s)", type(exc).__name__)
        outcomes = await asyncio.gather(
            *(self._assign(d.conversation_id, d.adviser_id) for d in decisions), return_exceptions=True
        )
        if decisions:
            await self.fanout.publish(QueueChanged())
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def assign_to(self, conversation_id: str, adviser_id: str) -> bool:
        """A supervisor's choice of adviser, carried out as a routing decision would be; ``False`` when
        the routing state refused it (the chat is not waiting, the visitor absent, the adviser full)."""
        decision = await self.routing.assign_to(conversation_id, adviser_id, self.clock())
        if decision is None:
            return False
        await self._assign(conversation_id, adviser_id)
        await self.fanout.publish(QueueChanged())
        return True

    async def _assign(self, conversation_id: str, adviser_id: str) -> None:
        now = self.clock()
        profile = await self.directory.profile(adviser_id)
        if profile is None:
            await self.routing.release(adviser_id, conversation_id, now)
            return
        self.fanout.watch(conversation_id)
        try:
            conv = await self.store.assign(conversation_id, adviser_id, profile.service, to_datetime(now))
            if conv is None:
                await self.routing.release(adviser_id, conversation_id, now)
                return
            metrics.WAIT_SECONDS.observe(max(0.0, now - as_utc(conv.enqueued_at).timestamp()))
            notice = await self.messages.system(conv, "assigned", adviser_id, name=profile.name)
        finally:
            applied = self.fanout.watched(conversation_id)
        # The console's body is the row the assignment returned and this notice, without reading them
        # back, when the notice is the conversation's first message and nothing else about it (a
        # visitor's message, presence, a close) was applied here since: that would have reached the
        # adviser's socket before the body, and only a body read now shows it.
        known = KnownBody(conv, [notice]) if applied == 1 and notice.seq == 1 else None
        self.fanout.publish_assigned(Assigned(conversation_id, adviser_id, profile.name, profile.service), known)

    async def queue_estimates(self) -> dict[str, tuple[int, int | None]]:
        """Each waiting conversation's position and estimated wait (``None``: unknown)."""
        snap = await self.routing.snapshot()
        result = estimates(snap.waiting, snap.advisers, snap.releases, self.clock(), self.delays)
        return {cid: (e.position, e.estimated_wait_s) for cid, e in result.items()}

    async def recover(self) -> None:
        """After a restart: re-queue waiting chats at their place; held chats wait for their adviser
        (offline, so their grace period runs); every visitor's grace period runs until they resume.

        With a shared routing state that other instances keep (it is not empty), the visitors connected
        to them are there: their presence is theirs to keep, and the queue is already in the state."""
        now = self.clock()
        await self.diversions.refresh(force=True)
        snap = await self.routing.snapshot()
        if snap.waiting or snap.advisers:
            return
        await self.store.mark_all_visitors_away(to_datetime(now))
        for conv in await self.store.queued():
            await self.routing.enqueue(self.request(conv))
        held: dict[str, set[str]] = {}
        for conv in await self.store.assigned():
            if conv.adviser_id:
                held.setdefault(conv.adviser_id, set()).add(conv.id)
        for adviser_id, ids in held.items():
            profile = await self.directory.profile(adviser_id)
            if profile is not None:
                adviser = adviser_model(profile, active=frozenset(ids), status=AdviserStatus.OFFLINE, now=now)
                adviser.offline_since = now
                await self.routing.put_adviser(adviser)

    async def rebuild(self) -> None:
        """After the broker reconnects (a Redis restart may have emptied the routing state): put back
        every waiting conversation from the database and every adviser connected here."""
        for conv in await self.store.queued():
            await self.routing.enqueue(self.request(conv))
        for adviser_id, conns in list(self.hub.advisers.items()):
            profile = next(iter(conns)).identity.profile
            mine = await self.store.held_by(adviser_id)
            status = self.local_status.get(adviser_id, AdviserStatus.AWAY)
            active = frozenset(c.id for c in mine)
            await self.routing.put_adviser(adviser_model(profile, active=active, status=status, now=self.clock()))
            await self.routing.set_status(adviser_id, status, self.clock())
        await self.route()
