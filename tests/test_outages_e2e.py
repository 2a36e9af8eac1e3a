"""A dependency that restarts or is away (issue 18 #11): stale pooled connections are replaced instead
of failing a request, and while a dependency is away a request gets a retryable answer (HTTP 503
``unavailable`` with Retry-After; on a socket the error frame ``unavailable`` with retry_after_ms, the
socket open) and the log gets a line, not a traceback per request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests import services
from tests.conftest import PASSWORD, ServerFactory, free_port
from tests.services import PrivateRedis

pytestmark = pytest.mark.anyio


async def terminate_connections(database_url: str) -> int:
    """What a PostgreSQL restart does to every connection the server holds to its database."""
    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(services.POSTGRES_URL.replace("+asyncpg", ""))
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()
    return len(rows)


@pytest.mark.postgres
async def test_after_postgresql_drops_every_connection_requests_and_messages_go_on(make_server: ServerFactory) -> None:
    server = await make_server("postgres")
    amina, console = await server.adviser("amina")
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    cid = (await visitor.expect("started"))["conversation_id"]
    await console.expect("assigned")
    await visitor.send({"type": "message", "client_id": "before", "text": "før"})
    await visitor.expect("ack")

    assert await terminate_connections(server.database_url) > 0
    assert (await amina.get("/api/v1/me")).status_code == 200  # no 500 on a stale pooled connection
    assert (await amina.get("/api/v1/registrations/pending")).status_code == 200
    # A message meets the batch's dead connection at most once, answered as retryable; resent, it is stored.
    tries = 0
    for _ in range(3):
        tries += 1
        await visitor.send({"type": "message", "client_id": "after", "text": "etter"})
        frame = await visitor.recv(10)
        while frame["type"] not in ("ack", "error"):
            frame = await visitor.recv(10)
        if frame["type"] == "ack":
            break
        assert (frame["code"], frame["ref"]) == ("unavailable", "message") and frame["retry_after_ms"] > 0
    assert frame["type"] == "ack" and tries <= 2
    got = await console.expect("message", conversation_id=cid, sender="visitor", text="etter")
    assert got["seq"] == frame["seq"]
    assert "Traceback" not in server.log()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(free_port(), str(tmp_path))
    redis.start()
    yield redis
    redis.stop()


@pytest.mark.redis
async def test_while_redis_is_away_login_answers_503_with_retry_after(
    make_server: ServerFactory,
    private_redis: PrivateRedis,
) -> None:
    server = await make_server(NORA_REDIS_URL=private_redis.url)
    await asyncio.to_thread(private_redis.stop)
    async with httpx.AsyncClient(base_url=server.base, headers={"Origin": server.base}) as http:
        for _ in range(3):
            r = await http.post("/api/v1/auth/login", json={"username": "amina", "password": PASSWORD})
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "unavailable" and int(r.headers["retry-after"]) > 0
    assert "Traceback" not in server.log()
    await asyncio.to_thread(private_redis.start)
    async with httpx.AsyncClient(base_url=server.base, headers={"Origin": server.base}) as http:
        for _ in range(50):  # the client reconnects on its own once Redis is back
            r = await http.post("/api/v1/auth/login", json={"username": "amina", "password": PASSWORD})
            if r.status_code == 200:
                break
            await asyncio.sleep(0.2)
        assert r.status_code == 200
