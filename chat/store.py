"""Durable conversations and messages.

``append`` is the one place a message is created: it allocates the next gapless ``seq`` inside the
same transaction that inserts the row (the conversation row is locked on PostgreSQL, and SQLite has a
single writer), so a rolled-back write leaves no hole. A resent ``client_id`` returns the stored
message instead of a new one, also when two resends race (the unique constraint decides).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session as SyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from chat.errors import ChatError
from chat.group_commit import ANY, AppendRequest, GroupCommitter, Guard, Outcome, insert_row
from chat.sqlite_inline import InlineSqlite
from core.clock import as_utc, iso
from core.db import Database
from core.models import Conversation, Message


class NotWritable(ChatError):
    """The conversation does not exist, is closed, or is not the writer's (``append``'s ``only_if``)."""


class ConversationState:
    QUEUED = "queued"
    ASSIGNED = "assigned"
    CLOSED = "closed"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredMessage:
    seq: int
    sender: str
    text: str | None
    sent_at: datetime
    client_id: str | None = None
    event: str | None = None
    sender_id: str | None = None

    def wire(self, *, owner: str | None) -> dict[str, object]:
        """The ``message`` frame body; ``client_id`` only to the sender who chose it (``owner``)."""
        out: dict[str, object] = {
            "type": "message",
            "seq": self.seq,
            "sender": self.sender,
            "text": self.text if self.text is not None else "",
            "sent_at": iso(self.sent_at),
        }
        if self.event is not None:
            out["event"] = self.event
        if self.client_id is not None and owner is not None and owner == self.sender_id:
            out["client_id"] = self.client_id
        return out

    def event_body(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "sender": self.sender,
            "text": self.text,
            "sent_at": iso(self.sent_at),
            "client_id": self.client_id,
            "event": self.event,
            "sender_id": self.sender_id,
        }

    @classmethod
    def from_event(cls, body: dict[str, object]) -> StoredMessage:
        sent = datetime.fromisoformat(str(body["sent_at"]).replace("Z", "+00:00"))
        seq = body["seq"]
        assert isinstance(seq, int)  # noqa: S101 - produced by event_body
        text, client_id, event = body.get("text"), body.get("client_id"), body.get("event")
        sender_id = body.get("sender_id")
        return cls(
            seq,
            str(body["sender"]),
            text if isinstance(text, str) else None,
            sent,
            client_id if isinstance(client_id, str) else None,
            event if isinstance(event, str) else None,
            sender_id if isinstance(sender_id, str) else None,
        )


class Appended(NamedTuple):
    message: StoredMessage
    created: bool  # False for a resent client_id
    adviser_id: str | None  # who holds the conversation now (to address the fan-out)


def _stored(row: Message | Row[Any]) -> StoredMessage:
    """From an ORM object or a Core row of the message table (both name their columns)."""
    return StoredMessage(row.seq, row.sender, row.text, as_utc(row.sent_at), row.client_id, row.event, row.sender_id)


class ConversationStore:
    """On a SQLite file the hot single-row operations run inline on one connection (``chat.sqlite_inline``,
    ten times cheaper than through the async engine); elsewhere, and for everything else, the engine."""

    def __init__(self, db: Database) -> None:
        self.db = db
        path = db.engine.url.database if db.is_sqlite else None
        self._inline = InlineSqlite(path, db.write_lock) if path and path != ":memory:" else None
        self._committer = GroupCommitter(db, self._append_one, sqlite=self._inline)

    async def close(self) -> None:
        await self._committer.close()
        if self._inline is not None:
            self._inline.close()

    async def create(self, conversation: Conversation) -> Conversation:
        if self._inline is not None:
            inline = self._inline

            def add_row() -> None:
                with SyncSession(inline.engine, expire_on_commit=False) as session:
                    session.add(conversation)
                    session.commit()

            await inline.write(add_row)
            return conversation
        async with self.db.writing() as session:
            session.add(conversation)
        return conversation

    async def get(self, conversation_id: str) -> Conversation | None:
        return await self._one(select(Conversation).where(Conversation.id == conversation_id))

    async def by_token(self, token: str) -> Conversation | None:
        return await self._one(select(Conversation).where(Conversation.token_hash == hash_token(token)))

    async def by_start_key(self, start_key: str) -> Conversation | None:
        return await self._one(select(Conversation).where(Conversation.start_key == start_key))

    async def _one(self, query: SelectOfScalar[Conversation]) -> Conversation | None:
        if self._inline is not None:  # a read takes no lock (WAL)
            with SyncSession(self._inline.engine, expire_on_commit=False) as session:
                return session.exec(query).first()
        # Core, not an ORM session: a quarter less CPU per lookup on asyncpg.
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return Conversation(**row._mapping) if row is not None else None

    async def list_where(self, *conditions: object) -> list[Conversation]:
        async with self.db.session() as session:
            result = await session.exec(select(Conversation).where(*conditions))  # type: ignore[arg-type]
            return list(result.all())

    async def append(
        self,
        conversation_id: str,
        *,
        sender: str,
        text: str,
        at: datetime,
        client_id: str | None = None,
        sender_id: str | None = None,
        event: str | None = None,
        only_if: Guard = ANY,
    ) -> Appended:
        """Store a message, if the conversation meets ``only_if``; returns once it is committed.

        Appends are group-committed (``chat.group_commit``). The seq comes from the same
        ``UPDATE … RETURNING`` that checks the guard, so a message never lands in a conversation that
        closed meanwhile and a rollback leaves no gap. A resent ``client_id`` returns the stored message
        (``created=False``). Raises ``NotWritable`` when the guard does not hold.
        """
        request = AppendRequest(
            conversation_id,
            sender,
            text,
            at,
            client_id,
            sender_id,
            event,
            only_if,
            asyncio.get_running_loop().create_future(),
        )
        outcome = await self._committer.submit(request)
        if outcome is None:
            raise NotWritable(conversation_id)
        seq, created, adviser_id = outcome
        if created:
            return Appended(StoredMessage(seq, sender, text, at, client_id, event, sender_id), True, adviser_id)
        stored = await self._by_client_id(conversation_id, sender_id, client_id) if client_id else None
        if stored is None:
            raise NotWritable(conversation_id)  # purged meanwhile
        return Appended(stored, False, None)

    async def _append_one(self, request: AppendRequest) -> Outcome:
        """One message in its own transaction: the fallback when a batch meets a constraint race."""
        try:
            async with self.db.transaction() as conn:
                row = (
                    await conn.execute(
                        update(Conversation)
                        .where(col(Conversation.id) == request.conversation_id, *request.guard.conditions())
                        .values(next_seq=col(Conversation.next_seq) + 1)
                        .returning(col(Conversation.next_seq), col(Conversation.adviser_id))
                    )
                ).first()
                if row is None:
                    return None
                seq, adviser_id = int(row[0]), row[1]
                await conn.execute(insert(Message).values(**insert_row(request, seq)))
        except IntegrityError:
            if request.client_id is None:
                raise
            existing = await self._by_client_id(request.conversation_id, request.sender_id, request.client_id)
            if existing is None:
                raise
            return existing.seq, False, None
        return seq, True, adviser_id

    async def _by_client_id(self, conversation_id: str, sender_id: str | None, client_id: str) -> StoredMessage | None:
        async with self.db.session() as session:
            result = await session.exec(
                select(Message).where(
                    Message.conversation_id == conversation_id,
                    col(Message.sender_id) == sender_id,
                    Message.client_id == client_id,
                )
            )
            row = result.first()
        return _stored(row) if row is not None else None

    async def messages_after(self, conversation_id: str, after: int, upto: int | None = None) -> list[StoredMessage]:
        query = select(Message).where(Message.conversation_id == conversation_id, col(Message.seq) > after)
        if upto is not None:
            query = query.where(col(Message.seq) <= upto)
        query = query.order_by(col(Message.seq))
        if self._inline is not None:  # a read takes no lock (WAL)
            with SyncSession(self._inline.engine) as session:
                return [_stored(row) for row in session.exec(query).all()]
        # Core, not an ORM session: plain rows, not tracked objects.
        async with self.db.engine.connect() as conn:
            return [_stored(row) for row in (await conn.execute(query)).all()]

    async def update(self, conversation_id: str, *conditions: object, **values: object) -> bool:
        """Conditional update (compare-and-set on state); returns whether a row changed."""
        statement = (
            update(Conversation)
            .where(col(Conversation.id) == conversation_id, *conditions)  # type: ignore[arg-type]
            .values(**values)
        )
        if self._inline is not None:
            inline = self._inline

            def change() -> int:
                with inline.engine.connect() as conn:
                    return conn.execute(statement).rowcount

            return bool(await inline.write(change))
        async with self.db.transaction() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)
