"""The registration flow of issue 17 through the real service: a chat the visitor never wrote in is not a
pending registration (abandoned), one they wrote in is; the amendable list names each chat."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client import WS
from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio


async def start(server: LiveServer, **extra: Any) -> tuple[WS, str]:
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "nb", "region": "03", "audience": "youth", **extra})
    started = await visitor.expect("started")
    visitor.alias = started["alias"]  # type: ignore[attr-defined]
    return visitor, started["conversation_id"]


async def pending_ids(server: LiveServer, username: str) -> set[str]:
    staff = await server.login(username)
    return {c["id"] for c in (await staff.get("/api/v1/registrations/pending")).json()["conversations"]}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_chat_closed_before_the_visitor_wrote_is_not_pending(make_server: Any, backend: str) -> None:
    server: LiveServer = await make_server(backend)
    amina, console = await server.adviser("amina")

    silent, silent_id = await start(server)
    await console.expect("assigned", timeout=5)
    await console.send({"type": "message", "conversation_id": silent_id, "client_id": "a1", "text": "Hei!"})
    await console.expect("ack")
    await silent.send({"type": "leave"})  # the adviser greeted, the visitor never wrote
    closed = await console.expect("conversation_closed", conversation_id=silent_id)
    assert closed["registration_due"] is False

    talking, talking_id = await start(server)
    await console.expect("assigned", timeout=5)
    await talking.expect("assigned")
    await talking.send({"type": "message", "client_id": "v1", "text": "Jeg trenger hjelp"})
    await talking.expect("ack")
    await console.send({"type": "close", "conversation_id": talking_id})
    closed = await console.expect("conversation_closed", conversation_id=talking_id)
    assert closed["registration_due"] is True

    await console.send({"type": "status", "status": "away"})
    await console.expect("status", status="away")
    waited_silently, waited_silently_id = await start(server)  # nobody available: closes while waiting
    await waited_silently.expect("queue")
    await waited_silently.send({"type": "leave"})
    await waited_silently.expect("closed")
    wrote_waiting, wrote_waiting_id = await start(server)
    await wrote_waiting.expect("queue")
    await wrote_waiting.send({"type": "message", "client_id": "v1", "text": "Er det noen der?"})
    await wrote_waiting.expect("ack")
    await wrote_waiting.send({"type": "leave"})
    await wrote_waiting.expect("closed")

    mine = {c["id"] for c in (await amina.get("/api/v1/registrations/pending")).json()["conversations"]}
    assert mine == {talking_id}
    assert await pending_ids(server, "sara") == {talking_id, wrote_waiting_id}
    assert silent_id not in await pending_ids(server, "sara") and waited_silently_id not in mine


async def test_the_amendable_list_names_the_chat(server: LiveServer) -> None:
    amina, console = await server.adviser("amina")
    visitor, cid = await start(server)
    await console.expect("assigned")
    await visitor.send({"type": "message", "client_id": "v1", "text": "Hei"})
    await visitor.expect("ack")
    await console.send({"type": "close", "conversation_id": cid})
    await console.expect("conversation_closed")
    saved = await amina.post(f"/api/v1/conversations/{cid}/registration", {"is_case": False})
    assert saved.status_code == 201, saved.text
    listed = (await amina.get("/api/v1/registrations")).json()["registrations"]
    alias = visitor.alias  # type: ignore[attr-defined]
    assert [(r["conversation_id"], r["alias"], r["editable"]) for r in listed] == [(cid, alias, True)]
