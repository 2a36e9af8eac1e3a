"""Transfer to a named colleague, seeing who is signed in and has room, and the warm transfer where the
colleague reads the conversation before taking it (docs/design.md §3.7, docs/protocol.md §5; issue 17).

- ``colleagues``: every other adviser signed in (the routing state's advisers: available, away, or
  offline within the reconnect grace) with status, load, capacity and whether they have room now.
- A **warm transfer**: the holder offers the conversation to one colleague (``transfer_offer``); the
  colleague's consoles get the conversation as it is then, transcript and note included, and accept or
  decline; the holder may withdraw it. Accepting moves the conversation to the colleague at once (as a
  supervisor's route to a named adviser does), only if they are available with room and the visitor is
  connected; otherwise the offer stays and the colleague is told why.

An offer lives in the memory of every instance: the one that takes it publishes ``TransferOffered``,
every instance records it and tells its own sockets, and ``TransferEnded`` removes it everywhere. It is a
hint like any event: lost with a restart, the holder simply still holds the conversation and can offer
it again. An offer ends when the conversation closes or leaves its holder in any other way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chat import wire
from chat.errors import FrameError, invalid, not_found
from chat.events import Requeued, TransferEnded, TransferOffered, Unassigned
from chat.frames import CONTROL_CHARS, CONVERSATION_ID, NO_CONTROL_CHARS
from chat.hub import Hub, StaffConn
from core.clock import to_datetime
from core.models import AuditEntry
from core.models import ConversationState as S
from routing import AdviserStatus
from routing.policy import can_take

if TYPE_CHECKING:
    from chat.lifecycle import Commands


ACCEPT = "transfer_accept"


@dataclass(frozen=True, slots=True)
class Offer:
    conversation_id: str
    from_id: str
    from_name: str
    to_id: str
    to_name: str
    note: str | None


def parse_offer(data: dict[str, Any]) -> tuple[str, str | None]:
    """``adviser_id`` (required) and ``note`` (optional, at most 500 characters) of ``transfer_offer``."""
    errors: dict[str, str] = {}
    adviser_id = data.get("adviser_id")
    if not isinstance(adviser_id, str) or CONVERSATION_ID.fullmatch(adviser_id) is None:
        errors["adviser_id"] = "required, an adviser id"
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        errors["note"] = "at most 500 characters"
    elif isinstance(note, str) and CONTROL_CHARS.search(note) is not None:
        errors["note"] = NO_CONTROL_CHARS
    if errors:
        raise invalid("transfer_offer", errors)
    text = note.strip() if isinstance(note, str) and note.strip() else None
    return str(adviser_id), text


class Offers:
    """The offers every instance knows, and what they mean for this instance's consoles (called by the
    fan-out for ``TransferOffered`` and ``TransferEnded``, and when a conversation leaves its holder)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.by_conversation: dict[str, Offer] = {}

    def offered(self, event: TransferOffered) -> None:
        offer = Offer(event.conversation_id, event.from_id, event.from_name, event.to_id, event.to_name, event.note)
        self.by_conversation[offer.conversation_id] = offer
        for sconn in self.hub.advisers_of(offer.from_id):
            sconn.outbox.send(wire.transfer_offered(offer.conversation_id, offer.to_id, offer.to_name))
        if event.body is not None:
            for sconn in self.hub.advisers_of(offer.to_id):
                sconn.outbox.send(wire.transfer_offer(event.body, offer.from_id, offer.from_name, offer.note))

    def ended(self, event: TransferEnded) -> None:
        offer = self.by_conversation.pop(event.conversation_id, None)
        if offer is None:
            return
        if event.outcome in ("declined", "accepted"):
            frame = wire.transfer_answer(offer.conversation_id, event.outcome, offer.to_id, offer.to_name)
            for sconn in self.hub.advisers_of(offer.from_id):
                sconn.outbox.send(frame)
        if event.outcome != "accepted":
            for sconn in self.hub.advisers_of(offer.to_id):
                sconn.outbox.send(wire.transfer_withdrawn(offer.conversation_id, event.outcome))

    def left_holder(self, conversation_id: str) -> None:
        """The conversation closed, was transferred or went back to the queue: its offer is over."""
        offer = self.by_conversation.pop(conversation_id, None)
        if offer is not None:
            for sconn in self.hub.advisers_of(offer.to_id):
                sconn.outbox.send(wire.transfer_withdrawn(conversation_id, "gone"))


class WarmTransfers:
    """The adviser's side: list colleagues, offer, withdraw, accept, decline."""

    def __init__(self, commands: Commands, offers: Offers) -> None:
        self.c = commands
        self.offers = offers

    async def colleagues(self, conn: StaffConn) -> None:
        snap = await self.c.routing.snapshot()
        rows = []
        for adviser in sorted(snap.advisers, key=lambda a: a.id):
            if adviser.id == conn.user_id:
                continue
            profile = await self.c.directory.profile(adviser.id)
            if profile is None:
                continue
            rows.append(
                {
                    "id": adviser.id,
                    "name": profile.name,
                    "service": adviser.service.value,
                    "status": adviser.status.value,
                    "active": len(adviser.active),
                    "capacity": adviser.capacity,
                    "room": can_take(adviser),
                    "languages": sorted(adviser.languages),
                    "regions": sorted(adviser.regions),
                }
            )
        rows.sort(key=lambda r: (not r["room"], r["status"] == AdviserStatus.OFFLINE.value, r["name"]))
        conn.outbox.send(wire.colleagues(rows))

    async def _held(self, conn: StaffConn, conversation_id: str, ref: str) -> Any:
        conv = await self.c.store.get(conversation_id)
        if conv is None or conv.adviser_id != conn.user_id:
            raise not_found(ref)
        if conv.state != S.ASSIGNED:
            raise FrameError("forbidden", "This conversation is closed.", ref=ref)
        return conv

    async def offer(self, conn: StaffConn, conversation_id: str, data: dict[str, Any]) -> None:
        to_id, note = parse_offer(data)
        conv = await self._held(conn, conversation_id, "transfer_offer")
        snap = await self.c.routing.snapshot()
        target = await self.c.directory.profile(to_id) if to_id != conn.user_id else None
        if target is None or not any(a.id == to_id for a in snap.advisers):
            raise invalid("transfer_offer", {"adviser_id": "no other adviser signed in with this id"})
        messages = await self.c.store.messages_after(conversation_id, 0)
        body = wire.conversation(
            conv, messages, owner=None, rtl=self.c.reference().is_rtl(conv.language), now=to_datetime(self.c.clock())
        )
        body["note"] = note  # what the holder says to this colleague
        # Reading a conversation one does not hold is a transcript read (docs/design.md §6.3).
        async with self.c.store.db.writing() as session:
            session.add(
                AuditEntry(
                    at=to_datetime(self.c.clock()),
                    actor_id=to_id,
                    action="transcript_read",
                    conversation_id=conversation_id,
                    detail=f"offered for a warm transfer by {conn.user_id}",
                )
            )
        me = conn.identity.profile
        event = TransferOffered(conversation_id, me.user_id, me.name, to_id, target.name, note, body)
        await self.c.fanout.publish(event)

    def _offer_to(self, conn: StaffConn, conversation_id: str, ref: str) -> Offer:
        offer = self.offers.by_conversation.get(conversation_id)
        if offer is None or offer.to_id != conn.user_id:
            raise not_found(ref)  # no such offer to this adviser: reads like a missing conversation
        return offer

    async def cancel(self, conn: StaffConn, conversation_id: str) -> None:
        await self._held(conn, conversation_id, "transfer_cancel")
        if conversation_id in self.offers.by_conversation:
            await self.c.fanout.publish(TransferEnded(conversation_id, "withdrawn"))

    async def decline(self, conn: StaffConn, conversation_id: str) -> None:
        self._offer_to(conn, conversation_id, "transfer_decline")
        await self.c.fanout.publish(TransferEnded(conversation_id, "declined"))

    async def accept(self, conn: StaffConn, conversation_id: str) -> None:
        offer = self._offer_to(conn, conversation_id, "transfer_accept")
        conv = await self.c.store.get(conversation_id)
        if conv is None or conv.state != S.ASSIGNED or conv.adviser_id != offer.from_id:
            await self.c.fanout.publish(TransferEnded(conversation_id, "gone"))
            raise not_found("transfer_accept")
        snap = await self.c.routing.snapshot()
        me = next((a for a in snap.advisers if a.id == conn.user_id), None)
        if me is None or not can_take(me):
            raise FrameError("forbidden", "Go available, with room for one more chat, to accept.", ref=ACCEPT)
        if conv.visitor_away_since is not None:
            raise FrameError("forbidden", "The visitor is not connected; accept when they are back.", ref=ACCEPT)
        changed = await self.c.store.transfer(
            conversation_id,
            offer.from_id,
            note=offer.note,
            to_adviser=conn.user_id,
            to_service=None,
            to_region=conv.target_region,
            to_language=conv.target_language,
        )
        if not changed:
            raise not_found("transfer_accept")
        await self.c.routing.release(offer.from_id, conversation_id, self.c.clock())
        await self.c.fanout.publish(TransferEnded(conversation_id, "accepted"))
        await self.c.fanout.publish(Unassigned(conversation_id, offer.from_id, "transferred"))
        await self.c.fanout.publish(Requeued(conversation_id))
        moved = await self.c.store.get(conversation_id)
        if moved is None:
            raise not_found("transfer_accept")
        await self.c.routing.enqueue(self.c.assigner.request(moved))
        if not await self.c.assigner.assign_to(conversation_id, conn.user_id):
            await self.c.assigner.route()  # waits for this adviser by name, at its original place
