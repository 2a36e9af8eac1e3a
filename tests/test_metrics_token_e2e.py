"""/metrics shows counts of people (connections, conversations, the queue): it needs a bearer token
(``NORA_METRICS_TOKEN``) and is off without one (issue 18 #13). Against a real uvicorn."""

from __future__ import annotations

import httpx
import pytest

from core.settings import Settings, SettingsError
from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio

TOKEN = "metrics-token-for-the-test-0123456789"


async def test_metrics_need_the_bearer_token(make_server: ServerFactory) -> None:
    server = await make_server(NORA_METRICS_TOKEN=TOKEN)
    async with httpx.AsyncClient(base_url=server.base) as http:
        visitor = await server.visitor()
        await visitor.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
        await visitor.expect("started")
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": TOKEN},
        ):
            r = await http.get("/metrics", headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert r.json()["error"] == "unauthenticated" and "nora_" not in r.text
        r = await http.get("/metrics", params={"token": TOKEN})  # never in a URL
        assert r.status_code == 401
        ok = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and "nora_conversations_total 1.0" in ok.text


async def test_metrics_are_off_without_a_token(make_server: ServerFactory) -> None:
    server = await make_server()
    async with httpx.AsyncClient(base_url=server.base) as http:
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": f"Bearer {TOKEN}"}):
            r = await http.get("/metrics", headers=headers)
            assert r.status_code == 404 and r.json()["error"] == "not_found" and "nora_" not in r.text


def test_a_short_metrics_token_is_a_configuration_error() -> None:
    with pytest.raises(SettingsError, match="NORA_METRICS_TOKEN"):
        Settings.from_env({"NORA_ENV": "development", "NORA_METRICS_TOKEN": "short"})
    assert Settings.from_env({"NORA_ENV": "development", "NORA_METRICS_TOKEN": f" {TOKEN} "}).metrics_token == TOKEN
    assert Settings.from_env({"NORA_ENV": "development"}).metrics_token is None
