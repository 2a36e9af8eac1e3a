"""Staff authentication over HTTP against a real server (docs/protocol.md §4, Staff authentication)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import PASSWORD, LiveServer, ServerFactory

pytestmark = pytest.mark.anyio


async def test_login_sets_a_strict_http_only_cookie_and_me_returns_the_csrf_token(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base) as http:
        response = await http.post("/api/v1/auth/login", json={"username": "amina", "password": PASSWORD})
        assert response.status_code == 200
        body = response.json()
        assert body["user"]["name"] == "Amina" and body["user"]["roles"] == ["adviser"]
        assert "password_hash" not in body["user"]
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert "secure" not in cookie  # NORA_ENV=development serves plain http locally
        assert response.headers["cache-control"] == "no-store"
        me = await http.get("/api/v1/me")
        assert me.status_code == 200 and me.json()["csrf_token"] == body["csrf_token"]


async def test_wrong_user_and_wrong_password_answer_identically(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base) as http:
        wrong_password = await http.post("/api/v1/auth/login", json={"username": "amina", "password": "nope-nope"})
        no_user = await http.post("/api/v1/auth/login", json={"username": "nobody", "password": "nope-nope"})
    assert wrong_password.status_code == no_user.status_code == 401
    assert wrong_password.content == no_user.content
    assert wrong_password.json()["error"] == "invalid_credentials"


async def test_repeated_failures_are_throttled_per_account_with_retry_after(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base) as http:
        for _ in range(5):
            r = await http.post("/api/v1/auth/login", json={"username": "omar", "password": "wrong-password"})
            assert r.status_code == 401
        blocked = await http.post("/api/v1/auth/login", json={"username": "omar", "password": PASSWORD})
        assert blocked.status_code == 429 and blocked.json()["error"] == "too_many_attempts"
        assert int(blocked.headers["retry-after"]) > 0
        # Another account is not affected.
        assert (
            await http.post("/api/v1/auth/login", json={"username": "amina", "password": PASSWORD})
        ).status_code == 200


async def test_login_validation(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base) as http:
        r = await http.post("/api/v1/auth/login", json={"username": 5})
        assert r.status_code == 422 and set(r.json()["fields"]) == {"username", "password"}
        r = await http.post("/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["error"] == "invalid"
        r = await http.post("/api/v1/auth/login", content=b"x" * 70_000, headers={"content-type": "application/json"})
        assert r.status_code == 413


async def test_unauthenticated_and_wrong_role(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base) as http:
        for path in ("/api/v1/me", "/api/v1/queue", "/api/v1/registrations/pending", "/api/v1/stats/cases"):
            r = await http.get(path)
            assert r.status_code == 401 and r.json()["error"] == "unauthenticated", path
    amina = await server.login("amina")
    for path in ("/api/v1/queue", "/api/v1/stats/cases"):
        r = await amina.get(path)
        assert r.status_code == 403 and r.json()["error"] == "forbidden", path
    sara = await server.login("sara")
    assert (await sara.get("/api/v1/queue")).status_code == 200


async def test_state_changes_need_the_csrf_token(server: LiveServer) -> None:
    amina = await server.login("amina")
    r = await amina.http.post("/api/v1/auth/logout")
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
    r = await amina.http.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
    assert (await amina.get("/api/v1/me")).status_code == 200  # still logged in


async def test_foreign_origin_on_a_state_changing_request_is_refused(make_server: ServerFactory) -> None:
    server = await make_server(NORA_ALLOWED_ORIGINS="https://nora.example")
    async with httpx.AsyncClient(base_url=server.base) as http:
        r = await http.post(
            "/api/v1/auth/login",
            json={"username": "amina", "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
        )
        assert r.status_code == 403 and r.json()["error"] == "origin_not_allowed"
        r = await http.post(
            "/api/v1/auth/login",
            json={"username": "amina", "password": PASSWORD},
            headers={"Origin": "https://nora.example"},
        )
        assert r.status_code == 200


async def test_logout_revokes_the_session_and_closes_its_sockets(server: LiveServer) -> None:
    amina = await server.login("amina")
    ws = await amina.socket()
    await ws.expect("state")
    stolen_cookie = amina.cookie
    r = await amina.post("/api/v1/auth/logout", {})
    assert r.status_code == 204
    assert await ws.closed_code(timeout=5) == 1008
    async with httpx.AsyncClient(base_url=server.base) as http:
        http.cookies.set("nora_session", stolen_cookie.split("=", 1)[1])
        assert (await http.get("/api/v1/me")).status_code == 401


async def test_a_new_login_replaces_the_session_the_browser_brought(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base) as http:
        first = await http.post("/api/v1/auth/login", json={"username": "amina", "password": PASSWORD})
        assert first.status_code == 200
        old = http.cookies["nora_session"]
        await http.post("/api/v1/auth/login", json={"username": "amina", "password": PASSWORD})
        assert http.cookies["nora_session"] != old
    async with httpx.AsyncClient(base_url=server.base, cookies={"nora_session": old}) as other:
        assert (await other.get("/api/v1/me")).status_code == 401


async def test_cookies_are_secure_with_the_host_prefix_outside_development(make_server: ServerFactory) -> None:
    server = await make_server(NORA_ENV="production", NORA_SECRET_KEY="a-real-secret-of-enough-length")
    async with httpx.AsyncClient(base_url=server.base) as http:
        r = await http.post("/api/v1/auth/login", json={"username": "amina", "password": PASSWORD})
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-nora_session=") and "Secure" in cookie and "HttpOnly" in cookie
