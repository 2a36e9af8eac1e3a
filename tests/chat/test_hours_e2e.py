"""Opening hours kept in the database and edited by an administrator, on real servers: the settings are
the defaults a fresh install starts from; a change is in force at once where it was made and within
seconds on another instance of the same database; a new instance starts with what was saved."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.client import WS, Staff
from tests.conftest import Databases, LiveServer, ServerFactory, closed_hours, start_server

pytestmark = pytest.mark.anyio
CLOSED_SPEC = closed_hours()  # the settings: closed all but one minute a day


def oslo_today(days: int = 0) -> str:
    return (datetime.now(ZoneInfo("Europe/Oslo")).date() + timedelta(days=days)).isoformat()


async def put(staff: Staff, body: dict[str, Any], *, csrf: bool = True) -> httpx.Response:
    headers = {"Origin": staff.origin, **({"X-CSRF-Token": staff.csrf} if csrf else {})}
    return await staff.http.put("/api/v1/hours", json=body, headers=headers)


async def status(server: LiveServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.base) as http:
        body: dict[str, Any] = (await http.get("/api/v1/status")).json()
        return body


async def start(server: LiveServer) -> dict[str, Any]:
    visitor = await WS.open(server.ws_base + "/ws/visitor")
    try:
        await visitor.send({"type": "start", "language": "nb", "region": "03", "audience": "youth"})
        while True:
            frame = await visitor.recv()
            if frame["type"] in ("started", "closed"):
                return frame
    finally:
        await visitor.close()


async def away_from_oslo_midnight(margin: timedelta = timedelta(minutes=2)) -> None:
    """Wait past midnight when an Oslo day ends within ``margin``: a week open 00:00-23:59 is closed in
    a day's last minute, and "today" must stay the same day while a test reads it."""
    now = datetime.now(ZoneInfo("Europe/Oslo"))
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
    if midnight - now < margin:
        await asyncio.sleep((midnight - now).total_seconds() + 1)


async def until(check: Any, seconds: float = 6.0) -> float:
    """Seconds until ``check()`` is true (fails after ``seconds``)."""
    began = time.monotonic()
    while not await check():
        assert time.monotonic() - began < seconds, "not in force in time"
        await asyncio.sleep(0.1)
    return time.monotonic() - began


async def test_hours_edited_over_http(make_server: ServerFactory) -> None:
    await away_from_oslo_midnight()
    server = await make_server(NORA_OPENING_HOURS=CLOSED_SPEC, NORA_CLOSED_DATES="2026-12-25")
    admin = await server.login("admin")
    body = (await admin.get("/api/v1/hours")).json()
    assert body["source"] == "settings" and body["version"] == 0 and body["open_now"] is False
    opens, closes = CLOSED_SPEC.split()[1].split("-")
    assert body["weekly"][0] == {"day": "mon", "open": opens, "close": closes} and len(body["weekly"]) == 7
    assert body["closed_dates"] == [{"date": "2026-12-25", "label": ""}]
    assert (await start(server))["type"] == "closed"

    week = [{"day": d, "open": "00:00", "close": "23:59"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]
    later = oslo_today(30)
    saved = await put(admin, {"weekly": week, "closed_dates": [{"date": later, "label": "Planleggingsdag"}]})
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["source"] == "database" and body["version"] == 1 and body["updated_by"] == "admin"
    assert body["closed_dates"] == [{"date": later, "label": "Planleggingsdag"}]
    assert body["defaults"]["closed_dates"] == [{"date": "2026-12-25", "label": ""}]
    assert (await start(server))["type"] == "started"

    # today closed: the visitor is told the next opening, tomorrow at 00:00 Oslo time
    today = oslo_today()
    saved = await put(admin, {"weekly": None, "closed_dates": [{"date": today, "label": "Stengt i dag"}]})
    assert saved.json()["open_now"] is False and saved.json()["weekly"] is None
    closed = await start(server)
    assert closed["type"] == "closed" and closed["next_opening"] == saved.json()["next_opening"]
    assert (await status(server))["open"] is False

    reset = await admin.http.delete("/api/v1/hours", headers={"Origin": admin.origin, "X-CSRF-Token": admin.csrf})
    assert reset.status_code == 200 and reset.json()["source"] == "settings"
    assert reset.json()["closed_dates"] == [{"date": "2026-12-25", "label": ""}]

    log = (await admin.get("/api/v1/audit", action="hours_changed")).json()["entries"]
    assert len(log) == 2 and log[0]["actor"] == "admin" and "closed dates=1" in log[0]["detail"]
    assert len((await admin.get("/api/v1/audit", action="hours_reset")).json()["entries"]) == 1


async def test_refusals(server: LiveServer) -> None:
    admin = await server.login("admin")
    bad = await put(
        admin,
        {
            "weekly": [
                {"day": "man", "open": "08:00", "close": "16:00"},
                {"day": "tue", "open": "8:00", "close": "16:00"},
                {"day": "wed", "open": "16:00", "close": "08:00"},
                {"day": "thu", "open": "08:00", "close": "12:00"},
                {"day": "thu", "open": "11:00", "close": "16:00"},
            ],
            "closed_dates": [{"date": "2026-02-30"}, {"date": "2026-12-24", "label": "x" * 101}],
            "colour": "red",
        },
    )
    assert bad.status_code == 422
    assert set(bad.json()["fields"]) == {
        "weekly.0.day",
        "weekly.1.open",
        "weekly.2.close",
        "weekly",
        "closed_dates.0.date",
        "closed_dates.1.label",
        "colour",
    }
    assert (await put(admin, {"closed_dates": []})).json()["fields"] == {
        "weekly": "required: a list of periods, or null for open around the clock"
    }
    assert (await put(admin, {"weekly": None}, csrf=False)).status_code == 403
    sara = await server.login("sara")
    assert (await sara.get("/api/v1/hours")).status_code == 200  # supervisors read them
    assert (await put(sara, {"weekly": None})).json()["error"] == "forbidden"
    assert (await admin.get("/api/v1/hours")).json()["version"] == 0  # nothing was saved


@pytest.mark.postgres
async def test_a_change_is_in_force_on_every_instance_within_seconds(databases: Databases, tmp_path: Path) -> None:
    url = await asyncio.to_thread(databases.postgres)
    env = {"NORA_OPENING_HOURS": CLOSED_SPEC}
    one = await asyncio.to_thread(start_server, url, tmp_path / "one.log", **env)
    two = await asyncio.to_thread(start_server, url, tmp_path / "two.log", **env)
    try:
        assert (await status(two))["open"] is False
        admin = await one.login("admin")
        saved = await put(admin, {"weekly": None, "closed_dates": []})
        assert saved.status_code == 200 and saved.json()["open_now"] is True
        assert (await status(one))["open"] is True  # at once where it was saved

        async def two_is_open() -> bool:
            return bool((await status(two))["open"])

        assert await until(two_is_open) < 4.0
        assert (await start(two))["type"] == "started"

        # A new instance starts with what was saved, not with its settings.
        three = await asyncio.to_thread(start_server, url, tmp_path / "three.log", **env)
        try:
            assert (await status(three))["open"] is True
        finally:
            three.stop()

        saved = await put(admin, {"weekly": None, "closed_dates": [{"date": oslo_today(), "label": ""}]})

        async def two_is_closed() -> bool:
            return (await status(two))["open"] is False

        assert await until(two_is_closed) < 4.0
        assert (await start(two))["type"] == "closed"
        await admin.aclose()
    finally:
        one.stop()
        two.stop()
