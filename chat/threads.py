"""Threads of a return code in the database: made, found by code, joined, read, erased (docs/design.md §9).

A thread is what a return code opens: the conversations the visitor had with it (``thread_conversation``)
and the messages they left while the chat was closed (``left_message``). It lives while its code is
valid (``NORA_RETURN_CODE_DAYS`` after the code was taken); then, or at once when the visitor withdraws
the code, the thread row, its links and any message still waiting are erased (``erase_expired`` runs with
the retention purge). The conversations themselves stay ordinary conversations: their transcripts are
erased on the transcripts' schedule, their registrations kept as registrations are, and nothing ties them
together any more but the case the register put them in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.codes import CodeHasher, lookup, lookup_key, new_code, normalise
from core.clock import as_utc
from core.db import Database
from core.models import Conversation, LeftMessage, ReturnThread, ThreadConversation

MAX_CANDIDATES = 8  # rows sharing 24 lookup bits; in practice 0 or 1


@dataclass(frozen=True)
class Facts:
    """What a new visit in the thread starts from: the last visit's language, region, audience and page."""

    language: str
    region: str | None
    audience: str
    ui_language: str | None


@dataclass(frozen=True)
class Continuation:
    """A ``start`` that continues a thread: the conversation goes to the adviser of the last visit first
    (if they are available and have room), otherwise to the last visit's service in the visitor's region;
    ``joined`` ties the new conversation into the thread before it is routed."""

    adviser_id: str | None
    service: str | None
    joined: Callable[[Conversation], Awaitable[None]]


def facts_of(conv: Conversation) -> Facts:
    return Facts(conv.language, conv.region, conv.audience, conv.ui_language)


class ThreadStore:
    def __init__(self, db: Database, *, secret_key: str, days: int) -> None:
        self.db = db
        self.days = days
        self.hasher = CodeHasher()
        self._key = lookup_key(secret_key)

    def valid_until(self, thread: ReturnThread) -> datetime:
        return as_utc(thread.code_issued_at) + timedelta(days=self.days)

    def _issued_after(self, now: datetime) -> datetime:
        return now - timedelta(days=self.days)

    # ------------------------------------------------------------ codes

    async def issue(self, thread: ReturnThread | None, facts: Facts, language: str, now: datetime) -> tuple[str, str]:
        """A new code for ``thread`` (replacing its code: the earlier one stops working), or a new thread
        with a code; returns ``(thread id, code)``. The code is returned once and kept nowhere."""
        code = new_code(language)
        normalised = normalise(code)
        hashed = await self.hasher.hash(normalised)
        values: dict[str, Any] = {
            "lookup": lookup(self._key, normalised),
            "code_hash": hashed,
            "code_issued_at": now,
            "language": facts.language,
            "region": facts.region,
            "audience": facts.audience,
            "ui_language": facts.ui_language,
        }
        async with self.db.writing() as session:
            row = await session.get(ReturnThread, thread.id) if thread is not None else None
            if row is None:
                row = ReturnThread(created_at=now, **values)
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            session.add(row)
        return row.id, code

    async def find(self, code: str, now: datetime) -> ReturnThread | None:
        """The thread of a valid code, or ``None`` for a wrong, expired or withdrawn one (all alike, and in
        about the same time: a miss costs one Argon2 hash too)."""
        normalised = normalise(code)
        candidates: list[ReturnThread] = []
        if normalised:
            async with self.db.session() as session:
                query = (
                    select(ReturnThread)
                    .where(
                        col(ReturnThread.lookup) == lookup(self._key, normalised),
                        col(ReturnThread.code_issued_at) > self._issued_after(now),
                    )
                    .limit(MAX_CANDIDATES)
                )
                candidates = list((await session.exec(query)).all())
        if not candidates:
            await self.hasher.verify(None, normalised or "-")
            return None
        for row in candidates:
            if await self.hasher.verify(row.code_hash, normalised):
                return row
        return None

    async def get(self, thread_id: str, now: datetime) -> ReturnThread | None:
        """The thread, while its code is valid."""
        async with self.db.session() as session:
            row = await session.get(ReturnThread, thread_id)
        if row is None or as_utc(row.code_issued_at) <= self._issued_after(now):
            return None
        return row

    async def thread_of(self, conversation_id: str, now: datetime) -> ReturnThread | None:
        async with self.db.session() as session:
            link = await session.get(ThreadConversation, conversation_id)
        return await self.get(link.thread_id, now) if link is not None else None

    # ------------------------------------------------------------ contents

    async def link(self, thread_id: str, conv: Conversation) -> None:
        """Put a conversation into the thread; the thread takes its language, region and audience."""
        async with self.db.writing() as session:
            if await session.get(ThreadConversation, conv.id) is None:
                session.add(ThreadConversation(conversation_id=conv.id, thread_id=thread_id))
            row = await session.get(ReturnThread, thread_id)
            if row is not None:
                row.language, row.region, row.audience = conv.language, conv.region, conv.audience
                row.ui_language = conv.ui_language or row.ui_language
                session.add(row)

    async def conversations(self, thread_id: str) -> list[Conversation]:
        """The thread's conversations, oldest first."""
        async with self.db.session() as session:
            query = (
                select(Conversation)
                .join(ThreadConversation, col(ThreadConversation.conversation_id) == col(Conversation.id))
                .where(col(ThreadConversation.thread_id) == thread_id)
                .order_by(col(Conversation.started_at), col(Conversation.id))
            )
            return list((await session.exec(query)).all())

    async def last_adviser(self, thread_id: str) -> tuple[str | None, str | None]:
        """The adviser and service of the thread's most recent conversation that had an adviser."""
        for conv in reversed(await self.conversations(thread_id)):
            if conv.adviser_id is not None:
                return conv.adviser_id, conv.service
        return None, None

    async def leave(self, thread_id: str, text: str, now: datetime) -> LeftMessage:
        row = LeftMessage(thread_id=thread_id, text=text, left_at=now)
        async with self.db.writing() as session:
            session.add(row)
        return row

    async def waiting(self, thread_id: str) -> list[LeftMessage]:
        async with self.db.session() as session:
            query = (
                select(LeftMessage).where(col(LeftMessage.thread_id) == thread_id).order_by(col(LeftMessage.left_at))
            )
            return list((await session.exec(query)).all())

    async def take_waiting(self, thread_id: str) -> list[LeftMessage]:
        """Remove and return the thread's waiting messages (they move into a conversation); two callers at
        once: each message goes to one of them only."""
        async with self.db.writing() as session:
            query = (
                select(LeftMessage).where(col(LeftMessage.thread_id) == thread_id).order_by(col(LeftMessage.left_at))
            )
            rows = list((await session.exec(query.with_for_update())).all())
            taken = []
            for row in rows:
                result = await session.exec(delete(LeftMessage).where(col(LeftMessage.id) == row.id))
                if result.rowcount:
                    taken.append(row)
        return taken

    # ------------------------------------------------------------ erasure

    async def erase(self, thread_id: str) -> bool:
        """The visitor withdrew the code: the thread, its links and waiting messages go now."""
        async with self.db.writing() as session:
            return await _erase(session, [thread_id]) > 0


async def _erase(session: AsyncSession, ids: list[str]) -> int:
    if not ids:
        return 0
    await session.exec(delete(LeftMessage).where(col(LeftMessage.thread_id).in_(ids)))
    await session.exec(delete(ThreadConversation).where(col(ThreadConversation.thread_id).in_(ids)))
    result = await session.exec(delete(ReturnThread).where(col(ReturnThread.id).in_(ids)))
    return int(result.rowcount or 0)


async def erase_expired(db: Database, issued_before: datetime) -> int:
    """Erase every thread whose code was taken before ``issued_before`` (it no longer works): the code's
    hash, the links between its conversations and the messages still waiting. Returns how many."""
    async with db.writing() as session:
        ids = list(
            (await session.exec(select(ReturnThread.id).where(col(ReturnThread.code_issued_at) <= issued_before))).all()
        )
        erased = 0
        for start in range(0, len(ids), 500):
            erased += await _erase(session, ids[start : start + 500])
    return erased
