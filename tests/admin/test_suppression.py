"""Complementary suppression: no withheld count can be derived from the published cells and totals."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admin.suppression import Unprotectable, protect, publish
from tests.admin.suppression_check import derivable

Key = tuple[Any, ...]


@st.composite
def tables(draw: st.DrawFn) -> tuple[dict[Key, int], int, int]:
    ndim = draw(st.integers(1, 3))
    sizes = [draw(st.integers(2, {1: 6, 2: 4, 3: 3}[ndim])) for _ in range(ndim)]
    m = draw(st.sampled_from([5, 5, 5, 3]))
    count = st.one_of(st.just(0), st.integers(1, m - 1), st.integers(m, 3 * m))
    cells = {}
    for key in itertools.product(*(range(s) for s in sizes)):
        value = draw(count)
        if value:
            cells[tuple(f"v{x}" for x in key)] = value
    return cells, ndim, m


def shown(cells: dict[Key, int], ndim: int, m: int) -> dict[Key, Any]:
    """What ``GET /api/v1/stats/cases`` publishes for this table, checked cell by cell."""
    by = [f"d{i}" for i in range(ndim)]
    rows, total = publish(cells, by, m)
    out = {tuple(r[b] for b in by): r["count"] for r in rows}
    assert set(out) == set(cells)
    for key, value in out.items():
        if 0 < cells[key] < m:
            assert value == f"<{m}"  # every small count is "<m"
        else:
            assert value in (cells[key], None)  # a number is never altered, only withheld
    assert total is None or (total == sum(cells.values()) and all(isinstance(v, int) for v in out.values()))
    return out


def coarser(cells: dict[Key, int], ndim: int, m: int) -> dict[tuple[int, ...], dict[Key, Any] | None]:
    """What every grouping by fewer of the table's dimensions publishes: the row and column totals."""
    out: dict[tuple[int, ...], dict[Key, Any] | None] = {}
    for size in range(ndim):
        for dims in itertools.combinations(range(ndim), size):
            sub: dict[Key, int] = {}
            for key, value in cells.items():
                k = tuple(key[d] for d in dims)
                sub[k] = sub.get(k, 0) + value
            try:
                out[dims] = shown(sub, size, m)
            except Unprotectable:
                out[dims] = None
    return out


def exposed(cells: dict[Key, int], ndim: int, m: int, published: dict[Key, Any]) -> list[Any]:
    return derivable(cells, ndim, m, published, coarser(cells, ndim, m))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_no_withheld_count_can_be_derived_from_cells_and_totals(table: tuple[dict[Key, int], int, int]) -> None:
    cells, ndim, m = table
    try:
        published = shown(cells, ndim, m)
    except Unprotectable:
        return
    assert exposed(cells, ndim, m, published) == []


def test_most_tables_are_published() -> None:
    """Refusal is for tiny tables: a table of realistic counts is published."""
    cells = {("fm", "MR"): 40, ("fm", "AT"): 3, ("nsc", "MR"): 80, ("nsc", "AT"): 12, ("fgm", "MR"): 2}
    published = shown(cells, 2, 5)
    assert published[("fm", "AT")] == "<5" and published[("fgm", "MR")] == "<5"
    assert exposed(cells, 2, 5, published) == []
    assert None in published.values()  # complements were needed


def test_the_naive_publication_leaks_and_is_refused() -> None:
    # 5 + 1 with the total 6 public: the 1 follows from the bounds (the 5 cannot be smaller), so the
    # table is refused instead of published.
    with pytest.raises(Unprotectable):
        protect({("fm",): 5, ("nsc",): 1}, 1, 5)
    # With 5 + 2 both can move (2 -> 1, 5 -> 6): published with the 5 withheld.
    published = shown({("fm",): 5, ("nsc",): 2}, 1, 5)
    assert published == {("fm",): None, ("nsc",): "<5"}


def test_the_checker_finds_a_derivable_cell() -> None:
    """The attacker in this file is not toothless: it derives a cell left unprotected."""
    cells = {("a", "x"): 3, ("a", "y"): 10, ("b", "x"): 10, ("b", "y"): 10}
    totals = {(): {(): 33}, (0,): {("a",): 13, ("b",): 20}, (1,): {("x",): 13, ("y",): 20}}
    naive = {("a", "x"): "<5", ("a", "y"): 10, ("b", "x"): 10, ("b", "y"): 10}
    assert derivable(cells, 2, 5, naive, totals) == [((0, 1), ("a", "x"))]
    # Only "<5" and one complement in its row: the column total still gives it away.
    leaky = {("a", "x"): "<5", ("a", "y"): None, ("b", "x"): 10, ("b", "y"): 10}
    assert ((0, 1), ("a", "x")) in derivable(cells, 2, 5, leaky, totals)
    safe = {k: (v if k == ("a", "x") else None) for k, v in leaky.items()}
    assert derivable(cells, 2, 5, safe, totals) == []


def test_a_finer_table_does_not_give_away_a_coarser_tables_withheld_total() -> None:
    # Row a totals 3, so the grouping by the first dimension publishes a as "<5" and withholds b (20)
    # to protect it. Publishing row b's cells (10 and 10) would give b, and then a, away.
    cells = {("a", "x"): 1, ("a", "y"): 2, ("b", "x"): 10, ("b", "y"): 10}
    totals = coarser(cells, 2, 5)
    assert totals[(0,)] == {("a",): "<5", ("b",): None}
    naive = {("a", "x"): "<5", ("a", "y"): "<5", ("b", "x"): 10, ("b", "y"): 10}
    assert ((0,), ("a",)) in derivable(cells, 2, 5, naive, totals)
    published = shown(cells, 2, 5)
    assert published[("b", "x")] is None or published[("b", "y")] is None
    assert exposed(cells, 2, 5, published) == []
