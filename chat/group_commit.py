"""Group commit for messages: every append waiting while a transaction runs goes into the next one.

A commit costs a disk flush (PostgreSQL) or a trip through SQLite's single writer, far more than the
statements themselves; under load this turns N commits into one without adding latency when idle (a
lone message is flushed at once). Per batch: one query for resent client ids, one
``UPDATE … SET next_seq = next_seq + k … RETURNING`` per run of messages to one conversation under one
guard, one multi-row INSERT, one COMMIT. Seqs follow the order the appends arrived in. Each caller is
answered only after the commit, so an ack still means "stored". If the batch meets a unique-constraint
race (another instance stored the same client id meanwhile), it is redone one message at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Update, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from core.db import Database
from core.models import Conversation, Message

MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class Guard:
    """When a conversation accepts a message: any state, not closed, or held by one adviser."""

    kind: str = "any"  # "any" | "open" | "adviser"
    adviser_id: str | None = None

    def conditions(self) -> tuple[ColumnElement[bool], ...]:
        if self.kind == "open":
            return (col(Conversation.state) != "closed",)
        if self.kind == "adviser":
            return (col(Conversation.state) == "assigned", col(Conversation.adviser_id) == self.adviser_id)
        return ()


def _claim_seqs(*conditions: ColumnElement[bool]) -> Update:
    return (
        update(Conversation)
        .where(col(Conversation.id) == bindparam("cid"), *conditions)
        .values(next_seq=col(Conversation.next_seq) + bindparam("k"))
        .returning(col(Conversation.next_seq), col(Conversation.adviser_id))
    )


# Built once: SQLAlchemy then reuses the compiled form instead of rebuilding it for every batch.
CLAIM = {
    "any": _claim_seqs(),
    "open": _claim_seqs(col(Conversation.state) != "closed"),
    "adviser": _claim_seqs(col(Conversation.state) == "assigned", col(Conversation.adviser_id) == bindparam("aid")),
}
INSERT_MESSAGES = insert(Message)


ANY = Guard()


@dataclass(slots=True)
class AppendRequest:
    conversation_id: str
    sender: str
    text: str
    at: datetime
    client_id: str | None
    sender_id: str | None
    event: str | None
    guard: Guard
    future: asyncio.Future[tuple[int, bool, str | None] | None] = field(repr=False)

    @property
    def key(self) -> tuple[str, str | None, str] | None:
        return (self.conversation_id, self.sender_id, self.client_id) if self.client_id is not None else None


# (seq, created, adviser_id) of a stored message, or None when the guard did not hold.
Outcome = tuple[int, bool, str | None] | None
OneByOne = Callable[[AppendRequest], Awaitable[Outcome]]


class GroupCommitter:
    def __init__(self, db: Database, one_by_one: OneByOne, *, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.one_by_one = one_by_one
        self.max_batch = max_batch
        self._pending: list[AppendRequest] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, request: AppendRequest) -> Outcome:
        self._pending.append(request)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await request.future

    async def close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                outcomes = await self._flush(batch)
            except IntegrityError:
                outcomes = []
                for request in batch:
                    try:
                        outcomes.append(await self.one_by_one(request))
                    except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
                        _settle(request, exc)
                        outcomes.append(None)
                        continue
            except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                for request in batch:
                    _settle(request, exc)
                continue
            for request, outcome in zip(batch, outcomes, strict=True):
                _settle(request, outcome)

    async def _flush(self, batch: list[AppendRequest]) -> list[Outcome]:
        outcomes: list[Outcome] = [None] * len(batch)
        known = await self._resent(batch)
        async with self.db.transaction() as conn:
            first_of: dict[tuple[str, str | None, str], int] = {}
            rows: list[dict[str, object]] = []
            i = 0
            while i < len(batch):
                # A run: consecutive new messages to one conversation under one guard.
                head = batch[i]
                run: list[int] = []
                j = i
                while (
                    j < len(batch) and batch[j].conversation_id == head.conversation_id and batch[j].guard == head.guard
                ):
                    run.append(j)
                    j += 1
                i = j
                fresh = []
                for index in run:
                    key = batch[index].key
                    if key is not None and key in known:
                        outcomes[index] = (known[key], False, None)
                    elif key is not None and key in first_of:
                        outcomes[index] = -1, False, None  # resolved after the first one below
                    else:
                        if key is not None:
                            first_of[key] = index
                        fresh.append(index)
                if not fresh:
                    continue
                params: dict[str, object] = {"cid": head.conversation_id, "k": len(fresh)}
                if head.guard.kind == "adviser":
                    params["aid"] = head.guard.adviser_id
                result = (await conn.execute(CLAIM[head.guard.kind], params)).first()
                if result is None:
                    for index in fresh:
                        outcomes[index] = None
                        key = batch[index].key
                        if key is not None:
                            first_of.pop(key, None)
                    continue
                last, adviser_id = int(result[0]), result[1]
                for offset, index in enumerate(fresh):
                    request = batch[index]
                    seq = last - len(fresh) + 1 + offset
                    outcomes[index] = (seq, True, adviser_id)
                    rows.append(
                        {
                            "conversation_id": request.conversation_id,
                            "seq": seq,
                            "sender": request.sender,
                            "sender_id": request.sender_id,
                            "client_id": request.client_id,
                            "event": request.event,
                            "text": request.text,
                            "sent_at": request.at,
                        }
                    )
            if rows:
                await conn.execute(INSERT_MESSAGES, rows)
        for index, request in enumerate(batch):
            outcome = outcomes[index]
            if outcome is not None and outcome[0] == -1 and request.key is not None:
                first = outcomes[first_of[request.key]] if request.key in first_of else None
                outcomes[index] = (first[0], False, None) if first is not None else None
        return outcomes

    async def _resent(self, batch: list[AppendRequest]) -> dict[tuple[str, str | None, str], int]:
        """Seqs of client ids in this batch that are stored already (resends after a reconnect)."""
        keys = {r.key for r in batch if r.key is not None}
        if not keys:
            return {}
        conversations = {k[0] for k in keys}
        client_ids = {k[2] for k in keys}
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(
                    col(Message.conversation_id), col(Message.sender_id), col(Message.client_id), col(Message.seq)
                ).where(col(Message.conversation_id).in_(conversations), col(Message.client_id).in_(client_ids))
            )
            found = {(r[0], r[1], r[2]): int(r[3]) for r in result}
        return {k: v for k, v in found.items() if k in keys}


def _settle(request: AppendRequest, value: Outcome | BaseException) -> None:
    if request.future.done():
        return  # the caller went away; the message may be stored, and a resend will find it
    if isinstance(value, BaseException):
        request.future.set_exception(value)
    else:
        request.future.set_result(value)
