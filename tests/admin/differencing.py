"""An attacker who collects every answer the statistics API gives about a year and combines them.

It knows, for each answer, every published cell (a number exactly, ``"<m"`` as 1..m-1, ``None`` as m or
more), that a combination not listed is 0, and the total when one is given. A published figure is a sum
over *atoms*: the finest cells of the register (month and every key). It then tries:

- **pairs and sums**: one exact figure minus another whose atoms it contains (a quarter minus a month,
  the year up to a day minus the year up to the day before), and exact figures of disjoint atoms
  added up; and every exact figure minus a sum of exact figures inside it;
- **every whole-number combination** of exact figures (linear algebra modulo a large prime): a cell
  is derivable when its atoms are a combination of the atoms of exact figures, which covers any chain
  of differences and sums;
- optionally the **bounds** as well (``"<m"``, ``None`` ≥ m, 0 for a missing combination), by a search
  over whole numbers (``suppression_check.Search``).

A *leak* is a cell of any answer the API allows (also of one it refuses, and every single atom) whose
true count is 1..m-1 and which one of these derives. It shares no code with ``admin/stats.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.admin.suppression_check import Search

Atom = tuple[Any, ...]
PRIME = (1 << 61) - 1


@dataclass(frozen=True)
class Figure:
    atoms: frozenset[Atom]
    shown: Any  # int, "<m", or None (withheld, m or more)
    truth: int
    where: str


@dataclass
class Leak:
    atoms: frozenset[Atom]
    truth: int
    how: str

    def __str__(self) -> str:
        return f"{self.how}: {self.truth} over {sorted(self.atoms, key=str)[:6]}"


class Universe:
    """The atoms and how an answer's keys read them.

    ``keys`` maps a key name (``month``, ``category`` …) to a function of an atom; ``period_of`` says
    whether an atom lies in a period (an answer's ``from``/``to``)."""

    def __init__(
        self,
        counts: dict[Atom, int],
        keys: dict[str, Callable[[Atom], Any]],
        domains: dict[str, Sequence[Any]],
        in_period: Callable[[Atom, Any], bool],
        shape: dict[Any, Any] | None = None,
    ) -> None:
        """``shape``: a dict kept by the caller for every universe of the same atoms, keys and periods
        (only the counts differ), where the cells of each question are kept once for all of them."""
        self.counts = counts
        self.atoms = sorted(counts, key=str)
        self.index = {a: i for i, a in enumerate(self.atoms)}
        self.keys = keys
        self.domains = domains
        self.in_period = in_period
        self._inside: dict[Any, list[Atom]] = {}
        self._truths: dict[frozenset[Atom], int] = {}  # a cell's count, asked for by every attack
        self._cells: dict[tuple[Any, tuple[str, ...]], dict[tuple[Any, ...], frozenset[Atom]]] = (
            {} if shape is None else shape
        )

    def inside(self, period: Any) -> list[Atom]:
        """The atoms in ``period``, in order; asked for every answer, so kept per period."""
        found = self._inside.get(period)
        if found is None:
            found = self._inside[period] = [a for a in self.atoms if self.in_period(a, period)]
        return found

    def truth(self, atoms: Iterable[Atom]) -> int:
        if not isinstance(atoms, frozenset):
            return sum(self.counts[a] for a in atoms)
        found = self._truths.get(atoms)
        if found is None:
            found = self._truths[atoms] = sum(self.counts[a] for a in atoms)
        return found

    def cells(self, period: Any, by: Sequence[str]) -> dict[tuple[Any, ...], frozenset[Atom]]:
        """Every combination of ``by`` values in ``period`` (listed or not) and its atoms; the same for
        every attack on this universe, so kept (read only)."""
        found = self._cells.get((period, tuple(by)))
        if found is not None:
            return found
        out: dict[tuple[Any, ...], set[Atom]] = {
            values: set() for values in itertools.product(*(self.domains[b] for b in by))
        }
        for a in self.inside(period):
            out.setdefault(tuple(self.keys[b](a) for b in by), set()).add(a)
        found = self._cells[(period, tuple(by))] = {k: frozenset(v) for k, v in out.items()}
        return found

    def figure(self, atoms: frozenset[Atom], shown: Any, m: int, where: str) -> Figure:
        """One figure published elsewhere (the yearly summary), checked against the truth."""
        truth = self.truth(atoms)
        _check(shown, truth, m, where)
        return Figure(atoms, shown, truth, where)

    def figures(self, period: Any, by: Sequence[str], rows: list[dict[str, Any]], total: Any, m: int) -> list[Figure]:
        """What one answer publishes, checked against the truth as it is read."""
        where = f"{period} by {','.join(by) or '-'}"
        cells = self.cells(period, by)
        listed = {tuple(r[b] for b in by): r["count"] for r in rows}
        assert set(listed) <= set(cells), (where, set(listed) - set(cells))
        out = []
        for values, atoms in cells.items():
            truth = self.truth(atoms)
            shown = listed.get(values, 0)
            assert (values in listed) == (truth > 0), (where, values, truth)
            _check(shown, truth, m, f"{where}: {values}")
            out.append(Figure(atoms, shown, truth, f"{where}: {values}"))
        everything = frozenset(self.inside(period))
        if total is not None:
            assert total == self.truth(everything), (where, total)
            out.append(Figure(everything, total, total, f"{where}: total"))
        return out


def _check(shown: Any, truth: int, m: int, where: str) -> None:
    if isinstance(shown, int):
        assert shown == truth, (where, shown, truth)
    elif isinstance(shown, str):
        assert shown == f"<{m}" and 1 <= truth < m, (where, shown, truth)
    else:
        assert shown is None and truth >= m, (where, truth)


class Span:
    """Row space of 0/1 vectors over the atoms, modulo a large prime, in echelon form."""

    def __init__(self) -> None:
        self.basis: dict[int, dict[int, int]] = {}

    def reduce(self, vector: dict[int, int]) -> dict[int, int]:
        v = dict(vector)
        while v:
            pivot = min(v)
            row = self.basis.get(pivot)
            if row is None:
                return v
            factor = v[pivot]
            for col, value in row.items():
                new = (v.get(col, 0) - factor * value) % PRIME
                if new:
                    v[col] = new
                else:
                    v.pop(col, None)
        return v

    def add(self, vector: dict[int, int]) -> None:
        v = self.reduce(vector)
        if v:
            pivot = min(v)
            inverse = pow(v[pivot], PRIME - 2, PRIME)
            self.basis[pivot] = {c: x * inverse % PRIME for c, x in v.items()}

    def contains(self, vector: dict[int, int]) -> bool:
        return not self.reduce(vector)


def differences(figures: list[Figure], targets: dict[frozenset[Atom], int], m: int) -> list[Leak]:
    """Pairs and sums: A - B for exact B inside exact A; A - (B1 + B2 + …) for disjoint exact Bi inside A;
    A + B for disjoint exact A, B."""
    exact = {f.atoms: f.truth for f in figures if isinstance(f.shown, int)}
    leaks = []
    sets = list(exact)
    for a in sets:
        inside = [b for b in sets if b < a]
        for b in inside:
            rest = a - b
            if rest in targets and 0 < exact[a] - exact[b] < m:
                leaks.append(Leak(rest, exact[a] - exact[b], "difference of two answers"))
        # a sum of disjoint exact figures inside ``a`` (greedy by size, then every pair of them)
        for b, c in itertools.combinations(inside, 2):
            if b.isdisjoint(c):
                rest = a - b - c
                if rest in targets and 0 < exact[a] - exact[b] - exact[c] < m:
                    leaks.append(Leak(rest, exact[a] - exact[b] - exact[c], "an answer minus the sum of two"))
    for a, b in itertools.combinations(sets, 2):
        if a.isdisjoint(b) and a | b in targets and 0 < exact[a] + exact[b] < m:
            leaks.append(Leak(a | b, exact[a] + exact[b], "sum of two answers"))
    return leaks


def combinations_of(universe: Universe, figures: list[Figure], targets: dict[frozenset[Atom], int]) -> list[Leak]:
    span = Span()
    for atoms in {f.atoms for f in figures if isinstance(f.shown, int)}:
        span.add({universe.index[a]: 1 for a in atoms})
    return [
        Leak(atoms, truth, "a combination of exact answers")
        for atoms, truth in targets.items()
        if span.contains({universe.index[a]: 1 for a in atoms})
    ]


def bounds(
    universe: Universe, figures: list[Figure], targets: dict[frozenset[Atom], int], m: int, limit: int = 20_000
) -> list[Leak]:
    """The complete attacker: every figure with its bounds, a whole-number search per target (a search
    that needs more than ``limit`` nodes is left undecided)."""
    # No bound from the true total, which is not always published: room for any alternative nearby.
    total = 2 * sum(universe.counts.values()) + 10 * m
    variables = {a: (0, total) for a in universe.atoms}
    constraints: list[tuple[list[Atom], int, int]] = []
    seen: dict[frozenset[Atom], tuple[int, int]] = {}
    for f in figures:
        low, high = (
            (f.shown, f.shown) if isinstance(f.shown, int) else (1, m - 1) if isinstance(f.shown, str) else (m, total)
        )
        old = seen.get(f.atoms, (0, total))
        seen[f.atoms] = (max(old[0], low), min(old[1], high))
    for atoms, (low, high) in seen.items():
        if len(atoms) == 1 and low == high:
            (a,) = atoms
            variables[a] = (low, high)
        else:
            constraints.append((sorted(atoms, key=str), low, high))
    # The bounds that every figure together allows, narrowed once: each search below starts from them
    # and from its own extra constraint.
    lo0 = {v: b[0] for v, b in variables.items()}
    hi0 = {v: b[1] for v, b in variables.items()}
    assert Search(variables, constraints).propagate(lo0, hi0), "the true register agrees with every figure"
    leaks = []
    # Every register a search has found that agrees with all the figures. One in which a target's count
    # differs from the truth already shows that the target cannot be derived: no search needed for it.
    found: list[dict[Atom, int]] = []
    for atoms, truth in targets.items():
        unknown = sorted(atoms, key=str)
        if any(sum(register[a] for a in unknown) != truth for register in found):
            continue
        for extra in ((unknown, 0, truth - 1), (unknown, truth + 1, total)):
            search = Search(variables, [*constraints, extra], limit=limit)
            try:
                if search.feasible(dict(lo0), dict(hi0), universe.counts, start=[len(constraints)]):
                    found.append(search.solution)
                    break
            except RuntimeError:
                break  # undecided within the limit: not counted as derived
        else:
            leaks.append(Leak(atoms, truth, "the answers with their bounds"))
    return leaks


def small_cells(universe: Universe, queries: Iterable[tuple[Any, Sequence[str]]], m: int) -> dict[frozenset[Atom], int]:
    """Every cell of every allowed question (published or not) and every atom, with a count of 1..m-1."""
    out: dict[frozenset[Atom], int] = {}
    for period, by in queries:
        for atoms in universe.cells(period, by).values():
            truth = universe.truth(atoms)
            if 0 < truth < m:
                out[atoms] = truth
    for a, count in universe.counts.items():
        if 0 < count < m:
            out[frozenset({a})] = count
    return out


def attack(
    universe: Universe,
    answers: list[tuple[Any, Sequence[str], list[dict[str, Any]], Any]],
    queries: Iterable[tuple[Any, Sequence[str]]],
    m: int,
    *,
    with_bounds: bool = False,
    bounds_limit: int = 20_000,
    extra: Sequence[Figure] = (),
) -> list[Leak]:
    """Every leak the published ``answers`` (period, by, rows, total) and ``extra`` figures give away."""
    figures = [f for period, by, rows, total in answers for f in universe.figures(period, by, rows, total, m)]
    figures += [universe.figure(f.atoms, f.shown, m, f.where) for f in extra]
    targets = small_cells(universe, queries, m)
    leaks = differences(figures, targets, m) + combinations_of(universe, figures, targets)
    if with_bounds and not leaks:
        leaks += bounds(universe, figures, targets, m, bounds_limit)
    first: dict[frozenset[Atom], Leak] = {}
    for leak in leaks:
        first.setdefault(leak.atoms, leak)
    return list(first.values())
