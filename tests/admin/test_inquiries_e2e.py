"""Inquiries from every channel and the cases that group them, over HTTP against a real server: phone
calls and meetings on one case, IR and KT advisers who register but never chat, what each service can
see, the validation, and the statistics counting inquiries by channel and every case once."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from admin.accounts import Accounts, NewUser
from admin.passwords import Passwords
from core.db import Database
from core.reference import load_reference
from tests.admin.test_register_e2e import CASE, closed_conversation
from tests.client import Staff
from tests.conftest import PASSWORD, LiveServer, ServerFactory

pytestmark = pytest.mark.anyio
OSLO = ZoneInfo("Europe/Oslo")


def today() -> date:
    return datetime.now(OSLO).date()


def inquiry(channel: str, day: date, **extra: Any) -> dict[str, Any]:
    """A phone call, meeting … as the form sends it: the registration fields plus what a chat would tell."""
    return {
        **CASE,
        "channel": channel,
        "contact_date": day.isoformat(),
        "region": "03",
        "language": "nb",
        "audience": "youth",
        **extra,
    }


NOT_A_CASE = {"is_case": False, "main_category": None, "actions": []}


async def add_advisers(server: LiveServer) -> None:
    """Ingrid (IR, an embassy's integration adviser) and Kari (the Competence Team): advisers who never chat."""
    db = Database.from_url(server.database_url)
    try:
        async with db.session() as session:
            ref = await load_reference(session)
        accounts = Accounts(db, Passwords())
        for user in (
            NewUser("ingrid", "Ingrid", frozenset({"adviser"}), PASSWORD, "IR", frozenset({"03"}), frozenset({"nb"})),
            NewUser("kari", "Kari", frozenset({"adviser"}), PASSWORD, "KT", frozenset(), frozenset({"nb", "en"})),
        ):
            await accounts.create(user, regions=ref.codes("regions"), languages=ref.codes("languages"))
    finally:
        await db.dispose()


async def register(staff: Staff, body: dict[str, Any]) -> dict[str, Any]:
    r = await staff.post("/api/v1/registrations", body)
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    assert set(answer) == {"registration_id", "case_id"}
    return answer


async def test_a_phone_call_and_a_meeting_on_one_case(server: LiveServer) -> None:
    amina = await server.login("amina")
    day = today() - timedelta(days=3)
    phone = await register(amina, inquiry("phone", day, case_ref="OSL-14"))
    assert phone["case_id"]
    # The adviser finds the case again by her own reference, by its category or by date, to attach to it.
    for params in ({"ref": "osl-1"}, {"category": "forced_marriage"}, {"from": day.isoformat(), "to": day.isoformat()}):
        found = (await amina.get("/api/v1/cases", **params)).json()["cases"]
        assert [c["case_id"] for c in found] == [phone["case_id"]], params
    assert (await amina.get("/api/v1/cases", ref="BGO-2")).json()["cases"] == []
    meeting = await register(amina, inquiry("meeting", day + timedelta(days=1), case_id=phone["case_id"]))
    assert meeting["case_id"] == phone["case_id"]
    just_asking = await register(amina, inquiry("email", day, **NOT_A_CASE))
    assert just_asking["case_id"] is None

    case = (await amina.get(f"/api/v1/cases/{phone['case_id']}")).json()
    assert (case["case_id"], case["service"], case["ref"], case["closed_at"]) == (
        phone["case_id"],
        "MR",
        "OSL-14",
        None,
    )
    assert case["opened_at"].endswith("Z")
    assert [(i["registration_id"], i["channel"], i["contact_date"]) for i in case["inquiries"]] == [
        (phone["registration_id"], "phone", day.isoformat()),
        (meeting["registration_id"], "meeting", (day + timedelta(days=1)).isoformat()),
    ]
    assert all("note" not in i for i in case["inquiries"])  # other advisers of the service read the case
    own = (await amina.get(f"/api/v1/registrations/{meeting['registration_id']}")).json()
    assert (own["channel"], own["contact_date"], own["case_id"], own["service"]) == (
        "meeting",
        (day + timedelta(days=1)).isoformat(),
        phone["case_id"],
        "MR",
    )
    # A colleague of the same service reads it; the ambulating team does not even learn it exists.
    omar = await server.login("omar")
    assert (await omar.get(f"/api/v1/cases/{phone['case_id']}")).status_code == 200
    jonas = await server.login("jonas")
    hidden = await jonas.get(f"/api/v1/cases/{phone['case_id']}")
    unknown = await jonas.get(f"/api/v1/cases/{'0' * 32}")
    assert hidden.status_code == unknown.status_code == 404 and hidden.json() == unknown.json()

    # Closed, the case takes no more inquiries; it is no longer offered for attaching.
    closed = await amina.post(f"/api/v1/cases/{phone['case_id']}/close", {})
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None
    assert (await amina.post(f"/api/v1/cases/{phone['case_id']}/close", {})).status_code == 409
    late = await amina.post("/api/v1/registrations", inquiry("phone", day, case_id=phone["case_id"]))
    assert late.status_code == 422 and set(late.json()["fields"]) == {"case_id"}
    assert (await amina.get("/api/v1/cases", ref="OSL")).json()["cases"] == []
    assert [c["case_id"] for c in (await amina.get("/api/v1/cases", ref="OSL", state="closed")).json()["cases"]] == [
        phone["case_id"]
    ]

    # Every read and change of a case is in the audit log, with codes only.
    admin = await server.login("admin")
    log = (await admin.get("/api/v1/audit", limit="100")).json()["entries"]
    actions = Counter(e["action"] for e in log)
    assert actions["case_opened"] == 1 and actions["case_closed"] == 1 and actions["case_read"] == 2
    assert actions["registration_created"] == 3
    created = [e for e in log if e["action"] == "registration_created"]
    assert {e["registration_id"] for e in created} == {
        phone["registration_id"],
        meeting["registration_id"],
        just_asking["registration_id"],
    }
    assert any("channel=meeting" in e["detail"] and phone["case_id"] in e["detail"] for e in created)


async def test_a_chat_opens_a_case_that_a_phone_call_joins(server: LiveServer) -> None:
    amina, cid = await closed_conversation(server)
    chat = await amina.post(f"/api/v1/conversations/{cid}/registration", {**CASE, "case_ref": "OSL-7"})
    assert chat.status_code == 201
    case_id = chat.json()["case_id"]
    assert case_id
    call = await register(amina, inquiry("phone", today(), case_id=case_id))
    assert call["case_id"] == case_id
    case = (await amina.get(f"/api/v1/cases/{case_id}")).json()
    assert [i["channel"] for i in case["inquiries"]] == ["chat", "phone"]
    assert (
        case["inquiries"][0]["conversation_id"] == cid and case["inquiries"][0]["contact_date"] == today().isoformat()
    )
    # A chat that is not a case opens none.
    amina2, cid2 = await closed_conversation(server)
    plain = await amina2.post(f"/api/v1/conversations/{cid2}/registration", {"is_case": False})
    assert plain.status_code == 201 and plain.json()["case_id"] is None
    # A chat may also join an open case of its own service, never another service's.
    jonas = await server.login("jonas")
    at_case = await register(jonas, inquiry("meeting", today(), region=None, language="en"))
    amina3, cid3 = await closed_conversation(server)
    wrong = await amina3.post(f"/api/v1/conversations/{cid3}/registration", {**CASE, "case_id": at_case["case_id"]})
    assert wrong.status_code == 422 and set(wrong.json()["fields"]) == {"case_id"}
    joined = await amina3.post(f"/api/v1/conversations/{cid3}/registration", {**CASE, "case_id": case_id})
    assert joined.status_code == 201 and joined.json()["case_id"] == case_id


async def test_ir_and_kt_advisers_register_their_own_cases_and_see_no_one_elses(server: LiveServer) -> None:
    await add_advisers(server)
    ingrid, kari, amina = await server.login("ingrid"), await server.login("kari"), await server.login("amina")
    mr_case = await register(amina, inquiry("phone", today()))
    ir_case = await register(ingrid, inquiry("video", today() - timedelta(days=1), region=None))
    kt_case = await register(kari, inquiry("email", today(), region="46", language="en", audience="staff"))
    for staff, case, service in ((ingrid, ir_case, "IR"), (kari, kt_case, "KT"), (amina, mr_case, "MR")):
        body = (await staff.get(f"/api/v1/cases/{case['case_id']}")).json()
        assert body["service"] == service
        own = (await staff.get(f"/api/v1/registrations/{case['registration_id']}")).json()
        assert own["service"] == service
    # Nobody reads another service's case, nor learns that it exists.
    missing = (await ingrid.get(f"/api/v1/cases/{'0' * 32}")).json()
    for staff, case in ((ingrid, mr_case), (ingrid, kt_case), (amina, ir_case), (kari, ir_case)):
        r = await staff.get(f"/api/v1/cases/{case['case_id']}")
        assert r.status_code == 404 and r.json() == missing
    # … nor attaches to it.
    r = await ingrid.post("/api/v1/registrations", inquiry("phone", today(), case_id=mr_case["case_id"]))
    assert r.status_code == 422 and set(r.json()["fields"]) == {"case_id"}
    assert [c["case_id"] for c in (await ingrid.get("/api/v1/cases")).json()["cases"]] == [ir_case["case_id"]]
    assert (await ingrid.get("/api/v1/cases", service="MR")).status_code == 422
    # Supervisors read every service's cases.
    sara = await server.login("sara")
    for case in (mr_case, ir_case, kt_case):
        assert (await sara.get(f"/api/v1/cases/{case['case_id']}")).status_code == 200
    assert len((await sara.get("/api/v1/cases")).json()["cases"]) == 3


async def test_ir_and_kt_advisers_are_never_offered_a_chat(server: LiveServer) -> None:
    await add_advisers(server)
    for username in ("ingrid", "kari"):
        staff = await server.login(username)
        with pytest.raises(InvalidStatus) as refused:
            await staff.socket()
        assert refused.value.response.status_code == 403
        assert json.loads(refused.value.response.body or b"{}")["error"] == "forbidden"
    # Ingrid covers Oslo and speaks Norwegian, but she is not signed in for routing: a visitor from Oslo
    # waits for an MR or AT adviser, and the first one who signs in gets the chat.
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
    conversation_id = (await visitor.expect("started"))["conversation_id"]
    sara = await server.login("sara")
    waiting = (await sara.get("/api/v1/queue")).json()["waiting"]
    assert [w["conversation_id"] for w in waiting] == [conversation_id]
    _, console = await server.adviser("amina")
    assigned = await console.expect("assigned")
    assert assigned["conversation"]["id"] == conversation_id


async def test_the_form_is_validated_field_by_field(server: LiveServer) -> None:
    amina, jonas = await server.login("amina"), await server.login("jonas")
    at_case = await register(jonas, inquiry("phone", today(), region=None, language="en"))
    tomorrow = today() + timedelta(days=1)
    good = inquiry("phone", today())
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({k: v for k, v in good.items() if k != "channel"}, {"channel"}),
        ({**good, "channel": "chat"}, {"channel"}),
        ({**good, "channel": "pigeon"}, {"channel"}),
        ({k: v for k, v in good.items() if k != "contact_date"}, {"contact_date"}),
        ({**good, "contact_date": "2026-13-01"}, {"contact_date"}),
        ({**good, "contact_date": tomorrow.isoformat()}, {"contact_date"}),
        ({**good, "contact_date": 20260101}, {"contact_date"}),
        ({**good, "language": None}, {"language"}),
        ({k: v for k, v in good.items() if k != "audience"}, {"audience"}),
        ({**good, "region": "99", "language": "xx"}, {"region", "language"}),
        ({**good, **NOT_A_CASE, "case_id": at_case["case_id"]}, {"case_id"}),
        ({**good, "case_id": at_case["case_id"]}, {"case_id"}),
        ({**good, "case_id": "0" * 32}, {"case_id"}),
        ({**good, "case_ref": "Fatima"}, {"case_ref"}),
        ({**good, "main_category": "aliens", "channel": None}, {"main_category", "channel"}),
        ({**good, "surprise": 1}, {"surprise"}),
        ({**good, "is_case": "yes"}, {"is_case"}),
    ]
    for body, fields in cases:
        r = await amina.post("/api/v1/registrations", body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"] == "invalid" and set(r.json()["fields"]) == fields, (body, r.json())
    # The region may be unknown (null); the inquiry is registered.
    assert (await register(amina, {**good, "region": None}))["case_id"]
    # Only a signed-in adviser, with the CSRF token.
    no_csrf = await amina.http.post("/api/v1/registrations", json=good, headers={"Origin": amina.origin})
    assert no_csrf.status_code == 403 and no_csrf.json()["error"] == "csrf_failed"
    sara = await server.login("sara")
    assert (await sara.post("/api/v1/registrations", good)).status_code == 403
    async with httpx.AsyncClient(base_url=server.base) as anonymous:
        r = await anonymous.post("/api/v1/registrations", json=good, headers={"Origin": server.base})
        assert r.status_code == 401 and r.json()["error"] == "unauthenticated"


# ---------------------------------------------------------------------------------- statistics

# (adviser, channel, contact date, category or None for an inquiry that is not a case, case label)
SCRIPT: list[tuple[str, str, date, str | None, str | None]] = [
    ("amina", "phone", date(2025, 2, 3), "forced_marriage", "A"),
    ("amina", "meeting", date(2025, 2, 20), "forced_marriage", "A"),
    ("omar", "email", date(2025, 5, 2), "negative_social_control", "A"),  # a colleague of MR joins it
    ("amina", "meeting", date(2025, 3, 10), "negative_social_control", "B"),
    ("amina", "phone", date(2025, 4, 1), "negative_social_control", "B"),
    ("amina", "sms", date(2025, 2, 5), None, None),
    ("amina", "video", date(2025, 6, 1), None, None),
    ("ingrid", "phone", date(2025, 1, 15), "threats_violence", "C"),
    ("ingrid", "meeting", date(2025, 1, 16), "threats_violence", "C"),
    ("kari", "other", date(2025, 12, 31), "forced_marriage", "D"),
    ("amina", "phone", date(2024, 12, 20), "fear_of_forced_marriage", "E"),  # opened the year before
    ("amina", "meeting", date(2025, 1, 10), "fear_of_forced_marriage", "E"),
]
SERVICE = {"amina": "MR", "omar": "MR", "ingrid": "IR", "kari": "KT"}


def expected(count: str, by: list[str]) -> dict[tuple[Any, ...], int]:
    """What the statistics for 2025 must say, worked out from the script alone."""
    seen: set[str] = set()
    out: Counter[tuple[Any, ...]] = Counter()
    for adviser, channel, day, category, case in sorted(SCRIPT, key=lambda s: s[2]):
        first = case is None or case not in seen
        if case is not None:
            seen.add(case)
        if day.year != 2025 or (count == "cases" and (case is None or not first)):
            continue
        keys = {
            "channel": channel,
            "service": SERVICE[adviser],
            "category": category,
            "month": day.strftime("%Y-%m"),
            "is_case": case is not None,
        }
        out[tuple(keys[b] for b in by)] += 1
    return dict(out)


async def run_script(server: LiveServer) -> None:
    staff = {name: await server.login(name) for name in SERVICE}
    opened: dict[str, str] = {}
    for adviser, channel, day, category, case in SCRIPT:
        body = inquiry(channel, day, main_category=category, region=None)
        if category is None:
            body.update(NOT_A_CASE)
        elif case in opened:
            body["case_id"] = opened[case]
        answer = await register(staff[adviser], body)
        if case is not None:
            opened.setdefault(case, answer["case_id"])
            assert answer["case_id"] == opened[case]


async def test_statistics_by_channel_and_counting_cases_agree_with_the_script(make_server: ServerFactory) -> None:
    server = await make_server(NORA_STATS_MIN_COUNT="1")  # no small counts withheld: every figure exact
    await add_advisers(server)
    await run_script(server)
    sara = await server.login("sara")
    for count in ("inquiries", "cases"):
        for by in (["channel"], ["service"], ["category"], ["month"], ["channel", "service"], []):
            r = await sara.get("/api/v1/stats/cases", period="2025", by=",".join(by), count=count)
            assert r.status_code == 200, r.text
            body = r.json()
            got = {tuple(row[b] for b in by): row["count"] for row in body["rows"]}
            want = expected(count, by)
            assert got == (want if by else {(): sum(want.values())}), (count, by, got)
            assert body["total"] == sum(want.values()) and body["count"] == count
    # Four cases begun in 2025 (E began in 2024), twelve inquiries less the one of 2024.
    assert (await sara.get("/api/v1/stats/cases", period="2025", count="cases")).json()["total"] == 4
    assert (await sara.get("/api/v1/stats/cases", period="2025")).json()["total"] == 11
    # Case E is counted once, in 2024, in the row of its first inquiry (a phone call).
    e2024 = (await sara.get("/api/v1/stats/cases", period="2024", by="channel", count="cases")).json()
    assert e2024["rows"] == [{"channel": "phone", "count": 1}]
    # A quarter: case A (Feb), B (Mar) and C (Jan) begin in Q1; E's meeting in January is not a new case.
    q1 = (await sara.get("/api/v1/stats/cases", period="2025-Q1", count="cases", by="service")).json()
    assert {r["service"]: r["count"] for r in q1["rows"]} == {"MR": 2, "IR": 1}

    summary = (await sara.get("/api/v1/stats/summary", year="2025")).json()
    by_service = {s["service"]: s for s in summary["services"]}
    inquiries_by_service = expected("inquiries", ["service"])
    cases_by_service = expected("cases", ["service"])
    for service, s in by_service.items():
        assert s["cases"] == cases_by_service.get((service,), 0)
        assert s["all_inquiries"] == inquiries_by_service.get((service,), 0)
        assert s["inquiries"] == expected("inquiries", ["service", "is_case"]).get((service, False), 0)
        channels = {c["channel"]: c["count"] for c in s["channels"] if c["count"]}
        want = {ch: n for (sv, ch), n in expected("inquiries", ["service", "channel"]).items() if sv == service}
        assert channels == want
    mr = {c["category"]: c["count"] for c in by_service["MR"]["categories"] if c["count"]}
    assert mr == {"forced_marriage": 1, "negative_social_control": 1}  # E (fear of forced marriage) began in 2024
    assert (await sara.get("/api/v1/stats/cases", period="2025", count="people")).status_code == 422


async def test_counting_cases_keeps_the_small_count_rule(server: LiveServer) -> None:
    """Five phone cases and two meeting cases, with three later calls on the phone cases: ten
    inquiries, seven cases. 5 + 2 by channel: the 2 is "<5" and the 5 withheld beside it."""
    amina = await server.login("amina")
    day = date(2025, 5, 6)
    for channel in ["phone"] * 5 + ["meeting"] * 2:
        opened = await register(amina, inquiry(channel, day))
        if channel == "phone" and day.day < 9:
            await register(amina, inquiry("phone", day + timedelta(days=1), case_id=opened["case_id"]))
            day += timedelta(days=1)
    sara = await server.login("sara")
    cases = (await sara.get("/api/v1/stats/cases", period="2025", by="channel", count="cases")).json()
    assert cases["rows"] == [{"channel": "meeting", "count": "<5"}, {"channel": "phone", "count": None}]
    assert cases["total"] is None
    assert (await sara.get("/api/v1/stats/cases", period="2025", count="cases")).json()["total"] == 7
    assert (await sara.get("/api/v1/stats/cases", period="2025")).json()["total"] == 10


async def test_an_amendment_moves_a_registration_out_of_its_case_or_into_one_of_its_own(server: LiveServer) -> None:
    amina = await server.login("amina")
    opened = await register(amina, inquiry("phone", today()))
    joined = await register(amina, inquiry("meeting", today(), case_id=opened["case_id"]))
    put = dict(CASE)

    async def amend(registration_id: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await amina.http.put(
            f"/api/v1/registrations/{registration_id}",
            json=body,
            headers={"X-CSRF-Token": amina.csrf, "Origin": amina.origin},
        )
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    # The meeting was not about the case after all: an inquiry now, outside the case.
    assert (await amend(joined["registration_id"], {**put, **NOT_A_CASE}))["case_id"] is None
    case = (await amina.get(f"/api/v1/cases/{opened['case_id']}")).json()
    assert [i["registration_id"] for i in case["inquiries"]] == [opened["registration_id"]]
    # … and then it was a case after all, a new one of its own.
    again = await amend(joined["registration_id"], put)
    assert again["case_id"] not in (None, opened["case_id"])
    own = (await amina.get(f"/api/v1/cases/{again['case_id']}")).json()
    assert [i["registration_id"] for i in own["inquiries"]] == [joined["registration_id"]]
