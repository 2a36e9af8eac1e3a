"""A group-commit batch on SQLite in one trip to one worker thread.

Through the async engine every statement of a batch is its own hop to aiosqlite's thread and back,
plus SQLAlchemy's per-statement work; on SQLite, where the whole batch is a few microseconds of C, that
overhead was most of the cost of a message. Here the batch runs start to finish on a dedicated
``sqlite3`` connection in a single worker thread: the same decisions (``plan_batch``), plain SQL, one
hop. The caller holds ``Database.write_lock`` (SQLite has one writer; this keeps the process's own
writers in line), and ``BEGIN IMMEDIATE`` with a busy timeout keeps other processes out.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite as sqlite_dialect

from chat.group_commit import AppendRequest, Outcome, plan_batch

# Timestamps stored exactly as SQLAlchemy's SQLite dialect stores them, so every reader agrees.
_DIALECT = sqlite_dialect.dialect()
_bind = DateTime(timezone=True).dialect_impl(_DIALECT).bind_processor(_DIALECT)
assert _bind is not None  # noqa: S101 - SQLite stores datetimes as text, through this processor
_STORE_TIME = _bind

INSERT = (
    "INSERT INTO message (conversation_id, seq, sender, sender_id, client_id, event, text, sent_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _marks(n: int) -> str:
    return ",".join("?" * n)


class SqliteBatchWriter:
    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nora-sqlite-batch")

    async def flush(self, batch: list[AppendRequest]) -> list[Outcome]:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._flush, batch)

    def close(self) -> None:
        self._thread.submit(self._close)
        self._thread.shutdown(wait=True)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._conn = conn
        return self._conn

    def _flush(self, batch: list[AppendRequest]) -> list[Outcome]:
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
            keys = {r.key for r in batch if r.key is not None}
            found: list[tuple[str, str | None, str | None, int]] = []
            if keys:
                cids, clids = sorted({k[0] for k in keys}), sorted({k[2] for k in keys})
                found = conn.execute(
                    "SELECT conversation_id, sender_id, client_id, seq FROM message"  # noqa: S608 - placeholders only
                    f" WHERE conversation_id IN ({_marks(len(cids))}) AND client_id IN ({_marks(len(clids))})",
                    [*cids, *clids],
                ).fetchall()
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
