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
Where the database runs transactions side by side (PostgreSQL), a second batch of other conversations
runs while the first commits, so a commit's WAL flush (or one conversation's row held by a lock
elsewhere) does not hold up everyone else.
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

# Failures of the database or of the way to it, not of any one message: every message of the batch
# would meet the same, so the batch fails at once. Redoing 500 messages one by one against a server
# that is away would take 500 timeouts (or, on SQLite, 500 waits of 30 s for a lock held elsewhere).
#   OSError: the socket (reset, refused, unreachable; TimeoutError is one too).
#   asyncpg.PostgresConnectionError (SQLSTATE class 08): the connection is gone or was refused.
#   asyncpg.InsufficientResourcesError (53): disk full, out of memory, too many connections.
#   asyncpg.OperatorInterventionError (57): shutdown, the server starting up, a statement cancelled or
#     timed out (a lock held elsewhere: the same for every message).
#   asyncpg.PostgresSystemError (58): an I/O error on the server.
#   sqlite3.OperationalError: "database is locked" (after the writer's 30 s of waiting), disk I/O
#     error, disk full, read-only, cannot open: the file, never a row.
#   asyncpg.InterfaceError, except the ValueErrors among them (a value the client cannot encode is a
#     message's data): the connection is closed or busy, or the protocol went wrong.
# Everything else, known or not, is taken as possibly one message's fault, and the batch is redone
# one message at a time: PostgreSQL's data errors (class 22: U+0000 in text, a value too long) and
# integrity errors (23), a value asyncpg or sqlite3 cannot encode (an unpaired surrogate), a deadlock
# or serialization failure (40, which the redo also survives). A misjudged failure of the database
# costs one more try, not one per message: the redo stops at the first failure listed here.
WHOLE_BATCH = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
    asyncpg.PostgresSystemError,
    sqlite3.OperationalError,
)


def whole_batch_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the database or the connection rather than of one message."""
    if isinstance(exc, WHOLE_BATCH):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and not isinstance(exc, ValueError)


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

    # How many batches may be in flight at once, for disjoint sets of conversations: 1 for a single
    # writer (SQLite), more where the database runs transactions side by side (PostgreSQL).
    concurrent_batches: int

    async def flush(self, batch: list[AppendRequest], *, check_resent: bool) -> list[Outcome]: ...


class GroupCommitter:
    """Batches appends; with a writer that allows it, a second batch runs while the first commits.

    A batch takes every waiting append of conversations not already in a batch in flight, up to
    ``max_batch``: a conversation's appends still go to the database one batch after the other, in
    arrival order, so its seqs follow arrival; only conversations that have nothing in flight get a
    batch of their own instead of waiting out someone else's commit."""

    def __init__(self, writer: BatchWriter, *, max_batch: int = MAX_BATCH) -> None:
        self.writer = writer  # inline SQLite or direct asyncpg
        self.max_batch = max_batch
        self.concurrency = max(1, writer.concurrent_batches)
        self._pending: list[AppendRequest] = []
        self._in_flight: set[str] = set()  # conversations with a batch in flight
        self._running: set[asyncio.Task[None]] = set()
        self._starting = False  # a batch task is scheduled and has not yet taken its appends

    async def submit(self, request: AppendRequest) -> Outcome:
        assert request.future is not None  # noqa: S101 - submit awaits it
        self.enqueue(request)
        return await request.future

    def enqueue(self, request: AppendRequest) -> None:
        """Hand a request over without waiting: it goes into the next batch, in arrival order."""
        self._pending.append(request)
        self._wake()

    async def close(self) -> None:
        while self._running:
            with contextlib.suppress(Exception):
                await asyncio.wait(set(self._running))

    def _wake(self) -> None:
        """Start a batch task when one may run. It takes its appends when it first runs, on the next
        turn of the loop, so a batch holds everything handed over in the turn that woke it."""
        if self._pending and not self._starting and len(self._running) < self.concurrency:
            self._starting = True
            task = asyncio.create_task(self._run())
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _take(self) -> list[AppendRequest]:
        """The next batch: a prefix of each free conversation's waiting appends, in arrival order."""
        if not self._in_flight and len(self._pending) <= self.max_batch:
            batch, self._pending = self._pending, []
        else:
            # Once the batch is full everything after stays, so no later append overtakes an earlier one.
            batch, rest = [], []
            for request in self._pending:
                if request.conversation_id in self._in_flight or len(batch) >= self.max_batch:
                    rest.append(request)
                else:
                    batch.append(request)
            self._pending = rest
        self._in_flight.update(r.conversation_id for r in batch)
        return batch

    async def _run(self) -> None:
        """Commit batches until nothing free is waiting: the next batch is taken in the same turn as
        the last one's answers, as a single writer must, so nothing waits for a new task to start."""
        self._starting = False
        this = asyncio.current_task()
        try:
            while batch := self._take():
                try:
                    answers = await self._commit(batch)
                finally:
                    # What waits only for these conversations may go now, even if this task was cancelled.
                    self._in_flight.difference_update(r.conversation_id for r in batch)
                for request, answer in zip(batch, answers, strict=True):
                    _settle(request, answer)
        finally:
            self._running.discard(this)

    async def _commit(self, batch: list[AppendRequest]) -> list[Outcome | BaseException]:
        """The batch's outcomes, or the error each of its callers gets. A batch that succeeds costs
        exactly one ``_flush``: everything below the first ``try`` runs only after a failure."""
        try:
            try:
                return list(await self._flush(batch, check_resent=False))
            except REFUSED:
                # A client id already stored: a resend after a reconnect. Rolled back; look them up.
                return list(await self._flush(batch, check_resent=True))
        except REFUSED:
            # Another instance stored one of these client ids meanwhile: each in a batch of its own,
            # so the race costs only the message it touched.
            return await self._one_by_one(batch, check_resent=True)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting callers
            if len(batch) == 1 or whole_batch_failure(exc):
                return [exc] * len(batch)
            # Something about one message's data (U+0000 on PostgreSQL, say): rolled back; each in a
            # batch of its own, so only the message that is itself bad gets the error.
            log.warning("a batch of %d messages failed (%s); redoing each alone", len(batch), type(exc).__name__)
            return await self._one_by_one(batch, check_resent=False)

    async def _one_by_one(self, batch: list[AppendRequest], *, check_resent: bool) -> list[Outcome | BaseException]:
        """Each message of a failed batch in a transaction of its own, in arrival order (so its
        conversation's seqs stay gapless and in order). If the database itself fails meanwhile, the
        messages not yet redone get that error at once instead of a try each."""
        answers: list[Outcome | BaseException] = []
        for index, request in enumerate(batch):
            try:
                answers.append(await self._alone(request, check_resent=check_resent))
            except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
                if whole_batch_failure(exc):
                    answers += [exc] * (len(batch) - index)
                    break
                answers.append(exc)
        return answers

    async def _alone(self, request: AppendRequest, *, check_resent: bool) -> Outcome:
        try:
            return (await self._flush([request], check_resent=check_resent))[0]
        except REFUSED:
            if check_resent:
                raise
            return (await self._flush([request], check_resent=True))[0]

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
