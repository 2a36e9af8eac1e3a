"""A refused websocket handshake is the service working as intended, not an error of it: the server's
log gets at most one INFO line per refusal, without the client's address, token or cookie."""

from __future__ import annotations

import re

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import LiveServer, ServerFactory

pytestmark = pytest.mark.anyio

CLIENT_ADDRESS = "127.0.0.78"  # a loopback address of its own, so any trace of it is ours
COOKIE = "nora_session=cookie-sentinel-4711; __Host-nora_session=cookie-sentinel-4711"
ABOUT_A_REFUSAL = re.compile(r"rejected|refused|\b403\b")


async def refused(server: LiveServer, path: str, *, origin: str | None, cookie: str | None = None) -> int:
    headers = {"Cookie": cookie} if cookie else {}
    with pytest.raises(InvalidStatus) as caught:
        await connect(
            server.ws_base + path,
            origin=origin,  # type: ignore[arg-type]
            additional_headers=headers,
            local_addr=(CLIENT_ADDRESS, 0),
            compression=None,
            open_timeout=5,
        )
    return caught.value.response.status_code


@pytest.mark.parametrize("env", ["production", "development"])
async def test_refused_handshakes_log_no_error(make_server: ServerFactory, env: str) -> None:
    server = await make_server(NORA_ENV=env, NORA_SECRET_KEY="s3cret-for-the-refusal-test-0123456789")
    evil = "https://evil.example"
    assert await refused(server, "/ws/visitor", origin=evil) == 403  # origin_not_allowed
    assert await refused(server, "/ws/adviser", origin=None) == 403  # staff sockets need an Origin
    assert await refused(server, "/ws/adviser", origin=server.base, cookie=COOKIE) == 403  # unauthenticated
    sara = await server.login("sara")
    assert await refused(server, "/ws/adviser", origin=server.base, cookie=sara.cookie) == 403  # forbidden
    assert await refused(server, "/ws/supervisor", origin=evil, cookie=sara.cookie) == 403
    # A handshake that is accepted afterwards shows the server is still up and the log is flushed.
    visitor = await server.visitor()
    await visitor.send({"type": "leave"})
    await visitor.expect("error")  # not_found (no chat started): the frame was handled before the stop
    server.stop()

    log = server.log()
    assert "Application startup complete" in log  # the log is really being captured
    lines = log.splitlines()
    errors = [n for n, line in enumerate(lines) if " ERROR " in line or "Traceback" in line]
    assert errors == [], "\n".join(lines[errors[0] : errors[0] + 40])  # the first error with its traceback
    # What a line says comes after its time and logger (a time's milliseconds can read "403"), and a
    # status is a word of its own (a port such as 55403 is not one).
    about = [line for line in lines if ABOUT_A_REFUSAL.search(line.partition(": ")[2])]
    assert len(about) <= 5, "\n".join(about)  # at most one line per refused handshake
    assert all(" INFO " in line or " WARNING " in line for line in about), "\n".join(about)
    for secret in (CLIENT_ADDRESS, "cookie-sentinel-4711", sara.cookie.split("=", 1)[1], evil):
        assert secret not in log, f"{secret!r} in the server log"
    # Nor a line for every socket that opened or closed (the visitor's above did both).
    assert "connection open" not in log and "connection closed" not in log


def test_an_app_that_really_leaves_a_handshake_unanswered_is_still_an_error() -> None:
    """Only a connection the service refused itself loses uvicorn's ERROR line; any other keeps it."""
    import contextvars
    import logging

    from nora.logs import INCOMPLETE_HANDSHAKE, PrivacyFilter, mark_refused

    def record() -> logging.LogRecord:
        return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, INCOMPLETE_HANDSHAKE, (), None)

    privacy = PrivacyFilter()
    assert contextvars.copy_context().run(lambda: privacy.filter(record())) is True

    def refused_here() -> bool:
        mark_refused()
        return privacy.filter(record())

    assert contextvars.copy_context().run(refused_here) is False
    assert contextvars.copy_context().run(lambda: privacy.filter(record())) is True  # other connections
