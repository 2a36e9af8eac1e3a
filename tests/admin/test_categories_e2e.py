"""Reference codes with a validity period and a service's own categories, on a real server: a change takes
effect on a date while older registrations keep their codes; a service's own category is offered to that
service alone, is counted in its own report, and never shows in the published statistics. And the
statistics CSV that opens right in a Norwegian spreadsheet by default."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.admin.test_inquiries_e2e import inquiry
from tests.client import Staff
from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio
TODAY = datetime.now(ZoneInfo("Europe/Oslo")).date()
YEAR = str(TODAY.year)
FACTS = ("channel", "contact_date", "region", "language", "audience")
OWN = {"code": "mr_school_meeting", "name": {"nb": "Møte med skolen", "en": "Meeting with the school"}, "service": "MR"}


async def put(staff: Staff, path: str, body: dict[str, Any]) -> httpx.Response:
    return await staff.http.put(path, json=body, headers={"Origin": staff.origin, "X-CSRF-Token": staff.csrf})


async def public_codes(server: LiveServer, kind: str) -> set[str]:
    async with httpx.AsyncClient(base_url=server.base) as http:
        return {e["code"] for e in (await http.get("/api/v1/reference")).json()[kind]}


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


async def test_a_code_takes_effect_on_its_date_and_older_registrations_keep_theirs(server: LiveServer) -> None:
    admin = await server.login("admin")
    amina = await server.login("amina")
    later = await admin.post(
        "/api/v1/reference/categories",
        {"code": "school_refusal", "name": {"nb": "Skolevegring", "en": "School refusal"}, "valid_from": str(days(30))},
    )
    assert later.status_code == 201 and later.json()["valid_from"] == str(days(30))
    assert "school_refusal" not in await public_codes(server, "categories")  # not offered before its date
    early = await amina.post("/api/v1/registrations", inquiry("phone", TODAY, main_category="school_refusal"))
    assert early.status_code == 422 and early.json()["fields"] == {"main_category": "unknown code"}

    # A category in use since five days ago: a call from ten days ago cannot have it, one from today can.
    new = {"code": "online_control", "name": {"nb": "Kontroll på nett", "en": "Online control"}}
    assert (await admin.post("/api/v1/reference/categories", {**new, "valid_from": str(days(-5))})).status_code == 201
    before = await amina.post("/api/v1/registrations", inquiry("phone", days(-10), main_category="online_control"))
    assert before.status_code == 422
    assert (
        await amina.post("/api/v1/registrations", inquiry("phone", TODAY, main_category="online_control"))
    ).status_code == 201

    # Forced marriage goes out of use from three days ago: calls from before keep it.
    retire = await put(admin, "/api/v1/reference/categories/forced_marriage", {"retired_from": str(days(-3))})
    assert retire.status_code == 200 and retire.json()["retired_from"] == str(days(-3))
    old = await amina.post("/api/v1/registrations", inquiry("meeting", days(-4)))
    assert old.status_code == 201, old.text  # forced_marriage was in use on its day
    refused = await amina.post("/api/v1/registrations", inquiry("meeting", days(-3)))
    assert refused.status_code == 422 and refused.json()["fields"] == {"main_category": "unknown code"}
    assert "forced_marriage" not in await public_codes(server, "categories")
    # The registration made with it is amended (a note) and keeps it.
    registration_id = old.json()["registration_id"]
    form = {k: v for k, v in inquiry("meeting", days(-4)).items() if k not in FACTS}
    amend = await put(amina, f"/api/v1/registrations/{registration_id}", {**form, "note": "Ny avtale"})
    assert amend.status_code == 200, amend.text
    assert amend.json()["main_category"] == "forced_marriage"

    bad = await put(admin, "/api/v1/reference/categories/online_control", {"retired_from": str(days(-6))})
    assert bad.status_code == 422 and set(bad.json()["fields"]) == {"retired_from"}  # before valid_from
    wrong = await put(admin, "/api/v1/reference/categories/online_control", {"valid_from": "2026-13-01"})
    assert wrong.status_code == 422 and set(wrong.json()["fields"]) == {"valid_from"}
    cleared = await put(admin, "/api/v1/reference/categories/forced_marriage", {"retired_from": None})
    assert cleared.status_code == 200 and "retired_from" not in cleared.json()
    assert "forced_marriage" in await public_codes(server, "categories")
    log = (await admin.get("/api/v1/audit", action="reference_changed")).json()["entries"]
    assert any(f"retired_from={days(-3)}" in e["detail"] for e in log)


async def published(sara: Staff) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for by in ("category", "category,service", "service"):
        body = (await sara.get("/api/v1/stats/cases", period=YEAR, by=by)).json()
        body.pop("generated_at")
        out[by] = body
        out[f"{by}.csv"] = (await sara.get("/api/v1/stats/cases", period=YEAR, by=by, format="csv")).text
    summary = (await sara.get("/api/v1/stats/summary", year=YEAR)).json()
    summary.pop("generated_at")
    out["summary"] = summary
    out["summary.csv"] = (await sara.get("/api/v1/stats/summary", year=YEAR, format="csv")).text
    return out


async def test_a_services_own_category_stays_out_of_the_published_statistics(server: LiveServer) -> None:
    admin = await server.login("admin")
    sara = await server.login("sara")
    amina = await server.login("amina")
    jonas = await server.login("jonas")
    for day in (days(-2), days(-1)):  # the common statistics have something in them
        assert (await amina.post("/api/v1/registrations", inquiry("phone", day))).status_code == 201
    first = await published(sara)

    made = await admin.post("/api/v1/reference/categories", OWN)
    assert made.status_code == 201 and made.json()["service"] == "MR"
    assert await published(sara) == first  # an own category added changes nothing published
    assert OWN["code"] not in await public_codes(server, "categories")
    mine = (await amina.get("/api/v1/service-categories")).json()
    assert mine["service"] == "MR" and [e["code"] for e in mine["categories"]] == [OWN["code"]]
    assert (await jonas.get("/api/v1/service-categories")).json()["categories"] == []

    as_main = await amina.post("/api/v1/registrations", inquiry("phone", TODAY, main_category=OWN["code"]))
    assert as_main.json()["fields"] == {
        "main_category": "a service's own category can only be one of the other categories"
    }
    other_service = await jonas.post("/api/v1/registrations", inquiry("phone", TODAY, other_categories=[OWN["code"]]))
    assert other_service.status_code == 422 and set(other_service.json()["fields"]) == {"other_categories"}
    plain = inquiry("phone", TODAY)
    made_plain = await amina.post("/api/v1/registrations", plain)
    assert made_plain.status_code == 201
    without = await published(sara)

    # The same case with the service's own category, instead: the published statistics are the same.
    registration_id = made_plain.json()["registration_id"]
    form = {k: v for k, v in plain.items() if k not in FACTS}
    tagged = await put(amina, f"/api/v1/registrations/{registration_id}", {**form, "other_categories": [OWN["code"]]})
    assert tagged.status_code == 200 and tagged.json()["other_categories"] == [OWN["code"]]
    with_own = await published(sara)
    assert with_own == without
    shown = str(with_own)
    assert OWN["code"] not in shown and "Møte med skolen" not in shown and "Meeting with the school" not in shown

    report = (await sara.get("/api/v1/stats/service", service="MR", period=YEAR)).json()
    assert report["published"] is False and report["registrations"] == 3 and report["cases"] == 3
    assert [(c["category"], c["count"]) for c in report["categories"]] == [(OWN["code"], 1)]
    assert (await sara.get("/api/v1/stats/service", service="AT", period=YEAR)).json()["categories"] == []
    assert (await amina.get("/api/v1/stats/service", service="MR", period=YEAR)).status_code == 403
    bad = await sara.get("/api/v1/stats/service", service="XX", period="2026-02-30")
    assert bad.status_code == 422 and set(bad.json()["fields"]) == {"service", "period"}
    assert (await put(admin, f"/api/v1/reference/categories/{OWN['code']}", {"service": "AT"})).status_code == 422


async def test_statistics_csv_opens_right_in_a_norwegian_spreadsheet(server: LiveServer) -> None:
    amina = await server.login("amina")
    sara = await server.login("sara")
    assert (await amina.post("/api/v1/registrations", inquiry("phone", TODAY))).status_code == 201
    r = await sara.get("/api/v1/stats/cases", period=YEAR, by="category,service", format="csv")
    assert r.content.startswith("\ufeffHovedkategori;Tjeneste;Antall\r\n".encode())
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert lines[1] == [
        "Tvangsekteskap (mistanke om eller gjennomført)",
        "mangfoldsrådgiver (tidligere minoritetsrådgiver)",
        "<5",
    ]
    assert lines[2] == ["I alt", "", ":"]  # the suppressed total written out
    assert lines[3] == [] and "«<5»: 1–4" in lines[4][0] and "«:»" in lines[4][0]

    english = await sara.get("/api/v1/stats/cases", period=YEAR, by="category", format="csv", lang="en")
    assert english.content.decode("utf-8-sig").splitlines()[:3] == [
        "Main category;Count",
        "Forced marriage (suspected or completed);<5",
        "Total;:",
    ]
    legacy = await sara.get("/api/v1/stats/cases", period=YEAR, by="category", format="csv", sep=",", labels="0")
    assert legacy.text.splitlines() == ["category,count", "forced_marriage,<5", "total,"]

    summary = await sara.get("/api/v1/stats/summary", year=YEAR, format="csv")
    rows = list(csv.reader(io.StringIO(summary.content.decode("utf-8-sig")), delimiter=";"))
    assert summary.content.startswith(b"\xef\xbb\xbf") and rows[0] == ["Tjeneste", "Hovedkategori", "Antall", "Prosent"]
    mr = [row for row in rows if row and row[0].startswith("mangfoldsrådgiver")]
    assert ["mangfoldsrådgiver (tidligere minoritetsrådgiver)", "Saker i alt", "<5", ""] in mr
    assert any(row[1] == "Henvendelser: telefon" for row in mr)
    bad = await sara.get("/api/v1/stats/cases", format="csv", labels="maybe", lang="de")
    assert bad.status_code == 422 and set(bad.json()["fields"]) == {"labels", "lang"}
