"""Instance heartbeats, so that the visitors of an instance that died are not left present forever.

Each instance writes its heartbeat (``chat_instance``) with every routing heartbeat, and stamps the
conversations whose visitor socket it holds (``conversation.visitor_instance``, on start and on resume).
An instance that stops beating for the lease (killed, its machine gone) never ran its sockets' close
handlers: its visitors still look present, and a queued one would be given to an adviser who then
waits for nobody. Another instance takes the dead one's place: it marks those visitors away as of the
dead instance's last heartbeat, as a closed socket would have, so their grace period runs and the
adviser is told. A visitor who came back through another instance is stamped with that one and is
left alone. An instance stopped on purpose (SIGTERM) hands its sockets over itself and removes its row.
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlmodel import col, select

from core.clock import to_datetime
from core.db import Database
from core.models import ChatInstance, Conversation
from core.models import ConversationState as S


class InstanceLeases:
    def __init__(self, db: Database, instance: str, lease_s: float) -> None:
        self.db = db
        self.instance = instance
        self.lease_s = lease_s

    async def beat(self, now: float) -> None:
        """This instance is alive as of ``now`` (only it writes its own row, so no upsert race)."""
        at = to_datetime(now)
        async with self.db.writing() as session:
            result = await session.exec(
                update(ChatInstance).where(col(ChatInstance.id) == self.instance).values(seen_at=at)
            )
            if not result.rowcount:
                session.add(ChatInstance(id=self.instance, seen_at=at))

    async def dead(self, now: float) -> list[ChatInstance]:
        """Other instances whose last heartbeat is older than the lease."""
        async with self.db.session() as session:
            rows = await session.exec(
                select(ChatInstance).where(
                    col(ChatInstance.seen_at) < to_datetime(now - self.lease_s), col(ChatInstance.id) != self.instance
                )
            )
            return list(rows.all())

    async def orphaned_visitors(self, instance: str) -> list[Conversation]:
        """Open conversations whose visitor, as far as the database knows, is still on ``instance``."""
        async with self.db.session() as session:
            rows = await session.exec(
                select(Conversation).where(
                    col(Conversation.visitor_instance) == instance,
                    col(Conversation.state) != S.CLOSED,
                    col(Conversation.visitor_away_since).is_(None),
                )
            )
            return list(rows.all())

    async def forget(self, instance: str) -> None:
        async with self.db.writing() as session:
            await session.exec(delete(ChatInstance).where(col(ChatInstance.id) == instance))
