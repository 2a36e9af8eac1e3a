"""Durable conversations and messages.

``append`` is the one place a message is created: it allocates the next gapless ``seq`` inside the
same transaction that inserts the row (the conversation row is locked on PostgreSQL, and SQLite has a
single writer), so a rolled-back write leaves no hole. A resent ``client_id`` returns the stored
message instead of a new one, also when two resends race (the unique constraint decides).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlmodel import select

from chat.errors import ChatError
from chat.group_commit import (
    ANY,
    REFUSED,
    AppendRequest,
    BatchWriter,
    GroupCommitter,
    Guard,
    MessageRow,
    Outcome,
)
from chat.postgres_direct import DirectPostgres, asyncpg_dsn
from chat.sqlite_inline import InlineSqlite
from core.clock import as_utc, iso
from core.db import Database
from core.models import Conversation


class NotWritable(ChatError):
    """The conversation does not exist, is closed, or is not the writer's (``append``'s ``only_if``)."""


class AlreadyExists(ChatError):
    """A conversation with this token or start key is stored already (two starts raced)."""


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


def _from_row(row: MessageRow) -> StoredMessage:
    seq, sender, text, sent_at, client_id, event, sender_id = row
    return StoredMessage(seq, sender, text, as_utc(sent_at), client_id, event, sender_id)


class StoreDriver(BatchWriter, Protocol):
    """The hot operations on one database, each in its own transaction, without the async engine's
    per-call cost: ``chat.sqlite_inline`` on a SQLite file, ``chat.postgres_direct`` on PostgreSQL."""

    async def conversation(self, column: str, value: str) -> Conversation | None: ...
    async def insert_conversation(self, conversation: Conversation) -> None: ...
    async def update_conversation(
        self, conversation_id: str, conditions: tuple[object, ...], values: dict[str, Any]
    ) -> bool: ...
    async def message_rows(self, conversation_id: str, after: int, upto: int | None) -> list[MessageRow]: ...
    async def message_by_client_id(self, conversation_id: str, sender_id: str, client_id: str) -> MessageRow | None: ...
    async def close(self) -> None: ...


class StoreUnsupported(ValueError):
    """The database is neither a SQLite file nor PostgreSQL."""


def driver_for(db: Database) -> StoreDriver:
    url = db.engine.url
    if db.is_sqlite:
        if not url.database or url.database == ":memory:":
            raise StoreUnsupported("an in-memory SQLite database is one per connection: give a file path")
        return InlineSqlite(url.database, db.write_lock)
    if db.engine.dialect.name == "postgresql":
        return DirectPostgres(asyncpg_dsn(url))
    raise StoreUnsupported(f"no conversation store for {db.engine.dialect.name}: use SQLite or PostgreSQL")


class ConversationStore:
    """Conversations and messages on the message path go through the database's driver (about a tenth
    of the CPU of the async engine and ORM per operation); listings go through the engine."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.driver = driver_for(db)
        self._committer = GroupCommitter(self.driver)

    async def close(self) -> None:
        await self._committer.close()
        await self.driver.close()

    async def create(self, conversation: Conversation) -> Conversation:
        """Raises ``AlreadyExists`` when its token hash or start key is taken."""
        try:
            await self.driver.insert_conversation(conversation)
        except REFUSED as exc:
            raise AlreadyExists(conversation.id) from exc
        return conversation

    async def get(self, conversation_id: str) -> Conversation | None:
        return await self.driver.conversation("id", conversation_id)

    async def by_token(self, token: str) -> Conversation | None:
        return await self.driver.conversation("token_hash", hash_token(token))

    async def by_start_key(self, start_key: str) -> Conversation | None:
        return await self.driver.conversation("start_key", start_key)

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

        Appends are group-committed (``chat.group_commit``). The guard is checked and the seq taken on
        the conversation row locked in the batch's own transaction, so a message never lands in a
        conversation that closed meanwhile and a rollback leaves no gap. A resent ``client_id`` returns
        the stored message (``created=False``). Raises ``NotWritable`` when the guard does not hold.
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

    def append_nowait(
        self,
        conversation_id: str,
        *,
        sender: str,
        text: str,
        at: datetime,
        client_id: str | None,
        sender_id: str | None,
        only_if: Guard,
        on_settle: Callable[[Outcome | BaseException], None],
    ) -> None:
        """``append`` without waiting: the message goes into the next batch in arrival order, and
        ``on_settle`` gets ``(seq, created, adviser_id)``, ``None`` (the guard did not hold) or the error,
        called in the same turn of the loop as the commit. For the message hot path, where resuming a
        waiting coroutine per message is a turn of the loop and a task step each."""
        self._committer.enqueue(
            AppendRequest(conversation_id, sender, text, at, client_id, sender_id, None, only_if, None, on_settle)
        )

    async def _by_client_id(self, conversation_id: str, sender_id: str | None, client_id: str) -> StoredMessage | None:
        if sender_id is None:
            return None  # a NULL sender id is never unique, so no resend can have been refused
        row = await self.driver.message_by_client_id(conversation_id, sender_id, client_id)
        return _from_row(row) if row is not None else None

    async def messages_after(self, conversation_id: str, after: int, upto: int | None = None) -> list[StoredMessage]:
        return [_from_row(row) for row in await self.driver.message_rows(conversation_id, after, upto)]

    async def update(self, conversation_id: str, *conditions: object, **values: object) -> bool:
        """Conditional update (compare-and-set on state); returns whether a row changed. Conditions
        compare a column with a value (``==``, ``!=``) or test it for NULL."""
        return await self.driver.update_conversation(conversation_id, conditions, values)
