"""Two instances on Redis and PostgreSQL behind no sticky sessions: a conversation spans both,
survives the death of one, and logout on one closes sockets on the other; and the same behind a real
load balancer (HAProxy), with an instance killed and started again while conversations go on."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests import services
from tests.chat import lb_clients as lb
from tests.chat.cluster import Cluster, cluster_of
from tests.client import WS, Staff
from tests.conftest import PASSWORD, Databases, LiveServer, ServerFactory

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.postgres]


async def two_instances(make_server: ServerFactory, **extra: str) -> tuple[LiveServer, LiveServer]:
    redis_url = services.need("Redis", services.REDIS_URL)
    env = {"NORA_REDIS_URL": redis_url, "NORA_REDIS_PREFIX": f"nora-test-{uuid.uuid4().hex[:8]}", **extra}
    first = await make_server("postgres", **env)
    second = await make_server("postgres", NORA_DATABASE_URL=first.database_url, **env)
    return first, second


async def test_conversation_across_instances_survives_one_dying(make_server: ServerFactory) -> None:
    a, b = await two_instances(make_server)
    _, console = await b.adviser("amina")
    visitor = await a.visitor()
    await visitor.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    started = await visitor.expect("started")
    cid = started["conversation_id"]
    assert (await visitor.expect("assigned"))["adviser"]["name"] == "Amina"  # routed by B's adviser
    await console.expect("assigned")
    await visitor.send({"type": "message", "client_id": "v1", "text": "fra A"})
    ack = await visitor.expect("ack")
    assert (await console.expect("message", conversation_id=cid, sender="visitor"))["seq"] == ack["seq"]
    await console.send({"type": "message", "conversation_id": cid, "client_id": "a1", "text": "fra B"})
    await console.expect("ack", conversation_id=cid)
    last = (await visitor.expect("message", sender="adviser"))["seq"]

    # Instance A dies without a goodbye; the adviser keeps writing; the visitor resumes on B.
    a.process.send_signal(signal.SIGKILL)
    a.process.wait(5)
    await console.send({"type": "message", "conversation_id": cid, "client_id": "a2", "text": "mens A var nede"})
    await console.expect("ack", conversation_id=cid)
    again = await b.visitor()
    await again.send({"type": "resume", "token": started["token"], "last_seq": last})
    await again.expect("resumed")
    missed = await again.expect("message")
    assert (missed["seq"], missed["text"]) == (last + 1, "mens A var nede")


async def test_a_warm_offer_made_before_an_instance_started_is_known_to_it(make_server: ServerFactory) -> None:
    """Offers are shared, not one instance's memory: the colleague's console, reconnecting to an instance
    started after the offer (as in a rolling restart), lists it and accepts it there."""
    redis_url = services.need("Redis", services.REDIS_URL)
    env = {"NORA_REDIS_URL": redis_url, "NORA_REDIS_PREFIX": f"nora-test-{uuid.uuid4().hex[:8]}"}
    a = await make_server("postgres", **env)
    _, amina = await a.adviser("amina")
    omar_staff, omar = await a.adviser("omar")
    visitor = await a.visitor()
    await visitor.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    cid = (await visitor.expect("started"))["conversation_id"]
    await amina.expect("assigned")
    await visitor.expect("assigned")
    await amina.send({"type": "transfer_offer", "conversation_id": cid, "adviser_id": omar_staff.user["id"]})
    await omar.expect("transfer_offer")
    await omar.close()

    b = await make_server("postgres", NORA_DATABASE_URL=a.database_url, **env)
    omar = await WS.open(b.ws_base + "/ws/adviser", origin=b.base, cookie=omar_staff.cookie)
    assert (await omar.expect("state"))["offers"] == [cid]
    assert (await omar.expect("transfer_offer"))["conversation"]["id"] == cid
    await omar.send({"type": "status", "status": "available"})
    await omar.expect("status", status="available")
    await omar.send({"type": "transfer_accept", "conversation_id": cid})
    assert (await omar.expect("assigned"))["conversation"]["id"] == cid
    assert (await amina.expect("transfer_answer", conversation_id=cid))["outcome"] == "accepted"
    assert (await amina.expect("unassigned", conversation_id=cid))["reason"] == "transferred"
    assert (await visitor.expect("assigned"))["adviser"]["name"] == "Omar"


async def test_an_admins_change_of_an_adviser_reaches_the_other_instance_at_once(make_server: ServerFactory) -> None:
    """Profiles are cached for minutes; a change made through one instance is read again by every
    instance at its next use: the next visitor routed on the other instance is told the new name."""
    a, b = await two_instances(make_server)
    _, amina = await b.adviser("amina")
    first = await b.visitor()
    await first.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    assert (await first.expect("assigned"))["adviser"]["name"] == "Amina"  # B has her profile cached now
    admin = await a.login("admin")
    changed = await admin.http.patch(
        "/api/v1/users/amina", json={"name": "Amina K."}, headers={"Origin": admin.origin, "X-CSRF-Token": admin.csrf}
    )
    assert changed.status_code == 200
    await amina.quiet(0.3)
    second = await b.visitor()
    await second.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    assert (await second.expect("assigned"))["adviser"]["name"] == "Amina K."


async def test_logout_on_one_instance_closes_the_socket_on_the_other(make_server: ServerFactory) -> None:
    a, b = await two_instances(make_server)
    amina = await a.login("amina")
    ws = await WS.open(b.ws_base + "/ws/adviser", origin=b.base, cookie=amina.cookie)
    await ws.expect("state")
    assert (await amina.post("/api/v1/auth/logout", {})).status_code == 204
    assert await ws.closed_code(timeout=5) == 1008


@pytest.fixture
async def cluster(databases: Databases, tmp_path: Path) -> AsyncIterator[Cluster]:
    async for running in cluster_of(databases, tmp_path, 2):
        yield running


async def test_behind_haproxy_an_instance_killed_and_restarted_loses_nothing(cluster: Cluster) -> None:
    """Two instances behind HAProxy (round robin, no stickiness, health checks on /readyz). One is
    killed mid-conversation and started again: its clients reconnect through the load balancer to the
    other and resume; every acknowledged message is stored once, and both ends see every seq once, in
    order."""
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
        await cluster.kill(0)
        await asyncio.sleep(1.0)
        await cluster.start(0)
        await asyncio.sleep(1.0)
        stop.set()
        await talking
        await lb.wait_settled(visitors, adviser)
        assert any(c.close_codes for c in clients), "no client was on the killed instance"
        assert await lb.check_against_database(cluster.database_url, visitors, adviser) == []
        assert all(not c.errors for c in clients), [c.errors for c in clients]
        assert adviser.unassigned == []
    finally:
        await amina.aclose()
        for c in clients:
            await c.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_visitors_of_an_instance_killed_for_good_are_marked_away_by_the_other(
    make_server: ServerFactory,
) -> None:
    """An instance killed without a goodbye never closes its sockets: its visitors would stay present
    forever, a queued one waiting to be given to an adviser who then talks to nobody. The surviving
    instance notices the silence (lease 3 s here), marks them away (the adviser is told, a queued chat
    is no longer offered), and their grace period runs to the timeout; a visitor who came back through
    the survivor is left alone."""
    a, b = await two_instances(make_server, NORA_INSTANCE_LEASE_S="3", NORA_VISITOR_GRACE_S="4")
    _, console = await b.adviser("amina")
    start = {"type": "start", "language": "ar", "region": "03", "audience": "youth"}
    gone, back = await a.visitor(), await a.visitor()
    for ws in (gone, back):
        await ws.send(start)
    gone_id = (await gone.expect("started"))["conversation_id"]
    back_started = await back.expect("started")
    for ws in (gone, back):
        await ws.expect("assigned")
        await console.expect("assigned")

    a.process.send_signal(signal.SIGKILL)
    a.process.wait(5)
    again = await b.visitor()
    await again.send({"type": "resume", "token": back_started["token"], "last_seq": 0})
    await again.expect("resumed")

    away = await console.expect("visitor", timeout=15, presence="away")
    assert away["conversation_id"] == gone_id  # only the one nobody came back for
    closed = await console.expect("conversation_closed", timeout=15, conversation_id=gone_id)
    assert closed["reason"] == "visitor_timeout"
    await again.send({"type": "message", "client_id": "still-here", "text": "er du der?"})
    assert (await again.expect("ack"))["seq"] > 0
    msg = await console.expect("message", conversation_id=back_started["conversation_id"], sender="visitor")
    assert msg["text"] == "er du der?"


async def test_a_notice_sent_before_an_instance_started_is_shown_there(make_server: ServerFactory) -> None:
    """The supervisors' recent notices are kept in Redis, not in one instance's memory: a console that
    opens on an instance started after the notice (a rolling restart, one more instance) is shown it."""
    redis_url = services.need("Redis", services.REDIS_URL)
    env = {"NORA_REDIS_URL": redis_url, "NORA_REDIS_PREFIX": f"nora-test-{uuid.uuid4().hex[:8]}"}
    a = await make_server("postgres", **env)
    sara = await a.login("sara")
    assert (await sara.post("/api/v1/notices", {"text": "Møte kl. 14"})).status_code == 202

    b = await make_server("postgres", NORA_DATABASE_URL=a.database_url, **env)
    _, omar = await b.adviser("omar", available=False)
    late = await omar.expect("notice")
    assert (late["text"], late["from"]) == ("Møte kl. 14", "Sara")
