"""Transfer to a named colleague (issue 17): the colleagues frame shows who is signed in and has room; a
warm transfer lets the colleague read the conversation before accepting or declining."""

from __future__ import annotations

import pytest

from tests.client import WS
from tests.conftest import LiveServer, ServerFactory

pytestmark = pytest.mark.anyio


async def chat_with_amina(server: LiveServer, amina: WS) -> tuple[WS, str]:
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    cid = (await visitor.expect("started"))["conversation_id"]
    await amina.expect("assigned")
    await visitor.expect("assigned")
    await visitor.send({"type": "message", "client_id": "v1", "text": "أحتاج مساعدة"})
    await visitor.expect("ack")
    await amina.expect("message", sender="visitor")
    return visitor, cid


async def colleagues(ws: WS) -> dict[str, dict[str, object]]:
    await ws.send({"type": "colleagues"})
    return {a["name"]: a for a in (await ws.expect("colleagues"))["advisers"]}


async def test_colleagues_show_who_is_signed_in_and_has_room(server: LiveServer) -> None:
    _, amina = await server.adviser("amina")
    _, omar = await server.adviser("omar", available=False)
    _, jonas = await server.adviser("jonas")
    seen = await colleagues(amina)
    assert set(seen) == {"Omar", "Jonas"}  # everyone signed in but herself
    assert (seen["Omar"]["status"], seen["Omar"]["room"]) == ("away", False)
    assert (seen["Jonas"]["status"], seen["Jonas"]["room"], seen["Jonas"]["capacity"]) == ("available", True, 3)
    assert seen["Jonas"]["service"] == "AT" and seen["Omar"]["languages"] == ["ar", "so"]
    await omar.send({"type": "status", "status": "available"})
    await omar.expect("status", status="available")
    assert (await colleagues(amina))["Omar"]["room"] is True
    await jonas.close()
    await amina.quiet(0.3)
    assert (await colleagues(amina))["Jonas"]["status"] == "offline"  # within his reconnect grace


async def test_a_warm_transfer_is_read_declined_then_accepted(server: LiveServer) -> None:
    _, amina = await server.adviser("amina")
    omar_staff, omar = await server.adviser("omar")
    visitor, cid = await chat_with_amina(server, amina)
    omar_id = omar_staff.user["id"]

    await amina.send(
        {"type": "transfer_offer", "conversation_id": cid, "adviser_id": omar_id, "note": "Snakker om skolen"}
    )
    sent = await amina.expect("transfer_offered", conversation_id=cid)
    assert sent["to"] == {"id": omar_id, "name": "Omar"}
    offer = await omar.expect("transfer_offer")
    assert offer["conversation"]["id"] == cid and offer["note"] == "Snakker om skolen"
    assert offer["from"]["name"] == "Amina"
    assert [m["text"] for m in offer["conversation"]["messages"] if m["sender"] == "visitor"] == ["أحتاج مساعدة"]

    await omar.send({"type": "transfer_decline", "conversation_id": cid})
    answer = await amina.expect("transfer_answer", conversation_id=cid)
    assert (answer["outcome"], answer["by"]["name"]) == ("declined", "Omar")
    await omar.send({"type": "transfer_accept", "conversation_id": cid})  # nothing left to accept
    assert (await omar.expect("error", ref="transfer_accept"))["code"] == "not_found"

    await amina.send({"type": "transfer_offer", "conversation_id": cid, "adviser_id": omar_id})
    await omar.expect("transfer_offer")
    await omar.send({"type": "transfer_accept", "conversation_id": cid})
    assigned = await omar.expect("assigned")
    assert assigned["conversation"]["id"] == cid and assigned["conversation"]["transferred"] is True
    assert (await amina.expect("transfer_answer", conversation_id=cid))["outcome"] == "accepted"
    assert (await amina.expect("unassigned", conversation_id=cid))["reason"] == "transferred"
    assert (await visitor.expect("assigned"))["adviser"]["name"] == "Omar"

    # Omar holds it now; Amina's message is refused, his reaches the visitor
    await omar.send({"type": "message", "conversation_id": cid, "client_id": "o1", "text": "Hei, jeg tar over"})
    await omar.expect("ack", conversation_id=cid)
    assert (await visitor.expect("message", sender="adviser"))["text"] == "Hei, jeg tar over"
    admin = await server.login("admin")
    reads = (await admin.get("/api/v1/audit", action="transcript_read", conversation_id=cid)).json()["entries"]
    assert len(reads) == 2 and all(e["detail"].startswith("offered for a warm transfer") for e in reads)


async def test_an_offer_needs_room_to_accept_and_ends_with_the_conversation(server: LiveServer) -> None:
    _, amina = await server.adviser("amina")
    omar_staff, omar = await server.adviser("omar", available=False)
    visitor, cid = await chat_with_amina(server, amina)
    await amina.send({"type": "transfer_offer", "conversation_id": cid, "adviser_id": omar_staff.user["id"]})
    await omar.expect("transfer_offer")
    await omar.send({"type": "transfer_accept", "conversation_id": cid})
    refused = await omar.expect("error", ref="transfer_accept")
    assert refused["code"] == "forbidden" and "available" in refused["message"]

    await visitor.send({"type": "leave"})
    gone = await omar.expect("transfer_withdrawn", conversation_id=cid)
    assert gone["reason"] == "gone"

    await amina.send({"type": "transfer_offer", "conversation_id": cid, "adviser_id": "0" * 32})
    assert (await amina.expect("error", ref="transfer_offer"))["code"] in ("not_found", "forbidden", "invalid")


async def test_an_offer_can_be_withdrawn_and_needs_a_signed_in_colleague(server: LiveServer) -> None:
    _, amina = await server.adviser("amina")
    omar_staff, omar = await server.adviser("omar")
    _, cid = await chat_with_amina(server, amina)
    await amina.send({"type": "transfer_offer", "conversation_id": cid, "adviser_id": "0" * 32})
    error = await amina.expect("error", ref="transfer_offer")
    assert error["code"] == "invalid" and error["fields"] == {"adviser_id": "no other adviser signed in with this id"}
    await amina.send({"type": "transfer_offer", "conversation_id": cid, "adviser_id": omar_staff.user["id"]})
    await omar.expect("transfer_offer")
    await amina.send({"type": "transfer_cancel", "conversation_id": cid})
    assert (await omar.expect("transfer_withdrawn", conversation_id=cid))["reason"] == "withdrawn"
    await omar.send({"type": "transfer_accept", "conversation_id": cid})
    assert (await omar.expect("error", ref="transfer_accept"))["code"] == "not_found"


async def test_open_offers_come_again_when_a_console_reconnects(server: LiveServer) -> None:
    """An offer is kept with the conversation, not with a socket: the colleague's new console lists it
    (and can accept it), the holder's shows it as waiting; one withdrawn meanwhile is not listed."""
    amina_staff, amina = await server.adviser("amina")
    omar_staff, omar = await server.adviser("omar")
    visitor, cid = await chat_with_amina(server, amina)
    omar_id = omar_staff.user["id"]
    await amina.send({"type": "transfer_offer", "conversation_id": cid, "adviser_id": omar_id, "note": "Om skolen"})
    await omar.expect("transfer_offer")
    await omar.close()
    await amina.close()

    amina = await amina_staff.socket()
    assert (await amina.expect("state"))["offers"] == []  # offers *to* her: none
    assert (await amina.expect("transfer_offered", conversation_id=cid))["to"] == {"id": omar_id, "name": "Omar"}
    omar = await omar_staff.socket()
    assert (await omar.expect("state"))["offers"] == [cid]
    again = await omar.expect("transfer_offer")
    assert again["conversation"]["id"] == cid and (again["note"], again["from"]["name"]) == ("Om skolen", "Amina")
    assert [m["text"] for m in again["conversation"]["messages"] if m["sender"] == "visitor"] == ["أحتاج مساعدة"]

    await omar.send({"type": "status", "status": "available"})
    await omar.expect("status", status="available")
    await omar.send({"type": "transfer_accept", "conversation_id": cid})
    assert (await omar.expect("assigned"))["conversation"]["id"] == cid
    assert (await amina.expect("transfer_answer", conversation_id=cid))["outcome"] == "accepted"
    assert (await visitor.expect("assigned"))["adviser"]["name"] == "Omar"


async def test_an_offer_withdrawn_while_the_colleague_was_away_is_not_shown_again(server: LiveServer) -> None:
    _, amina = await server.adviser("amina")
    omar_staff, omar = await server.adviser("omar")
    _, cid = await chat_with_amina(server, amina)
    await amina.send({"type": "transfer_offer", "conversation_id": cid, "adviser_id": omar_staff.user["id"]})
    await omar.expect("transfer_offer")
    await omar.close()
    await amina.send({"type": "transfer_cancel", "conversation_id": cid})
    await amina.quiet(0.2)
    omar = await omar_staff.socket()
    assert (await omar.expect("state"))["offers"] == []
    assert not [f for f in await omar.quiet(0.5) if f["type"] == "transfer_offer"]
    await omar.send({"type": "transfer_decline", "conversation_id": cid})
    assert (await omar.expect("error", ref="transfer_decline"))["code"] == "not_found"


async def test_an_offer_ends_with_a_plain_transfer_and_a_new_offer_withdraws_the_old(server: LiveServer) -> None:
    _, amina = await server.adviser("amina")
    omar_staff, omar = await server.adviser("omar")
    jonas_staff, jonas = await server.adviser("jonas")
    _, cid = await chat_with_amina(server, amina)
    await amina.send({"type": "transfer_offer", "conversation_id": cid, "adviser_id": omar_staff.user["id"]})
    await omar.expect("transfer_offer")
    await amina.send({"type": "transfer_offer", "conversation_id": cid, "adviser_id": jonas_staff.user["id"]})
    assert (await omar.expect("transfer_withdrawn", conversation_id=cid))["reason"] == "withdrawn"
    await jonas.expect("transfer_offer")
    await omar.send({"type": "transfer_accept", "conversation_id": cid})  # no longer his to accept
    assert (await omar.expect("error", ref="transfer_accept"))["code"] == "not_found"

    await amina.send({"type": "transfer", "conversation_id": cid, "to": {"service": "AT"}})
    assert (await jonas.expect("transfer_withdrawn", conversation_id=cid))["reason"] == "gone"
    await jonas.send({"type": "transfer_accept", "conversation_id": cid})
    assert (await jonas.expect("error", ref="transfer_accept"))["code"] == "not_found"


async def test_an_offer_ends_when_the_holders_grace_period_sends_the_chat_back_to_the_queue(
    make_server: ServerFactory,
) -> None:
    server = await make_server(NORA_ADVISER_GRACE_S="1")
    _, amina = await server.adviser("amina")
    omar_staff, omar = await server.adviser("omar", available=False)  # away: the requeued chat waits
    _, cid = await chat_with_amina(server, amina)
    await amina.send({"type": "transfer_offer", "conversation_id": cid, "adviser_id": omar_staff.user["id"]})
    await omar.expect("transfer_offer")
    await amina.close()  # gone for good: after the grace period the chat goes back to the queue
    assert (await omar.expect("transfer_withdrawn", conversation_id=cid, timeout=8))["reason"] == "gone"
    await omar.send({"type": "transfer_accept", "conversation_id": cid})
    assert (await omar.expect("error", ref="transfer_accept"))["code"] == "not_found"
