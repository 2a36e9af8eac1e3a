"""Retention of everything free-text and of the register, end to end: a real server, its database, and
``nora-chat purge`` as an operator runs it (the periodic task calls the same function).

- The transfer note, written by one adviser for the next, goes with the transcript.
- Registrations go by whole calendar years: the years kept publish exactly the statistics they did
  before (count=inquiries and count=cases, the yearly summary), the years erased publish nothing, and a
  case that goes on into a kept year stays whole, so it is still counted once, in its first year.
- Audit entries older than their period go.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, func, select

from admin import demo_data
from core.db import Database
from core.models import OSLO, AuditEntry, Case, Conversation, Registration, ReturnThread, ThreadConversation
from core.reference import load_reference
from tests import cli
from tests.client import Staff
from tests.conftest import LiveServer, ServerFactory

pytestmark = pytest.mark.anyio
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
THIS_YEAR = datetime.now(OSLO).year
KEPT_YEARS = 5  # NORA_REGISTRATION_RETENTION_YEARS for the purge below
FIRST_KEPT = THIS_YEAR - KEPT_YEARS


def purge(server: LiveServer, **env: str) -> str:
    """``nora-chat purge`` on the server's database, as an operator would run it."""
    full = {**os.environ, "NORA_ENV": "development", "NORA_DATABASE_URL": server.database_url, **env}
    full.pop("NORA_REDIS_URL", None)
    done = cli.run("purge", env=full)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_the_transfer_note_goes_with_the_transcript(server: LiveServer) -> None:
    _, amina = await server.adviser("amina")
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
    cid = (await visitor.expect("started"))["conversation_id"]
    await amina.expect("assigned")
    await visitor.send({"type": "message", "client_id": "v1", "text": "Hei"})  # a silent chat is not pending
    await visitor.expect("ack")
    note = "Jenta vil ha hjelp med skolen i morgen"
    await amina.send({"type": "transfer", "conversation_id": cid, "to": {"service": "AT"}, "note": note})
    await amina.expect("unassigned")
    _, jonas = await server.adviser("jonas")
    assert (await jonas.expect("assigned"))["conversation"]["note"] == note
    await jonas.send({"type": "close", "conversation_id": cid})
    await visitor.expect("closed")

    sara = await server.login("sara")
    pending = {c["id"]: c for c in (await sara.get("/api/v1/registrations/pending")).json()["conversations"]}
    assert pending[cid]["note"] == note and pending[cid]["messages"]

    out = purge(server, NORA_TRANSCRIPT_RETENTION_HOURS="0")
    assert "purged 1 transcript(s)" in out

    pending = {c["id"]: c for c in (await sara.get("/api/v1/registrations/pending")).json()["conversations"]}
    assert pending[cid]["note"] is None and pending[cid]["messages"] == []
    db = Database.from_url(server.database_url)
    try:
        async with db.session() as session:
            row = await session.get(Conversation, cid)
    finally:
        await db.dispose()
    assert row is not None and row.transfer_note is None and row.purged_at is not None


# ------------------------------------------------------------------------------ the register


async def seed(url: str) -> dict[str, str]:
    """Demo registrations in every year from seven years ago to this one, two cases that reach over a
    year end (one into the first year kept), and audit entries old and new. Returns named ids."""
    db = Database.from_url(url)
    try:
        async with db.session() as session:
            ref = await load_reference(session)
        rows = [
            r for year in range(THIS_YEAR - 7, THIS_YEAR + 1) for r in demo_data.generate(150, year, ref, seed=year)
        ]
        await demo_data.insert(db, rows)
        now = datetime.now(UTC)
        ids: dict[str, str] = {}

        def inquiry(case: Case, day: date, channel: str, category: str) -> Registration:
            return Registration(
                is_case=True,
                main_category=category,
                service=case.service,
                region="03",
                language="nb",
                audience="youth",
                closed_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                contact_date=day,
                created_at=now,
                updated_at=now,
                channel=channel,
                case_id=case.id,
            )

        going_on = Case(service="KT", ref="KT-2", opened_at=datetime(FIRST_KEPT - 1, 11, 12, tzinfo=UTC))
        over = Case(service="KT", ref="KT-1", opened_at=datetime(FIRST_KEPT - 2, 12, 1, tzinfo=UTC))
        async with db.writing() as session:
            session.add_all([going_on, over])
            await session.flush()
            first = inquiry(going_on, date(FIRST_KEPT - 1, 11, 10), "phone", "forced_marriage")
            later = inquiry(going_on, date(FIRST_KEPT, 2, 3), "meeting", "forced_marriage")
            session.add_all(
                [
                    first,
                    later,
                    inquiry(over, date(FIRST_KEPT - 2, 12, 1), "phone", "negative_social_control"),
                    inquiry(over, date(FIRST_KEPT - 1, 1, 15), "email", "negative_social_control"),
                    AuditEntry(at=now - timedelta(days=800), action="user_changed", detail="old"),
                    AuditEntry(at=now - timedelta(days=30), action="user_changed", detail="recent"),
                ]
            )
            await session.flush()
            ids.update(going_on=going_on.id, over=over.id, first=first.id, later=later.id)
            # Conversation rows (their transcripts long purged): one never registered and one registered
            # in an erased year go, the one registered in the first year kept stays.
            old_years = (("unregistered", FIRST_KEPT - 1), ("erased", FIRST_KEPT - 1), ("threaded", FIRST_KEPT - 1))
            for name, year in (*old_years, ("kept", FIRST_KEPT)):
                closed = datetime(year, 3, 1, 10, tzinfo=UTC)
                conv = Conversation(
                    token_hash=f"purged-{name}",
                    alias="Gjest 1",
                    language="nb",
                    audience="youth",
                    state="closed",
                    service="MR",
                    started_at=closed,
                    enqueued_at=closed,
                    closed_at=closed,
                    purged_at=closed + timedelta(days=3),
                )
                session.add(conv)
                await session.flush()
                ids[name] = conv.id
                if name == "threaded":  # still in a visitor's return-code thread: stays until the thread goes
                    thread = ReturnThread(
                        lookup="abc123",
                        code_hash="x",
                        code_issued_at=now,
                        language="nb",
                        audience="youth",
                        created_at=now,
                    )
                    session.add(thread)
                    await session.flush()
                    session.add(ThreadConversation(conversation_id=conv.id, thread_id=thread.id))
                elif name != "unregistered":
                    session.add(
                        Registration(
                            conversation_id=conv.id,
                            is_case=False,
                            service="MR",
                            closed_at=closed,
                            created_at=closed,
                            updated_at=closed,
                        )
                    )
        return ids
    finally:
        await db.dispose()


async def published(sara: Staff, year: int) -> dict[str, Any]:
    """What the statistics publish about ``year``: tables by several keys, both counts, the summary."""
    out: dict[str, Any] = {}
    for count in ("inquiries", "cases"):
        for by in ("", "service", "category", "channel", "quarter,service"):
            r = await sara.get("/api/v1/stats/cases", period=str(year), by=by, count=count)
            body = r.json()
            body.pop("generated_at", None)
            out[f"{count}:{by}"] = (r.status_code, body)
    summary = (await sara.get("/api/v1/stats/summary", year=str(year))).json()
    summary.pop("generated_at", None)
    out["summary"] = summary
    return out


async def counts(url: str) -> dict[str, Any]:
    db = Database.from_url(url)
    try:
        async with db.session() as session:
            registrations = (await session.exec(select(func.count()).select_from(Registration))).one()
            cases = set((await session.exec(select(Case.id))).all())
            kept_ids = set((await session.exec(select(Registration.id))).all())
            conversations = set((await session.exec(select(Conversation.id))).all())
            audit = sorted(
                (await session.exec(select(AuditEntry.detail).where(col(AuditEntry.action) == "user_changed"))).all()
            )
    finally:
        await db.dispose()
    return {"registrations": registrations, "cases": cases, "ids": kept_ids, "audit": audit, "conv": conversations}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_old_registrations_go_and_the_years_kept_publish_the_same(
    make_server: ServerFactory, backend: str
) -> None:
    server = await make_server(backend)
    ids = await seed(server.database_url)
    sara = await server.login("sara")
    kept_years = [FIRST_KEPT, FIRST_KEPT + 1, THIS_YEAR]
    before = {year: await published(sara, year) for year in kept_years}
    erased_before = await published(sara, FIRST_KEPT - 1)
    assert erased_before["inquiries:"][1]["total"] > 0  # the test would prove nothing on empty years
    was = await counts(server.database_url)

    out = purge(server, NORA_REGISTRATION_RETENTION_YEARS=str(KEPT_YEARS), NORA_AUDIT_RETENTION_YEARS="2")
    assert f"registration(s) counted before {FIRST_KEPT}-01-01" in out
    assert "purged 1 audit entr(ies)" in out

    after = {year: await published(sara, year) for year in kept_years}
    assert after == before
    now = await counts(server.database_url)
    # Every registration of the erased years is gone but the first inquiry of the case that goes on.
    assert now["registrations"] == was["registrations"] - 2 * 150 - 2 - 1
    assert now["conv"] == was["conv"] - {ids["unregistered"], ids["erased"]}
    assert ids["kept"] in now["conv"] and ids["threaded"] in now["conv"]
    assert ids["first"] in now["ids"] and ids["later"] in now["ids"]
    assert now["cases"] == was["cases"] - {ids["over"]}
    assert now["audit"] == ["recent"]
    everything = await sara.get("/api/v1/stats/cases", period=str(FIRST_KEPT - 2))
    assert (everything.json()["rows"], everything.json()["total"]) == ([], 0)
    # The year before the first kept holds only the first inquiry of the case that goes on (1, so "<5").
    remains = await sara.get("/api/v1/stats/cases", period=str(FIRST_KEPT - 1), by="service,channel")
    assert remains.json()["rows"] == [{"service": "KT", "channel": "phone", "count": "<5"}]

    # Run again: nothing more to erase, nothing changes.
    again = purge(server, NORA_REGISTRATION_RETENTION_YEARS=str(KEPT_YEARS), NORA_AUDIT_RETENTION_YEARS="2")
    assert "purged 0 registration(s)" in again and "purged 0 audit entr(ies)" in again
    assert {year: await published(sara, year) for year in kept_years} == before


async def test_the_admin_page_is_told_the_periods(make_server: ServerFactory) -> None:
    server = await make_server(NORA_REGISTRATION_RETENTION_YEARS="7", NORA_AUDIT_RETENTION_YEARS="3")
    admin = await server.login("admin")
    body = (await admin.get("/api/v1/retention")).json()
    assert body["registration_years"] == 7 and body["audit_years"] == 3
    assert body["registrations_kept_from"] == f"{THIS_YEAR - 7}-01-01"
    assert body["audit_kept_from"].startswith(str(datetime.now(UTC).year - 3))
