"""Staff accounts over HTTP (role admin): create, list, change, disable and enable, on a real server.

Disabling is what an administrator does when an adviser leaves, so it is tested as she would notice it:
the adviser's console and dashboard close within 2 s (on another instance too), her login and her open
session are refused, and the visitor she was talking to is back in the queue at the place they had."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from tests import cli, services
from tests.client import WS, Staff
from tests.conftest import PASSWORD, LiveServer, ServerFactory

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "kveldssol-over-fjorden"
LINA: dict[str, Any] = {
    "username": "lina",
    "name": "Lina Berg",
    "roles": ["adviser", "supervisor"],
    "service": "MR",
    "regions": ["03"],
    "languages": ["ar", "nb"],
    "capacity": 2,
    "password": NEW_PASSWORD,
}


async def patch(staff: Staff, path: str, body: dict[str, Any], *, csrf: bool = True) -> httpx.Response:
    headers = {"Origin": staff.origin, **({"X-CSRF-Token": staff.csrf} if csrf else {})}
    return await staff.http.patch(path, json=body, headers=headers)


async def login_status(server: LiveServer, username: str, password: str) -> int:
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        r = await http.post("/api/v1/auth/login", json={"username": username, "password": password})
        return r.status_code


async def create_lina(server: LiveServer, admin: Staff, **changes: Any) -> Staff:
    r = await admin.post("/api/v1/users", {**LINA, **changes})
    assert r.status_code == 201, r.text
    lina = await Staff.login(server.base, LINA["username"], NEW_PASSWORD)
    server.staff.append(lina)
    return lina


async def test_create_log_in_list_and_change(server: LiveServer) -> None:
    admin = await server.login("admin")
    r = await admin.post("/api/v1/users", LINA)
    assert r.status_code == 201, r.text
    assert r.json() == {**{k: v for k, v in LINA.items() if k != "password"}, "disabled": False, "last_login_at": None}
    assert await login_status(server, "lina", NEW_PASSWORD) == 200

    listed = await admin.get("/api/v1/users")
    assert listed.status_code == 200
    assert "argon2" not in listed.text and "hash" not in listed.text and NEW_PASSWORD not in listed.text
    by_name = {u["username"]: u for u in listed.json()["users"]}
    assert set(by_name) == {"admin", "amina", "jonas", "lina", "omar", "sara"}
    lina = by_name["lina"]
    assert set(lina) == {k for k in LINA if k != "password"} | {"disabled", "last_login_at"}
    assert lina["last_login_at"] is not None and lina["last_login_at"].endswith("Z")
    assert by_name["omar"]["last_login_at"] is None  # never logged in

    again = await admin.post("/api/v1/users", {**LINA, "name": "Another Lina"})
    assert again.status_code == 409 and again.json()["error"] == "exists"

    changed = await patch(admin, "/api/v1/users/lina", {"roles": ["adviser"], "capacity": 4, "languages": ["so"]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["roles"], changed.json()["capacity"], changed.json()["languages"]) == (
        ["adviser"],
        4,
        ["so"],
    )
    renamed = await patch(admin, "/api/v1/users/lina", {"username": "lina2", "name": "Lina B."})
    assert renamed.status_code == 422 and set(renamed.json()["fields"]) == {"username"}
    assert (await patch(admin, "/api/v1/users/nobody", {"name": "X"})).status_code == 404
    after = {u["username"]: u for u in (await admin.get("/api/v1/users")).json()["users"]}
    assert after["lina"]["name"] == "Lina Berg" and "lina2" not in after  # the refused change changed nothing

    audit = (await admin.get("/api/v1/audit", action="user_created")).json()["entries"]
    assert [(e["actor"], e["detail"].split(";")[0]) for e in audit] == [("admin", "username=lina")]
    (changed_entry,) = (await admin.get("/api/v1/audit", action="user_changed")).json()["entries"]
    assert NEW_PASSWORD not in changed_entry["detail"] and "capacity" in changed_entry["detail"]


async def test_password_rules(server: LiveServer) -> None:
    admin = await server.login("admin")
    for weak in ("short-pw", "password1234", "Password2024!", "aaaaaaaaaaaaaa", "lina-is-my-name"):
        r = await admin.post("/api/v1/users", {**LINA, "password": weak})
        assert r.status_code == 422, weak
        assert r.json()["error"] == "invalid" and set(r.json()["fields"]) == {"password"}, r.json()
    assert (await admin.get("/api/v1/users")).text.count('"lina"') == 0

    await create_lina(server, admin)
    r = await patch(admin, "/api/v1/users/lina", {"password": "qwertyuiop12"})
    assert r.status_code == 422 and set(r.json()["fields"]) == {"password"}
    assert await login_status(server, "lina", NEW_PASSWORD) == 200  # the refused change kept the password
    assert (await patch(admin, "/api/v1/users/lina", {"password": "ny-og-lang-nok-frase"})).status_code == 200
    assert await login_status(server, "lina", NEW_PASSWORD) == 401
    assert await login_status(server, "lina", "ny-og-lang-nok-frase") == 200


async def test_required_fields_and_role_rules(server: LiveServer) -> None:
    admin = await server.login("admin")
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"username": "x1"}, {"name", "roles", "password"}),
        ({**LINA, "roles": ["adviser"], "service": None, "languages": []}, {"service", "languages"}),
        ({**LINA, "regions": []}, {"regions"}),  # MR needs regions
        ({**LINA, "regions": ["99"], "languages": ["xx"]}, {"regions", "languages"}),
        ({**LINA, "roles": ["wizard"]}, {"roles"}),
        ({**LINA, "roles": "adviser", "capacity": "3"}, {"roles", "capacity"}),
        ({**LINA, "username": "Ø"}, {"username"}),
        ({**LINA, "surprise": True}, {"surprise"}),
    ]
    for body, fields in cases:
        r = await admin.post("/api/v1/users", body)
        assert r.status_code == 422, body
        assert r.json()["error"] == "invalid" and set(r.json()["fields"]) == fields, (body, r.json())
    # AT needs no regions; a supervisor needs neither service nor languages.
    at = {**LINA, "username": "per", "service": "AT", "regions": []}
    assert (await admin.post("/api/v1/users", at)).status_code == 201
    sup = {"username": "kari", "name": "Kari", "roles": ["supervisor"], "password": NEW_PASSWORD}
    assert (await admin.post("/api/v1/users", sup)).status_code == 201
    # A change is checked on the account as it would be: Kari as an adviser needs a service and languages.
    r = await patch(admin, "/api/v1/users/kari", {"roles": ["adviser"]})
    assert r.status_code == 422 and set(r.json()["fields"]) == {"service", "languages"}
    r = await patch(admin, "/api/v1/users/per", {"service": "MR"})
    assert r.status_code == 422 and set(r.json()["fields"]) == {"regions"}
    r = await patch(admin, "/api/v1/users/kari", {"roles": ["adviser"], "service": "AT", "languages": ["nb"]})
    assert r.status_code == 200 and r.json()["service"] == "AT"


async def test_csrf_and_role_refusals(server: LiveServer) -> None:
    admin = await server.login("admin")
    r = await admin.http.post("/api/v1/users", json=LINA, headers={"Origin": admin.origin})
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
    r = await patch(admin, "/api/v1/users/amina", {"disabled": True}, csrf=False)
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
    for username in ("amina", "sara"):  # an adviser, a supervisor
        staff = await server.login(username)
        assert (await staff.get("/api/v1/users")).status_code == 403
        r = await staff.post("/api/v1/users", LINA)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        r = await patch(staff, "/api/v1/users/amina", {"disabled": True})
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
    async with httpx.AsyncClient(base_url=server.base) as anonymous:
        assert (await anonymous.get("/api/v1/users")).status_code == 401
    assert await login_status(server, "amina", PASSWORD) == 200  # nothing was disabled
    assert await login_status(server, "lina", NEW_PASSWORD) == 401  # nothing was created


async def test_last_admin(server: LiveServer) -> None:
    admin = await server.login("admin")
    for change in ({"disabled": True}, {"roles": ["supervisor"]}):
        r = await patch(admin, "/api/v1/users/admin", change)
        assert r.status_code == 409 and r.json()["error"] == "last_admin", change
    boss = {"username": "boss", "name": "Boss", "roles": ["admin"], "password": NEW_PASSWORD}
    assert (await admin.post("/api/v1/users", boss)).status_code == 201
    # With a second admin, the first may go; then the second is the last.
    assert (await patch(admin, "/api/v1/users/admin", {"roles": ["supervisor"]})).status_code == 200
    assert (await admin.get("/api/v1/users")).status_code == 403  # no longer an admin, at once
    boss_staff = await Staff.login(server.base, "boss", NEW_PASSWORD)
    server.staff.append(boss_staff)
    r = await patch(boss_staff, "/api/v1/users/boss", {"disabled": True})
    assert r.status_code == 409 and r.json()["error"] == "last_admin"
    # An admin who is disabled is not one that remains.
    assert (await patch(boss_staff, "/api/v1/users/admin", {"roles": ["admin"], "disabled": True})).status_code == 200
    r = await patch(boss_staff, "/api/v1/users/boss", {"roles": ["supervisor"]})
    assert r.status_code == 409 and r.json()["error"] == "last_admin"


async def test_disabling_an_adviser_closes_her_sockets_and_requeues_her_chats(server: LiveServer) -> None:
    admin = await server.login("admin")
    lina = await create_lina(server, admin)
    console = await lina.socket()
    server.sockets.append(console)
    await console.expect("state")
    await console.send({"type": "status", "status": "available"})
    await console.expect("status", status="available")
    dashboard = await lina.socket("/ws/supervisor")
    server.sockets.append(dashboard)
    await dashboard.expect("queue")

    first = await server.visitor()
    await first.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    first_id = (await first.expect("started"))["conversation_id"]
    await first.expect("assigned")
    await console.expect("assigned")
    await asyncio.sleep(1.1)  # so that waited_s tells the two apart
    later = await server.visitor()  # nobody can serve Tigrinya in region 50 now: it waits
    await later.send({"type": "start", "language": "ti", "region": "50", "audience": "youth"})
    later_id = (await later.expect("started"))["conversation_id"]

    started = time.monotonic()
    r = await patch(admin, "/api/v1/users/lina", {"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert await console.closed_code(timeout=2) == 1008
    assert await dashboard.closed_code(timeout=2) == 1008
    assert time.monotonic() - started < 2

    notice = await first.expect("message", timeout=2, sender="system", event="requeued")
    assert notice["text"]
    waiting = (await admin.get("/api/v1/queue")).json()["waiting"]
    assert [w["conversation_id"] for w in waiting] == [first_id, later_id]  # the older one first, as before
    assert waiting[0]["waited_s"] > waiting[1]["waited_s"]  # its wait counts from its start

    assert (await lina.get("/api/v1/me")).status_code == 401  # her open session is refused
    assert await login_status(server, "lina", NEW_PASSWORD) == 401
    refused = await login_status_socket(server, lina)
    assert refused == 403

    # Enabled again, she may log in; the conversation she had is no longer hers.
    assert (await patch(admin, "/api/v1/users/lina", {"disabled": False})).json()["disabled"] is False
    assert await login_status(server, "lina", NEW_PASSWORD) == 200
    actions = [e["action"] for e in (await admin.get("/api/v1/audit")).json()["entries"]]
    assert actions[:3] == ["user_enabled", "user_disabled", "user_created"]


async def login_status_socket(server: LiveServer, staff: Staff) -> int:
    """The HTTP status a console socket opened with ``staff``'s old cookie is refused with."""
    try:
        ws = await WS.open(server.ws_base + "/ws/adviser", origin=server.base, cookie=staff.cookie)
    except Exception as exc:  # noqa: BLE001 - websockets raises InvalidStatus for a refused upgrade
        response = getattr(exc, "response", None)
        return int(getattr(response, "status_code", 0))
    await ws.close()
    return 101


async def test_disabling_from_the_command_line_refuses_the_open_session(server: LiveServer) -> None:
    amina = await server.login("amina")
    assert (await amina.get("/api/v1/me")).status_code == 200
    done = await asyncio.to_thread(cli.run, "user", "set", "amina", "--disable", env=server.env)
    assert done.returncode == 0, done.stderr
    assert (await amina.get("/api/v1/me")).status_code == 401
    assert await login_status(server, "amina", PASSWORD) == 401


@pytest.mark.redis
@pytest.mark.postgres
async def test_disabling_closes_sockets_on_another_instance(make_server: ServerFactory) -> None:
    env = {
        "NORA_REDIS_URL": services.need("Redis", services.REDIS_URL),
        "NORA_REDIS_PREFIX": f"nora-test-{uuid.uuid4().hex[:8]}",
    }
    a = await make_server("postgres", **env)
    b = await make_server("postgres", NORA_DATABASE_URL=a.database_url, **env)
    _, console = await b.adviser("amina")
    visitor = await b.visitor()
    await visitor.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
    conversation_id = (await visitor.expect("started"))["conversation_id"]
    await console.expect("assigned")

    admin = await a.login("admin")
    started = time.monotonic()
    assert (await patch(admin, "/api/v1/users/amina", {"disabled": True})).status_code == 200
    assert await console.closed_code(timeout=2) == 1008
    assert time.monotonic() - started < 2
    await visitor.expect("message", timeout=2, sender="system", event="requeued")
    waiting = (await admin.get("/api/v1/queue")).json()["waiting"]
    assert [w["conversation_id"] for w in waiting] == [conversation_id]
