"""What an adviser's console socket can do: connect, set status and capacity, write, type, close,
transfer, sync, drop. An adviser only ever reaches conversations they hold."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from functools import partial
from typing import Any

from chat import wire
from chat.abuse import audit_abusive
from chat.assignment import adviser_model
from chat.errors import FrameError, invalid, not_found
from chat.events import CapacityChanged, QueueChanged, Requeued, StatusChanged, Typing
from chat.frames import Text, parse_transfer
from chat.group_commit import Guard
from chat.hub import StaffConn
from chat.lifecycle import CommandParts, Commands
from chat.outbox import Outbox, Replay, Run, Untrack
from chat.staff import StaffProfile
from chat.views import ConversationViews
from chat.warm_transfer import WarmTransfers, offer_left_holder
from routing import Adviser, AdviserStatus, UnknownAdviser


def _addressed(text: Text) -> str:
    if text.conversation_id is None:  # parse_text(with_conversation=True) has refused it already
        raise invalid("message", {"conversation_id": "required, a conversation id"})
    return text.conversation_id


class AdviserCommands(Commands):
    def __init__(self, parts: CommandParts, *, views: ConversationViews) -> None:
        super().__init__(parts)
        self.views = views
        self.warm = WarmTransfers(self)  # colleagues and warm transfers (issue 17)

    async def connected(self, conn: StaffConn) -> None:
        """A console socket opened: put the adviser in the routing state (keeping the status and
        capacity of this shift if they were there) and send the ``state`` frame."""
        profile = conn.identity.profile
        mine = await self.store.held_by(profile.user_id)
        known = await self._known(profile.user_id)
        first_here = self.hub.add_adviser(conn) == 1
        status = AdviserStatus.AWAY
        returning = known is not None and known.status is AdviserStatus.OFFLINE
        if known is not None and known.status is not AdviserStatus.OFFLINE:
            status = known.status
        elif known is not None and known.status_before_offline is not None:
            status = known.status_before_offline  # reconnected within the grace period
        adviser = adviser_model(profile, active=frozenset(c.id for c in mine), status=status, now=self.clock())
        if known is not None:
            adviser.capacity = known.capacity  # keep what the adviser chose this shift
        await self.routing.put_adviser(adviser)
        if first_here or known is None:
            await self.routing.set_status(profile.user_id, status, self.clock())
        if returning:
            for conv in mine:
                await self.messages.system(conv, "adviser_back", profile.user_id)
        self.assigner.local_status[profile.user_id] = status
        offers = await self.store.offered_to(profile.user_id)  # warm transfers waiting for an answer
        held, offered = [c.id for c in mine], [c.id for c in offers]
        conn.outbox.push(Run(partial(self._send_state, profile, status, adviser.capacity, held, offered)))
        for notice in await self.fanout.notices.recent(self.clock()):  # sent while this console was closed
            conn.outbox.send(wire.notice(notice.text, notice.sender, notice.at))
        await self.warm.reconnected(conn, mine, offers)
        await self.fanout.publish(StatusChanged(profile.user_id, status.value))
        await self.assigner.route()

    async def _send_state(
        self,
        profile: StaffProfile,
        status: AdviserStatus,
        capacity: int,
        held: list[str],
        offers: list[str],
        outbox: Outbox,
    ) -> None:
        bodies = [await self.views.body(conversation_id, outbox) for conversation_id in held]
        about = {
            "id": profile.user_id,
            "name": profile.name,
            "service": profile.service,
            "regions": sorted(profile.regions),
            "languages": sorted(profile.languages),
            "capacity": capacity,
            "max_capacity": profile.max_capacity,
        }
        await outbox.write_now(wire.adviser_state(about, status.value, [b for b in bodies if b is not None], offers))

    async def _known(self, adviser_id: str) -> Adviser | None:
        snap = await self.routing.snapshot()
        return next((a for a in snap.advisers if a.id == adviser_id), None)

    async def status(self, conn: StaffConn, status: str) -> None:
        new = AdviserStatus(status)
        self.assigner.local_status[conn.user_id] = new
        try:
            await self.routing.set_status(conn.user_id, new, self.clock())
        except UnknownAdviser:
            await self.connected(conn)
            await self.routing.set_status(conn.user_id, new, self.clock())
        await self.fanout.publish(StatusChanged(conn.user_id, new.value))
        if new is AdviserStatus.AVAILABLE:
            await self.assigner.route()

    async def capacity(self, conn: StaffConn, capacity: int) -> None:
        """An adviser chooses how many chats to hold at once, up to the maximum an admin set."""
        maximum = conn.identity.profile.max_capacity
        if not 1 <= capacity <= maximum:
            raise invalid("capacity", {"capacity": f"a whole number from 1 to {maximum}"})
        known = await self._known(conn.user_id)
        if known is None:
            raise FrameError("forbidden", "Not connected as an adviser.", ref="capacity")
        await self.routing.put_adviser(replace(known, capacity=capacity))
        await self.fanout.publish(CapacityChanged(conn.user_id, capacity))
        await self.assigner.route()

    def submit_message(self, conn: StaffConn, text: Text) -> asyncio.Future[None] | None:
        """Hand the message over without waiting (``MessagePath.post``); ``None`` when the rate check
        is a round trip to Redis, which ``message`` awaits in the conversation's lane."""
        guard = Guard("adviser", conn.user_id)
        cid = _addressed(text)
        return self.messages.post(
            conn.outbox, cid, text, sender="adviser", sender_id=conn.user_id, origin=conn.id, guard=guard
        )

    async def message(self, conn: StaffConn, text: Text) -> None:
        guard = Guard("adviser", conn.user_id)
        cid = _addressed(text)
        await self.messages.post_checked(
            conn.outbox, cid, text, sender="adviser", sender_id=conn.user_id, origin=conn.id, guard=guard
        )

    async def typing(self, conn: StaffConn, conversation_id: str) -> None:
        if not await self.messages.typing_allowed(conn.user_id, conversation_id):
            return
        conv = await self.held(conn, conversation_id, "typing")
        await self.fanout.publish(Typing(conv.id, conn.user_id, "adviser", conn.id))

    async def close(self, conn: StaffConn, conversation_id: str, reason: str = "adviser_closed") -> None:
        """End the conversation; ``abusive`` also keeps the visitor's browser session from starting another
        chat for a while (chat/abuse.py) and is written to the audit log."""
        await self.held(conn, conversation_id, "close")
        if reason == "abusive":
            block_s = self.abuse.block_s if self.abuse is not None else 0
            await audit_abusive(self.store, self.clock(), conn.user_id, conversation_id, block_s)
        await self.lifecycle.close(conversation_id, reason)

    async def transfer(self, conn: StaffConn, conversation_id: str, data: dict[str, Any]) -> None:
        """Back to the queue at its original place, for another adviser, service, region or language."""
        target = parse_transfer(data, self.reference())
        conv = await self.held(conn, conversation_id, "transfer")
        if target.adviser_id is not None:
            if target.adviser_id == conn.user_id or await self.directory.profile(target.adviser_id) is None:
                raise invalid("transfer", {"to.adviser_id": "no other adviser with this id"})
            if await self._known(target.adviser_id) is None:
                raise invalid("transfer", {"to.adviser_id": "that adviser is not connected"})
        changed = await self.store.transfer(
            conversation_id,
            conn.user_id,
            note=target.note,
            to_adviser=target.adviser_id,
            to_service=target.service,
            to_region=target.region or conv.target_region,
            to_language=target.language or conv.target_language,
            urgent=target.urgent,
        )
        if not changed:
            raise not_found("transfer")
        await self.routing.release(conn.user_id, conversation_id, self.clock())
        moved = await self.store.get(conversation_id)
        if moved is None:
            raise not_found("transfer")
        await self.messages.system(moved, "transferred", None)
        await offer_left_holder(self.fanout, conv)  # a warm offer still open ends with it
        conn.outbox.send(wire.unassigned(conversation_id, "transferred"))
        conn.outbox.push(Untrack(conversation_id))
        await self.fanout.publish(Requeued(conversation_id))
        await self.routing.enqueue(self.assigner.request(moved, not_adviser=conn.user_id))
        await self.assigner.route()

    async def sync(self, conn: StaffConn, wanted: dict[str, int]) -> None:
        for conversation_id, after in wanted.items():
            conv = await self.store.get(conversation_id)
            if conv is None or conv.adviser_id != conn.user_id:
                raise not_found("sync")
            if after > conv.next_seq:
                raise invalid("sync", {"conversations": f"{conversation_id}: past its last seq ({conv.next_seq})"})
        for conversation_id, after in wanted.items():
            conn.outbox.push(Replay(conversation_id, after))

    async def disconnected(self, conn: StaffConn) -> None:
        if self.hub.remove_adviser(conn) > 0:
            return  # another console tab of theirs is still open here
        self.assigner.local_status.pop(conn.user_id, None)
        if conn.handed_over:
            # A rolling restart told the console to reconnect: the adviser keeps status and conversations
            # in the routing state, and whichever instance the console reaches renews the lease
            # (chat/drain.py). It may be there already, so nothing here may mark them offline.
            return
        with contextlib.suppress(UnknownAdviser):
            await self.routing.set_status(conn.user_id, AdviserStatus.OFFLINE, self.clock())
        # The visitors are told at once; after the grace period they go back to the queue.
        for conv in await self.store.held_by(conn.user_id):
            await self.messages.system(conv, "adviser_away", conn.user_id)
        await self.fanout.publish(QueueChanged())
