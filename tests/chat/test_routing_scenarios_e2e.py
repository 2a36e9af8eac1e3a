"""The routing rules of docs/design.md §3, each through the real service."""

from __future__ import annotations

import pytest

from tests.client import WS
from tests.conftest import LiveServer, ServerFactory

pytestmark = pytest.mark.anyio


async def start(server: LiveServer, **fields: object) -> tuple[WS, dict[str, object]]:
    ws = await server.visitor()
    await ws.send({"type": "start", "audience": "youth", **fields})
    return ws, await ws.expect("started")


async def test_tiers_widen_with_waiting_time(make_server: ServerFactory) -> None:
    server = await make_server(NORA_TIER_DELAYS="1,4,5")
    await server.adviser("omar", available=False)  # MR for region 46 speaking ar, but away
    _, amina = await server.adviser("amina")  # MR for 03/32 speaking ar
    visitor, _ = await start(server, language="ar", region="46")
    await visitor.expect("queue")  # tier 0: only MR in region 46, and Omar is away
    # Tier 1 opens after 1 s (at the next once-a-second tick); it adds nobody signed in (no national
    # team member), so tier 2 (any MR in the language) opens with it, not at its own delay of 4 s.
    assigned = await visitor.expect("assigned", timeout=6)
    assert assigned["adviser"]["name"] == "Amina"
    offered = await amina.expect("assigned")
    assert 1 <= offered["conversation"]["waited_s"] < 4


async def test_also_languages_widen_last(make_server: ServerFactory) -> None:
    server = await make_server(NORA_TIER_DELAYS="1,2,3")
    # Arabic-speaking MRs are signed in but away: tier 0 (Amina, 03) and tier 2 (Omar, 46) add somebody,
    # so the visitor waits at each; only tier 3 reaches Jonas through English.
    await server.adviser("amina", available=False)
    await server.adviser("omar", available=False)
    _, jonas = await server.adviser("jonas")  # AT: nb, en, so, ti, uk
    visitor, _ = await start(server, language="ar", region="03", also_languages=["en"])
    await visitor.expect("queue")
    assert (await visitor.expect("assigned", timeout=6))["adviser"]["name"] == "Jonas"
    assert (await jonas.expect("assigned"))["conversation"]["waited_s"] >= 3  # after the third delay


async def test_tiers_that_add_nobody_signed_in_are_passed_at_once(make_server: ServerFactory) -> None:
    server = await make_server(NORA_TIER_DELAYS="60,120,180")
    await server.adviser("jonas")  # AT, no Arabic; no Arabic-speaking MR is signed in
    visitor, _ = await start(server, language="ar", region="03", also_languages=["en"])
    # Tiers 0-2 add nobody signed in; tier 3 reaches Jonas through English at once.
    assert (await visitor.expect("assigned", timeout=2))["adviser"]["name"] == "Jonas"


async def test_staff_inquiries_reach_the_ambulating_team_at_once(server: LiveServer) -> None:
    await server.adviser("jonas")
    staff_visitor, _ = await start(server, language="nb", region="03", audience="staff")
    assert (await staff_visitor.expect("assigned"))["adviser"] == {"name": "Jonas", "service": "AT"}
    await server.adviser("amina", available=False)  # county 03's MR is signed in, though away
    youth, _ = await start(server, language="nb", region="03")
    assert (await youth.expect("queue"))["position"] == 1  # youth in a region go to MR first (tier 0)
    assert not [f for f in await youth.quiet(1.0) if f["type"] == "assigned"]


async def test_urgent_first_then_oldest(server: LiveServer) -> None:
    first, _ = await start(server, language="ar", region="03")
    second, _ = await start(server, language="ar", region="03")
    urgent, _ = await start(server, language="ar", region="03", urgent=True)
    help_text = await urgent.expect("message", sender="system")
    assert help_text["event"] == "urgent_help" and "112" in help_text["text"] and "116 111" in help_text["text"]
    _, amina = await server.adviser("amina")  # capacity 2
    await urgent.expect("assigned")
    await first.expect("assigned")
    await second.expect("queue", position=1)
    assert not [f for f in await second.quiet(0.5) if f["type"] == "assigned"]


async def test_adviser_drop_is_told_then_requeued_at_the_original_place(make_server: ServerFactory) -> None:
    server = await make_server(NORA_ADVISER_GRACE_S="2")
    _, amina = await server.adviser("amina")
    await amina.send({"type": "capacity", "capacity": 1})
    assert (await amina.expect("capacity"))["capacity"] == 1
    early, started = await start(server, language="ar", region="03")
    await early.expect("assigned")
    late, _ = await start(server, language="ar", region="03")
    assert (await late.expect("queue"))["position"] == 1

    await amina.close()
    away = await early.expect("message", sender="system", event="adviser_away")
    assert away["text"]
    requeued = await early.expect("message", sender="system", event="requeued", timeout=6)
    assert requeued["seq"] > away["seq"]
    assert (await early.expect("queue"))["position"] == 1  # ahead of the one who came later
    assert (await late.expect("queue"))["position"] == 2


async def test_adviser_back_within_grace_keeps_status_and_conversations(make_server: ServerFactory) -> None:
    server = await make_server(NORA_ADVISER_GRACE_S="30")
    amina, console = await server.adviser("amina")
    visitor, started = await start(server, language="ar", region="03")
    await visitor.expect("assigned")
    await console.close()
    await visitor.expect("message", event="adviser_away")
    again = await amina.socket()
    state = await again.expect("state")
    assert state["status"] == "available"  # kept through the reconnect
    assert [c["id"] for c in state["conversations"]] == [started["conversation_id"]]
    await visitor.expect("message", event="adviser_back")


async def test_transfer_to_the_ambulating_team_carries_the_note(server: LiveServer) -> None:
    _, amina = await server.adviser("amina")
    _, jonas = await server.adviser("jonas")
    visitor, started = await start(server, language="nb", region="03")
    cid = started["conversation_id"]
    assert (await visitor.expect("assigned"))["adviser"]["name"] == "Amina"  # MR in region first
    await amina.expect("assigned")
    await amina.send(
        {"type": "transfer", "conversation_id": cid, "to": {"service": "AT"}, "note": "Gjelder skolen, ikke eleven."}
    )
    assert (await amina.expect("unassigned"))["reason"] == "transferred"
    offered = await jonas.expect("assigned")
    assert offered["conversation"]["id"] == cid and offered["conversation"]["note"] == "Gjelder skolen, ikke eleven."
    assert offered["conversation"]["transferred"] is True
    await visitor.expect("message", event="transferred")
    assert (await visitor.expect("assigned"))["adviser"] == {"name": "Jonas", "service": "AT"}
    # The transferring adviser can no longer write to it.
    await amina.send({"type": "message", "conversation_id": cid, "client_id": "late", "text": "hei"})
    assert (await amina.expect("error"))["code"] == "not_found"


async def test_capacity_is_bounded_by_the_admin_maximum(server: LiveServer) -> None:
    _, amina = await server.adviser("amina")
    for bad in (0, 99, "3"):
        await amina.send({"type": "capacity", "capacity": bad})
        assert (await amina.expect("error"))["code"] == "invalid"


async def test_transfer_to_a_named_adviser_who_leaves_returns_to_everyone(make_server: ServerFactory) -> None:
    server = await make_server(NORA_ADVISER_GRACE_S="1")
    _, amina = await server.adviser("amina")
    omar_staff = await server.login("omar")
    visitor, started = await start(server, language="ar", region="03")
    cid = started["conversation_id"]
    await amina.expect("assigned")
    await amina.send({"type": "transfer", "conversation_id": cid, "to": {"adviser_id": omar_staff.user["id"]}})
    error = await amina.expect("error")  # Omar has no console open: nobody would ever take it
    assert error["code"] == "invalid" and "to.adviser_id" in error["fields"]

    omar = await omar_staff.socket()
    await omar.expect("state")  # connected but away: the transfer waits for him
    await amina.send({"type": "transfer", "conversation_id": cid, "to": {"adviser_id": omar_staff.user["id"]}})
    await amina.expect("unassigned")
    await omar.close()  # he leaves without taking it; after his grace period it is open to all again
    offered = await amina.expect("assigned", timeout=8)
    assert offered["conversation"]["id"] == cid


async def test_a_transfer_nobody_else_takes_comes_back_to_the_transferring_adviser(make_server: ServerFactory) -> None:
    """Not offered again at once, but not never: with nobody for region 46 online, the chat waits
    until its tier reaches Amina again and the first tier delay since the transfer has passed."""
    server = await make_server(NORA_TIER_DELAYS="1,2,3")
    _, amina = await server.adviser("amina")  # MR for 03/32 speaking ar; Omar (46) is not connected
    visitor, started = await start(server, language="ar", region="03")
    cid = started["conversation_id"]
    await amina.expect("assigned")
    await amina.send({"type": "transfer", "conversation_id": cid, "to": {"region": "46"}})
    await amina.expect("unassigned")
    await visitor.expect("message", event="transferred")
    offered = await amina.expect("assigned", timeout=8)
    assert offered["conversation"]["id"] == cid and offered["conversation"]["transferred"] is True
    assert (await visitor.expect("assigned"))["adviser"]["name"] == "Amina"


async def test_a_visitor_gone_past_the_grace_period_closes_as_visitor_timeout(make_server: ServerFactory) -> None:
    server = await make_server(NORA_VISITOR_GRACE_S="1")
    _, amina = await server.adviser("amina")
    visitor, started = await start(server, language="ar", region="03")
    await amina.expect("assigned")
    await visitor.send({"type": "message", "client_id": "v1", "text": "Hei"})  # so it is due for registration
    await visitor.expect("ack")
    await visitor.close()
    await amina.expect("visitor", presence="away")
    closed = await amina.expect("conversation_closed", timeout=8)
    assert closed["reason"] == "visitor_timeout" and closed["registration_due"] is True
    again = await server.visitor()
    await again.send({"type": "resume", "token": started["token"], "last_seq": 0})
    assert (await again.expect("resumed"))["state"] == "closed"
    assert (await again.expect("closed"))["reason"] == "visitor_timeout"
