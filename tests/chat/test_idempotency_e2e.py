"""Exactly once in the transcript: the same client_id sent concurrently from two tabs is one message."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tests.conftest import LiveServer, ServerFactory

pytestmark = pytest.mark.anyio


def stored(server: LiveServer, conversation_id: str) -> list[tuple[int, str, str]]:
    conn = sqlite3.connect(server.database_url.split(":///", 1)[1])
    try:
        rows = conn.execute(
            "SELECT seq, sender, client_id FROM message WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
        ).fetchall()
    finally:
        conn.close()
    return [(int(s), str(a), str(c)) for s, a, c in rows]


async def test_concurrent_resends_from_two_tabs_store_one_message(make_server: ServerFactory) -> None:
    server = await make_server(NORA_RATE_BURST="200", NORA_RATE_PER_S="200")
    tab1 = await server.visitor()
    await tab1.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
    started = await tab1.expect("started")
    tab2 = await server.visitor()
    await tab2.send({"type": "resume", "token": started["token"], "last_seq": 0})
    await tab2.expect("resumed")

    for n in range(20):
        frame = {"type": "message", "client_id": f"race-{n}", "text": f"melding {n}"}
        await asyncio.gather(tab1.send(frame), tab2.send(frame), tab1.send(frame))
    acks1 = [await tab1.expect("ack") for _ in range(40)]
    acks2 = [await tab2.expect("ack") for _ in range(20)]
    seqs: dict[str, set[int]] = {}
    for ack in acks1 + acks2:
        seqs.setdefault(ack["client_id"], set()).add(ack["seq"])
    assert all(len(s) == 1 for s in seqs.values()), seqs  # every ack for one client_id names one seq
    rows = stored(server, started["conversation_id"])
    assert [r[2] for r in rows] == [f"race-{n}" for n in range(20)]
    assert [r[0] for r in rows] == list(range(1, 21))  # gapless
