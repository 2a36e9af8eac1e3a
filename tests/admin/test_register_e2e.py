"""Case register and statistics over HTTP: validation, conflicts, who may register what."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client import Staff
from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio

CASE: dict[str, Any] = {
    "is_case": True,
    "main_category": "forced_marriage",
    "other_categories": [],
    "violence_forms": [],
    "contact": "self",
    "age_group": "16_17",
    "gender": "girl_woman",
    "actions": ["advice_given"],
    "note": "",
}


async def closed_conversation(server: LiveServer, adviser: str = "amina", *, close: bool = True) -> tuple[Staff, str]:
    staff, console = await server.adviser(adviser)
    visitor = await server.visitor()
    region = "03" if adviser == "amina" else "46"
    await visitor.send({"type": "start", "language": "ar", "region": region, "audience": "youth"})
    conversation_id = (await visitor.expect("started"))["conversation_id"]
    await console.expect("assigned")
    await visitor.send({"type": "message", "client_id": "v1", "text": "Hei"})  # a silent chat is not pending
    await visitor.expect("ack")
    if close:
        await console.send({"type": "close", "conversation_id": conversation_id})
        await console.expect("conversation_closed", conversation_id=conversation_id)
    return staff, conversation_id


async def test_registration_validation_names_each_field(server: LiveServer) -> None:
    amina, cid = await closed_conversation(server)
    url = f"/api/v1/conversations/{cid}/registration"
    cases = [
        ({**CASE, "main_category": "aliens"}, {"main_category"}),
        ({**CASE, "main_category": None}, {"main_category"}),
        ({**CASE, "is_case": "yes"}, {"is_case"}),
        ({k: v for k, v in CASE.items() if k != "is_case"}, {"is_case"}),
        ({**CASE, "actions": ["teleported"], "contact": "martian"}, {"actions", "contact"}),
        ({**CASE, "violence_forms": ["physical"]}, {"violence_forms"}),  # only with threats_violence
        ({**CASE, "other_categories": ["forced_marriage"]}, {"other_categories"}),
        ({**CASE, "note": "x" * 501}, {"note"}),
        ({"is_case": False, "main_category": "forced_marriage"}, {"main_category"}),
        ({**CASE, "surprise": 1}, {"surprise"}),
    ]
    for body, fields in cases:
        r = await amina.post(url, body)
        assert r.status_code == 422, body
        assert r.json()["error"] == "invalid" and set(r.json()["fields"]) == fields, (body, r.json())
    r = await amina.post(url, {**CASE, "main_category": "threats_violence", "violence_forms": ["physical", "economic"]})
    assert r.status_code == 201


async def test_an_inquiry_is_counted_without_categories_and_defaults_to_unknown(server: LiveServer) -> None:
    amina, cid = await closed_conversation(server)
    r = await amina.post(f"/api/v1/conversations/{cid}/registration", {"is_case": False})
    assert r.status_code == 201
    sara = await server.login("sara")
    stats = (await sara.get("/api/v1/stats/cases", by="is_case,contact,gender")).json()
    assert stats["rows"] == [{"is_case": False, "contact": "unknown", "gender": "unknown", "count": "<5"}]


async def test_the_pending_list_shows_the_conversation_as_the_console_does(server: LiveServer) -> None:
    """One ``<conversation>`` everywhere: the pending list's item has every field the console's has,
    with the same values for what has not changed since (the state, close and wait aside)."""
    amina, console = await server.adviser("amina")
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    cid = (await visitor.expect("started"))["conversation_id"]
    live = (await console.expect("assigned"))["conversation"]
    await visitor.send({"type": "message", "client_id": "v1", "text": "Hei"})  # a silent chat is not pending
    await visitor.expect("ack")
    await console.send({"type": "close", "conversation_id": cid})
    await console.expect("conversation_closed", conversation_id=cid)
    (pending,) = (await amina.get("/api/v1/registrations/pending")).json()["conversations"]
    assert set(pending) == set(live)
    changed = {"state", "closed_at", "close_reason", "messages", "visitor_present"}
    assert {k: v for k, v in pending.items() if k not in changed} == {k: v for k, v in live.items() if k not in changed}
    assert (pending["state"], pending["close_reason"], live["closed_at"]) == ("closed", "adviser_closed", None)
    assert (live["visitor_present"], pending["visitor_present"]) == (True, False)  # over: nobody is there
    assert pending["messages"][: len(live["messages"])] == live["messages"] and pending["rtl"] is True


async def test_open_conversation_cannot_be_registered(server: LiveServer) -> None:
    amina, cid = await closed_conversation(server, close=False)
    r = await amina.post(f"/api/v1/conversations/{cid}/registration", CASE)
    assert r.status_code == 409 and r.json()["error"] == "not_closed"


async def test_another_advisers_conversation_reads_as_missing(server: LiveServer) -> None:
    _, cid = await closed_conversation(server, "amina")
    omar = await server.login("omar")
    r = await omar.post(f"/api/v1/conversations/{cid}/registration", CASE)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r2 = await omar.post(f"/api/v1/conversations/{'0' * 32}/registration", CASE)
    assert r2.status_code == 404 and r2.json() == r.json()
    assert (await omar.get("/api/v1/registrations/pending")).json()["conversations"] == []
    # A supervisor sees every pending conversation and may register it.
    sara = await server.login("sara")
    assert [c["id"] for c in (await sara.get("/api/v1/registrations/pending")).json()["conversations"]] == [cid]


async def test_statistics_suppress_small_counts_and_the_total(server: LiveServer) -> None:
    sara = await server.login("sara")
    empty = (await sara.get("/api/v1/stats/cases", by="category")).json()
    assert empty["rows"] == [] and empty["total"] == 0
    for _ in range(5):
        amina, cid = await closed_conversation(server)
        assert (await amina.post(f"/api/v1/conversations/{cid}/registration", CASE)).status_code == 201
    amina, cid = await closed_conversation(server)
    await amina.post(f"/api/v1/conversations/{cid}/registration", {**CASE, "main_category": "negative_social_control"})
    # 5 + 1: the total 6 is public (group by nothing), and the 5 cannot be smaller, so the 1 would follow
    # whatever this table withheld: the table is refused with the reason (issue 18 #7; it was published
    # under the contract's per-table rule before, "protection": "per_table").
    weak = await sara.get("/api/v1/stats/cases", by="category")
    assert weak.status_code == 422 and "too detailed" in weak.json()["fields"]["by"]
    whole = (await sara.get("/api/v1/stats/cases", by="service")).json()
    assert whole["rows"] == [{"service": "MR", "count": 6}] and whole["total"] == 6
    amina, cid = await closed_conversation(server)
    await amina.post(f"/api/v1/conversations/{cid}/registration", {**CASE, "main_category": "negative_social_control"})
    # 5 + 2: both could be one more or one less, so the 5 is withheld (null) beside the "<5".
    stats = (await sara.get("/api/v1/stats/cases", by="category")).json()
    assert stats["rows"] == [
        {"category": "forced_marriage", "count": None},
        {"category": "negative_social_control", "count": "<5"},
    ]
    assert stats["total"] is None


async def test_statistics_parameters_are_validated(server: LiveServer) -> None:
    sara = await server.login("sara")
    r = await sara.get("/api/v1/stats/cases", by="category,shoe_size", format="pdf", **{"from": "2026-13-01"})
    assert r.status_code == 422 and set(r.json()["fields"]) == {"by", "format", "from"}
    r = await sara.get("/api/v1/stats/cases", **{"from": "2026-05-01", "to": "2026-04-01"})
    assert r.status_code == 422 and set(r.json()["fields"]) == {"to"}
