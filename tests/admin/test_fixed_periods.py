"""Statistics come from fixed periods (issue 18 #7): whole months, quarters and years, each protected
together with the coarser periods and groupings it adds up to. A property test generates registers and
asks every question the API allows about a year — every grouping, with and without ``month`` and
``quarter``, for the year, each quarter and each month — and attacks the answers with differences of
pairs, sums and every whole-number combination (``tests/admin/differencing.py``): no count from 1 to
m-1 of any cell can be derived."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from admin.periods import Period, period_between, periods_of
from admin.stats import Publication, closure
from admin.suppression import Unprotectable
from core.models import Registration
from tests.admin.differencing import Universe, attack

YEAR = 2025
CATEGORIES = ("forced_marriage", "negative_social_control", None)  # None: an inquiry
SERVICES = ("MR", "AT")
KEYS = ("month", "quarter", "category", "service", "is_case")
Atom = tuple[int, str | None, str]


def registrations(counts: dict[Atom, int]) -> list[Registration]:
    rows = []
    for (month, category, service), count in counts.items():
        for i in range(count):
            rows.append(
                Registration(
                    is_case=category is not None,
                    main_category=category,
                    service=service,
                    closed_at=datetime(YEAR, month, 1 + i % 28, 12, tzinfo=UTC),
                )
            )
    return rows


SHAPES: dict[tuple[int, int], dict[Any, Any]] = {}  # the cells of every question, by the months a universe has


def universe(counts: dict[Atom, int], months: range = range(1, 13)) -> Universe:
    """Every atom there could be, most of them 0: the attacker knows a zero only where an answer says so."""
    every = {a: counts.get(a, 0) for a in itertools.product(months, CATEGORIES, SERVICES)}
    return Universe(
        every,
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
        shape=SHAPES.setdefault((months.start, months.stop), {}),
    )


def questions() -> list[tuple[Period, list[str]]]:
    """Every question the API allows about the year with these keys."""
    groupings = [list(c) for size in range(len(KEYS) + 1) for c in itertools.combinations(KEYS, size)]
    return [(period, by) for by in groupings for period in periods_of(YEAR)]


Answer = tuple[Period, list[str], list[dict[str, Any]], Any]


def published(counts: dict[Atom, int], m: int) -> list[Answer]:
    publication = Publication(registrations(counts), m)
    out = []
    for period, by in questions():
        try:
            rows, total = publication.answer(period, by)
        except Unprotectable:
            continue
        out.append((period, by, rows, total))
    return out


@st.composite
def registers(draw: st.DrawFn, last_month: int = 12) -> tuple[dict[Atom, int], int]:
    m = draw(st.sampled_from([5, 5, 3]))
    months = draw(st.sets(st.integers(1, last_month), min_size=1, max_size=6))
    count = st.one_of(st.just(0), st.just(0), st.integers(1, m - 1), st.integers(m, 3 * m))
    counts = {}
    for month, category, service in itertools.product(sorted(months), CATEGORIES, SERVICES):
        value = draw(count)
        if value:
            counts[(month, category, service)] = value
    return counts, m


# The probe's attack in months: a February too small to publish between busy months of one quarter
# (the quarter minus January and March gave it before).
SPARSE = {(1, "forced_marriage", "MR"): 7, (2, "forced_marriage", "MR"): 2, (3, "forced_marriage", "MR"): 6}
# A refused grouping's counts are counts too: the cases of MR (3 + 1) were once worked out as MR's total
# (9) minus its inquiries (5), as no inquiry of AT was listed.
REFUSED_MARGIN = {(2, "forced_marriage", "MR"): 3, (2, "negative_social_control", "MR"): 1, (2, None, "MR"): 5}
REFUSED_MARGIN |= {(2, "forced_marriage", "AT"): 7, (2, "negative_social_control", "AT"): 13}


@pytest.mark.timeout(600)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@example((SPARSE, 5))
@example((REFUSED_MARGIN, 5))
@given(registers())
def test_no_combination_of_published_answers_reveals_a_small_count(register: tuple[dict[Atom, int], int]) -> None:
    counts, m = register
    answers = published(counts, m)
    assert answers, "the year as a whole is always answered"
    leaks = attack(universe(counts), answers, questions(), m)
    assert not leaks, "\n".join(str(leak) for leak in leaks[:10])


def refinements(answers: list[Answer], top: list[str], level: str) -> list[Answer]:
    """The answers that ``top`` at ``level`` refines: no key it lacks, no period finer than ``level``.
    With ``month`` in ``top`` that is every period of every grouping by its keys."""
    order = ["year", "quarter", "month"]
    finest = order.index(level)
    return [a for a in answers if set(a[1]) <= set(top) and order.index(a[0].kind) <= finest]


@pytest.mark.timeout(600)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@example((SPARSE, 5))
@example((REFUSED_MARGIN, 5))
@given(registers(last_month=6))
def test_not_even_with_the_bounds_of_the_withheld_cells(register: tuple[dict[Atom, int], int]) -> None:
    """The complete attacker also uses the bounds ("<m" is 1..m-1, a withheld cell m or more) in a
    whole-number search. Against it, an answer holds together with every answer it refines: each
    table is protected against all coarser ones, the coarser periods among them. (Answers by groupings
    of which neither refines the other, next to a finer table that is refused, are not covered: see
    docs/register.md.) Registers of the first half-year, as the search is slow."""
    counts, m = register
    world = universe(counts, range(1, 7))
    answers = published(counts, m)
    answered = {(a[0].label, tuple(a[1])) for a in answers}
    for keys in (["category", "service", "is_case"], ["category", "is_case"], ["service", "is_case"], ["is_case"]):
        for time, level in ((["month", "quarter"], "month"), (["quarter"], "quarter"), ([], "year")):
            top = time + keys
            if (str(YEAR), tuple(top)) not in answered:
                continue  # refused: its refinements are covered by a coarser top below
            leaks = attack(world, refinements(answers, top, level), questions(), m, with_bounds=True, bounds_limit=3000)
            assert not leaks, f"{top}: " + "\n".join(str(leak) for leak in leaks[:10])
            break


def test_an_answer_does_not_depend_on_the_question_around_it() -> None:
    """The same table reads the same in any order of ``by``, alone or after other questions."""
    counts = {(1, "forced_marriage", "MR"): 3, (1, "negative_social_control", "AT"): 9, (2, None, "MR"): 4}
    counts |= {(2, "forced_marriage", "AT"): 6, (4, "forced_marriage", "MR"): 12, (5, None, "AT"): 2}
    rows = registrations(counts)
    shared = Publication(rows, 5)
    for period in periods_of(YEAR):
        for by in (["category", "service"], ["service", "category"], ["month", "category"]):
            try:
                fresh = Publication(rows, 5).answer(period, by)
            except Unprotectable:
                with pytest.raises(Unprotectable):
                    shared.answer(period, by)
                continue
            assert shared.answer(period, by) == fresh
            mirrored = Publication(rows, 5).answer(period, list(reversed(by)))

            def canonical(rows: list[dict[str, Any]]) -> list[list[tuple[str, Any]]]:
                return sorted((sorted(r.items()) for r in rows), key=str)

            assert canonical(mirrored[0]) == canonical(fresh[0]) and mirrored[1] == fresh[1]


def test_only_whole_periods() -> None:
    assert period_between(date(2026, 3, 1), date(2026, 3, 31)) == Period("month", 2026, 3)
    assert period_between(date(2026, 1, 1), date(2026, 3, 31)) == Period("quarter", 2026, 1)
    assert period_between(date(2026, 1, 1), date(2026, 12, 31)) == Period("year", 2026)
    assert period_between(date(2024, 2, 1), date(2024, 2, 29)) == Period("month", 2024, 2)
    for start, end in [
        ((2026, 1, 1), (2026, 6, 30)),  # two quarters
        ((2026, 2, 1), (2026, 4, 30)),  # three months, not a quarter
        ((2026, 3, 2), (2026, 3, 31)),
        ((2026, 3, 1), (2026, 3, 30)),
        ((2025, 12, 1), (2026, 1, 31)),
        ((2026, 1, 1), (2027, 12, 31)),
    ]:
        assert period_between(date(*start), date(*end)) is None
    assert closure(["month", "category"]) == ("quarter", "month", "category", "is_case")


def test_the_bounds_attacker_is_not_toothless() -> None:
    """A year of 6 with a "<5" month beside a withheld one: no exact difference or sum gives the small
    month, its bounds (1..4, the other 5 or more, 6 in all) do: it is 1."""
    counts = {(1, "forced_marriage", "MR"): 1, (2, "forced_marriage", "MR"): 5}
    world = universe(counts, range(1, 3))
    january, february = (p for p in periods_of(YEAR) if p.kind == "month" and p.start.month <= 2)
    year = next(p for p in periods_of(YEAR) if p.kind == "year")
    answers = [
        (year, [], [{"count": 6}], 6),
        (january, [], [{"count": "<5"}], None),
        (february, [], [{"count": None}], None),
    ]
    asked = [(january, []), (february, [])]
    assert attack(world, answers, asked, 5) == []
    leaks = attack(world, answers, asked, 5, with_bounds=True)
    assert [(leak.atoms, leak.truth) for leak in leaks] == [(world.cells(january, [])[()], 1)]
