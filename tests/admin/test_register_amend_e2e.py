"""Registration validation, amendments and the 7-day lock, transcript reads in the audit log, and the
retention purge — each on SQLite and PostgreSQL, against a real server."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from core.clock import as_utc
from core.db import Database
from core.models import AuditEntry, Message, Registration
from tests import cli
from tests.admin.test_register_e2e import CASE
from tests.client import Staff
from tests.conftest import LiveServer, ServerFactory

pytestmark = pytest.mark.anyio
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def live_conversation(server: LiveServer, adviser: str = "amina") -> tuple[Staff, Any, Any, str]:
    staff, console = await server.adviser(adviser)
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    cid = (await visitor.expect("started"))["conversation_id"]
    await console.expect("assigned")
    await visitor.send({"type": "message", "client_id": "v1", "text": "Jeg trenger råd"})
    await visitor.expect("ack")
    return staff, console, visitor, cid


async def close(console: Any, cid: str) -> None:
    await console.send({"type": "close", "conversation_id": cid})
    await console.expect("conversation_closed", conversation_id=cid)


async def put(staff: Staff, path: str, body: Any) -> Any:
    return await staff.http.put(path, json=body, headers={"X-CSRF-Token": staff.csrf, "Origin": staff.origin})


async def audit(server: LiveServer, **params: str) -> list[dict[str, Any]]:
    admin = await server.login("admin")
    r = await admin.get("/api/v1/audit", **params)
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


@pytest.mark.parametrize("backend", BACKENDS)
async def test_every_validation_conflict_and_the_seven_day_lock(make_server: ServerFactory, backend: str) -> None:
    server = await make_server(backend)
    amina, console, _, cid = await live_conversation(server)
    url = f"/api/v1/conversations/{cid}/registration"
    open_r = await amina.post(url, CASE)
    assert open_r.status_code == 409 and open_r.json()["error"] == "not_closed"
    await close(console, cid)
    for body, field in [
        ({**CASE, "main_category": "aliens"}, "main_category"),  # unknown code
        ({**CASE, "actions": ["advice_given", "teleported"]}, "actions"),
        ({**CASE, "main_category": None}, "main_category"),  # a case without a main category
        ({**CASE, "note": "x" * 501}, "note"),
        ({**CASE, "note": "Ring henne på 912 34 567"}, "note"),  # a phone number identifies
        ({**CASE, "note": "fnr 01010112345"}, "note"),
        ({**CASE, "note": "skriv til a.b@example.no"}, "note"),
    ]:
        r = await amina.post(url, body)
        assert r.status_code == 422 and field in r.json()["fields"], (body, r.text)
    ok_note = "Henvist til Kompetanseteamet, 478 09 050, og Alarmtelefonen 116 111."
    created = await amina.post(url, {**CASE, "note": ok_note})
    assert created.status_code == 201, created.text
    rid = created.json()["registration_id"]
    again = await amina.post(url, CASE)
    assert again.status_code == 409 and again.json()["error"] == "already_registered"

    got = (await amina.get(f"/api/v1/registrations/{rid}")).json()
    assert got["editable"] and got["note"] == ok_note and got["service"] == "MR" and got["region"] == "03"
    assert got["language"] == "ar" and got["audience"] == "youth" and got["opened_at"] and got["closed_at"]
    assert [r["id"] for r in (await amina.get("/api/v1/registrations")).json()["registrations"]] == [rid]

    reg_url = f"/api/v1/registrations/{rid}"
    amended = await put(amina, reg_url, {**CASE, "main_category": "fear_of_forced_marriage", "note": "Endret."})
    assert amended.status_code == 200 and amended.json()["main_category"] == "fear_of_forced_marriage"
    bad = await put(amina, reg_url, {**CASE, "main_category": "aliens"})
    assert bad.status_code == 422 and set(bad.json()["fields"]) == {"main_category"}
    no_csrf = await amina.http.put(reg_url, json=CASE)
    assert no_csrf.status_code == 403 and no_csrf.json()["error"] == "csrf_failed"
    omar = await server.login("omar")
    assert (await omar.get(reg_url)).status_code == 404
    assert (await put(omar, reg_url, CASE)).status_code == 404
    sara = await server.login("sara")
    assert (await sara.get(reg_url)).status_code == 200  # a supervisor may read
    assert (await put(sara, reg_url, CASE)).status_code == 403  # but only the author amends

    db = Database.from_url(server.database_url)
    try:
        async with db.writing() as session:
            row = await session.get(Registration, rid)
            assert row is not None
            old = as_utc(row.created_at) - timedelta(days=7, seconds=1)
            await session.exec(update(Registration).where(col(Registration.id) == rid).values(created_at=old))
    finally:
        await db.dispose()
    locked = await put(amina, reg_url, {**CASE, "note": "for sent"})
    assert locked.status_code == 423 and locked.json()["error"] == "locked"
    assert (await amina.get(reg_url)).json()["editable"] is False
    assert (await amina.get(reg_url)).json()["note"] == "Endret."

    entries = await audit(server, registration_id=rid)
    actions = [e["action"] for e in entries]
    assert actions == ["registration_amended", "registration_created"]
    change = entries[0]["detail"]
    assert "main_category: forced_marriage -> fear_of_forced_marriage" in change and "note:" in change
    assert "Endret" not in change and "Kompetanseteamet" not in entries[1]["detail"]  # never the note's text
    assert entries[0]["actor"] == "amina"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_transcript_reads_are_audited_and_the_purge_keeps_registrations(
    make_server: ServerFactory, backend: str
) -> None:
    server = await make_server(backend)
    amina, console, _, cid = await live_conversation(server)
    path = f"/api/v1/conversations/{cid}/transcript"
    own = await amina.get(path)
    assert own.status_code == 200
    assert [m["text"] for m in own.json()["messages"] if m["sender"] == "visitor"] == ["Jeg trenger råd"]
    assert await audit(server, conversation_id=cid) == []  # the adviser's own live chat: not audited
    omar = await server.login("omar")
    hidden = await omar.get(path)
    unknown = await omar.get(f"/api/v1/conversations/{'0' * 32}/transcript")
    assert hidden.status_code == unknown.status_code == 404 and hidden.json() == unknown.json()
    sara = await server.login("sara")
    assert (await sara.get(path)).status_code == 200
    await close(console, cid)
    assert (await amina.get(path)).status_code == 200  # closed, for its registration: audited
    reads = await audit(server, conversation_id=cid, action="transcript_read")
    assert [e["actor"] for e in reads] == ["amina", "sara"]
    assert all("Jeg trenger" not in e["detail"] for e in reads)
    created = await amina.post(f"/api/v1/conversations/{cid}/registration", CASE)
    rid = created.json()["registration_id"]

    env = {
        **os.environ,
        "NORA_DATABASE_URL": server.database_url,
        "NORA_TRANSCRIPT_RETENTION_HOURS": "0",
        "NORA_ENV": "development",
    }
    purge = cli.run("purge", env=env)
    assert purge.returncode == 0 and "purged 1 transcript" in purge.stdout, purge.stdout + purge.stderr

    assert (await sara.get(path)).status_code == 404  # the transcript is gone
    assert (await amina.get(path)).status_code == 404
    kept = await amina.get(f"/api/v1/registrations/{rid}")
    assert kept.status_code == 200 and kept.json()["main_category"] == CASE["main_category"]
    db = Database.from_url(server.database_url)
    try:
        async with db.session() as session:
            assert (await session.exec(select(Message).where(col(Message.conversation_id) == cid))).all() == []
            assert (await session.get(Registration, rid)) is not None
            rows = (await session.exec(select(AuditEntry).where(col(AuditEntry.conversation_id) == cid))).all()
    finally:
        await db.dispose()
    assert sorted(r.action for r in rows) == ["registration_created", "transcript_read", "transcript_read"]
    sara_log = await sara.get("/api/v1/audit")
    assert sara_log.status_code == 403  # the audit log is for admins


async def test_audit_log_filters_and_parameters(server: LiveServer) -> None:
    amina, console, _, cid = await live_conversation(server)
    await close(console, cid)
    await amina.get(f"/api/v1/conversations/{cid}/transcript")
    admin = await server.login("admin")
    assert len((await admin.get("/api/v1/audit", actor="amina")).json()["entries"]) == 1
    assert (await admin.get("/api/v1/audit", actor="omar")).json()["entries"] == []
    assert len((await admin.get("/api/v1/audit", **{"from": "2000-01-01"})).json()["entries"]) == 1
    assert (await admin.get("/api/v1/audit", **{"to": "2000-01-01"})).json()["entries"] == []
    bad = await admin.get("/api/v1/audit", limit="0", shoe="1", **{"from": "yesterday"})
    assert bad.status_code == 422 and set(bad.json()["fields"]) == {"limit", "shoe", "from"}
