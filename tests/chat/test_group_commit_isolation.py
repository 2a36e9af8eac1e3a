"""One message the database refuses fails only itself: the other messages of its group-commit batch
are stored with gapless seqs and answered. A failure of the connection still fails the batch at once,
without a retry per message.

The bad rows bypass the parser (which refuses them today) and go straight to the store, as a message
would that some future bug lets through: U+0000, which PostgreSQL cannot store in text, and an
unpaired surrogate, which no driver can encode as UTF-8 (SQLite stores U+0000 as it is)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlmodel import col, select

from chat.group_commit import AppendRequest, GroupCommitter, Guard, Outcome
from chat.store import ConversationStore, NotWritable, hash_token
from core.clock import to_datetime
from core.db import Database
from core.models import Conversation, Message
from tests.conftest import Databases

pytestmark = pytest.mark.anyio
NUL = "nul\x00here"
SURROGATE = "lone\ud800surrogate"
NOW = to_datetime(1_800_000_000)


async def conversation(store: ConversationStore, n: int) -> str:
    new = Conversation(
        token_hash=hash_token(f"isolation-token-{n}-aaaaaaaaaaaa"),
        alias="Gjest",
        language="nb",
        region="03",
        audience="youth",
        state="assigned",
        started_at=NOW,
        enqueued_at=NOW,
    )
    return (await store.create(new)).id


async def stored(store: ConversationStore, conversation_id: str) -> list[tuple[int, str | None, str | None]]:
    async with store.db.session() as session:
        rows = (
            await session.exec(
                select(Message).where(Message.conversation_id == conversation_id).order_by(col(Message.seq))
            )
        ).all()
    return [(m.seq, m.client_id, m.text) for m in rows]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, databases: Databases) -> AsyncIterator[ConversationStore]:
    url = await asyncio.to_thread(databases.sqlite if request.param == "sqlite" else databases.postgres)
    db = Database.from_url(url)
    the_store = ConversationStore(db)
    yield the_store
    await the_store.close()
    await db.dispose()


def bad_texts(store: ConversationStore) -> list[str]:
    """Texts this database refuses."""
    return [SURROGATE] if store.db.is_sqlite else [NUL, SURROGATE]


async def test_a_bad_row_fails_only_itself_in_a_batch_of_other_conversations(store: ConversationStore) -> None:
    for round_, bad in enumerate(bad_texts(store)):
        ids = [await conversation(store, 10 * round_ + n) for n in range(4)]
        bad_id = await conversation(store, 10 * round_ + 9)

        async def send(cid: str, client_id: str, text: str) -> int:
            appended = await store.append(
                cid,
                sender="visitor",
                sender_id="visitor",
                text=text,
                at=NOW,
                client_id=client_id,
                only_if=Guard("open"),
            )
            return appended.message.seq

        # Two messages per good conversation around the bad one, all handed over in one turn: one batch.
        calls = [send(cid, f"a-{n}", f"first {n}") for n, cid in enumerate(ids)]
        calls.append(send(bad_id, "bad", bad))
        calls += [send(cid, f"b-{n}", f"second {n}") for n, cid in enumerate(ids)]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 20)

        assert results[:4] == [1, 1, 1, 1] and results[5:] == [2, 2, 2, 2], results
        assert isinstance(results[4], Exception) and not isinstance(results[4], NotWritable), results[4]
        for n, cid in enumerate(ids):
            assert await stored(store, cid) == [(1, f"a-{n}", f"first {n}"), (2, f"b-{n}", f"second {n}")]
        assert await stored(store, bad_id) == []  # nothing stored, no seq used up

        # The bad conversation itself goes on with seq 1, and the committer with the next batch.
        assert await send(bad_id, "good-after", "fine") == 1
        assert await stored(store, bad_id) == [(1, "good-after", "fine")]


async def test_a_bad_row_in_the_same_conversation_leaves_no_gap(store: ConversationStore) -> None:
    """Messages of the bad row's own conversation before and after it keep consecutive seqs."""
    bad = bad_texts(store)[0]
    cid = await conversation(store, 1)
    other = await conversation(store, 2)
    answers: list[tuple[str, object]] = []
    done = asyncio.get_running_loop().create_future()

    def hand_over(conversation_id: str, client_id: str, text: str) -> None:
        def settle(outcome: Outcome | BaseException) -> None:
            answers.append((client_id, outcome if not isinstance(outcome, BaseException) else "error"))
            if len(answers) == 5 and not done.done():
                done.set_result(None)

        store.append_nowait(
            conversation_id,
            sender="visitor",
            text=text,
            at=NOW,
            client_id=client_id,
            sender_id="visitor",
            only_if=Guard("open"),
            on_settle=settle,
        )

    hand_over(cid, "m1", "one")
    hand_over(other, "o1", "other")
    hand_over(cid, "m2", bad)
    hand_over(cid, "m3", "three")
    hand_over(other, "o2", "other again")
    await asyncio.wait_for(done, 20)
    assert answers == [
        ("m1", (1, True, None)),
        ("o1", (1, True, None)),
        ("m2", "error"),
        ("m3", (2, True, None)),
        ("o2", (2, True, None)),
    ]
    assert [r[0:2] for r in await stored(store, cid)] == [(1, "m1"), (2, "m3")]
    assert [r[0:2] for r in await stored(store, other)] == [(1, "o1"), (2, "o2")]


async def test_a_resend_in_a_batch_with_a_bad_row_is_still_answered_with_its_seq(store: ConversationStore) -> None:
    """Redone one by one, a message whose client id is stored already is still recognised as a resend."""
    bad = bad_texts(store)[0]
    cid, bad_id = await conversation(store, 1), await conversation(store, 2)
    first = await store.append(cid, sender="visitor", sender_id="visitor", text="hei", at=NOW, client_id="r1")
    results = await asyncio.gather(
        store.append(cid, sender="visitor", sender_id="visitor", text="hei", at=NOW, client_id="r1"),
        store.append(bad_id, sender="visitor", sender_id="visitor", text=bad, at=NOW, client_id="x"),
        store.append(cid, sender="visitor", sender_id="visitor", text="ny", at=NOW, client_id="r2"),
        return_exceptions=True,
    )
    again, failed, new = results
    assert not isinstance(again, BaseException) and again.created is False
    assert again.message.seq == first.message.seq == 1
    assert isinstance(failed, Exception)
    assert not isinstance(new, BaseException) and (new.message.seq, new.created) == (2, True)


# The committer's decision, with a writer that fails on demand: which failures are redone one by one.


class FailingWriter:
    """Refuses any batch holding a message whose text is ``bad`` with ``error``; counts the batches."""

    concurrent_batches = 1

    def __init__(self, error: Exception, *, fail_everything: bool = False) -> None:
        self.error = error
        self.fail_everything = fail_everything
        self.flushes: list[list[str]] = []
        self.seq: dict[str, int] = {}

    async def flush(self, batch: list[AppendRequest], *, check_resent: bool) -> list[Outcome]:
        self.flushes.append([r.text for r in batch])
        if self.fail_everything or any(r.text == "bad" for r in batch):
            raise self.error
        out: list[Outcome] = []
        for r in batch:
            self.seq[r.conversation_id] = self.seq.get(r.conversation_id, 0) + 1
            out.append((self.seq[r.conversation_id], True, None))
        return out


def request(cid: str, text: str) -> AppendRequest:
    future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
    return AppendRequest(cid, "visitor", text, NOW, f"{cid}-{text}", "visitor", None, Guard(), future)


async def run_batch(writer: FailingWriter, texts: list[tuple[str, str]]) -> list[object]:
    committer = GroupCommitter(writer)
    requests = [request(cid, text) for cid, text in texts]
    for r in requests:
        committer.enqueue(r)
    results = await asyncio.gather(*(r.future for r in requests if r.future), return_exceptions=True)
    await committer.close()
    return results


DATA_ERRORS = [
    asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),
    asyncpg.DataError("invalid input for query argument $8"),
    asyncpg.NotNullViolationError("null value in column"),
    asyncpg.CheckViolationError("check"),
    UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    sqlite3.DataError("string or blob too big"),
    sqlite3.IntegrityError("NOT NULL constraint failed: message.text"),
    ValueError("something about one row"),
]


@pytest.mark.parametrize("error", DATA_ERRORS, ids=lambda e: type(e).__name__)
async def test_a_failure_about_the_data_is_redone_one_by_one(error: Exception) -> None:
    writer = FailingWriter(error)
    results = await run_batch(writer, [("a", "x1"), ("b", "y1"), ("c", "bad"), ("a", "x2"), ("b", "y2")])
    assert results[:2] == [(1, True, None), (1, True, None)]
    assert results[2] is error
    assert results[3:] == [(2, True, None), (2, True, None)]
    assert writer.flushes[0] == ["x1", "y1", "bad", "x2", "y2"]
    assert writer.flushes[-5:] == [["x1"], ["y1"], ["bad"], ["x2"], ["y2"]]  # each alone, in arrival order


CONNECTION_ERRORS = [
    ConnectionResetError("connection reset by peer"),
    TimeoutError(),
    OSError("network unreachable"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.DiskFullError("could not extend file"),
    sqlite3.OperationalError("database is locked"),
    sqlite3.OperationalError("disk I/O error"),
]


@pytest.mark.parametrize("error", CONNECTION_ERRORS, ids=lambda e: f"{type(e).__name__}-{e}"[:50])
async def test_a_failure_of_the_connection_fails_the_whole_batch_at_once(error: Exception) -> None:
    writer = FailingWriter(error, fail_everything=True)
    results = await run_batch(writer, [("a", "x1"), ("b", "y1"), ("c", "z1"), ("a", "x2")])
    assert all(r is error for r in results)
    assert len(writer.flushes) == 1  # no retry per message against a database that is away


async def test_when_the_connection_fails_during_the_one_by_one_redo_the_rest_fail_at_once() -> None:
    """A data error sends the batch one by one; if the database then goes away, the messages not yet
    redone get that error without a try each."""

    class GoneAway(FailingWriter):
        async def flush(self, batch: list[AppendRequest], *, check_resent: bool) -> list[Outcome]:
            if len(self.flushes) >= 2:
                self.flushes.append([r.text for r in batch])
                raise ConnectionResetError("gone")
            return await super().flush(batch, check_resent=check_resent)

    writer = GoneAway(asyncpg.CharacterNotInRepertoireError("0x00"))
    results = await run_batch(writer, [("a", "x1"), ("b", "bad"), ("c", "z1"), ("d", "w1")])
    assert results[0] == (1, True, None)
    assert all(isinstance(r, ConnectionResetError) for r in results[1:])
    assert writer.flushes == [["x1", "bad", "z1", "w1"], ["x1"], ["bad"]]


async def test_a_batch_of_one_is_not_tried_twice() -> None:
    writer = FailingWriter(asyncpg.CharacterNotInRepertoireError("0x00"))
    assert await run_batch(writer, [("a", "bad")]) == [writer.error]
    assert writer.flushes == [["bad"]]
