"""The queue rules of protocol 1.1 through the real service: presence, tier passing, supervisor actions.

Default tier delays (60/120/180 s): anything assigned within a few seconds here was assigned by the
rule under test, not by waiting for a tier to open.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.client import WS, Staff
from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio


async def start(server: LiveServer, language: str, region: str | None, **extra: Any) -> tuple[WS, dict[str, Any]]:
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": language, "region": region, "audience": "youth", **extra})
    return visitor, await visitor.expect("started")


async def queue_item(supervisor: Staff, conversation_id: str) -> dict[str, Any]:
    view = (await supervisor.get("/api/v1/queue")).json()
    return next(w for w in view["waiting"] if w["conversation_id"] == conversation_id)


async def test_an_absent_visitor_is_skipped_and_served_at_its_place_when_back(server: LiveServer) -> None:
    sara = await server.login("sara")
    _, amina = await server.adviser("amina", available=False)  # signed in (away): tier 0 is hers
    await amina.send({"type": "capacity", "capacity": 1})
    await amina.expect("capacity")
    first, first_started = await start(server, "ar", "03")
    await first.expect("queue")
    second, second_started = await start(server, "ar", "03")
    second_queue = await second.expect("queue")
    assert second_queue["position"] == 2
    await first.close()  # the first visitor closes the tab
    for _ in range(50):
        if not (await queue_item(sara, first_started["conversation_id"]))["present"]:
            break
    assert (await queue_item(sara, first_started["conversation_id"]))["present"] is False
    assert (await second.expect("queue", position=1))["position"] == 1  # absent visitors are not ahead

    await amina.send({"type": "status", "status": "available"})
    assigned = await amina.expect("assigned")
    assert assigned["conversation"]["id"] == second_started["conversation_id"]  # the present one
    assert assigned["conversation"]["visitor_present"] is True
    await second.expect("assigned")

    # A third visitor arrives; then the first comes back and is ahead of them, at its old place.
    third, third_started = await start(server, "ar", "03")
    await third.expect("queue")
    back = await server.visitor()
    await back.send({"type": "resume", "token": first_started["token"], "last_seq": 0})
    await back.expect("resumed")
    assert (await back.expect("queue"))["position"] == 1
    assert (await queue_item(sara, first_started["conversation_id"]))["present"] is True
    await amina.send({"type": "close", "conversation_id": second_started["conversation_id"]})
    nxt = await amina.expect("assigned")
    assert nxt["conversation"]["id"] == first_started["conversation_id"]
    await back.expect("assigned")
    assert (await third.expect("queue"))["position"] >= 1  # still waiting


async def test_a_county_without_a_signed_in_adviser_reaches_the_national_team_within_a_second(
    server: LiveServer,
) -> None:
    _, jonas = await server.adviser("jonas")  # AT, speaks so; omar (MR 46, so) is not signed in
    visitor, started = await start(server, "so", "46")
    assigned = await jonas.expect("assigned", timeout=1.0)
    assert assigned["conversation"]["id"] == started["conversation_id"]
    await visitor.expect("assigned", timeout=1.0)


async def test_the_console_shows_a_dropped_visitor(server: LiveServer) -> None:
    _, amina = await server.adviser("amina")
    visitor, started = await start(server, "nb", "03")
    await amina.expect("assigned")
    await visitor.close()
    await amina.expect("visitor", presence="away")
    staff = await server.login("amina")
    console = await staff.socket()
    state = await console.expect("state")
    (conversation,) = state["conversations"]
    assert conversation["id"] == started["conversation_id"]
    assert conversation["visitor_present"] is False and conversation["visitor_away_since"]


async def test_a_supervisor_routes_a_waiting_chat_to_a_named_adviser(server: LiveServer) -> None:
    sara = await server.login("sara")
    amina_staff, amina = await server.adviser("amina")  # does not speak Somali, region 03
    visitor, started = await start(server, "so", "03")  # nobody reaches it: it waits
    await visitor.expect("queue")
    cid = started["conversation_id"]
    amina_id = amina_staff.user["id"]

    # Validation first (422), then the state (404/409); roles and CSRF before anything.
    assert (await sara.post(f"/api/v1/conversations/{cid}/route", {})).status_code == 422
    both = await sara.post(f"/api/v1/conversations/{cid}/route", {"adviser_id": amina_id, "region": "03"})
    assert both.status_code == 422
    bad = await sara.post(f"/api/v1/conversations/{cid}/route", {"region": "99"})
    assert bad.status_code == 422 and "region" in bad.json()["fields"]
    assert (await sara.post("/api/v1/conversations/nope/route", {"region": "03"})).status_code == 404
    adviser_try = await amina_staff.post(f"/api/v1/conversations/{cid}/route", {"adviser_id": amina_id})
    assert adviser_try.status_code == 403
    no_csrf = await sara.http.post(f"/api/v1/conversations/{cid}/route", json={"adviser_id": amina_id})
    assert no_csrf.status_code == 403

    routed = await sara.post(
        f"/api/v1/conversations/{cid}/route", {"adviser_id": amina_id, "urgent": True, "note": "Ring tilbake"}
    )
    assert routed.status_code == 200, routed.text
    assert routed.json() == {"conversation_id": cid, "state": "assigned"}
    joined = await visitor.expect("assigned")
    assert joined["adviser"]["name"] == "Amina"
    assigned = await amina.expect("assigned")
    assert assigned["conversation"]["id"] == cid and assigned["conversation"]["urgent"] is True
    assert assigned["conversation"]["note"] == "Ring tilbake"

    again = await sara.post(f"/api/v1/conversations/{cid}/route", {"adviser_id": amina_id})
    assert again.status_code == 409 and again.json()["error"] == "not_waiting"
    audit = (await (await server.login("admin")).get("/api/v1/audit", action="queue.route")).json()
    assert any(e["conversation_id"] == cid for e in audit["entries"])


async def test_route_refusals_name_the_reason(server: LiveServer) -> None:
    sara = await server.login("sara")
    amina_staff, amina = await server.adviser("amina", available=False)
    omar_staff = await server.login("omar")  # never opens a console: not signed in
    gone, gone_started = await start(server, "so", "03")
    await gone.expect("queue")
    here, here_started = await start(server, "so", "03")
    await here.expect("queue")
    await gone.close()
    for _ in range(50):
        if not (await queue_item(sara, gone_started["conversation_id"]))["present"]:
            break
    amina_id, omar_id = amina_staff.user["id"], omar_staff.user["id"]
    here_url = f"/api/v1/conversations/{here_started['conversation_id']}/route"
    away = await sara.post(here_url, {"adviser_id": amina_id})
    assert away.status_code == 409 and away.json()["error"] == "adviser_unavailable"
    offline = await sara.post(here_url, {"adviser_id": omar_id})
    assert offline.status_code == 409 and offline.json()["error"] == "adviser_unavailable"
    await amina.send({"type": "status", "status": "available"})
    await amina.expect("status")
    absent = await sara.post(f"/api/v1/conversations/{gone_started['conversation_id']}/route", {"adviser_id": amina_id})
    assert absent.status_code == 409 and absent.json()["error"] == "visitor_absent"
    # Re-targeting keeps the place and needs no present visitor: to the national team, nobody there yet.
    moved = await sara.post(f"/api/v1/conversations/{gone_started['conversation_id']}/route", {"service": "AT"})
    assert moved.status_code == 200 and moved.json()["state"] == "queued"
    # The national team signs in: the present visitor reaches it at once (its county has nobody who
    # speaks Somali), the absent one keeps waiting although it was routed there.
    _, jonas = await server.adviser("jonas")
    assert (await jonas.expect("assigned"))["conversation"]["id"] == here_started["conversation_id"]
    await jonas.quiet(0.5)
    assert len(frames_assigned(jonas)) == 1
    assert (await queue_item(sara, gone_started["conversation_id"]))["present"] is False


async def test_a_diversion_sends_a_region_to_the_national_team_until_it_ends(server: LiveServer) -> None:
    sara = await server.login("sara")
    await server.adviser("amina", available=False)  # tier 0 of county 03 is hers: the visitor waits there
    _, jonas = await server.adviser("jonas")
    feed = await sara.socket("/ws/supervisor")
    visitor, started = await start(server, "nb", "03")
    await visitor.expect("queue")
    await jonas.quiet(0.5)
    assert not frames_assigned(jonas)

    for body, field in (
        ({"region": None, "language": None, "to": "AT", "minutes": 60}, "body"),
        ({"region": "03", "to": "MR", "minutes": 60}, "to"),
        ({"region": "03", "to": "AT", "minutes": 0}, "minutes"),
        ({"region": "99", "to": "AT", "minutes": 5}, "region"),
    ):
        refused = await sara.post("/api/v1/diversions", body)
        assert refused.status_code == 422 and field in refused.json()["fields"], (body, refused.text)

    made = await sara.post("/api/v1/diversions", {"region": "03", "language": None, "to": "AT", "minutes": 60})
    assert made.status_code == 201, made.text
    diversion = made.json()
    assert set(diversion) == {"id", "region", "language", "to", "until"} and diversion["region"] == "03"
    assigned = await jonas.expect("assigned")  # the waiting one moves on at once
    assert assigned["conversation"]["id"] == started["conversation_id"]
    assert (await sara.get("/api/v1/diversions")).json() == {"diversions": [diversion]}
    frame = await feed.expect("queue")
    while not frame.get("diversions"):
        frame = await feed.expect("queue")
    assert frame["diversions"] == [diversion]
    assert (await sara.get("/api/v1/queue")).json()["diversions"] == [diversion]

    ended = await sara.http.delete(
        f"/api/v1/diversions/{diversion['id']}", headers={"X-CSRF-Token": sara.csrf, "Origin": sara.origin}
    )
    assert ended.status_code == 204
    assert (await sara.get("/api/v1/diversions")).json() == {"diversions": []}
    again = await sara.http.delete(
        f"/api/v1/diversions/{diversion['id']}", headers={"X-CSRF-Token": sara.csrf, "Origin": sara.origin}
    )
    assert again.status_code == 404
    # Over: a new visitor of county 03 waits for its county adviser again.
    later, _ = await start(server, "nb", "03")
    await later.expect("queue")
    await jonas.quiet(0.5)
    assert not frames_assigned(jonas, after=1)


def frames_assigned(ws: WS, after: int = 0) -> list[dict[str, Any]]:
    return [f for f in ws.seen if f.get("type") == "assigned"][after:]


async def test_a_notice_reaches_every_adviser_signed_in_and_signing_in_later(server: LiveServer) -> None:
    sara = await server.login("sara")
    _, amina = await server.adviser("amina")
    _, jonas = await server.adviser("jonas", available=False)
    assert (await sara.post("/api/v1/notices", {"text": "   "})).status_code == 422
    assert (await sara.post("/api/v1/notices", {"text": "x" * 501})).status_code == 422
    sent = await sara.post("/api/v1/notices", {"text": "  Møte kl. 14  "})
    assert sent.status_code == 202
    for console in (amina, jonas):
        notice = await console.expect("notice")
        assert notice["text"] == "Møte kl. 14" and notice["from"] == "Sara" and notice["at"]
    adviser = await server.login("omar")
    assert (await adviser.post("/api/v1/notices", {"text": "hei"})).status_code == 403
    # An adviser who opens the console afterwards is shown what was sent meanwhile, right after state.
    _, omar = await server.adviser("omar", available=False)
    late = await omar.expect("notice")
    assert (late["text"], late["from"], late["at"]) == ("Møte kl. 14", "Sara", notice["at"])


async def test_an_adviser_marks_a_transferred_conversation_urgent(server: LiveServer) -> None:
    _, amina = await server.adviser("amina")
    visitor, started = await start(server, "nb", "03")
    cid = (await amina.expect("assigned"))["conversation"]["id"]
    assert cid == started["conversation_id"]
    await amina.send({"type": "transfer", "conversation_id": cid, "to": {"service": "AT"}, "urgent": "yes"})
    assert (await amina.expect("error"))["fields"] == {"urgent": "true or false"}
    await amina.send({"type": "transfer", "conversation_id": cid, "to": {"service": "AT"}, "urgent": True})
    await amina.expect("unassigned")
    _, jonas = await server.adviser("jonas")
    taken = await jonas.expect("assigned")
    assert taken["conversation"]["id"] == cid and taken["conversation"]["urgent"] is True
