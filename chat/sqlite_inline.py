"""SQLite work run inline on the event loop: group-commit batches, and the conversation store's
single-row reads and writes.

Through the async engine every statement of a batch is its own hop to aiosqlite's thread and back,
plus SQLAlchemy's per-statement work; and any SQLite work in a thread fights the event loop for the
GIL (``sqlite3`` releases and retakes it for every row stepped, each retake can wait out the 5 ms switch
interval): batches of a few hundred rows took 50-190 ms that way. A batch in WAL mode with
``synchronous=NORMAL`` is a millisecond or two of C with no fsync, so it runs here, inline, start to
finish on a dedicated ``sqlite3`` connection: the same decisions (``plan_batch``), plain SQL. The
same holds for a conversation lookup or a state change, which cost 1.3-1.6 ms of CPU each through the
async engine (thread hops, pool, ORM): here it is one plain statement on the same connection
(``chat.conversation_sql``), its values converted as SQLAlchemy's SQLite dialect converts them;
the rows stored or changed in the same turn of the loop share one commit (``write_row``).

What could block is kept off the loop. The connection never waits for a lock (``busy_timeout=0``):
every write takes ``Database.write_lock``, so only another process can hold SQLite's, and then the
write is retried after an asynchronous sleep. Reads take no lock (in WAL mode they see the last commit
and never wait for a writer; no transaction stays open across an ``await``), so they run at once.
And it never checkpoints (``wal_autocheckpoint=0``): a worker thread with its own connection copies
the WAL back into the database (the step that fsyncs) every ``CHECKPOINT_EVERY`` messages.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite as sqlite_dialect

from chat import conversation_sql
from chat.conversation_sql import COLUMNS, qmark
from chat.group_commit import MESSAGE_COLUMNS, AppendRequest, MessageRow, Outcome, plan_batch
from core.models import Conversation

# Values stored and read exactly as SQLAlchemy's SQLite dialect does (datetimes as text, booleans as
# integers), so the engine's readers and these agree.
_DIALECT = sqlite_dialect.dialect()
_bind = DateTime(timezone=True).dialect_impl(_DIALECT).bind_processor(_DIALECT)
_read_time = DateTime(timezone=True).dialect_impl(_DIALECT).result_processor(_DIALECT, None)
assert _bind is not None and _read_time is not None  # noqa: S101 - SQLite keeps datetimes as text
_STORE_TIME = _bind
_READ_TIME = _read_time
_LOAD = tuple(
    c.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None)
    for c in Conversation.__table__.columns  # type: ignore[attr-defined]
)
# Only these columns are converted (times, booleans); the rest are stored and read as they are.
_LOADERS = tuple((name, load) for name, load in zip(COLUMNS, _LOAD, strict=True) if load is not None)
_TIME_INDEXES = tuple(
    i
    for i, c in enumerate(Conversation.__table__.columns)  # type: ignore[attr-defined]
    if isinstance(c.type, DateTime)
)

log = logging.getLogger("nora.sqlite")
T = TypeVar("T")
# Messages between WAL checkpoints. A checkpoint's I/O slows the inline writes while it runs, so small
# ones often: at 2,000 each took 70-120 ms and chat-1000's p99 was 14-71 ms; at 500, 8-14 ms in the same
# five paired rounds (bench/README.md, "Issue 20 on a slower machine").
CHECKPOINT_EVERY = 500
BUSY_WAIT_S = 30.0  # as long as the engine's busy timeout

SELECT_BY = {column: conversation_sql.select_by(column, qmark) for column in conversation_sql.LOOKUP_COLUMNS}
AWAY_BEFORE = conversation_sql.select_away_before(qmark)
INSERT_CONVERSATION = conversation_sql.insert(qmark)
_MESSAGE = ", ".join(MESSAGE_COLUMNS)
MESSAGES_AFTER = f"SELECT {_MESSAGE} FROM message WHERE conversation_id = ? AND seq > ? ORDER BY seq"  # noqa: S608
MESSAGES_BETWEEN = f"SELECT {_MESSAGE} FROM message WHERE conversation_id = ? AND seq > ? AND seq <= ? ORDER BY seq"  # noqa: S608
BY_CLIENT_ID = f"SELECT {_MESSAGE} FROM message WHERE conversation_id = ? AND sender_id = ? AND client_id = ?"  # noqa: S608
RESENT = "SELECT seq FROM message WHERE conversation_id = ? AND sender_id IS ? AND client_id = ?"
INSERT = (
    "INSERT INTO message (conversation_id, seq, sender, sender_id, client_id, event, text, sent_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _marks(n: int) -> str:
    return ",".join("?" * n)


class InlineSqlite:
    concurrent_batches = 1  # one writer: a batch runs inline, start to commit, in one turn of the loop

    def __init__(self, path: str, write_lock: asyncio.Lock) -> None:
        self._path = path
        self._write_lock = write_lock
        self._conn: sqlite3.Connection | None = None
        self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nora-sqlite-checkpoint")
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._since_checkpoint = 0
        self._checkpointing = False
        # Single-row writes handed over and not yet committed, and the task that commits them.
        self._rows: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._rows_task: asyncio.Task[None] | None = None

    async def write(self, op: Callable[[], T], writes: int = 1) -> T:
        """Run a write inline, under ``Database.write_lock``. If another process holds SQLite's lock,
        wait for it asynchronously (never with the loop blocked)."""
        async with self._write_lock:
            return await self._write(op, writes)

    async def _write(self, op: Callable[[], T], writes: int) -> T:
        deadline = time.monotonic() + BUSY_WAIT_S
        delay = 0.002
        while True:
            try:
                result = op()
                break
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        self._since_checkpoint += writes
        if self._since_checkpoint >= CHECKPOINT_EVERY and not self._checkpointing:
            self._since_checkpoint = 0
            self._checkpointing = True
            future = asyncio.get_running_loop().run_in_executor(self._checkpointer, self._checkpoint)
            future.add_done_callback(self._checkpoint_done)
        return result

    async def flush(self, batch: list[AppendRequest], *, check_resent: bool) -> list[Outcome]:
        return await self.write(lambda: self._flush(batch, check_resent), len(batch))

    async def write_row(self, op: Callable[[], T]) -> T:
        """A one-statement write (a conversation stored or changed). Those handed over in the same turn
        of the loop share one transaction: in WAL mode a commit writes every page it touched, and a row
        of ``conversation`` touches its table and up to seven indexes. In a burst of 50 starts their
        inserts took 5 ms one commit each, 1.7 ms together. Each still succeeds or fails on its own
        (a refused row, such as a taken start key, undoes only its own statement); one not yet run when
        its caller gave up (cancelled) is not run."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._rows.append((op, future))
        if self._rows_task is None:
            self._rows_task = asyncio.create_task(self._commit_rows())
        return await future

    async def _commit_rows(self) -> None:
        batch: list[tuple[Callable[[], Any], asyncio.Future[Any]]] | None = None
        try:
            async with self._write_lock:
                # What was handed over while the lock was held joins too; what comes after, the next.
                batch, self._rows, self._rows_task = self._rows, [], None
                live = [(op, future) for op, future in batch if not future.cancelled()]
                outcomes = await self._write(lambda: self._run_rows([op for op, _ in live]), len(live))
            for (_, future), (ok, value) in zip(live, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        except BaseException as exc:
            if batch is None:  # stopped before taking them (cancelled at shutdown): none is made
                batch, self._rows, self._rows_task = self._rows, [], None
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise

    def _run_rows(self, ops: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            outcomes: list[tuple[bool, Any]] = []
            for op in ops:
                try:
                    outcomes.append((True, op()))
                except Exception as exc:  # noqa: BLE001 - handed to that op's caller, the others go on
                    if not conn.in_transaction:
                        raise  # the error ended the transaction: nothing of this batch holds
                    outcomes.append((False, exc))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes

    # Reads take no lock (WAL: they see the last commit and never wait for a writer).

    async def conversation(self, column: str, value: str) -> Conversation | None:
        row = self._connection().execute(SELECT_BY[column], (value,)).fetchone()
        return _conversation(row) if row is not None else None

    async def conversations_away_before(self, cutoff: datetime) -> list[Conversation]:
        rows = self._connection().execute(AWAY_BEFORE, (_STORE_TIME(cutoff),)).fetchall()
        return [_conversation(row) for row in rows]

    async def message_rows(self, conversation_id: str, after: int, upto: int | None) -> list[MessageRow]:
        conn = self._connection()
        if upto is None:
            rows = conn.execute(MESSAGES_AFTER, (conversation_id, after)).fetchall()
        else:
            rows = conn.execute(MESSAGES_BETWEEN, (conversation_id, after, upto)).fetchall()
        return [_message(row) for row in rows]

    async def message_by_client_id(self, conversation_id: str, sender_id: str, client_id: str) -> MessageRow | None:
        row = self._connection().execute(BY_CLIENT_ID, (conversation_id, sender_id, client_id)).fetchone()
        return _message(row) if row is not None else None

    async def insert_conversation(self, conversation: Conversation) -> None:
        values = _insert_values(conversation)
        await self.write_row(lambda: self._connection().execute(INSERT_CONVERSATION, values))

    async def update_conversation(
        self, conversation_id: str, conditions: tuple[object, ...], values: dict[str, Any]
    ) -> bool:
        sql, args = conversation_sql.update(conversation_id, conditions, values, qmark)
        stored = [_stored(v) for v in args]
        return bool(await self.write_row(lambda: self._connection().execute(sql, stored).rowcount))

    async def update_conversation_returning(
        self, conversation_id: str, conditions: tuple[object, ...], values: dict[str, Any]
    ) -> Conversation | None:
        sql, args = conversation_sql.update(conversation_id, conditions, values, qmark, returning=True)
        stored = [_stored(v) for v in args]
        # fetchall, not fetchone: the statement must run to its end, or its transaction stays open.
        rows = await self.write_row(lambda: self._connection().execute(sql, stored).fetchall())
        return _conversation(rows[0]) if rows else None

    async def warm(self) -> None:
        """Nothing to open ahead: the file's connection opens on first use, in microseconds."""

    async def close(self) -> None:
        self._checkpointer.submit(self._close_checkpointer)
        self._checkpointer.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, timeout=0, isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._conn = conn
        return self._conn

    def _checkpoint(self) -> None:
        if self._checkpoint_conn is None:
            self._checkpoint_conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpoint_done(self, future: asyncio.Future[None]) -> None:
        self._checkpointing = False
        if not future.cancelled() and future.exception() is not None:
            log.warning("WAL checkpoint failed (%s); retried later", type(future.exception()).__name__)

    def _close_checkpointer(self) -> None:
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
            self._checkpoint_conn = None

    def _flush(self, batch: list[AppendRequest], check_resent: bool) -> list[Outcome]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            ids = sorted({r.conversation_id for r in batch})
            current = {
                row[0]: (row[1], row[2], int(row[3]))
                for row in conn.execute(
                    f"SELECT id, state, adviser_id, next_seq FROM conversation WHERE id IN ({_marks(len(ids))})",  # noqa: S608 - placeholders only
                    ids,
                )
            }
            found: list[tuple[str, str | None, str | None, int]] = []
            if check_resent:
                # One indexed lookup per key: SQLite plans a row-value IN list as a table scan.
                for key in {r.key for r in batch if r.key is not None}:
                    row = conn.execute(RESENT, key).fetchone()
                    if row is not None:
                        found.append((*key, int(row[0])))
            plan = plan_batch(batch, current, found)
            if plan.inserts:
                conn.executemany(
                    "UPDATE conversation SET next_seq = ? WHERE id = ?", [(n, c) for c, n in plan.next_seq]
                )
                conn.executemany(
                    INSERT,
                    [
                        (r.conversation_id, seq, r.sender, r.sender_id, r.client_id, r.event, r.text, _STORE_TIME(r.at))
                        for r, seq in plan.inserts
                    ],
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return plan.outcomes


def _conversation(row: tuple[Any, ...]) -> Conversation:
    values = dict(zip(COLUMNS, row, strict=True))
    for name, load in _LOADERS:
        values[name] = load(values[name])
    return conversation_sql.loaded(values)


def _insert_values(conversation: Conversation) -> list[Any]:
    """The row's values in column order, straight from the instance's dict (a start's row is built
    with every column set), times as SQLAlchemy stores them."""
    attributes = conversation.__dict__
    try:
        values = [attributes[name] for name in COLUMNS]
    except KeyError:  # not every column loaded (an ORM object a commit expired): read them the usual way
        values = [getattr(conversation, name) for name in COLUMNS]
    for i in _TIME_INDEXES:
        values[i] = _stored(values[i])
    return values


def _stored(value: object) -> object:
    return _STORE_TIME(value) if isinstance(value, datetime) else value


def _message(row: tuple[Any, ...]) -> MessageRow:
    seq, sender, text, sent_at, client_id, event, sender_id = row
    return seq, sender, text, cast(datetime, _READ_TIME(sent_at)), client_id, event, sender_id


def _busy(exc: sqlite3.OperationalError) -> bool:
    return exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
