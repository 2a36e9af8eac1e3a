"""PostgreSQL work run straight on asyncpg: group-commit batches, and the conversation store's
single-row reads and writes. The counterpart of ``chat.sqlite_inline``.

Through SQLAlchemy's async engine every statement pays for the pool, a greenlet switch, the
statement cache key, the execution context and, for ORM sessions, the unit of work: about 1 ms of
CPU per conversation lookup or state change, which on one core capped a burst of starts at about a
hundred a second and kept saturated throughput at a third of the bare relay. Here each operation is
one prepared statement on an asyncpg connection (asyncpg prepares and caches each SQL string per
connection): single-row operations on a pool, batches on a connection of their own.

A batch is one round trip whatever its size (``BATCH``, or ``SINGLE`` for a batch of one message, the
usual case below saturation): one statement, its own transaction, that locks the batch's
conversations (``ORDER BY id``, one lock order for every instance), keeps the messages their guards
admit, numbers them per conversation in arrival order, moves ``next_seq`` and inserts them; it
returns the seq and holder of each message stored. Each round trip waits for a turn
of the event loop, which under load costs milliseconds, so the five of a BEGIN … COMMIT batch made
up most of an ack's latency. When that statement is refused by the unique constraint on client ids
(a resend), or a batch holds the same client id twice, the batch runs as a transaction of several
statements deciding in Python with ``plan_batch``, which also looks the resent ids up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import URL

from chat import conversation_sql
from chat.conversation_sql import dollar
from chat.group_commit import MESSAGE_COLUMNS, AppendRequest, MessageRow, Outcome, plan_batch
from core.models import Conversation

POOL_SIZE = 20
# Batches in flight at once (for disjoint conversations), each on a connection of its own: while one
# waits for its commit's WAL flush, the next is already being locked and inserted.
CONCURRENT_BATCHES = 2
WARM_CONNECTIONS = 10  # opened at start (``warm``)
# The batch connections' session: every batch statement finds its rows by a key. PostgreSQL keeps a
# plan per prepared statement; while the conversation table was small or not yet analysed, the plan it
# kept for ``BATCH`` read the whole table per batch (466 full scans a second in bench/'s
# chat-1000-2x-lb, about 0.07 of PostgreSQL's 0.45 cores). One generic plan, planned once, on keys.
BATCH_SETTINGS = {"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"}

SELECT_BY = {column: conversation_sql.select_by(column, dollar) for column in conversation_sql.LOOKUP_COLUMNS}
AWAY_BEFORE = conversation_sql.select_away_before(dollar)
INSERT_CONVERSATION = conversation_sql.insert(dollar)


def _admits(kind: str, guard_adviser: str, state: str, holder: str) -> str:
    """``Guard.admits`` in SQL, over the given expressions: one wording for both batch statements."""
    return (
        f"{kind} = 'any' OR ({kind} = 'open' AND {state} <> 'closed')"
        f" OR ({kind} = 'adviser' AND {state} = 'assigned' AND {holder} IS NOT DISTINCT FROM {guard_adviser})"
    )


BATCH = f"""
WITH req AS (
  SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[], $6::varchar[],
                       $7::varchar[], $8::text[], $9::timestamptz[])
    WITH ORDINALITY AS r(cid, kind, guard_adviser, sender, sender_id, client_id, event, text, at, i)
),
locked AS MATERIALIZED (
  SELECT id, state, adviser_id, next_seq FROM conversation WHERE id = ANY($10::varchar[]) ORDER BY id FOR UPDATE
),
admitted AS MATERIALIZED (
  SELECT r.*, l.adviser_id AS holder, l.next_seq + row_number() OVER (PARTITION BY r.cid ORDER BY r.i) AS seq
  FROM req r JOIN locked l ON l.id = r.cid
  WHERE {_admits("r.kind", "r.guard_adviser", "l.state", "l.adviser_id")}
),
moved AS (
  UPDATE conversation c SET next_seq = m.top
  FROM (SELECT cid, max(seq) AS top FROM admitted GROUP BY cid) m WHERE c.id = m.cid
),
stored AS (
  INSERT INTO message (conversation_id, seq, sender, sender_id, client_id, event, text, sent_at)
  SELECT cid, seq, sender, sender_id, client_id, event, text, at FROM admitted
)
SELECT i, seq, holder FROM admitted
"""
# ``BATCH`` for a batch of one message, the usual case below saturation (a batch takes what arrived in
# one turn of the loop): the same locks, guards, numbering and result, without decoding nine arrays,
# numbering by a window and grouping, which cost PostgreSQL about 110 of its 290 µs of CPU per
# one-message batch here (``bench/README.md``).
SINGLE = f"""
WITH locked AS MATERIALIZED (
  SELECT id, state, adviser_id, next_seq FROM conversation WHERE id = $1::varchar FOR UPDATE
),
admitted AS MATERIALIZED (
  SELECT id, adviser_id AS holder, next_seq + 1 AS seq FROM locked
  WHERE {_admits("$2::varchar", "$3::varchar", "state", "adviser_id")}
),
moved AS (
  UPDATE conversation c SET next_seq = a.seq FROM admitted a WHERE c.id = a.id
),
stored AS (
  INSERT INTO message (conversation_id, seq, sender, sender_id, client_id, event, text, sent_at)
  SELECT id, seq, $4::varchar, $5::varchar, $6::varchar, $7::varchar, $8::text, $9::timestamptz FROM admitted
)
SELECT 1 AS i, seq, holder FROM admitted
"""
LOCK_CONVERSATIONS = (
    "SELECT id, state, adviser_id, next_seq FROM conversation WHERE id = ANY($1::varchar[]) ORDER BY id FOR UPDATE"
)
RESENT = (
    "SELECT m.conversation_id, m.sender_id, m.client_id, m.seq FROM message m"
    " JOIN unnest($1::varchar[], $2::varchar[], $3::varchar[]) AS k(c, s, i)"
    " ON m.conversation_id = k.c AND m.sender_id = k.s AND m.client_id = k.i"
)
SET_NEXT_SEQ = (
    "UPDATE conversation SET next_seq = k.n FROM unnest($1::varchar[], $2::int[]) AS k(id, n)"
    " WHERE conversation.id = k.id"
)
INSERT_MESSAGES = (
    "INSERT INTO message (conversation_id, seq, sender, sender_id, client_id, event, text, sent_at)"
    " SELECT * FROM unnest($1::varchar[], $2::int[], $3::varchar[], $4::varchar[], $5::varchar[], $6::varchar[],"
    " $7::text[], $8::timestamptz[])"
)
_MESSAGE = ", ".join(MESSAGE_COLUMNS)
MESSAGES_AFTER = f"SELECT {_MESSAGE} FROM message WHERE conversation_id = $1 AND seq > $2 ORDER BY seq"  # noqa: S608
MESSAGES_BETWEEN = f"SELECT {_MESSAGE} FROM message WHERE conversation_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq"  # noqa: S608
BY_CLIENT_ID = (
    f"SELECT {_MESSAGE} FROM message"  # noqa: S608
    " WHERE conversation_id = $1 AND sender_id = $2 AND client_id = $3"
)


def asyncpg_dsn(url: URL) -> str:
    """The engine's URL as asyncpg takes it (no ``+asyncpg`` driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class DirectPostgres:
    concurrent_batches = CONCURRENT_BATCHES

    def __init__(self, dsn: str, *, size: int = POOL_SIZE) -> None:
        self._dsn = dsn
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        # Batches run on connections of their own, not the pool's: a pooled call returns only after
        # its release, one more turn of the event loop that every message in the batch waited for.
        self._batch_conns: list[asyncpg.Connection] = []  # idle ones
        # Conversation writes handed over and not yet sent, and the task that sends them (``_shared``).
        self._writes: list[_Write] = []
        self._writer: asyncio.Task[None] | None = None

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=self._size, reset=_keep_session
                    )
        return self._pool

    async def warm(self, connections: int = WARM_CONNECTIONS) -> None:
        """Open connections before the first sockets arrive. Opened on demand, each costs a connect (and
        asyncpg's SSL probe) inside the first burst of starts after a (re)start: the first of 20 bursts of
        50 starts waited about twice as long as the others (bench/README.md, burst50). The pool closes
        them again after asyncpg's idle lifetime (5 minutes) if they are not used."""
        pool = await self.pool()
        held = await asyncio.gather(*(pool.acquire() for _ in range(min(connections, self._size))))
        for conn in held:
            await pool.release(conn)
        for _ in range(self.concurrent_batches - len(self._batch_conns)):
            self._batch_conns.append(await asyncpg.connect(self._dsn, server_settings=BATCH_SETTINGS))

    async def close(self) -> None:
        while self._batch_conns:
            await self._batch_conns.pop().close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @contextlib.asynccontextmanager
    async def _batch_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """An idle batch connection, or a new one; at most ``concurrent_batches`` are ever open, as the
        group committer runs no more batches than that at once."""
        conn = self._batch_conns.pop() if self._batch_conns else None
        if conn is None or conn.is_closed():
            conn = await asyncpg.connect(self._dsn, server_settings=BATCH_SETTINGS)
        try:
            yield conn
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
            # Broken (the server restarted, say): the next batch opens a new one.
            conn.terminate()
            raise
        except Exception:
            self._batch_conns.append(conn)  # a refused statement: rolled back, the connection is fine
            raise
        except BaseException:
            conn.terminate()  # cancelled mid-statement: its state is unknown
            raise
        self._batch_conns.append(conn)

    async def _read(self, method: str, *args: Any) -> Any:
        """A read on the pool, tried once more on fresh connections when the first met a dead one
        (after a PostgreSQL restart every pooled connection is dead, and each would fail one request)."""
        pool = await self.pool()
        try:
            return await getattr(pool, method)(*args)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            if isinstance(exc, ValueError):
                raise
            pool.expire_connections()
            return await getattr(pool, method)(*args)

    async def _write(self, method: str, *args: Any) -> Any:
        """A write on the pool, not tried twice (it may have been applied); a dead connection met here
        expires the others, so the caller's retry (the client's) finds fresh ones."""
        pool = await self.pool()
        try:
            return await getattr(pool, method)(*args)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
            pool.expire_connections()
            raise

    async def conversation(self, column: str, value: str) -> Conversation | None:
        row = await self._read("fetchrow", SELECT_BY[column], value)
        return conversation_sql.loaded(dict(row)) if row is not None else None

    async def conversations_away_before(self, cutoff: datetime) -> list[Conversation]:
        rows = await self._read("fetch", AWAY_BEFORE, cutoff)
        return [conversation_sql.loaded(dict(row)) for row in rows]

    async def insert_conversation(self, conversation: Conversation) -> None:
        values = [getattr(conversation, c) for c in conversation_sql.COLUMNS]
        await self._shared(INSERT_CONVERSATION, values, conversation.id, returning=False)

    async def update_conversation(
        self, conversation_id: str, conditions: tuple[object, ...], values: dict[str, Any]
    ) -> bool:
        sql, args = conversation_sql.update(conversation_id, conditions, values, dollar)
        status = await self._write("execute", sql, *args)
        return bool(status != "UPDATE 0")

    async def update_conversation_returning(
        self, conversation_id: str, conditions: tuple[object, ...], values: dict[str, Any]
    ) -> Conversation | None:
        sql, args = conversation_sql.update(conversation_id, conditions, values, dollar, returning=True)
        row = await self._shared(sql, args, conversation_id, returning=True)
        return conversation_sql.loaded(dict(row)) if row is not None else None

    async def _shared(
        self, sql: str, args: list[Any], conversation_id: str, *, returning: bool
    ) -> asyncpg.Record | None:
        """A conversation's insert, or its change with the row returned, sent with the others of the
        same statement handed over in the same turn of the loop: one round trip and one commit for
        them all (``executemany``/``fetchmany``), where one each kept a burst of 50 starts waiting for
        about a hundred commits, each its own wake-up of a server process. The first write of a
        turn waits for one more turn of the loop, as SQLite's ``write_row`` does.

        Each still succeeds or fails on its own: when a statement of the batch is refused (a twin
        start's key, say), the batch is rolled back whole and each of its writes is sent again alone.
        Writes of the same conversation with the same statement are not batched together. A write
        whose caller gave up before it was sent is not made."""
        write = _Write(sql, args, conversation_id, returning, asyncio.get_running_loop().create_future())
        self._writes.append(write)
        if self._writer is None:
            self._writer = asyncio.create_task(self._send_writes())
        return await write.future

    async def _send_writes(self) -> None:
        writes, self._writes, self._writer = self._writes, [], None
        groups: dict[str, list[list[_Write]]] = {}
        in_last_run: dict[str, set[str]] = {}  # per statement: the conversations of its last run
        for write in writes:
            if write.future.cancelled():
                continue
            runs = groups.setdefault(write.sql, [[]])
            ids = in_last_run.setdefault(write.sql, set())
            if write.conversation_id in ids:  # the same conversation twice: its second write goes after
                runs.append([])
                ids.clear()
            runs[-1].append(write)
            ids.add(write.conversation_id)
        try:
            await asyncio.gather(*(self._send_runs(runs) for runs in groups.values()))
        except BaseException as exc:  # cancelled (at shutdown): no caller is left waiting
            for write in writes:
                if not write.future.done():
                    if isinstance(exc, asyncio.CancelledError):
                        write.future.cancel()
                    else:
                        write.future.set_exception(exc)
            raise

    async def _send_runs(self, runs: list[list[_Write]]) -> None:
        for run in runs:
            try:
                if len(run) == 1:
                    rows = [await self._write("fetchrow", run[0].sql, *run[0].args)]
                else:
                    rows = await self._send_many(run)
            except BaseException as exc:
                for write in run:
                    if not write.future.done():
                        write.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for write, row in zip(run, rows, strict=True):
                if not write.future.done():
                    write.future.set_result(row)

    async def _send_many(self, run: list[_Write]) -> list[asyncpg.Record | None]:
        """One batch; refused, each write alone (its own answer or error)."""
        sql = run[0].sql
        try:
            if run[0].returning:
                found = {row["id"]: row for row in await self._write("fetchmany", sql, [w.args for w in run])}
                return [found.get(w.conversation_id) for w in run]
            await self._write("executemany", sql, [w.args for w in run])
            return [None] * len(run)
        except asyncpg.PostgresError as exc:
            if isinstance(exc, asyncpg.PostgresConnectionError):
                raise
        answers: list[asyncpg.Record | None] = []
        for write in run:
            try:
                answers.append(await self._write("fetchrow", write.sql, *write.args))
            except asyncpg.PostgresError as exc:
                if isinstance(exc, asyncpg.PostgresConnectionError):
                    raise
                answers.append(None)
                write.future.set_exception(exc)
        return answers

    async def message_rows(self, conversation_id: str, after: int, upto: int | None) -> list[MessageRow]:
        if upto is None:
            rows = await self._read("fetch", MESSAGES_AFTER, conversation_id, after)
        else:
            rows = await self._read("fetch", MESSAGES_BETWEEN, conversation_id, after, upto)
        return [tuple(row) for row in rows]

    async def message_by_client_id(self, conversation_id: str, sender_id: str, client_id: str) -> MessageRow | None:
        row = await self._read("fetchrow", BY_CLIENT_ID, conversation_id, sender_id, client_id)
        return tuple(row) if row is not None else None

    async def flush(self, batch: list[AppendRequest], *, check_resent: bool) -> list[Outcome]:
        keys = [r.key for r in batch if r.key is not None]
        if check_resent or len(set(keys)) != len(keys):
            return await self._flush_planned(batch, check_resent=check_resent)
        async with self._batch_connection() as conn:
            if len(batch) == 1:
                rows = await conn.fetch(SINGLE, *_request_row(batch[0]))
            else:
                ids = sorted({r.conversation_id for r in batch})
                rows = await conn.fetch(BATCH, *_request_columns(batch), ids)
        outcomes: list[Outcome] = [None] * len(batch)  # None: refused by its guard
        for index, seq, holder in rows:
            outcomes[index - 1] = (int(seq), True, holder)
        return outcomes

    async def _flush_planned(self, batch: list[AppendRequest], *, check_resent: bool) -> list[Outcome]:
        ids = sorted({r.conversation_id for r in batch})
        async with self._batch_connection() as conn, conn.transaction():
            current = {row[0]: (row[1], row[2], int(row[3])) for row in await conn.fetch(LOCK_CONVERSATIONS, ids)}
            found: list[tuple[str, str | None, str | None, int]] = []
            if check_resent:
                keys = sorted({r.key for r in batch if r.key is not None and r.sender_id is not None})
                if keys:
                    rows = await conn.fetch(RESENT, *(list(column) for column in zip(*keys, strict=True)))
                    found = [(r[0], r[1], r[2], int(r[3])) for r in rows]
            plan = plan_batch(batch, current, found)
            if plan.inserts:
                await conn.execute(SET_NEXT_SEQ, [c for c, _ in plan.next_seq], [n for _, n in plan.next_seq])
                await conn.execute(INSERT_MESSAGES, *_columns(plan.inserts))
        return plan.outcomes


@dataclass(slots=True)
class _Write:
    """A conversation write waiting for its turn's batch (``DirectPostgres._shared``)."""

    sql: str
    args: list[Any]
    conversation_id: str
    returning: bool  # the statement returns the row, keyed by its id
    future: asyncio.Future[asyncpg.Record | None] = field(repr=False)


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Nothing to undo on release: these connections never LISTEN, lock advisorily or SET (an open
    transaction is still rolled back by the pool). Skips asyncpg's reset query, a round trip per use."""


def _request_row(r: AppendRequest) -> tuple[Any, ...]:
    """``SINGLE``'s parameters, and one row of ``BATCH``'s arrays."""
    return (
        r.conversation_id,
        r.guard.kind,
        r.guard.adviser_id,
        r.sender,
        r.sender_id,
        r.client_id,
        r.event,
        r.text,
        r.at,
    )


def _request_columns(batch: list[AppendRequest]) -> list[list[Any]]:
    """``BATCH``'s arrays, in arrival order."""
    return _arrays([_request_row(r) for r in batch], 9)


def _columns(inserts: list[tuple[AppendRequest, int]]) -> list[list[Any]]:
    """``INSERT_MESSAGES``'s arrays."""
    rows = [(r.conversation_id, seq, r.sender, r.sender_id, r.client_id, r.event, r.text, r.at) for r, seq in inserts]
    return _arrays(rows, 8)


def _arrays(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows to columns: asyncpg sends each column as one array parameter (``unnest``)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
