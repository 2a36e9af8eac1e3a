"""Group commit keeps every promise of a single append: gapless seqs in arrival order, exactly once
per client id, guards honoured per message, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlmodel import col, select

from chat.group_commit import AppendRequest, Guard
from chat.postgres_direct import BATCH, DirectPostgres, asyncpg_dsn
from chat.store import AlreadyExists, ConversationStore, NotWritable, hash_token
from core.clock import as_utc, to_datetime
from core.db import Database
from core.models import Conversation, Message, StaffUser
from tests.conftest import Databases

pytestmark = pytest.mark.anyio
NOW = to_datetime(1_800_000_000)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, databases: Databases) -> AsyncIterator[ConversationStore]:
    url = await asyncio.to_thread(databases.sqlite if request.param == "sqlite" else databases.postgres)
    db = Database.from_url(url)
    the_store = ConversationStore(db)
    yield the_store
    await the_store.close()
    await db.dispose()


def new_conversation(
    n: int, state: str = "assigned", adviser: str | None = None, start_key: str | None = None
) -> Conversation:
    return Conversation(
        token_hash=hash_token(f"token-{n}-{state}-aaaaaaaaaaaa"),
        start_key=start_key,
        alias="Gjest",
        language="nb",
        region="03",
        audience="youth",
        state=state,
        adviser_id=adviser,
        started_at=NOW,
        enqueued_at=NOW,
    )


async def conversation(store: ConversationStore, n: int, state: str = "assigned", adviser: str | None = None) -> str:
    return (await store.create(new_conversation(n, state, adviser))).id


async def stored(store: ConversationStore, conversation_id: str) -> list[tuple[int, str | None, str | None]]:
    async with store.db.session() as session:
        rows = (
            await session.exec(
                select(Message).where(Message.conversation_id == conversation_id).order_by(col(Message.seq))
            )
        ).all()
    return [(m.seq, m.client_id, m.text) for m in rows]


async def test_concurrent_appends_are_gapless_in_arrival_order_and_exactly_once(store: ConversationStore) -> None:
    ids = [await conversation(store, n) for n in range(5)]

    async def send(cid: str, k: int) -> tuple[int, bool]:
        appended = await store.append(
            cid, sender="visitor", sender_id="visitor", text=f"m{k}", at=NOW, client_id=f"c{k}", only_if=Guard("open")
        )
        return appended.message.seq, appended.created

    # 40 messages per conversation, all in flight at once, each sent twice (a resend racing the original).
    originals = [send(cid, k) for k in range(40) for cid in ids]
    resends = [send(cid, k) for k in range(40) for cid in ids]
    results = await asyncio.gather(*originals, *resends)
    half = len(results) // 2
    for (seq, created), (seq_again, created_again) in zip(results[:half], results[half:], strict=True):
        assert seq == seq_again and created != created_again  # one stored, the other told its seq
    for cid in ids:
        rows = await stored(store, cid)
        assert [r[0] for r in rows] == list(range(1, 41))
        assert [r[1] for r in rows] == [f"c{k}" for k in range(40)]  # seq order is arrival order


async def user_id(store: ConversationStore, username: str) -> str:
    async with store.db.session() as session:
        return (await session.exec(select(StaffUser).where(StaffUser.username == username))).one().id


@pytest.mark.parametrize("together", [True, False], ids=["in-one-batch", "one-by-one"])
async def test_a_failing_guard_refuses_only_its_own_messages(store: ConversationStore, together: bool) -> None:
    """Together the messages make one batch; one by one each is a batch of its own, which PostgreSQL
    writes with a statement of its own (``SINGLE``): both must keep the same guards."""
    amina, omar = await user_id(store, "amina"), await user_id(store, "omar")
    open_id = await conversation(store, 1)
    closed_id = await conversation(store, 2, state="closed")
    mine = await conversation(store, 3, adviser=amina)

    async def attempt(cid: str, guard: Guard, client_id: str) -> int | None:
        try:
            appended = await store.append(
                cid, sender="adviser", sender_id=amina, text="x", at=NOW, client_id=client_id, only_if=guard
            )
        except NotWritable:
            return None
        return appended.message.seq

    attempts = [
        (open_id, Guard("open"), "a"),
        (closed_id, Guard("open"), "b"),
        (mine, Guard("adviser", omar), "c"),
        (mine, Guard("adviser", amina), "d"),
        (open_id, Guard("open"), "e"),
    ]
    if together:
        results = list(await asyncio.gather(*(attempt(*a) for a in attempts)))
    else:
        results = [await attempt(*a) for a in attempts]
    assert results == [1, None, None, 1, 2]
    assert await stored(store, closed_id) == []
    assert [r[1] for r in await stored(store, mine)] == ["d"]


async def test_appends_handed_over_without_waiting_are_answered_in_arrival_order(store: ConversationStore) -> None:
    """``append_nowait``: each message's answer (seq, refused, or resend) reaches its callback, in the
    order the messages were handed over, and is stored exactly as ``append`` would store it."""
    open_id = await conversation(store, 1)
    closed_id = await conversation(store, 2, state="closed")
    answers: list[tuple[str, object]] = []
    everything = asyncio.get_running_loop().create_future()

    def hand_over(cid: str, client_id: str) -> None:
        def settle(outcome: object) -> None:
            answers.append((client_id, outcome))
            if len(answers) == 7 and not everything.done():
                everything.set_result(None)

        store.append_nowait(
            cid,
            sender="visitor",
            text=client_id,
            at=NOW,
            client_id=client_id,
            sender_id="visitor",
            only_if=Guard("open"),
            on_settle=settle,
        )

    for k in range(3):
        hand_over(open_id, f"n{k}")
    hand_over(closed_id, "shut")
    hand_over(open_id, "n1")  # a resend of a message in the same hand-over
    hand_over(open_id, "n3")
    hand_over(open_id, "n4")
    await asyncio.wait_for(everything, 10)
    assert answers == [
        ("n0", (1, True, None)),
        ("n1", (2, True, None)),
        ("n2", (3, True, None)),
        ("shut", None),
        ("n1", (2, False, None)),
        ("n3", (4, True, None)),
        ("n4", (5, True, None)),
    ]
    assert [r[1] for r in await stored(store, open_id)] == ["n0", "n1", "n2", "n3", "n4"]
    assert await stored(store, closed_id) == []


async def test_each_transition_changes_the_row_only_from_the_state_it_starts_from(store: ConversationStore) -> None:
    """The compare-and-set every state change relies on, on each database's own driver."""
    amina = await user_id(store, "amina")
    cid = await conversation(store, 1, state="queued")

    assert not await store.requeue(cid, amina)  # not assigned yet
    assert await store.assign(cid, amina, "MR", NOW)
    assert not await store.assign(cid, amina, "MR", NOW)  # assigned already: a second claim loses
    assert not await store.requeue(cid, "someone")  # held by amina, not by someone
    assert await store.mark_visitor_away(cid, NOW)
    assert not await store.mark_visitor_away(cid, NOW)  # the first time the visitor went counts
    assert not await store.close_conversation("no-such-conversation", "adviser_closed", NOW)

    conv = await store.get(cid)
    assert conv is not None and (conv.state, conv.adviser_id, conv.service) == ("assigned", amina, "MR")
    assert conv.visitor_away_since is not None and as_utc(conv.visitor_away_since) == NOW  # SQLite's are naive
    found = await store.by_token("token-1-queued-aaaaaaaaaaaa")
    assert found is not None and found.id == cid

    assert await store.close_conversation(cid, "adviser_closed", NOW)
    assert not await store.close_conversation(cid, "visitor_left", NOW)  # closed once, for one reason
    assert not await store.mark_visitor_away(cid, NOW)
    conv = await store.get(cid)
    assert conv is not None and (conv.state, conv.close_reason) == ("closed", "adviser_closed")


async def test_an_assignment_returns_the_row_it_wrote_and_keeps_the_first_answer_time(store: ConversationStore) -> None:
    """The assignment is one statement (no read before it): it must hand back the conversation as
    assigned, and a chat assigned a second time (after a requeue) keeps its first answer's time, which
    the supervisor's day counts the wait to."""
    amina = await user_id(store, "amina")
    cid = await conversation(store, 2, state="queued")
    later = to_datetime(1_800_000_600)

    first = await store.assign(cid, amina, "MR", NOW)
    assert first is not None and (first.id, first.state, first.adviser_id, first.service) == (
        cid,
        "assigned",
        amina,
        "MR",
    )
    assert as_utc(first.assigned_at) == NOW and as_utc(first.answered_at) == NOW
    assert first.language == "nb" and first.offered_to is None  # the whole row, read back as loaded
    assert await store.requeue(cid, amina)

    again = await store.assign(cid, amina, "MR", later)
    assert again is not None and as_utc(again.assigned_at) == later
    assert as_utc(again.answered_at) == NOW  # the first answer stays
    assert await store.get(cid) == again  # what came back is what is stored
    assert await store.assign(cid, amina, "MR", later) is None  # not waiting: no row comes back


async def test_a_second_conversation_with_a_taken_start_key_is_refused_as_already_existing(
    store: ConversationStore,
) -> None:
    """What a twin ``start`` (the same start sent on two sockets) meets, on either database."""

    first = await store.create(new_conversation(1, "queued", start_key=hash_token("the-same-start")))
    with pytest.raises(AlreadyExists):
        await store.create(new_conversation(2, "queued", start_key=hash_token("the-same-start")))
    found = await store.by_start_key(hash_token("the-same-start"))
    assert found is not None and found.id == first.id


async def test_starts_stored_at_the_same_moment_succeed_or_fail_each_on_its_own(store: ConversationStore) -> None:
    """Rows handed over in the same turn of the loop share one commit (SQLite's ``write_row``,
    PostgreSQL's ``_shared``): a twin start among them is refused alone, the others are stored, and a
    later change to one of them sees it. A write whose caller gave up before it ran is not made."""
    key = hash_token("the-same-start")
    await store.create(new_conversation(1, "queued", start_key=key))
    results = await asyncio.gather(
        store.create(new_conversation(2, "queued")),
        store.create(new_conversation(3, "queued", start_key=key)),
        store.create(new_conversation(4, "queued")),
        return_exceptions=True,
    )
    assert isinstance(results[1], AlreadyExists)
    stored = [r for r in results if isinstance(r, Conversation)]
    assert len(stored) == 2
    for conv in stored:
        found = await store.get(conv.id)
        assert found is not None and found.state == "queued"
    amina = await user_id(store, "amina")
    assigned = await asyncio.gather(*(store.assign(c.id, amina, "MR", NOW) for c in stored))
    assert [a.adviser_id if a else None for a in assigned] == [amina, amina]

    given_up = asyncio.ensure_future(store.create(new_conversation(5, "queued")))
    await asyncio.sleep(0)  # handed over, not yet sent
    given_up.cancel()
    await asyncio.gather(given_up, return_exceptions=True)
    await store.create(new_conversation(6, "queued"))  # a commit after it has run
    assert await store.by_token("token-5-queued-aaaaaaaaaaaa") is None
    assert await store.by_token("token-6-queued-aaaaaaaaaaaa") is not None


async def test_changes_handed_over_together_each_get_their_own_answer(store: ConversationStore) -> None:
    """Assignments made in the same turn of the loop (a routing step's decisions) share a statement on
    PostgreSQL and a commit on both: each still gets its own row back, ``None`` where the chat was not
    waiting, and a second assignment of the same chat in that turn finds it taken by the first."""
    amina, omar = await user_id(store, "amina"), await user_id(store, "omar")
    waiting = [await conversation(store, n, "queued") for n in range(10, 15)]
    taken = await conversation(store, 15, "assigned", amina)
    results = await asyncio.gather(
        *(store.assign(cid, amina, "MR", NOW) for cid in waiting),
        store.assign(taken, omar, "MR", NOW),
        store.assign(waiting[2], omar, "MR", NOW),
    )
    assert [r.id if r else None for r in results] == [*waiting, None, None]
    assert all(r.adviser_id == amina and r.state == "assigned" for r in results[:5] if r)
    for cid in waiting:
        found = await store.get(cid)
        assert found is not None and found.adviser_id == amina
    found = await store.get(taken)
    assert found is not None and found.adviser_id == amina


async def test_system_messages_and_resends_across_batches(store: ConversationStore) -> None:
    cid = await conversation(store, 1)
    first = await store.append(cid, sender="visitor", sender_id="visitor", text="hei", at=NOW, client_id="c1")
    system = await store.append(cid, sender="system", text="notice", at=NOW, event="assigned")
    again = await store.append(cid, sender="visitor", sender_id="visitor", text="hei igjen", at=NOW, client_id="c1")
    other_sender = await store.append(cid, sender="adviser", sender_id="amina", text="svar", at=NOW, client_id="c1")
    assert (first.message.seq, system.message.seq, other_sender.message.seq) == (1, 2, 3)
    assert again.created is False and again.message.seq == 1 and again.message.text == "hei"
    assert other_sender.created  # client ids are per sender


async def test_another_process_holding_sqlite_s_lock_delays_writes_without_blocking_the_loop(
    sqlite_store: ConversationStore,
) -> None:
    """Two instances on one SQLite file: writes wait for the other's transaction, asynchronously."""
    store = sqlite_store
    cid = await conversation(store, 1)
    other = sqlite3.connect(str(store.db.engine.url.database), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # what a second process's transaction looks like to this one
    gaps: list[float] = []  # between turns of the event loop's ticker

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            gaps.append(time.monotonic() - last)
            last = time.monotonic()

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    append = asyncio.create_task(
        store.append(cid, sender="visitor", sender_id="visitor", text="vent", at=NOW, client_id="w1")
    )
    closing = asyncio.create_task(store.close_conversation(cid, "adviser_closed", NOW))
    await asyncio.sleep(0.3)
    assert not append.done() and not closing.done()  # waiting for the other process's lock
    # The event loop kept running meanwhile: a write blocking it until the lock is free would leave one
    # gap as long as the wait (0.3 s); a busy machine stretches a 10 ms tick, not that far.
    assert gaps and max(gaps) < 0.2, gaps
    other.execute("COMMIT")
    other.close()
    appended, closed = await asyncio.wait_for(asyncio.gather(append, closing), 10)
    ticker.cancel()
    assert appended.message.seq == 1 and closed is True
    assert await stored(store, cid) == [(1, "w1", "vent")]
    assert time.monotonic() - started >= 0.3


@pytest.mark.postgres
async def test_a_conversation_locked_elsewhere_holds_up_only_its_own_messages(databases: Databases) -> None:
    """While one conversation's row is locked by another transaction (another instance, say), messages
    of other conversations are still stored and answered; its own wait, and keep their order."""
    db = Database.from_url(await asyncio.to_thread(databases.postgres))
    store = ConversationStore(db)
    locker = await asyncpg.connect(asyncpg_dsn(db.engine.url))
    try:
        held, free = await conversation(store, 1), await conversation(store, 2)

        async def send(cid: str, client_id: str) -> int:
            appended = await store.append(
                cid, sender="visitor", sender_id="visitor", text=client_id, at=NOW, client_id=client_id
            )
            return appended.message.seq

        lock = locker.transaction()
        await lock.start()
        await locker.execute("SELECT 1 FROM conversation WHERE id = $1 FOR UPDATE", held)
        first = asyncio.create_task(send(held, "h1"))
        await asyncio.sleep(0.2)  # its batch is now waiting for the lock
        second = asyncio.create_task(send(held, "h2"))
        assert await asyncio.wait_for(send(free, "f1"), 5) == 1
        assert await asyncio.wait_for(send(free, "f2"), 5) == 2
        assert not first.done() and not second.done()
        await lock.rollback()
        assert await asyncio.wait_for(asyncio.gather(first, second), 5) == [1, 2]
        assert [r[1] for r in await stored(store, held)] == ["h1", "h2"]
    finally:
        await locker.close()
        await store.close()
        await db.dispose()


@pytest.mark.postgres
async def test_a_batch_finds_its_conversations_by_key_however_small_the_table(databases: Databases) -> None:
    """A batch statement runs thousands of times a second, on a plan PostgreSQL keeps per connection.
    While the conversation table is small or not yet analysed, the plan it kept read the whole table
    per batch (466 full scans a second in bench/'s chat-1000-2x-lb, 15% of PostgreSQL's CPU); on a
    batch connection every lookup goes through the key."""
    db = Database.from_url(await asyncio.to_thread(databases.postgres))
    store = ConversationStore(db)
    direct = store.driver
    assert isinstance(direct, DirectPostgres)
    try:
        ids = [await conversation(store, n) for n in range(40)]
        for n in range(8):  # past the five runs after which PostgreSQL may keep a generic plan
            await direct.flush(
                [
                    AppendRequest(cid, "visitor", "hei", NOW, f"c{n}-{i}", "visitor", None, Guard(), None)
                    for i, cid in enumerate(ids[n : n + 3])
                ],
                check_resent=False,
            )
        async with direct._batch_connection() as conn:
            await conn.execute(f"PREPARE probe AS {BATCH}")
            three = ", ".join(f"'{cid}'" for cid in sorted(ids[:3]))  # hex ids: safe to quote
            row = f"ARRAY[{three}], ARRAY['any','any','any'], ARRAY[NULL,NULL,NULL]::varchar[]"
            args = f"{row}, ARRAY['v','v','v'], ARRAY['v','v','v'], ARRAY['p1','p2','p3']"
            args += ", ARRAY[NULL,NULL,NULL]::varchar[], ARRAY['hei','hei','hei'], ARRAY[now(),now(),now()]"
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN EXECUTE probe({args}, ARRAY[{three}])"))
            await conn.execute("DEALLOCATE probe")
        assert "Seq Scan on conversation" not in plan, plan
        assert "conversation_pkey" in plan, plan
    finally:
        await store.close()
        await db.dispose()
