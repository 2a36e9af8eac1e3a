"""Transfer to a named colleague, seeing who is signed in and has room, and the warm transfer where the
colleague reads the conversation before taking it (docs/design.md §3.7, docs/protocol.md §5; issue 17).

- ``colleagues``: every other adviser signed in (the routing state's advisers: available, away, or
  offline within the reconnect grace) with status, load, capacity and whether they have room now.
- A **warm transfer**: the holder offers the conversation to one colleague (``transfer_offer``); the
  colleague's consoles get the conversation as it is then, transcript and note included, and accept or
  decline; the holder may withdraw it. Accepting moves the conversation to the colleague at once (as a
  supervisor's route to a named adviser does), only if they are available with room and the visitor is
  connected; otherwise the offer stays and the colleague is told why.

An offer is stored with the conversation (``offered_to``, ``offer_note``), so that every instance
knows it, also one started after it was made (a rolling restart): accepting, declining or withdrawing
is a compare-and-set on that row, and every transition that takes the conversation from its holder
(close, requeue, transfer, and the accept itself) ends the offer in the same write. The events
``TransferOffered`` and ``TransferEnded`` only tell the consoles; a console that connects is sent the
offers open to it, and the holder those it made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chat import wire
from chat.errors import FrameError, invalid, not_found
from chat.events import Requeued, TransferEnded, TransferOffered, Unassigned
from chat.frames import CONTROL_CHARS, CONVERSATION_ID, NO_CONTROL_CHARS
from chat.hub import Hub, StaffConn
from core.clock import to_datetime
from core.models import AuditEntry, Conversation
from core.models import ConversationState as S
from routing import AdviserStatus
from routing.policy import can_take

if TYPE_CHECKING:
    from chat.fanout import Fanout
    from chat.lifecycle import Commands


ACCEPT = "transfer_accept"


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
    """What the offer events mean for this instance's consoles (called by the fan-out for
    ``TransferOffered`` and ``TransferEnded``); the offer itself is on the conversation's row."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def offered(self, event: TransferOffered) -> None:
        for sconn in self.hub.advisers_of(event.from_id):
            sconn.outbox.send(wire.transfer_offered(event.conversation_id, event.to_id, event.to_name))
        if event.body is not None:
            for sconn in self.hub.advisers_of(event.to_id):
                sconn.outbox.send(wire.transfer_offer(event.body, event.from_id, event.from_name, event.note))

    def ended(self, event: TransferEnded) -> None:
        if event.to_id is None:
            return  # from an instance of an earlier version, which told the consoles itself
        if event.outcome in ("declined", "accepted") and event.from_id is not None:
            frame = wire.transfer_answer(event.conversation_id, event.outcome, event.to_id, event.to_name or "")
            for sconn in self.hub.advisers_of(event.from_id):
                sconn.outbox.send(frame)
        if event.outcome != "accepted":
            for sconn in self.hub.advisers_of(event.to_id):
                sconn.outbox.send(wire.transfer_withdrawn(event.conversation_id, event.outcome))


async def offer_left_holder(fanout: Fanout, conv: Conversation) -> None:
    """``conv`` (as read before it left its holder: closed, requeued or transferred) was on offer: tell
    the colleague the offer is ``gone``. The transition has cleared the offer on the row already."""
    if conv.offered_to is not None:
        await fanout.publish(TransferEnded(conv.id, "gone", conv.adviser_id, conv.offered_to))


class WarmTransfers:
    """The adviser's side: list colleagues, offer, withdraw, accept, decline."""

    def __init__(self, commands: Commands) -> None:
        self.c = commands

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

    async def _readable(self, conv: Conversation, note: str | None, reader_id: str, detail: str) -> dict[str, Any]:
        """The ``<conversation>`` a colleague reads before answering, as it is now; reading a conversation
        one does not hold is a transcript read (docs/design.md §6.3), written to the audit log."""
        messages = await self.c.store.messages_after(conv.id, 0)
        body = wire.conversation(
            conv, messages, owner=None, rtl=self.c.reference().is_rtl(conv.language), now=to_datetime(self.c.clock())
        )
        body["note"] = note  # what the holder says to this colleague
        async with self.c.store.db.writing() as session:
            session.add(
                AuditEntry(
                    at=to_datetime(self.c.clock()),
                    actor_id=reader_id,
                    action="transcript_read",
                    conversation_id=conv.id,
                    detail=detail,
                )
            )
        return body

    async def offer(self, conn: StaffConn, conversation_id: str, data: dict[str, Any]) -> None:
        to_id, note = parse_offer(data)
        conv = await self.c.held(conn, conversation_id, "transfer_offer")
        snap = await self.c.routing.snapshot()
        target = await self.c.directory.profile(to_id) if to_id != conn.user_id else None
        if target is None or not any(a.id == to_id for a in snap.advisers):
            raise invalid("transfer_offer", {"adviser_id": "no other adviser signed in with this id"})
        if not await self.c.store.offer(conversation_id, conn.user_id, to_id, note):
            raise not_found("transfer_offer")  # it left the holder meanwhile
        if conv.offered_to is not None and conv.offered_to != to_id:  # this offer replaces one to another
            await self.c.fanout.publish(TransferEnded(conversation_id, "withdrawn", conn.user_id, conv.offered_to))
        body = await self._readable(conv, note, to_id, f"offered for a warm transfer by {conn.user_id}")
        me = conn.identity.profile
        event = TransferOffered(conversation_id, me.user_id, me.name, to_id, target.name, note, body)
        await self.c.fanout.publish(event)

    async def reconnected(self, conn: StaffConn, held: list[Conversation], offers: list[Conversation]) -> None:
        """A console opened: the offers this adviser made (``transfer_offered``) and those open to them
        (``transfer_offer``, the conversation as it is now), so that none is lost with a socket or an
        instance."""
        for conv in held:
            if conv.offered_to is not None and (to := await self.c.directory.profile(conv.offered_to)) is not None:
                conn.outbox.send(wire.transfer_offered(conv.id, conv.offered_to, to.name))
        for conv in offers:
            holder = await self.c.directory.profile(conv.adviser_id) if conv.adviser_id else None
            if holder is None:
                continue
            detail = f"offered for a warm transfer by {holder.user_id}, shown again on connecting"
            body = await self._readable(conv, conv.offer_note, conn.user_id, detail)
            conn.outbox.send(wire.transfer_offer(body, holder.user_id, holder.name, conv.offer_note))

    async def _offer_to(self, conn: StaffConn, conversation_id: str, ref: str) -> Conversation:
        conv = await self.c.store.get(conversation_id)
        if conv is None or conv.state != S.ASSIGNED or conv.offered_to != conn.user_id or conv.adviser_id is None:
            raise not_found(ref)  # no such offer to this adviser: reads like a missing conversation
        return conv

    async def cancel(self, conn: StaffConn, conversation_id: str) -> None:
        conv = await self.c.held(conn, conversation_id, "transfer_cancel")
        if conv.offered_to is not None and await self.c.store.end_offer(conversation_id, holder=conn.user_id):
            await self.c.fanout.publish(TransferEnded(conversation_id, "withdrawn", conn.user_id, conv.offered_to))

    async def decline(self, conn: StaffConn, conversation_id: str) -> None:
        conv = await self._offer_to(conn, conversation_id, "transfer_decline")
        if not await self.c.store.end_offer(conversation_id, to=conn.user_id):
            raise not_found("transfer_decline")
        me = conn.identity.profile
        await self.c.fanout.publish(TransferEnded(conversation_id, "declined", conv.adviser_id, me.user_id, me.name))

    async def accept(self, conn: StaffConn, conversation_id: str) -> None:
        conv = await self._offer_to(conn, conversation_id, ACCEPT)
        holder = str(conv.adviser_id)
        snap = await self.c.routing.snapshot()
        me = next((a for a in snap.advisers if a.id == conn.user_id), None)
        if me is None or not can_take(me):
            raise FrameError("forbidden", "Go available, with room for one more chat, to accept.", ref=ACCEPT)
        if conv.visitor_away_since is not None:
            raise FrameError("forbidden", "The visitor is not connected; accept when they are back.", ref=ACCEPT)
        changed = await self.c.store.transfer(
            conversation_id,
            holder,
            note=conv.offer_note,
            to_adviser=conn.user_id,
            to_service=None,
            to_region=conv.target_region,
            to_language=conv.target_language,
            offered_to=conn.user_id,
        )
        if not changed:
            raise not_found(ACCEPT)
        await self.c.routing.release(holder, conversation_id, self.c.clock())
        name = conn.identity.profile.name
        await self.c.fanout.publish(TransferEnded(conversation_id, "accepted", holder, conn.user_id, name))
        await self.c.fanout.publish(Unassigned(conversation_id, holder, "transferred"))
        await self.c.fanout.publish(Requeued(conversation_id))
        moved = await self.c.store.get(conversation_id)
        if moved is None:
            raise not_found(ACCEPT)
        await self.c.routing.enqueue(self.c.assigner.request(moved))
        if not await self.c.assigner.assign_to(conversation_id, conn.user_id):
            await self.c.assigner.route()  # waits for this adviser by name, at its original place
