"""The outside probe's differencing attack on the statistics over HTTP (issue 18 #7): totals up to a day
and up to the day before gave every day's count. Only whole months, quarters and years are answered now,
and every answer the API gives about a year, the yearly summary included, is attacked together
(``tests/admin/differencing.py``): no count under the threshold can be worked out."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from admin.periods import Period, periods_of
from core.db import Database
from core.models import Registration
from tests.admin.differencing import Figure, Universe, attack
from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
YEAR = 2025
CATEGORIES = ("forced_marriage", "negative_social_control", None)
SERVICES = ("MR", "AT")
Atom = tuple[int, str | None, str]

# Busy January and March; a February of single registrations on some days.
REGISTER: dict[tuple[date, str | None, str], int] = {}
for day in range(1, 29):
    REGISTER[(date(YEAR, 1, day), "negative_social_control", "MR")] = 2
    REGISTER[(date(YEAR, 3, day), "forced_marriage", "AT")] = 1
for day in (3, 4, 9, 17, 18, 25):
    REGISTER[(date(YEAR, 2, day), "forced_marriage", "MR")] = 1
REGISTER[(date(YEAR, 2, 10), None, "AT")] = 3
REGISTER[(date(YEAR, 5, 5), "negative_social_control", "AT")] = 2
REGISTER[(date(YEAR, 5, 6), None, "MR")] = 9


async def seed(url: str) -> None:
    db = Database.from_url(url)
    try:
        async with db.writing() as session:
            for (day, category, service), count in REGISTER.items():
                for _ in range(count):
                    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
                    session.add(
                        Registration(
                            is_case=category is not None,
                            main_category=category,
                            service=service,
                            closed_at=at,
                            created_at=at,
                            updated_at=at,
                            source="demo",
                        )
                    )
    finally:
        await db.dispose()


def universe() -> Universe:
    counts: dict[Atom, int] = {a: 0 for a in itertools.product(range(1, 13), CATEGORIES, SERVICES)}
    for (day, category, service), count in REGISTER.items():
        counts[(day.month, category, service)] += count
    return Universe(
        counts,
        keys={
            "month": lambda a: f"{YEAR}-{a[0]:02d}",
            "quarter": lambda a: f"{YEAR}-Q{(a[0] - 1) // 3 + 1}",
            "category": lambda a: a[1],
            "service": lambda a: a[2],
            "is_case": lambda a: a[1] is not None,
        },
        domains={
            "month": [f"{YEAR}-{m:02d}" for m in range(1, 13)],
            "quarter": [f"{YEAR}-Q{q}" for q in range(1, 5)],
            "category": list(CATEGORIES),
            "service": list(SERVICES),
            "is_case": [True, False],
        },
        in_period=lambda a, p: p.start.month <= a[0] <= p.end.month,
    )


@pytest.mark.parametrize("backend", BACKENDS)
async def test_totals_a_day_apart_reveal_nothing(make_server: ServerFactory, backend: str) -> None:
    server = await make_server(backend)
    await seed(server.database_url)
    sara = await server.login("sara")

    async def total(start: date, end: date) -> Any:
        r = await sara.get("/api/v1/stats/cases", **{"from": start.isoformat(), "to": end.isoformat()})
        return r.json()["total"] if r.status_code == 200 else r

    revealed = {}
    for day in range(2, 29):
        end = date(YEAR, 2, day)
        upto, before = await total(date(YEAR, 1, 1), end), await total(date(YEAR, 1, 1), end - timedelta(days=1))
        if isinstance(upto, int) and isinstance(before, int) and 0 < upto - before < 5:
            revealed[end.isoformat()] = upto - before
    assert revealed == {}, f"daily counts revealed by differencing: {revealed}"

    refused = await sara.get("/api/v1/stats/cases", **{"from": "2025-01-01", "to": "2025-02-17"})
    assert refused.status_code == 422 and "whole months, quarters and years" in refused.json()["fields"]["to"]
    for params in (
        {"from": "2025-02-02", "to": "2025-02-28"},
        {"from": "2025-01-01", "to": "2025-06-30"},  # two quarters
        {"from": "2025-02-01", "to": "2025-04-30"},  # three months that are not a quarter
        {"from": "2024-12-01", "to": "2025-01-31"},
        {"period": "2025-Q5"},
        {"period": "2025-13"},
        {"period": "2025-02-01"},
        {"period": "2025", "from": "2025-01-01"},
    ):
        r = await sara.get("/api/v1/stats/cases", **params)
        assert r.status_code == 422, (params, r.text)
    for period, params in (
        ("2025-02", {"from": "2025-02-01", "to": "2025-02-28"}),
        ("2025-Q1", {"from": "2025-01-01", "to": "2025-03-31"}),
        ("2025", {"from": "2025-01-01", "to": "2025-12-31"}),
    ):
        for by in ("", "service", "category"):
            by_dates = await sara.get("/api/v1/stats/cases", by=by, **params)
            by_period = await sara.get("/api/v1/stats/cases", by=by, period=period)
            assert by_dates.status_code == by_period.status_code, (period, by)
            one, other = by_dates.json(), by_period.json()
            if by_period.status_code == 422:
                assert one == other
                continue
            assert by_period.status_code == 200
            one.pop("generated_at"), other.pop("generated_at")
            assert one == other and other["period"] == period
            assert (other["from"], other["to"]) == (params["from"], params["to"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.timeout(240)  # 544 questions and the attack on them: 14 s alone, over 60 s beside three other workers
async def test_every_answer_about_a_year_together_reveals_nothing(make_server: ServerFactory, backend: str) -> None:
    server = await make_server(backend)
    await seed(server.database_url)
    sara = await server.login("sara")
    keys = ("month", "quarter", "category", "service", "is_case")
    groupings = [list(c) for size in range(len(keys) + 1) for c in itertools.combinations(keys, size)]
    questions: list[tuple[Period, list[str]]] = [(p, by) for by in groupings for p in periods_of(YEAR)]
    answers = []
    refused = 0
    for period, by in questions:
        r = await sara.get("/api/v1/stats/cases", period=period.label, by=",".join(by))
        if r.status_code == 422:
            assert "too detailed" in r.json()["message"].lower(), r.text
            refused += 1
            continue
        assert r.status_code == 200, r.text
        body = r.json()
        answers.append((period, by, body["rows"], body["total"]))
    # This register is sparse on purpose; still the monthly totals and the year by category and service
    # are answered (no small cell of theirs can be worked out), the finest tables are not.
    answered = {(period.label, ",".join(by)) for period, by, _, _ in answers}
    assert {(f"{YEAR}-{m:02d}", "") for m in range(1, 13)} <= answered
    assert {(str(YEAR), "category,service"), (f"{YEAR}-Q1", "category"), (str(YEAR), "month,service")} <= answered
    assert 0 < refused < len(questions)

    # The yearly summary shows the same figures as the statistics: attacked together with them.
    summary = (await sara.get("/api/v1/stats/summary", year=str(YEAR))).json()
    world = universe()
    extra = []
    for service in summary["services"]:
        code = service["service"]
        if code not in SERVICES:
            assert service["cases"] == 0 and service["inquiries"] == 0
            continue
        of = [a for a in world.atoms if a[2] == code]
        for c in service["categories"]:
            if c["category"] in CATEGORIES:
                atoms = frozenset(a for a in of if a[1] == c["category"])
                extra.append(Figure(atoms, c["count"], 0, f"summary {code} {c['category']}"))
        cases = frozenset(a for a in of if a[1] is not None)
        extra.append(Figure(cases, service["cases"], 0, f"summary {code} cases"))
        extra.append(Figure(frozenset(of) - cases, service["inquiries"], 0, f"summary {code} inquiries"))
    leaks = attack(world, answers, questions, 5, with_bounds=True, extra=extra)
    assert not leaks, "\n".join(str(leak) for leak in leaks)
