"""Migration 0006 on SQLite and PostgreSQL: a register made before it (chats, imports, demo rows, some
closed late in the evening UTC, which is the next day in Oslo) publishes the same statistics and the same
yearly summary after it, every case once being every registration that is a case, and it downgrades."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from admin.accounts import Accounts, NewUser
from admin.passwords import Passwords
from admin.periods import Period
from admin.stats import Publication
from admin.summary import yearly_summary
from admin.suppression import Unprotectable
from core.db import Database
from core.models import Registration
from core.reference import load_reference
from tests import services
from tests.admin.test_stats_e2e import _alembic
from tests.client import Staff
from tests.conftest import PASSWORD, Databases, start_server

pytestmark = pytest.mark.anyio
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
CATEGORIES = ("negative_social_control", "threats_violence", "forced_marriage", "fear_of_forced_marriage")
PERIODS = [
    Period("year", 2025),
    Period("quarter", 2025, 1),
    Period("quarter", 2025, 2),
    Period("month", 2025, 3),
    Period("month", 2025, 4),
    Period("month", 2025, 12),
]
GROUPINGS = [[], ["category"], ["service"], ["month"], ["category", "service"], ["service", "is_case"], ["region"]]
# A chat closed late on the last evening of March (UTC) ends on 1 April in Oslo, one on New Year's Eve
# in 2026: the statistics always counted chats by their UTC close date, and still do.
LATE_MARCH = datetime(2025, 3, 31, 23, 30, tzinfo=UTC)
NEW_YEARS_EVE = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)


def old_register(count: int) -> list[dict[str, Any]]:
    """Registrations as the schema of 0005 stores them."""
    rng = random.Random(21)
    rows = []
    for i in range(count):
        source = rng.choice(["chat", "chat", "chat", "import", "demo"])
        service = rng.choice(["IR", "KT"]) if source == "import" else rng.choice(["MR", "MR", "AT"])
        day = date(2025, 1, 1) + timedelta(days=rng.randrange(365))
        hour = 12 if source == "import" else rng.choice([8, 10, 13, 15, 21, 22, 23])
        closed = datetime(day.year, day.month, day.day, hour, rng.randrange(60), tzinfo=UTC)
        is_case = rng.random() < 0.75
        rows.append(
            {
                "id": f"r{i:04d}",
                "is_case": is_case,
                "main_category": rng.choice(CATEGORIES) if is_case else None,
                "other_categories": "",
                "violence_forms": "",
                "contact": "self",
                "age_group": "unknown",
                "gender": "unknown",
                "actions": "",
                "note": "",
                "service": service,
                "region": rng.choice(["03", "46", "50", None]),
                "language": None if source == "import" else "nb",
                "audience": "youth",
                "urgent": False,
                "transferred": False,
                "closed_at": closed,
                "created_at": closed + timedelta(hours=1),
                "updated_at": closed + timedelta(hours=1),
                "source": source,
                "external_ref": f"{service.lower()}-{i}" if source == "import" else None,
            }
        )
    for i, closed in enumerate((LATE_MARCH, NEW_YEARS_EVE)):
        rows.append({**rows[0], "id": f"late{i}", "source": "chat", "service": "MR", "closed_at": closed})
    return rows


async def answers_before(rows: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """What the statistics published before 0006: every registration counted by its close date."""
    publication = Publication([Registration(**r) for r in rows], 5)
    out: dict[tuple[str, str], Any] = {}
    for period in PERIODS:
        for by in GROUPINGS:
            try:
                out[(period.label, ",".join(by))] = publication.answer(period, by)
            except Unprotectable:
                out[(period.label, ",".join(by))] = "refused"
    return out


async def fresh_url(backend: str, databases: Databases, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'before-0006.db'}"
    url = services.need("PostgreSQL", services.POSTGRES_URL)
    name = f"nora_m6_{uuid.uuid4().hex[:10]}"
    await Databases._exec(url, f'CREATE DATABASE "{name}"')
    databases.pg_created.append(name)
    return f"{url.rpartition('/')[0]}/{name}"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_figures_are_unchanged_by_the_migration(backend: str, databases: Databases, tmp_path: Path) -> None:
    url = await fresh_url(backend, databases, tmp_path)
    rows = old_register(400)
    db = Database.from_url(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: _alembic(c, "upgrade", "0005"))
            table = sa.table("registration", *(sa.column(name) for name in rows[0]))
            await conn.execute(table.insert(), rows)
        before = await answers_before(rows)
        async with db.session() as session:
            ref = await load_reference(session)
        summary_before = yearly_summary([Registration(**r) for r in rows], 2025, ref, 5)

        await db.migrate()
        async with db.engine.connect() as conn:
            stored = {r.id: r for r in (await conn.execute(text("SELECT * FROM registration"))).all()}
            cases = (await conn.execute(text('SELECT count(*) FROM "case"'))).scalar_one()
        # Every registration that is a case has a case of its own; the others none.
        case_ids = [r.case_id for r in stored.values() if r.is_case]
        assert cases == len(case_ids) == len(set(case_ids)) == sum(1 for r in rows if r["is_case"])
        assert all(r.case_id is None for r in stored.values() if not r.is_case)
        assert {r.channel for r in stored.values() if r.source == "import"} == {"other"}
        assert {r.channel for r in stored.values() if r.source != "import"} == {"chat"}
        assert str(stored["late0"].contact_date) == "2025-04-01" and str(stored["late1"].contact_date) == "2026-01-01"
        await Accounts(db, Passwords()).create(
            NewUser("sara", "Sara", frozenset({"supervisor"}), PASSWORD), regions=frozenset(), languages=frozenset()
        )
    finally:
        await db.dispose()

    server = await asyncio.to_thread(start_server, url, tmp_path / "server.log")
    try:
        sara = await Staff.login(server.base, "sara", PASSWORD)
        for (label, by), was in before.items():
            r = await sara.get("/api/v1/stats/cases", period=label, by=by)
            if was == "refused":
                assert r.status_code == 422 and "too detailed" in r.text, (label, by, r.text)
                continue
            assert r.status_code == 200, (label, by, r.text)
            assert (r.json()["rows"], r.json()["total"]) == (was[0], was[1]), (label, by)
            # Counting cases counts every registration that is a case: each is its own case.
            if by and "is_case" not in by and "month" not in by:
                cases_answer = await sara.get("/api/v1/stats/cases", period=label, by=by, count="cases")
                sliced = await sara.get("/api/v1/stats/cases", period=label, by=f"{by},is_case")
                if sliced.status_code == 200:
                    want = [
                        {k: v for k, v in c.items() if k != "is_case"} for c in sliced.json()["rows"] if c["is_case"]
                    ]
                    assert cases_answer.json()["rows"] == want, (label, by)
        # The New Year's Eve chat stays in 2025, where it was counted.
        assert (await sara.get("/api/v1/stats/cases", period="2026")).json()["total"] == 0
        after = (await sara.get("/api/v1/stats/summary", year="2025")).json()
        for old, new in zip(summary_before["services"], after["services"], strict=True):
            assert (new["service"], new["cases"], new["inquiries"]) == (old["service"], old["cases"], old["inquiries"])
            assert new["categories"] == old["categories"]
            assert new["all_inquiries"] == sum(1 for r in rows if r["service"] == new["service"])
        await sara.aclose()
    finally:
        server.stop()

    db = Database.from_url(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: _alembic(c, "downgrade", "0005"))
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM registration"))).scalar_one() == len(rows)
            columns = await conn.run_sync(lambda c: {col["name"] for col in sa.inspect(c).get_columns("registration")})
            assert not {"channel", "contact_date", "case_id"} & columns
            assert not await conn.run_sync(lambda c: sa.inspect(c).has_table("case"))
    finally:
        await db.dispose()
