"""CSV import of IR and KT registrations (all or nothing) and export, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from core.db import Database
from core.models import Registration
from tests import cli
from tests.client import Staff
from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

HEADER = "ref,closed_date,is_case,main_category,other_categories,violence_forms,contact,age_group,gender,actions,region"
GOOD = [
    "kt-1,2026-02-03,true,forced_marriage,negative_social_control,,self,18_25,girl_woman,advice_given|consulted_kt,03",
    "kt-2,2026-02-04,true,threats_violence,,physical|economic,family,16_17,girl_woman,referred_police,46",
    "kt-3,2026-03-01,false,,,,staff,unknown,unknown,,",
]


def csv_body(*lines: str) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


async def post_csv(staff: Staff, body: bytes, service: str = "KT") -> Any:
    return await staff.http.post(
        "/api/v1/registrations/import",
        params={"service": service},
        content=body,
        headers={"X-CSRF-Token": staff.csrf, "Origin": staff.origin, "Content-Type": "text/csv"},
    )


async def count(url: str) -> int:
    db = Database.from_url(url)
    try:
        async with db.session() as session:
            return int((await session.exec(select(func.count()).select_from(Registration))).one())
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_import_is_all_or_nothing_with_a_report_of_rejected_rows(
    make_server: ServerFactory, backend: str
) -> None:
    server = await make_server(backend)
    admin = await server.login("admin")
    bad_rows = [
        *GOOD,
        "kt-4,2026-02-05,true,aliens,,,self,18_25,girl_woman,advice_given,03",  # unknown code
        "kt-5,2026-02-31,true,forced_marriage,,,self,18_25,girl_woman,,99",  # no such date, no such region
        "kt-6,2026-02-05,true,,,,self,18_25,girl_woman,,03",  # a case without a main category
        "kt-1,2026-02-05,false,,,,self,18_25,girl_woman,,03",  # the same ref twice
    ]
    rejected = await post_csv(admin, csv_body(*bad_rows))
    assert rejected.status_code == 422, rejected.text
    body = rejected.json()
    assert body["error"] == "invalid" and "nothing was imported" in body["message"] and "4 of 7" in body["message"]
    assert set(body["fields"]) == {
        "row 4: main_category",
        "row 5: closed_date",
        "row 5: region",
        "row 6: main_category",
        "row 7: ref",
    }
    assert await count(server.database_url) == 0  # nothing half-imported

    assert (await post_csv(admin, csv_body(*GOOD), service="MR")).status_code == 422  # MR and AT chat here
    header = await post_csv(admin, b"closed_date,is_case,shoe_size\n2026-01-01,true,44\n")
    assert header.status_code == 422 and set(header.json()["fields"]) == {"column shoe_size"}
    amina = await server.login("amina")
    assert (await post_csv(amina, csv_body(*GOOD))).status_code == 403  # advisers do not import

    imported = await post_csv(admin, csv_body(*GOOD))
    assert imported.status_code == 201, imported.text
    assert imported.json()["imported"] == 3 and imported.json()["service"] == "KT"
    assert await count(server.database_url) == 3
    again = await post_csv(admin, csv_body(*GOOD))
    assert again.status_code == 422 and set(again.json()["fields"]) == {"row 1: ref", "row 2: ref", "row 3: ref"}
    assert await count(server.database_url) == 3

    # Semicolons and a byte-order mark, as a spreadsheet saves it; the same refs are fine for IR.
    excel = ("\ufeff" + csv_body(*GOOD).decode().replace(",", ";")).encode()
    assert (await post_csv(admin, excel, service="IR")).status_code == 201
    sara = await server.login("sara")
    stats = (await sara.get("/api/v1/stats/cases", by="service", **{"from": "2026-01-01", "to": "2026-12-31"})).json()
    assert stats["rows"] == [{"service": "IR", "count": "<5"}, {"service": "KT", "count": "<5"}]
    db = Database.from_url(server.database_url)
    try:
        async with db.session() as session:
            rows = (await session.exec(select(Registration).where(col(Registration.external_ref) == "kt-2"))).all()
    finally:
        await db.dispose()
    assert {r.service for r in rows} == {"IR", "KT"}
    assert all(r.conversation_id is None and r.source == "import" and r.region == "46" for r in rows)
    assert all(r.violence_forms == "physical,economic" for r in rows)

    exported = await admin.get(
        "/api/v1/registrations/export", service="KT", **{"from": "2026-01-01", "to": "2026-12-31"}
    )
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert lines[0].startswith("ref,closed_date,is_case") and len(lines) == 4
    assert "kt-2,2026-02-04,true,threats_violence,,physical|economic,family" in lines[2]
    assert (await sara.get("/api/v1/registrations/export")).status_code == 403  # admin only


def test_import_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    env = cli.environment(f"sqlite+aiosqlite:///{db}")

    def nora(*args: str) -> subprocess.CompletedProcess[str]:
        return cli.run(*args, env=env)

    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_body(*GOOD, "x,2026-01-01,true,aliens,,,,,,,"))
    result = nora("import-registrations", str(bad), "--service", "KT")
    assert result.returncode == 1 and "row 4: main_category: unknown code" in result.stderr
    good = tmp_path / "good.csv"
    good.write_bytes(csv_body(*GOOD))
    result = nora("import-registrations", str(good), "--service", "KT")
    assert result.returncode == 0 and "imported 3 registration(s) for KT" in result.stdout, result.stderr
