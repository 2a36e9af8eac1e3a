"""Absurd dates in query parameters (issue 18 #10): ``to=9999-12-31`` and the like get 422 ``invalid``
with the reason in ``fields``, never a 500, on the statistics, the audit log and the export."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio

ENDPOINTS = [
    ("sara", "/api/v1/stats/cases", {"by": "service"}),
    ("admin", "/api/v1/audit", {}),
    ("admin", "/api/v1/registrations/export", {}),
]
ABSURD = [
    {"from": "9999-01-01", "to": "9999-12-31"},
    {"to": "9999-12-31"},
    {"from": "9999-12-31"},
    {"from": "0001-01-01", "to": "0001-12-31"},
    {"from": "1900-01-01", "to": "1900-12-31"},
    {"from": "2101-01-01", "to": "2101-12-31"},
    {"from": "+2026-01-01"},
    {"to": "2026-13-01"},
    {"to": "2026-02-30"},
    {"to": "today"},
]


@pytest.mark.parametrize(("who", "path", "params"), ENDPOINTS, ids=["stats", "audit", "export"])
async def test_absurd_dates_are_refused_with_a_reason(
    make_server: ServerFactory, who: str, path: str, params: dict[str, str]
) -> None:
    server = await make_server()
    staff = await server.login(who)
    for dates in ABSURD:
        r = await staff.get(path, **params, **dates)
        assert r.status_code == 422, (path, dates, r.status_code, r.text)
        body = r.json()
        assert body["error"] == "invalid" and set(body["fields"]) & set(dates), (path, dates, body)
        for name in set(body["fields"]) & set(dates):
            assert "YYYY-MM-DD" in body["fields"][name] or "2000" in body["fields"][name], body
    ok = await staff.get(path, **params, **{"from": "2026-01-01", "to": "2026-12-31"})
    assert ok.status_code == 200, (path, ok.text)


async def test_an_absurd_year_for_the_summary(make_server: ServerFactory) -> None:
    server = await make_server()
    sara = await server.login("sara")
    for year in ("9999", "0", "1999", "2101", "-1", "twenty"):
        r = await sara.get("/api/v1/stats/summary", year=year)
        assert r.status_code == 422 and "year" in r.json()["fields"], (year, r.text)
