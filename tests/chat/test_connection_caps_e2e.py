"""Connection caps (issue 18 #4): one client cannot take the service. Visitor sockets and conversation
starts per client address, console sockets per session, all sockets of an instance, and a visitor
socket that never starts or resumes: each is bounded and refused with a clear reason."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import InvalidStatus

from tests.client import WS
from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio


async def refused(open_socket: object) -> tuple[int, dict[str, object]]:
    with pytest.raises(InvalidStatus) as caught:
        await open_socket  # type: ignore[misc]
    response = caught.value.response
    return response.status_code, json.loads(response.body or b"{}")


async def test_visitor_sockets_per_address_are_capped_and_a_closed_one_frees_its_place(
    make_server: ServerFactory,
) -> None:
    server = await make_server(NORA_MAX_SOCKETS_PER_ADDRESS="3")
    sockets = [await server.visitor() for _ in range(3)]
    status, body = await refused(server.visitor())
    assert (status, body["error"]) == (429, "too_many_connections")
    await sockets[0].close()
    await asyncio.sleep(0.3)
    again = await server.visitor()  # the place is free again
    await again.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
    await again.expect("started")


async def test_starts_per_address_are_rate_limited_with_a_retry_time(make_server: ServerFactory) -> None:
    server = await make_server(NORA_STARTS_PER_ADDRESS="2")
    for _ in range(2):
        ws = await server.visitor()
        await ws.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
        await ws.expect("started")
    third = await server.visitor()
    await third.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
    error = await third.expect("error")
    assert (error["code"], error["ref"]) == ("rate_limited", "start") and error["retry_after_ms"] > 1000


async def test_a_visitor_socket_that_never_starts_is_closed(make_server: ServerFactory) -> None:
    server = await make_server(NORA_VISITOR_HELLO_S="1")
    idle = await server.visitor()
    talking = await server.visitor()
    await talking.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
    await talking.expect("started")
    assert await idle.closed_code(timeout=5) == 1008
    assert await talking.closed_code(timeout=1.5) is None  # a started one stays


async def test_console_sockets_per_session_are_capped(make_server: ServerFactory) -> None:
    server = await make_server(NORA_STAFF_SOCKETS_PER_SESSION="2")
    amina = await server.login("amina")
    first, second = await amina.socket(), await amina.socket()
    status, body = await refused(WS.open(server.ws_base + "/ws/adviser", origin=server.base, cookie=amina.cookie))
    assert (status, body["error"]) == (429, "too_many_connections")
    await first.expect("state")
    await second.expect("state")


async def test_an_instance_refuses_sockets_past_its_limit_with_503(make_server: ServerFactory) -> None:
    server = await make_server(NORA_MAX_CONNECTIONS="2")
    await server.visitor()
    await server.visitor()
    status, body = await refused(server.visitor())
    assert (status, body["error"]) == (503, "unavailable")
