"""What a supervisor can do to the queue: route a waiting conversation, divert a queue to the national
team for a while, send every signed-in adviser a notice.

Each is carried out as the visitor's and the advisers' own actions are (store first, then the routing
state, then the fan-out); the HTTP side (``admin.queue_actions``) checks roles, validates and audits.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.assignment import Assigner
from chat.diversions import ActiveDiversion
from chat.errors import ChatError
from chat.events import DiversionsChanged, Notice, QueueChanged
from chat.fanout import Fanout
from chat.store import ConversationStore
from core.clock import Clock, iso, to_datetime
from core.models import ConversationState as S
from routing import RoutingState
from routing.policy import can_take


class RouteRefused(ChatError):
    """The route cannot be carried out now; ``code`` is the contract's 404/409 error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """Exactly one of adviser, service, region or language (``admin.queue_actions`` checks that)."""

    adviser_id: str | None = None
    service: str | None = None
    region: str | None = None
    language: str | None = None
    urgent: bool = False
    note: str | None = None


class QueueActions:
    def __init__(
        self,
        *,
        store: ConversationStore,
        routing: RoutingState,
        assigner: Assigner,
        fanout: Fanout,
        clock: Clock,
    ) -> None:
        self.store = store
        self.routing = routing
        self.assigner = assigner
        self.fanout = fanout
        self.clock = clock

    async def route(self, conversation_id: str, target: RouteTarget) -> str:
        """Route a waiting conversation; returns its state afterwards (``assigned`` or ``queued``)."""
        conv = await self.store.get(conversation_id)
        if conv is None:
            raise RouteRefused("not_found", "No such conversation.")
        if conv.state != S.QUEUED:
            raise RouteRefused("not_waiting", "The conversation is not waiting in the queue.")
        if target.adviser_id is not None:
            await self._to_adviser(conversation_id, target)
        else:
            if not await self.store.reroute(
                conversation_id,
                note=target.note,
                urgent=target.urgent,
                to_service=target.service,
                to_region=target.region,
                to_language=target.language,
            ):
                raise RouteRefused("not_waiting", "The conversation is not waiting in the queue.")
            moved = await self.store.get(conversation_id)
            if moved is not None:
                await self.routing.enqueue(self.assigner.request(moved))  # its original place, a new reach
            await self.assigner.route()
        await self.fanout.publish(QueueChanged())
        after = await self.store.get(conversation_id)
        return str(after.state) if after is not None else str(S.QUEUED)

    async def _to_adviser(self, conversation_id: str, target: RouteTarget) -> None:
        adviser_id = str(target.adviser_id)
        if not await self._has_room(adviser_id):
            raise RouteRefused("adviser_unavailable", "That adviser is not available or has no room.")
        conv = await self.store.get(conversation_id)
        if conv is not None and conv.visitor_away_since is not None:
            raise RouteRefused("visitor_absent", "The visitor is not connected; route them when they are back.")
        if not await self.store.reroute(conversation_id, note=target.note, urgent=target.urgent):
            raise RouteRefused("not_waiting", "The conversation is not waiting in the queue.")
        if await self.assigner.assign_to(conversation_id, adviser_id):
            return
        # Something changed in between: say what.
        conv = await self.store.get(conversation_id)
        if conv is None or conv.state != S.QUEUED:
            raise RouteRefused("not_waiting", "The conversation is not waiting in the queue.")
        if conv.visitor_away_since is not None:
            raise RouteRefused("visitor_absent", "The visitor is not connected; route them when they are back.")
        raise RouteRefused("adviser_unavailable", "That adviser is not available or has no room.")

    async def _has_room(self, adviser_id: str) -> bool:
        snap = await self.routing.snapshot()
        return any(a.id == adviser_id and can_take(a) for a in snap.advisers)

    # -- diversions

    def diversions(self) -> tuple[ActiveDiversion, ...]:
        return self.assigner.diversions.active()

    async def divert(self, region: str | None, language: str | None, minutes: int, actor: str) -> ActiveDiversion:
        diversion = await self.assigner.diversions.create(region, language, minutes, actor)
        await self.fanout.publish(DiversionsChanged())
        for conv in await self.store.queued():
            if diversion.matches(conv):
                await self.routing.enqueue(self.assigner.request(conv))  # at tier 1 now, same place
        await self.assigner.route()
        await self.fanout.publish(QueueChanged())
        return diversion

    async def end_diversion(self, diversion_id: str) -> ActiveDiversion | None:
        ended = await self.assigner.diversions.end(diversion_id)
        if ended is not None:
            await self.fanout.publish(DiversionsChanged())
        return ended

    # -- notices

    async def notice(self, text: str, sender: str) -> None:
        """Kept for consoles that open later (on every instance, chat/notices.py), then sent to those open."""
        notice = Notice(text, sender, iso(to_datetime(self.clock())) or "")
        await self.fanout.notices.add(notice)
        await self.fanout.publish(notice)
