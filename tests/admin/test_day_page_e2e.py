"""The supervisor's day (issue 17) against a scripted day of known conversations: the rows are written to
the server's database with known times (Wednesday 4 March 2026, Oslo = UTC+1), then the figures of the
day and of its week are compared with what the script says, and the CSV with the small-count rule."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import col, select

from core.db import Database
from core.models import Conversation, StaffUser, VisitorFeedback
from tests.conftest import LiveServer, ServerFactory

pytestmark = pytest.mark.anyio
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def oslo(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A time on March ``day`` 2026 in Oslo (winter time, UTC+1), as UTC."""
    return (
        datetime(2026, 3, day, hour - 1, minute, second, tzinfo=UTC)
        if hour >= 1
        else datetime(2026, 3, day - 1, 23, minute, second, tzinfo=UTC)
    )


def conversation(
    language: str,
    region: str | None,
    started: datetime,
    *,
    answered: datetime | None = None,
    adviser: str | None = None,
    service: str | None = None,
    closed: datetime | None = None,
    wrote: bool | None = True,
) -> Conversation:
    state = "closed" if closed else ("assigned" if answered else "queued")
    return Conversation(
        token_hash=secrets.token_hex(32),
        alias=f"Gjest {secrets.randbelow(9000) + 1000}",
        language=language,
        region=region,
        audience="youth",
        state=state,
        adviser_id=adviser,
        service=service,
        started_at=started,
        enqueued_at=started,
        assigned_at=answered,
        answered_at=answered,
        closed_at=closed,
        close_reason=("adviser_closed" if answered else "visitor_left") if closed else None,
        visitor_wrote=wrote if closed else None,
    )


async def play_the_day(server: LiveServer) -> dict[str, str]:
    db = Database.from_url(server.database_url)
    try:
        async with db.session() as session:
            users = (await session.exec(select(StaffUser).where(col(StaffUser.username).in_(["amina", "jonas"])))).all()
        ids = {u.username: u.id for u in users}
        amina, jonas = ids["amina"], ids["jonas"]
        rows = [
            # A, B: Amina answers after 60 s and 180 s; her two chats overlap from 09:08 to 09:20
            conversation(
                "ar", "03", oslo(4, 9, 0), answered=oslo(4, 9, 1), adviser=amina, service="MR", closed=oslo(4, 9, 20)
            ),
            conversation(
                "nb", "03", oslo(4, 9, 5), answered=oslo(4, 9, 8), adviser=amina, service="MR", closed=oslo(4, 9, 30)
            ),
            # C: gives up after two minutes in the queue without writing
            conversation("nb", "03", oslo(4, 9, 10), closed=oslo(4, 9, 12), wrote=False),
            # D, E: Jonas (AT) after 600 s and 60 s; E closes before the visitor wrote anything
            conversation(
                "so",
                None,
                oslo(4, 10, 0),
                answered=oslo(4, 10, 10),
                adviser=jonas,
                service="AT",
                closed=oslo(4, 10, 40),
            ),
            conversation(
                "so",
                "46",
                oslo(4, 10, 2),
                answered=oslo(4, 10, 3),
                adviser=jonas,
                service="AT",
                closed=oslo(4, 10, 3, 30),
                wrote=False,
            ),
            # F: still waiting at the end of the day
            conversation("uk", None, oslo(4, 11, 0)),
            # G: started the evening before, answered after 300 s, closed at 00:10 on the day
            conversation(
                "ar",
                "03",
                oslo(3, 23, 50),
                answered=oslo(3, 23, 55),
                adviser=amina,
                service="MR",
                closed=oslo(4, 0, 10),
            ),
        ]
        # "Did you get help?": 6 yes and 2 no on the day, 1 yes the day before, 50 yes the week after.
        feedback = [
            VisitorFeedback(day=date(2026, 3, 4), answer="yes", count=6),
            VisitorFeedback(day=date(2026, 3, 4), answer="no", count=2),
            VisitorFeedback(day=date(2026, 3, 3), answer="yes", count=1),
            VisitorFeedback(day=date(2026, 3, 9), answer="yes", count=50),
        ]
        async with db.writing() as session:
            session.add_all([*rows, *feedback])
    finally:
        await db.dispose()
    return ids


def counts(item: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("started", "answered", "abandoned_waiting", "waiting_now", "silent", "wait_p50_s", "wait_p90_s")
    return tuple(item[k] for k in keys)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_scripted_day_gives_the_known_figures(make_server: ServerFactory, backend: str) -> None:
    server = await make_server(backend)
    await play_the_day(server)
    sara = await server.login("sara")

    day = (await sara.get("/api/v1/supervisor/day", period="day", date="2026-03-04")).json()
    assert (day["from"], day["to"]) == ("2026-03-03T23:00:00.000Z", "2026-03-04T23:00:00.000Z")
    # started, answered, abandoned while waiting, waiting now, silent, p50, p90 (waits 60, 60, 180, 600)
    assert counts(day["totals"]) == (6, 4, 1, 1, 2, 60, 600)
    by = {g: {row["key"]: counts(row) for row in day["by"][g]} for g in ("service", "region", "language")}
    assert by["service"] == {
        "AT": (2, 2, 0, 0, 1, 60, 600),
        "MR": (2, 2, 0, 0, 0, 60, 180),
        "none": (2, 0, 1, 1, 1, None, None),
    }
    assert by["region"] == {
        "03": (3, 2, 1, 0, 1, 60, 180),
        "46": (1, 1, 0, 0, 1, 60, 60),
        "none": (2, 1, 0, 1, 0, 600, 600),
    }
    assert {k: v[0] for k, v in by["language"].items()} == {"ar": 1, "nb": 2, "so": 2, "uk": 1}
    # Amina: A, B and G closed on the day; G from 00:00 to 00:10, A and B from 09:01 to 09:30 once
    advisers = {a["name"]: (a["handled"], a["active_s"]) for a in day["advisers"]}
    assert advisers == {"Amina": (3, 600 + 29 * 60), "Jonas": (2, 30 * 60 + 30)}  # D 10:10-10:40, E 10:03-10:03:30
    bars = {b["label"]: (b["waiting"], b["answered"]) for b in day["chart"]["bars"]}
    assert day["chart"]["unit"] == "hour" and len(bars) == 24
    assert bars["08"] == (0, 0) and bars["09"] == (1, 2) and bars["10"] == (2, 2)  # D and E waited together
    assert all(bars[f"{h:02d}"] == (1, 0) for h in range(11, 24))  # F waits on to the end of the day
    assert day["feedback"] == {"yes": 6, "no": 2}

    week = (await sara.get("/api/v1/supervisor/day", period="week", date="2026-03-04")).json()
    assert week["date"] == "2026-03-02" and week["chart"]["unit"] == "day"
    assert counts(week["totals"]) == (7, 5, 1, 1, 2, 180, 600)  # G counts in the week: waits 60 60 180 300 600
    week_advisers = {a["name"]: (a["handled"], a["active_s"]) for a in week["advisers"]}
    assert week_advisers == {
        "Amina": (3, 15 * 60 + 29 * 60),
        "Jonas": (2, 30 * 60 + 30),
    }  # D 10:10-10:40, E 10:03-10:03:30
    assert week["feedback"] == {"yes": 7, "no": 2}  # not the 50 of the week after
    week_bars = [(b["label"], b["waiting"], b["answered"]) for b in week["chart"]["bars"]]
    assert week_bars == [
        ("2026-03-02", 0, 0),
        ("2026-03-03", 1, 1),
        ("2026-03-04", 2, 4),
        ("2026-03-05", 1, 0),
        ("2026-03-06", 1, 0),
        ("2026-03-07", 1, 0),
        ("2026-03-08", 1, 0),
    ]

    # The CSV leaves the staff pages: counts under 5 are "<5" or withheld, never a number 1 to 4.
    r = await sara.get("/api/v1/supervisor/day", period="day", date="2026-03-04", format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == ["table", "key", "measure", "value"]
    cells = {(t, k, m): v for t, k, m, v in table[1:]}
    assert cells[("total", "all", "started")] == "6"
    assert cells[("total", "all", "answered")] == "<5"
    assert cells[("total", "all", "wait_p50_s")] == ""  # only 4 answered: no percentile from so few
    assert (cells[("feedback", "all", "yes")], cells[("feedback", "all", "no")]) in (("6", "<5"), ("", "<5"))
    for (t, _, measure), value in cells.items():
        if measure not in ("wait_p50_s", "wait_p90_s", "active_s"):
            assert value in ("", "0", "<5") or int(value) >= 5, (t, measure, value)
    assert cells[("adviser", "Amina", "handled")] in ("<5", "") and cells[("adviser", "Amina", "active_s")] == ""


async def test_the_day_page_is_for_supervisors_and_says_what_is_wrong(server: LiveServer) -> None:
    amina = await server.login("amina")
    assert (await amina.get("/api/v1/supervisor/day")).status_code == 403
    sara = await server.login("sara")
    today = (await sara.get("/api/v1/supervisor/day")).json()
    assert today["period"] == "day" and today["totals"]["started"] == 0 and today["min_count"] == 5
    bad = await sara.get("/api/v1/supervisor/day", period="month", date="1999-01-01", colour="red")
    assert bad.status_code == 422 and set(bad.json()["fields"]) == {"period", "date", "colour"}
