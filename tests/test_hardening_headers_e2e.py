"""Security headers over HTTP (issue 18 #12), against a real uvicorn in production mode (what the outside
probe saw) and in development."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio

SECRET = "a-production-secret-for-tests-0123456789"
PORTAL = "https://nora.example"
STAFF_AND_API = ("/console", "/supervisor", "/api/v1/status", "/api/v1/me", "/healthz", "/api/v1/nothing-here")


def csp(response: httpx.Response) -> dict[str, list[str]]:
    out = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        out[name] = values
    return out


async def test_production_headers_without_embedding_origins(make_server: ServerFactory) -> None:
    server = await make_server(NORA_ENV="production", NORA_SECRET_KEY=SECRET)
    async with httpx.AsyncClient(base_url=server.base) as http:
        for path in ("/", *STAFF_AND_API):
            r = await http.get(path)
            assert r.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains", path
            assert r.headers["x-frame-options"] == "DENY", path
            policy = csp(r)
            assert policy["frame-ancestors"] == ["'none'"], path
            assert policy["connect-src"] == ["'self'"], path  # no ws:/wss: to any host
        refused = await http.post("/api/v1/auth/login", json={}, headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403 and refused.headers["x-frame-options"] == "DENY"
        assert refused.headers["strict-transport-security"].startswith("max-age=63072000")


async def test_the_widget_may_be_framed_by_the_configured_origins_only(make_server: ServerFactory) -> None:
    origins = f"{PORTAL},http://localhost:8080"
    server = await make_server(NORA_ENV="production", NORA_SECRET_KEY=SECRET, NORA_ALLOWED_ORIGINS=origins)
    async with httpx.AsyncClient(base_url=server.base) as http:
        widget = await http.get("/")
        assert widget.status_code == 200
        # X-Frame-Options has no allow-list: it is left off where CSP frame-ancestors names embedders.
        assert "x-frame-options" not in widget.headers
        assert csp(widget)["frame-ancestors"] == ["'self'", PORTAL, "http://localhost:8080"]
        for path in STAFF_AND_API:
            r = await http.get(path)
            assert r.headers["x-frame-options"] == "DENY", path
            assert csp(r)["frame-ancestors"] == ["'none'"], path
        for r in (widget, await http.get("/console")):
            connect = csp(r)["connect-src"]
            assert connect == ["'self'", PORTAL, "wss://nora.example", "http://localhost:8080", "ws://localhost:8080"]


async def test_no_hsts_in_development(make_server: ServerFactory) -> None:
    server = await make_server(NORA_ENV="development")
    async with httpx.AsyncClient(base_url=server.base) as http:
        for path in ("/", "/console", "/api/v1/status"):
            r = await http.get(path)
            assert "strict-transport-security" not in r.headers, path  # plain http on localhost
            assert r.headers["x-frame-options"] == "DENY", path
            assert "ws:" not in csp(r)["connect-src"] and "wss:" not in csp(r)["connect-src"]
