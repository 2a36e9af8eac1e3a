"""Operations endpoints, security headers and public endpoints against a real server."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer, ServerFactory, closed_hours

pytestmark = pytest.mark.anyio


async def test_health_ready_and_metrics(make_server: ServerFactory) -> None:
    token = "metrics-token-of-the-ops-test"
    server = await make_server(NORA_METRICS_TOKEN=token)
    async with httpx.AsyncClient(base_url=server.base) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}
        visitor = await server.visitor()
        await visitor.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
        await visitor.expect("started")
        metrics = (await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})).text
    assert 'nora_connections{role="visitor"} 1.0' in metrics
    assert "nora_queue_length 1.0" in metrics
    assert "nora_conversations_total 1.0" in metrics


async def test_pages_and_apis_send_no_store_and_a_strict_csp(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base) as http:
        for path in ("/api/v1/status", "/healthz", "/api/v1/me"):
            r = await http.get(path)
            assert r.headers["cache-control"] == "no-store", path
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "object-src 'none'" in csp and "unsafe-inline" not in csp
            assert r.headers["x-content-type-options"] == "nosniff"
        missing = await http.get("/api/v1/nothing-here")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        wrong = await http.delete("/api/v1/reference")
        assert wrong.status_code == 405


async def test_reference_and_status_for_the_widget(make_server: ServerFactory) -> None:
    server = await make_server(NORA_ALLOWED_ORIGINS="https://nora.example")
    async with httpx.AsyncClient(base_url=server.base) as http:
        ref = await http.get("/api/v1/reference", headers={"Origin": "https://nora.example"})
        assert ref.headers["access-control-allow-origin"] == "https://nora.example"
        body = ref.json()
        arabic = next(lang for lang in body["languages"] if lang["code"] == "ar")
        assert arabic == {"code": "ar", "name": {"nb": "arabisk", "en": "Arabic"}, "native": "العربية", "rtl": True}
        assert {r["code"] for r in body["regions"]} >= {"03", "46", "56"}
        assert "112" in {h["number"] for h in body["help_lines"]}
        evil = await http.get("/api/v1/reference", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers


async def test_status_tells_the_widget_whether_someone_can_answer(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base) as http:
        status = (await http.get("/api/v1/status", params={"region": "03", "language": "ar"})).json()
        assert status == {"open": True, "advisers_available": False, "estimated_wait_s": None, "next_opening": None}
        await server.adviser("amina")
        status = (await http.get("/api/v1/status", params={"region": "03", "language": "ar"})).json()
        assert status["advisers_available"] is True and status["estimated_wait_s"] == 0
        bad = await http.get("/api/v1/status", params={"region": "99", "language": "xx", "who": "me"})
        assert bad.status_code == 422 and set(bad.json()["fields"]) == {"region", "language", "who"}


async def test_outside_opening_hours_start_gets_next_opening_and_help_lines(make_server: ServerFactory) -> None:
    server = await make_server(NORA_OPENING_HOURS=closed_hours(), NORA_CLOSED_DATES="2026-12-24")
    visitor = await server.visitor()
    await visitor.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
    closed = await visitor.expect("closed")
    assert closed["reason"] == "closed_hours" and closed["next_opening"].endswith("Z")
    assert {"112", "116 111"} <= {line["number"] for line in closed["help_lines"]}
    assert await visitor.closed_code() == 1000
