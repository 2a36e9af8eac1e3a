"""Durable conversations and messages.

Conversations change only through the named transitions below (``assign``, ``close_conversation``,
``requeue``, ``transfer``, ``mark_visitor_away`` …): each is one compare-and-set on the conversation row, so two
instances racing over one conversation cannot both succeed, and each returns whether it happened.

``append`` is the one place a message is created: it allocates the next gapless ``seq`` inside the
same transaction that inserts the row (the conversation row is locked on PostgreSQL, and SQLite has a
single writer), so a rolled-back write leaves no hole. A resent ``client_id`` returns the stored
message instead of a new one, also when two resends race (the unique constraint decides).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import update
from sqlmodel import col, select

from chat.conversation_sql import IfUnset
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
from chat.messages import StoredMessage
from chat.postgres_direct import DirectPostgres, asyncpg_dsn
from chat.sqlite_inline import InlineSqlite
from core.clock import as_utc
from core.db import Database
from core.models import Conversation
from core.models import ConversationState as S


class NotWritable(ChatError):
    """The conversation does not exist, is closed, or is not the writer's (``append``'s ``only_if``)."""


class AlreadyExists(ChatError):
    """A conversation with this token or start key is stored already (two starts raced)."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


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
    async def conversations_away_before(self, cutoff: datetime) -> list[Conversation]: ...
    async def insert_conversation(self, conversation: Conversation) -> None: ...
    async def update_conversation(
        self, conversation_id: str, conditions: tuple[object, ...], values: dict[str, Any]
    ) -> bool: ...
    async def update_conversation_returning(
        self, conversation_id: str, conditions: tuple[object, ...], values: dict[str, Any]
    ) -> Conversation | None: ...
    async def message_rows(self, conversation_id: str, after: int, upto: int | None) -> list[MessageRow]: ...
    async def message_by_client_id(self, conversation_id: str, sender_id: str, client_id: str) -> MessageRow | None: ...
    async def warm(self) -> None: ...
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
        return DirectPostgres(asyncpg_dsn(url), size=db.pool)
    raise StoreUnsupported(f"no conversation store for {db.engine.dialect.name}: use SQLite or PostgreSQL")


# Conditions of the hot paths, built once (building a SQLAlchemy comparison costs more than the write).
IS_QUEUED = (col(Conversation.state) == S.QUEUED,)
NOT_CLOSED = (col(Conversation.state) != S.CLOSED,)
# A warm transfer's offer ends with every transition that takes the conversation from its holder.
NO_OFFER: dict[str, Any] = {"offered_to": None, "offer_note": None}


class ConversationStore:
    """Conversations and messages on the message path go through the database's driver (about a tenth
    of the CPU of the async engine and ORM per operation); listings go through the engine."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.driver = driver_for(db)
        self._committer = GroupCommitter(self.driver)

    async def warm(self) -> None:
        """Open the database connections the message path will need, before the first sockets."""
        await self.driver.warm()

    async def close(self) -> None:
        await self._committer.close()
        await self.driver.close()

    async def flush(self) -> None:
        """Wait until every message handed over so far is committed and answered."""
        await self._committer.close()

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

    # ------------------------------------------------------------ listings

    async def queued(self) -> list[Conversation]:
        return await self._where(col(Conversation.state) == S.QUEUED)

    async def held_by(self, adviser_id: str) -> list[Conversation]:
        return await self._where(col(Conversation.state) == S.ASSIGNED, col(Conversation.adviser_id) == adviser_id)

    async def assigned(self) -> list[Conversation]:
        return await self._where(col(Conversation.state) == S.ASSIGNED)

    async def offered_to(self, adviser_id: str) -> list[Conversation]:
        """Conversations on offer to this adviser (warm transfers not yet answered)."""
        return await self._where(col(Conversation.state) == S.ASSIGNED, col(Conversation.offered_to) == adviser_id)

    async def waiting_for(self, adviser_id: str) -> list[Conversation]:
        """Queued conversations transferred to this adviser by name."""
        return await self._where(col(Conversation.state) == S.QUEUED, col(Conversation.target_adviser_id) == adviser_id)

    async def visitor_away_before(self, cutoff: datetime) -> list[Conversation]:
        """Open conversations whose visitor has been gone since before ``cutoff``. Asked every tick, so
        through the driver (the engine and ORM took 2 ms of CPU a time even when none was found)."""
        return await self.driver.conversations_away_before(cutoff)

    async def queued_ids(self) -> set[str]:
        async with self.db.session() as session:
            rows = await session.exec(select(Conversation.id).where(col(Conversation.state) == S.QUEUED))
            return set(rows.all())

    async def away_among(self, conversation_ids: list[str]) -> list[Conversation]:
        """Those of these open conversations the database has as visitor away."""
        return await self._where(
            col(Conversation.id).in_(conversation_ids),
            col(Conversation.state) != S.CLOSED,
            col(Conversation.visitor_away_since).is_not(None),
        )

    async def _where(self, *conditions: object) -> list[Conversation]:
        async with self.db.session() as session:
            result = await session.exec(select(Conversation).where(*conditions))  # type: ignore[arg-type]
            return list(result.all())

    # ------------------------------------------------------------ transitions

    async def assign(
        self, conversation_id: str, adviser_id: str, service: str | None, at: datetime
    ) -> Conversation | None:
        """queued → assigned to ``adviser_id``: the conversation as assigned, or ``None`` when it was not
        waiting. The first assignment also sets ``answered_at`` (the first answer, which the
        supervisor's day counts waits to). One statement: the assignment needs no read before it."""
        return await self.driver.update_conversation_returning(
            conversation_id,
            IS_QUEUED,
            {
                "state": S.ASSIGNED,
                "adviser_id": adviser_id,
                "service": service,
                "assigned_at": at,
                "answered_at": IfUnset(at),
                **NO_OFFER,
            },
        )

    async def close_conversation(self, conversation_id: str, reason: str, at: datetime) -> bool:
        """queued or assigned → closed."""
        return await self._update(
            conversation_id,
            NOT_CLOSED,
            state=S.CLOSED,
            closed_at=at,
            close_reason=reason,
            **NO_OFFER,
        )

    async def requeue(self, conversation_id: str, adviser_id: str) -> bool:
        """assigned to ``adviser_id`` → queued (their grace period ended), at its original place."""
        return await self._update(
            conversation_id,
            (col(Conversation.state) == S.ASSIGNED, col(Conversation.adviser_id) == adviser_id),
            state=S.QUEUED,
            adviser_id=None,
            service=None,
            **NO_OFFER,
        )

    async def transfer(
        self,
        conversation_id: str,
        adviser_id: str,
        *,
        note: str | None,
        to_adviser: str | None,
        to_service: str | None,
        to_region: str | None,
        to_language: str | None,
        urgent: bool = False,
        offered_to: str | None = None,
    ) -> bool:
        """assigned to ``adviser_id`` → queued for the target, at its original place (``urgent`` only
        ever turns urgency on); with ``offered_to``, only while the conversation is on offer to that
        adviser (a warm transfer's accept: of two racing, one wins)."""
        extra: dict[str, Any] = {"urgent": True} if urgent else {}
        held: tuple[object, ...] = (col(Conversation.state) == S.ASSIGNED, col(Conversation.adviser_id) == adviser_id)
        if offered_to is not None:
            held = (*held, col(Conversation.offered_to) == offered_to)
        return await self._update(
            conversation_id,
            held,
            **extra,
            **NO_OFFER,
            state=S.QUEUED,
            adviser_id=None,
            service=None,
            transferred=True,
            transfer_note=note,
            target_adviser_id=to_adviser,
            target_service=to_service,
            target_region=to_region,
            target_language=to_language,
        )

    async def offer(self, conversation_id: str, adviser_id: str, to_adviser: str, note: str | None) -> bool:
        """The holder ``adviser_id`` offers the conversation to ``to_adviser`` (a warm transfer),
        replacing an earlier offer; only while they hold it."""
        return await self._update(
            conversation_id,
            (col(Conversation.state) == S.ASSIGNED, col(Conversation.adviser_id) == adviser_id),
            offered_to=to_adviser,
            offer_note=note,
        )

    async def end_offer(self, conversation_id: str, *, holder: str | None = None, to: str | None = None) -> bool:
        """The offer is withdrawn by its ``holder`` or declined by the colleague it is ``to``; whether
        this call ended it (of two racing, one does)."""
        conditions: tuple[object, ...] = (col(Conversation.offered_to).is_not(None),)
        if holder is not None:
            conditions = (*conditions, col(Conversation.adviser_id) == holder)
        if to is not None:
            conditions = (*conditions, col(Conversation.offered_to) == to)
        return await self._update(conversation_id, conditions, **NO_OFFER)

    async def reroute(
        self,
        conversation_id: str,
        *,
        note: str | None,
        urgent: bool,
        to_service: str | None = None,
        to_region: str | None = None,
        to_language: str | None = None,
    ) -> bool:
        """A supervisor re-targets a queued conversation as a transfer would, at its original place;
        targets not given stay as they were (``urgent`` only ever turns on)."""
        values: dict[str, Any] = {"transfer_note": note} if note else {}
        if urgent:
            values["urgent"] = True
        for name, value in (
            ("target_service", to_service),
            ("target_region", to_region),
            ("target_language", to_language),
        ):
            if value is not None:
                values[name] = value
        if not values:
            conv = await self.get(conversation_id)
            return conv is not None and conv.state == S.QUEUED
        return await self._update(conversation_id, IS_QUEUED, **values)

    async def open_to_everyone(self, conversation_id: str, adviser_id: str) -> bool:
        """Drop a transfer's named adviser (who has gone), if it still names them."""
        return await self._update(
            conversation_id, (col(Conversation.target_adviser_id) == adviser_id,), target_adviser_id=None
        )

    async def mark_visitor_away(self, conversation_id: str, at: datetime) -> bool:
        """The visitor's last socket closed; the visitor's grace period runs from ``at``."""
        return await self._update(
            conversation_id,
            (col(Conversation.visitor_away_since).is_(None), col(Conversation.state) != S.CLOSED),
            visitor_away_since=at,
        )

    async def mark_visitor_back(self, conversation_id: str, instance: str) -> bool:
        """The visitor's socket is on ``instance`` (``chat.instances``)."""
        return await self._update(conversation_id, (), visitor_away_since=None, visitor_instance=instance)

    async def mark_all_visitors_away(self, at: datetime) -> None:
        """After a restart no visitor is connected yet: every open conversation's grace period runs."""
        async with self.db.writing() as session:
            await session.exec(
                update(Conversation)
                .where(col(Conversation.state) != S.CLOSED, col(Conversation.visitor_away_since).is_(None))
                .values(visitor_away_since=at)
            )

    async def set_ui_language(self, conversation_id: str, language: str) -> bool:
        return await self._update(conversation_id, (), ui_language=language)

    async def renew_token(self, conversation_id: str, token_hash: str) -> bool:
        return await self._update(conversation_id, (), token_hash=token_hash)

    async def forget_start_key(self, conversation_id: str) -> bool:
        """The start it was made by is over: a repeat of it starts afresh."""
        return await self._update(conversation_id, (), start_key=None)

    async def _update(self, conversation_id: str, conditions: tuple[object, ...], **values: object) -> bool:
        """Compare-and-set in plain SQL through the driver; conditions compare a column with a value
        (``==``, ``!=``) or test it for NULL (``chat.conversation_sql``)."""
        return await self.driver.update_conversation(conversation_id, conditions, values)
