"""Privacy by design: after a full session, neither the log nor the database holds a client address,
and the log holds no message text, token or session id."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import PASSWORD, LiveServer

pytestmark = pytest.mark.anyio

CLIENT_ADDRESS = "127.0.0.77"  # a loopback address of its own, so any trace of it is ours
FORWARDED = "203.0.113.77"  # spoofed X-Forwarded-For, must not be trusted or stored
AGENT = "SentinelBrowser/9.9"
SECRET_TEXT = "sentinel-secret-text-4711"


def dump_sqlite(url: str) -> str:
    path = url.split(":///", 1)[1]
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return json.dumps({t: conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}, default=str)
    finally:
        conn.close()


async def test_no_client_address_token_or_text_in_logs_and_no_address_in_the_database(server: LiveServer) -> None:
    headers = {"User-Agent": AGENT, "X-Forwarded-For": FORWARDED, "X-Real-IP": FORWARDED}
    transport = httpx.AsyncHTTPTransport(local_address=CLIENT_ADDRESS)
    async with httpx.AsyncClient(base_url=server.base, transport=transport, headers=headers) as http:
        login = await http.post("/api/v1/auth/login", json={"username": "amina", "password": PASSWORD})
        assert login.status_code == 200
        session_token = http.cookies["nora_session"]
        bad = await http.post("/api/v1/auth/login", json={"username": "amina", "password": "wrong-password"})
        assert bad.status_code == 401
        adviser = await connect(
            server.ws_base + "/ws/adviser?probe=query-sentinel",
            origin=server.base,  # type: ignore[arg-type]
            additional_headers={**headers, "Cookie": f"nora_session={session_token}"},
            local_addr=(CLIENT_ADDRESS, 0),
            compression=None,
        )
        visitor = await connect(
            server.ws_base + "/ws/visitor", additional_headers=headers, local_addr=(CLIENT_ADDRESS, 0), compression=None
        )
        await adviser.recv()  # state
        await adviser.send(json.dumps({"type": "status", "status": "available"}))
        await visitor.send(json.dumps({"type": "start", "language": "nb", "region": "03", "audience": "youth"}))
        started = json.loads(await visitor.recv())
        token = started["token"]
        while json.loads(await visitor.recv())["type"] != "assigned":
            pass
        await visitor.send(json.dumps({"type": "message", "client_id": "s1", "text": SECRET_TEXT}))
        while json.loads(await visitor.recv())["type"] != "ack":
            pass
        await visitor.close()
        resumed = await connect(server.ws_base + "/ws/visitor", local_addr=(CLIENT_ADDRESS, 0), compression=None)
        await resumed.send(json.dumps({"type": "resume", "token": token, "last_seq": 0}))
        assert json.loads(await resumed.recv())["type"] == "resumed"
        await resumed.send(json.dumps({"type": "leave"}))
        await resumed.close()
        await adviser.close()
        await http.post("/api/v1/auth/logout", headers={"X-CSRF-Token": login.json()["csrf_token"]})

    log = server.log()
    assert "Application startup complete" in log  # the log is really being captured
    for secret in (CLIENT_ADDRESS, FORWARDED, SECRET_TEXT, token, session_token, AGENT, "query-sentinel"):
        assert secret not in log, f"{secret!r} leaked into the server log"
    database = dump_sqlite(server.database_url)
    assert SECRET_TEXT in database  # the dump really covers the transcript
    for secret in (CLIENT_ADDRESS, FORWARDED, AGENT, token, session_token):
        assert secret not in database, f"{secret!r} stored in the database"
