"""A chat that closed while it waited is registered for the service it was routed to, never for the
service of whoever registers it (issue 16), on a real server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client import Staff
from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio
CASE = {"is_case": True, "main_category": "forced_marriage"}


async def waited_and_left(server: LiveServer, **start: Any) -> str:
    """A visitor who starts, writes while nobody can take the chat, and leaves: closed while queued."""
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "nb", "audience": "youth", **start})
    cid: str = (await visitor.expect("started"))["conversation_id"]
    await visitor.send({"type": "message", "client_id": "c1", "text": "Er det noen der?"})
    await visitor.expect("ack")
    await visitor.send({"type": "leave"})
    await visitor.expect("closed")
    return cid


async def registered_service(staff: Staff, cid: str) -> str:
    r = await staff.post(f"/api/v1/conversations/{cid}/registration", CASE)
    assert r.status_code == 201, r.text
    body = (await staff.get(f"/api/v1/registrations/{r.json()['registration_id']}")).json()
    service: str = body["service"]
    return service


async def test_a_chat_closed_while_queued_counts_for_the_service_it_was_routed_to(server: LiveServer) -> None:
    admin = await server.login("admin")
    # A supervisor who is an adviser of the ambulating team herself: her service must not be taken.
    lina = {
        "username": "lina",
        "name": "Lina",
        "roles": ["adviser", "supervisor"],
        "service": "AT",
        "regions": [],
        "languages": ["nb"],
        "password": "kveldssol-over-fjorden",
    }
    assert (await admin.post("/api/v1/users", lina)).status_code == 201
    lina_staff = await Staff.login(server.base, "lina", "kveldssol-over-fjorden")
    server.staff.append(lina_staff)
    sara = await server.login("sara")  # a supervisor without a service

    oslo = await waited_and_left(server, region="03")
    assert await registered_service(lina_staff, oslo) == "MR"  # Oslo's minority advisers, not Lina's AT

    nowhere = await waited_and_left(server, region=None)
    assert await registered_service(sara, nowhere) == "AT"  # no county: the national team first

    # Transferred to the ambulating team, and the visitor left before anyone took it.
    _, amina = await server.adviser("amina")
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
    cid = (await visitor.expect("started"))["conversation_id"]
    await amina.expect("assigned")
    await amina.send({"type": "transfer", "conversation_id": cid, "to": {"service": "AT"}})
    await amina.expect("unassigned")
    await amina.send({"type": "status", "status": "away"})
    await visitor.send({"type": "leave"})
    await visitor.expect("closed")
    assert await registered_service(sara, cid) == "AT"

    # A supervisor's diversion of county 46 to AT covered the wait.
    diverted = await sara.post("/api/v1/diversions", {"region": "46", "language": None, "to": "AT", "minutes": 30})
    assert diverted.status_code == 201, diverted.text
    bergen = await waited_and_left(server, region="46")
    assert await registered_service(lina_staff, bergen) == "AT"
