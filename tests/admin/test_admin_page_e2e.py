"""The admin page's server side: the page itself and what it reads that no other endpoint gives
(the retention periods in force), on a real server."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer, ServerFactory

pytestmark = pytest.mark.anyio


async def test_admin_page_is_served_with_the_strict_policy(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base) as http:
        r = await http.get("/admin")
    assert r.status_code == 200
    assert '<script type="module" src="/static/admin/admin.js">' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


async def test_retention_periods_are_shown_to_admins_only(make_server: ServerFactory) -> None:
    server = await make_server(NORA_TRANSCRIPT_RETENTION_HOURS="48")
    async with httpx.AsyncClient(base_url=server.base) as http:
        assert (await http.get("/api/v1/retention")).status_code == 401
    sara = await server.login("sara")
    refused = await sara.get("/api/v1/retention")
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    admin = await server.login("admin")
    r = await admin.get("/api/v1/retention")
    assert r.status_code == 200
    assert r.json()["transcript_hours"] == 48
