"""Rolling restart behind HAProxy (chat/drain.py): every instance in turn gets SIGTERM while
conversations go on. Each one takes itself out of the load balancer (/readyz 503, new sockets 503),
tells its clients to reconnect with 1012, hands its advisers' leases over and exits; the clients resume
on the others. Nothing is lost, duplicated, reordered or requeued, and no notice says anyone left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.chat import lb_clients as lb
from tests.chat.cluster import Cluster, cluster_of, no_errors_logged
from tests.client import Staff
from tests.conftest import PASSWORD, Databases

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.postgres]
WS_1012_SERVICE_RESTART = 1012


@pytest.fixture
async def cluster(databases: Databases, tmp_path: Path) -> AsyncIterator[Cluster]:
    async for running in cluster_of(databases, tmp_path, 2):
        yield running


async def drain_is_visible(base: str) -> None:
    """Right after SIGTERM the instance answers /readyz with 503 and refuses new sockets with 503."""
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        ready = await http.get("/readyz")
    assert (ready.status_code, ready.json().get("draining")) == (503, True)
    with pytest.raises(InvalidStatus) as refused:
        await connect(base.replace("http://", "ws://") + "/ws/visitor", open_timeout=2)
    assert refused.value.response.status_code == 503


async def test_a_rolling_restart_of_every_instance_loses_nothing(
    cluster: Cluster, record_property: Callable[[str, object], None]
) -> None:
    amina = await Staff.login(cluster.base, "amina", PASSWORD)
    adviser = lb.Adviser(cluster.base, "amina", amina.cookie)
    visitors = [lb.Visitor(cluster.base, f"visitor{i}") for i in range(2)]
    clients: list[lb.Client] = [adviser, *visitors]
    tasks = [asyncio.create_task(c.run()) for c in clients]
    stop = asyncio.Event()
    try:
        await asyncio.wait_for(asyncio.gather(*(v.assigned.wait() for v in visitors), adviser.live.wait()), 10)
        talking = asyncio.create_task(lb.talk(visitors, adviser, stop))
        await asyncio.sleep(1.0)
        for index in range(len(cluster.ports)):
            base = f"http://127.0.0.1:{cluster.ports[index]}"
            cluster.process(index).send_signal(15)
            await asyncio.sleep(0.2)
            await drain_is_visible(base)
            status = await asyncio.to_thread(cluster.process(index).wait, 30)
            assert status in (0, -15), f"instance {index} exited with {status}"
            await cluster.start(index)
            await asyncio.sleep(1.0)
        stop.set()
        await talking
        await lb.wait_settled(visitors, adviser)

        # Every client was on one of the instances, so every client was told to reconnect, with 1012.
        for client in clients:
            assert WS_1012_SERVICE_RESTART in client.close_codes, (client.name, client.close_codes)
            assert set(client.close_codes) == {WS_1012_SERVICE_RESTART}, (client.name, client.close_codes)
        assert await lb.check_against_database(cluster.database_url, visitors, adviser) == []
        assert all(not c.errors for c in clients), [c.errors for c in clients]
        # The adviser kept both conversations, and nobody was told that anyone had gone.
        assert adviser.unassigned == []
        conn = await asyncpg.connect(cluster.database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            notices = await conn.fetch("SELECT DISTINCT event FROM message WHERE sender = 'system'")
            states = await conn.fetch("SELECT state, adviser_id FROM conversation")
        finally:
            await conn.close()
        assert {r["event"] for r in notices} == {"assigned"}
        assert {r["state"] for r in states} == {"assigned"}
        longest = max(gap for c in clients for gap in c.gaps)
        record_property("longest_without_socket_ms", round(longest * 1000))  # in the junit report
        # Back within a few hundred milliseconds on a quiet machine; the bound only rules out waiting for
        # a timeout (a keepalive or the hello deadline, 20-30 s) on a busy one.
        assert longest < 10.0, f"a client was without a working socket for {longest * 1000:.0f} ms"
        assert no_errors_logged(cluster.logs()) == []
    finally:
        await amina.aclose()
        for c in clients:
            await c.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
