"""How the register's tables are published without giving a small count away (``admin.stats`` asks).

Primary suppression: every count from 1 to ``m - 1`` (``NORA_STATS_MIN_COUNT``, default 5) is
published as ``"<m"``, in every grouping.

Complementary suppression. Anyone may ask for the same figures with fewer groupings, so every row and
column total of a table, at every level (the table ``category × service`` has the totals per category,
per service and overall), is taken as public. The attacker this module defends against knows:
- every published cell of the table: a number exactly, ``"<m"`` as 1 to m-1, ``null`` (a cell
  withheld to protect another one) as at least m, and a combination that is not listed as 0;
- every total of the table at every coarser level: exactly when it is m or more, else only 1 to m-1
  (that is what the coarser grouping publishes for it).
A table is published only if, for every withheld cell, a second table of non-negative whole numbers
agrees with all of that and differs in that cell: then the cell cannot be derived.

How: for each small cell ``p`` we look for a *shift pattern*: a box spanned by ``p`` and one other value
in each of some dimensions ``J``; its corners get +1 and -1 alternately. Every total that sums over one
of the box's dimensions is unchanged; when ``J`` is not every dimension, the totals that keep all of
``J`` change and must themselves be small (1 to m-1 before and after). Every corner must be a listed
cell and stay within what its symbol says (a small cell stays 1 to m-1, a withheld cell m or more).
The corners are withheld (``null`` if not already small), so the shifted table is a second answer for
every one of them. Of the patterns found we take the one withholding the fewest and smallest new cells.
The small counts of a coarser grouping that is itself refused are protected the same way: it publishes
nothing, but its counts are counts all the same. When no pattern exists for some small cell (tiny
tables, e.g. 5 + 1 with the total 6 public, or detailed groupings, months by two or more keys), the
table is not published at all: 422 with the reason, never a weaker answer (before issue 18 such a table
was published per table, ``"protection": "per_table"``, which could give a small count away next to
the coarser ones).

Time and implied keys (``admin.stats.Publication``): a table of a period is a slice of the year's table with the
time keys (``quarter``, and ``month`` with it), computed from the whole year's registrations, so the
coarser tables it is protected against include the coarser periods. A key that follows from another is
kept beside it (``IMPLIES``: month -> quarter, category -> is_case), and keys are always in one
``ORDER``: the figures for ``by=is_case`` and ``by=category`` come from one table, and
``by=service,category`` is ``by=category,service``. Each table depends only on its own cells and the
tables below it, so every answer that shows a table shows it the same way.

``total`` is published only when no cell is withheld and it is not itself small (as before).

Not covered: two tables neither of which refines the other (category × region next to category ×
service, or the quarters by category and service next to the months by category) are each protected
against their own coarser tables, not against each other where their common finer table is refused.
``tests/admin/test_fixed_periods.py`` finds no small count derivable by any whole-number combination
(differences, sums) of all answers about a year; reasoning with the bounds ("<m" is 1..m-1) across such
tables is not ruled out. Figures for publication should come from one table and its coarser ones.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

# Work limit of the pattern search (corner checks), so that a very detailed grouping is refused in
# bounded time instead of tying up the server; deterministic, unlike a time limit.
SEARCH_BUDGET = 1_000_000
PARTNERS_PER_DIMENSION = 20
COUPLED_UP_TO = 3

Key = tuple[Any, ...]


class Unprotectable(Exception):
    """No publication of this table keeps every small count from being derived."""


def suppress(count: int, min_count: int) -> int | str:
    return f"<{min_count}" if 0 < count < min_count else count


Dims = tuple[int, ...]
Shape = tuple[Dims, ...]
Shown = int | str | None
# What each coarser grouping publishes: per kept-dimensions tuple, key -> shown count (None = refused).
Lower = dict[Dims, dict[Key, Shown] | None]


def _project(key: Key, dims: Dims) -> Key:
    return tuple(key[d] for d in dims)


class Protector:
    """The search for shift patterns over one table (see the module docstring).

    ``lower`` holds what every coarser grouping of the same table publishes; its withheld cells are
    targets too, so that this table cannot give away a cell a coarser table withholds.
    """

    def __init__(self, cells: dict[Key, int], ndim: int, m: int, lower: Lower, couples: Sequence[Dims] = ()) -> None:
        self.cells = cells
        self.ndim = ndim
        self.m = m
        self.lower = lower
        self.couples = [tuple(c) for c in couples]
        self.withheld: set[Key] = {k for k, v in cells.items() if v < m}
        self.covered: set[tuple[Dims, Key]] = set()
        self.budget = SEARCH_BUDGET
        self._margins: dict[Dims, dict[Key, int]] = {}
        self._kept: dict[Shape, list[Dims]] = {}
        self._partners: dict[tuple[Key, Dims], list[Key]] = {}

    def margin(self, dims: Dims, key: Key) -> int:
        table = self._margins.get(dims)
        if table is None:
            table = defaultdict(int)
            for k, v in self.cells.items():
                table[_project(k, dims)] += v
            self._margins[dims] = table
        return table.get(_project(key, dims), 0)

    def kept(self, shape: Shape) -> list[Dims]:
        """The coarser groupings whose totals a pattern of ``shape`` changes: those that keep at least
        one dimension of every group (the others sum a flipped pair of corners out)."""
        found = self._kept.get(shape)
        if found is None:
            found = [
                dims
                for size in range(self.ndim)
                for dims in itertools.combinations(range(self.ndim), size)
                if all(set(group) & set(dims) for group in shape)
            ]
            self._kept[shape] = found
        return found

    def within(self, shown: Shown, value: int, sign: int) -> bool:
        """Whether ``value + sign`` agrees with how the value is shown."""
        new = value + sign
        if isinstance(shown, int):
            return False
        if isinstance(shown, str):
            return 1 <= new < self.m
        return new >= self.m

    def corner_ok(self, key: Key, sign: int, shape: Shape) -> bool:
        value = self.cells.get(key, 0)
        if value <= 0 or not self.within(f"<{self.m}" if value < self.m else None, value, sign):
            return False
        for dims in self.kept(shape):
            table = self.lower.get(dims)
            if table is None:
                continue  # that grouping is refused: its totals are not published
            if not self.within(table.get(_project(key, dims), 0), self.margin(dims, key), sign):
                return False
        return True

    def partners(self, p: Key, group: Dims) -> list[Key]:
        """Values for ``group`` that, put into ``p``, give a listed cell differing in every one of them."""
        cached = self._partners.get((p, group))
        if cached is not None:
            return cached
        rest = [d for d in range(self.ndim) if d not in group]
        found = {
            _project(k, group)
            for k in self.cells
            if all(k[d] == p[d] for d in rest) and all(k[d] != p[d] for d in group)
        }

        def rank(values: Key) -> tuple[int, int, tuple[str, ...]]:
            k = self.apply(p, group, values)
            return (0 if k in self.withheld else 1, self.cells[k], sort_key(values))

        out = sorted(found, key=rank)[:PARTNERS_PER_DIMENSION]
        self._partners[(p, group)] = out
        return out

    @staticmethod
    def apply(key: Key, group: Dims, values: Key) -> Key:
        k = list(key)
        for d, v in zip(group, values, strict=True):
            k[d] = v
        return tuple(k)

    def best_pattern(self, bases: list[Key], shapes: list[Shape]) -> list[tuple[Dims, Key]] | None:
        best: tuple[tuple[int, int, int], Shape, list[Key]] | None = None
        for p in bases:
            for shape in shapes:
                if best is not None and best[0][0] == 0:
                    break
                for choice in itertools.product(*(self.partners(p, g) for g in shape)):
                    found = self._try(p, shape, choice)
                    if found is not None and (best is None or found[0] < best[0]):
                        best = (found[0], shape, found[1])
                    if self.budget <= 0:
                        raise Unprotectable("too detailed to check")
        if best is None:
            return None
        _, shape, corners = best
        moved = [(tuple(range(self.ndim)), k) for k in corners]
        for dims in self.kept(shape):
            moved += [(dims, _project(k, dims)) for k in corners]
        return moved

    def _try(self, p: Key, shape: Shape, choice: tuple[Key, ...]) -> tuple[tuple[int, int, int], list[Key]] | None:
        corners: list[tuple[Key, int]] = []
        for flips in itertools.product((0, 1), repeat=len(shape)):
            k = p
            for group, values, f in zip(shape, choice, flips, strict=True):
                if f:
                    k = self.apply(k, group, values)
            corners.append((k, -1 if sum(flips) % 2 else 1))
        self.budget -= len(corners) * (1 + len(self.kept(shape)))
        for direction in (1, -1):
            if all(self.corner_ok(k, s * direction, shape) for k, s in corners):
                new = [k for k, _ in corners if k not in self.withheld]
                return (len(new), sum(self.cells[k] for k in new), len(shape)), [k for k, _ in corners]
        return None

    def shapes(self, target: Dims) -> list[Shape]:
        """Pattern shapes that change totals over ``target``: every group keeps a dimension of it.

        A shape is a set of disjoint groups of dimensions; flipping a group changes all its dimensions
        at once (a group of one is an edge of an ordinary box). Up to ``COUPLED_UP_TO`` dimensions every
        grouping is tried, beyond that groups of one only.
        """
        dims = list(range(self.ndim))
        if self.ndim <= COUPLED_UP_TO:
            groups = [g for size in range(1, self.ndim + 1) for g in itertools.combinations(dims, size)]
        else:
            # A finer key changes with its coarser one (a month of another quarter): always a pair.
            groups = [(d,) for d in dims] + self.couples
        groups = [g for g in groups if set(g) & set(target)] if len(target) < self.ndim else groups
        out: list[Shape] = []

        def extend(start: int, chosen: list[Dims], used: set[int]) -> None:
            out.append(tuple(chosen))
            for i in range(start, len(groups)):
                g = groups[i]
                if used.isdisjoint(g):
                    extend(i + 1, [*chosen, g], used | set(g))

        extend(0, [], set())
        if len(target) < self.ndim:
            out = [shape for shape in out if all(set(g) & set(target) for g in shape)]
        return sorted(out, key=lambda shape: (len(shape), sum(len(g) for g in shape)))

    def _cover(self, pattern: list[tuple[Dims, Key]] | None) -> None:
        if pattern is None:
            raise Unprotectable("no pattern")
        self.covered.update(pattern)
        full = tuple(range(self.ndim))
        self.withheld.update(k for dims, k in pattern if dims == full)

    def run(self) -> set[Key]:
        full = tuple(range(self.ndim))
        for p in sorted(self.withheld, key=lambda k: (self.cells[k], sort_key(k))):
            if (full, p) not in self.covered:
                self._cover(self.best_pattern([p], self.shapes(full)))
        # Cells a coarser grouping withholds must not become derivable from this finer table; nor the
        # small counts of a coarser grouping that is refused: it publishes nothing, but its counts are
        # counts all the same (the cases of a service, worked out from its total and its inquiries).
        for dims in sorted(self.lower, key=len, reverse=True):
            table = self.lower[dims]
            if table is None:
                margins = _aggregate(self.cells, dims)
                targets = [k for k, v in margins.items() if 0 < v < self.m]
            else:
                targets = [k for k, v in table.items() if not isinstance(v, int)]
            for q in sorted(targets, key=sort_key):
                if (dims, q) in self.covered:
                    continue
                children = [k for k in self.cells if _project(k, dims) == q]
                children.sort(key=lambda k: (k not in self.withheld, self.cells[k]))
                self._cover(self.best_pattern(children[:PARTNERS_PER_DIMENSION], self.shapes(dims)))
        return self.withheld


def sort_value(v: Any) -> str:
    return "" if v is None else str(v)


def sort_key(k: Key) -> tuple[str, ...]:
    return tuple(sort_value(v) for v in k)


def _aggregate(cells: dict[Key, int], dims: Dims) -> dict[Key, int]:
    out: dict[Key, int] = defaultdict(int)
    for k, v in cells.items():
        out[_project(k, dims)] += v
    return dict(out)


def shown_counts(cells: dict[Key, int], withheld: set[Key], m: int) -> dict[Key, Shown]:
    return {k: (suppress(v, m) if v < m else None if k in withheld else v) for k, v in cells.items()}


def lattice(cells: dict[Key, int], ndim: int, min_count: int) -> Lower:
    """What every grouping of the table by a subset of its dimensions publishes (None = refused)."""
    cells = {k: v for k, v in cells.items() if v > 0}
    out: Lower = {}
    for size in range(ndim + 1):
        for dims in itertools.combinations(range(ndim), size):
            sub = _aggregate(cells, dims)
            lower = {tuple(dims.index(d) for d in s): t for s, t in out.items() if set(s) < set(dims)}
            try:
                withheld = Protector(sub, size, min_count, lower).run() if min_count > 1 else set()
                out[dims] = shown_counts(sub, withheld, min_count)
            except Unprotectable:
                out[dims] = None
    return out


def protect(cells: dict[Key, int], ndim: int, min_count: int) -> set[Key]:
    """The cells to withhold (small ones and their complements); raises ``Unprotectable``."""
    cells = {k: v for k, v in cells.items() if v > 0}
    if min_count <= 1:
        return set()
    full = tuple(range(ndim))
    table = lattice(cells, ndim, min_count)[full]
    if table is None:
        raise Unprotectable("no pattern")
    return {k for k, v in table.items() if not isinstance(v, int)}


def publish(cells: dict[Key, int], by: Sequence[str], min_count: int) -> tuple[list[dict[str, Any]], int | None]:
    """The published rows (``count``: a number, ``"<m"`` or ``null``) and total of a table."""
    withheld = protect(cells, len(by), min_count)
    out = []
    for key in sorted((k for k, v in cells.items() if v > 0), key=sort_key):
        cell: dict[str, Any] = dict(zip(by, key, strict=True))
        count = cells[key]
        cell["count"] = suppress(count, min_count) if 0 < count < min_count else (None if key in withheld else count)
        out.append(cell)
    total = sum(cells.values())
    if withheld or 0 < total < min_count:
        return out, None
    return out, total
