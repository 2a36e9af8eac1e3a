"""Group commit for messages: every append waiting while a transaction runs goes into the next one.

A commit costs a disk flush (PostgreSQL) or a trip through SQLite's single writer, far more than the
statements themselves; under load this turns N commits into one without adding latency when idle (a
lone message is flushed at once). A batch costs the same handful of statements however many messages
and conversations it holds: one ``SELECT … FOR UPDATE`` of its conversations (state, holder,
``next_seq``), one ``UPDATE`` of ``next_seq`` for all of them, one multi-row INSERT, one COMMIT, run
by the database's own driver (``chat.sqlite_inline``, ``chat.postgres_direct``); only when
the unique constraint refuses a resent client id is the batch redone with a lookup of those ids. Guards
are checked on the locked rows; seqs follow the order the appends arrived in. Each caller is answered
only after the commit, so an ack still means "stored". If the batch meets a unique-constraint race
(another instance stored the same client id meanwhile), each message is redone in a batch of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import asyncpg

log = logging.getLogger("nora.group_commit")
MAX_BATCH = 500
# A unique constraint refused the batch, through sqlite3 or asyncpg.
REFUSED = (sqlite3.IntegrityError, asyncpg.UniqueViolationError)


@dataclass(frozen=True, slots=True)
class Guard:
    """When a conversation accepts a message: any state, not closed, or held by one adviser."""

    kind: str = "any"  # "any" | "open" | "adviser"
    adviser_id: str | None = None

    def admits(self, state: str, adviser_id: str | None) -> bool:
        """Whether a conversation row, read and locked in the batch's transaction, takes the message."""
        if self.kind == "open":
            return state != "closed"
        if self.kind == "adviser":
            return state == "assigned" and adviser_id == self.adviser_id
        return True


ANY = Guard()

# (seq, created, adviser_id) of a stored message, or None when the guard did not hold.
Outcome = tuple[int, bool, str | None] | None


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
    # Awaited by ``submit``; ``None`` for a request handed over with ``enqueue``, whose ``on_settle``
    # is called with the outcome (or the error) in the same turn of the loop as the commit.
    future: asyncio.Future[Outcome] | None = field(repr=False)
    on_settle: Callable[[Outcome | BaseException], None] | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, str | None, str] | None:
        return (self.conversation_id, self.sender_id, self.client_id) if self.client_id is not None else None


class BatchWriter(Protocol):
    """Runs one batch in one transaction, deciding with ``plan_batch``; a driver of its own."""

    async def flush(self, batch: list[AppendRequest], *, check_resent: bool) -> list[Outcome]: ...


class GroupCommitter:
    def __init__(self, writer: BatchWriter, *, max_batch: int = MAX_BATCH) -> None:
        self.writer = writer  # inline SQLite or direct asyncpg
        self.max_batch = max_batch
        self._pending: list[AppendRequest] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, request: AppendRequest) -> Outcome:
        assert request.future is not None  # noqa: S101 - submit awaits it
        self.enqueue(request)
        return await request.future

    def enqueue(self, request: AppendRequest) -> None:
        """Hand a request over without waiting: it goes into the next batch, in arrival order."""
        self._pending.append(request)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                try:
                    outcomes = await self._flush(batch, check_resent=False)
                except REFUSED:
                    # A client id already stored: a resend after a reconnect. Rolled back; look them up.
                    outcomes = await self._flush(batch, check_resent=True)
            except REFUSED:
                # Another instance stored one of these client ids meanwhile: each in a batch of its own,
                # so the race costs only the message it touched.
                outcomes = []
                for request in batch:
                    try:
                        outcomes.append((await self._flush([request], check_resent=True))[0])
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

    async def _flush(self, batch: list[AppendRequest], *, check_resent: bool) -> list[Outcome]:
        """One transaction for the batch. Resends are rare (only unacknowledged messages, after a
        reconnect), so the stored client ids are looked up only with ``check_resent``, which the caller
        asks for after the unique constraint on client ids refused the optimistic try."""
        return await self.writer.flush(batch, check_resent=check_resent)


# (state, adviser_id, next_seq) of a conversation row
Row = tuple[str, str | None, int]


@dataclass(slots=True)
class Plan:
    outcomes: list[Outcome]
    inserts: list[tuple[AppendRequest, int]]  # new messages and their seqs
    next_seq: list[tuple[str, int]]  # conversations whose next_seq moves, and to what


def plan_batch(
    batch: list[AppendRequest], current: dict[str, Row], found: list[tuple[str, str | None, str | None, int]]
) -> Plan:
    """Decide every append of a batch from the locked conversation rows (``current``) and the client
    ids already stored (``found``): refused (guard fails), resent (the stored seq), or new (the next
    seq of its conversation, in arrival order). Pure, so every database path shares it."""
    keys = {r.key for r in batch if r.key is not None}
    known: dict[tuple[str, str | None, str], int] = {}
    for cid, sender_id, client_id, seq in found:
        if client_id is not None and (cid, sender_id, client_id) in keys:
            known[(cid, sender_id, client_id)] = seq
    outcomes: list[Outcome] = [None] * len(batch)
    next_seq = {cid: row[2] for cid, row in current.items()}
    first_of: dict[tuple[str, str | None, str], int] = {}
    repeats: list[tuple[int, int]] = []
    inserts: list[tuple[AppendRequest, int]] = []
    for index, request in enumerate(batch):
        key = request.key
        if key is not None and key in known:
            outcomes[index] = (known[key], False, None)
            continue
        row = current.get(request.conversation_id)
        if row is None or not request.guard.admits(row[0], row[1]):
            continue  # None: refused
        if key is not None and key in first_of:
            repeats.append((index, first_of[key]))  # sent twice within the batch: answered as a resend
            continue
        if key is not None:
            first_of[key] = index
        seq = next_seq[request.conversation_id] = next_seq[request.conversation_id] + 1
        outcomes[index] = (seq, True, row[1])
        inserts.append((request, seq))
    for index, first in repeats:
        stored = outcomes[first]
        outcomes[index] = (stored[0], False, None) if stored is not None else None
    moved = [(cid, n) for cid, n in next_seq.items() if n != current[cid][2]]
    return Plan(outcomes, inserts, moved)


# (seq, sender, text, sent_at, client_id, event, sender_id): a stored message as every driver reads it back.
MessageRow = tuple[int, str, str | None, datetime, str | None, str | None, str | None]
MESSAGE_COLUMNS = ("seq", "sender", "text", "sent_at", "client_id", "event", "sender_id")


def _settle(request: AppendRequest, value: Outcome | BaseException) -> None:
    if request.on_settle is not None:
        try:
            request.on_settle(value)
        except Exception:  # noqa: BLE001 - one caller's failure must not stop the batch's other answers
            log.exception("settling an append failed")
    future = request.future
    if future is None or future.done():
        return  # the caller went away; the message may be stored, and a resend will find it
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)
