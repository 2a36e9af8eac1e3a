"""An independent attacker for the statistics: can a withheld count be derived from what is published?

It knows what ``admin/stats.py``'s docstring says an attacker knows: the table's cells (a number; ``"<m"``
as 1..m-1; ``None`` as m or more; a combination not listed as 0) and every total of the table at every
coarser level (exactly when it is m or more, else as 1..m-1). For each withheld cell it searches, by
depth-first search with interval propagation over whole numbers, for a table that agrees with all of it
and differs in that cell. It shares no code with the module under test.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

Key = tuple[Any, ...]


class Search:
    """Whole-number bounds for ``variables`` that every constraint (keys, low, high: low <= their sum <=
    high) holds with. The keys are numbered inside: a list index is cheaper than hashing a tuple key,
    and the propagation below is where the property tests spend their time."""

    def __init__(
        self,
        variables: dict[Key, tuple[int, int]],
        constraints: list[tuple[list[Key], int, int]],
        limit: int = 200_000,
    ) -> None:
        self.variables = variables
        self.constraints = constraints
        self.limit = limit
        self.keys = list(variables)
        number = {k: n for n, k in enumerate(self.keys)}
        self._rows = [([number[v] for v in vs], low, high) for vs, low, high in constraints]
        self._by_var: list[list[int]] = [[] for _ in self.keys]
        for i, (vs, _, _) in enumerate(self._rows):
            for v in vs:
                self._by_var[v].append(i)
        self.nodes = 0
        self.solution: dict[Key, int] = {}

    def propagate(self, lo: dict[Key, int], hi: dict[Key, int], start: Iterable[int] | None = None) -> bool:
        """Narrow the bounds until every constraint holds with them (False: none can). ``start``: the
        constraints to look at first, when the bounds already hold with all the others (the fixed point
        that propagation reaches is the same whichever order it takes)."""
        lows, highs = [lo[k] for k in self.keys], [hi[k] for k in self.keys]
        holds = self._propagate(lows, highs, start)
        lo.update(zip(self.keys, lows, strict=True))
        hi.update(zip(self.keys, highs, strict=True))
        return holds

    def _propagate(self, lo: list[int], hi: list[int], start: Iterable[int] | None) -> bool:
        rows, by_var = self._rows, self._by_var
        queue = set(range(len(rows)) if start is None else start)
        while queue:
            vs, low, high = rows[queue.pop()]
            sum_lo = sum(map(lo.__getitem__, vs))
            sum_hi = sum(map(hi.__getitem__, vs))
            if sum_lo > high or sum_hi < low:
                return False
            for v in vs:
                old_lo, old_hi = lo[v], hi[v]
                new_lo = max(old_lo, low - (sum_hi - old_hi))
                new_hi = min(old_hi, high - (sum_lo - old_lo))
                if new_lo > new_hi:
                    return False
                if new_lo != old_lo or new_hi != old_hi:
                    sum_lo += new_lo - old_lo
                    sum_hi += new_hi - old_hi
                    lo[v], hi[v] = new_lo, new_hi
                    queue.update(by_var[v])
        return True

    def feasible(
        self, lo: dict[Key, int], hi: dict[Key, int], hint: dict[Key, int], start: Iterable[int] | None = None
    ) -> bool:
        """Whether some whole numbers within ``lo``..``hi`` meet every constraint; values near ``hint``
        are tried first. Found: ``solution`` holds them."""
        return self._feasible(
            [lo[k] for k in self.keys], [hi[k] for k in self.keys], [hint.get(k, 0) for k in self.keys], start
        )

    def _feasible(self, lo: list[int], hi: list[int], hint: list[int], start: Iterable[int] | None) -> bool:
        self.nodes += 1
        if self.nodes > self.limit:
            raise RuntimeError("search too large for this checker")
        if not self._propagate(lo, hi, start):
            return False
        open_vars = [n for n in range(len(lo)) if lo[n] < hi[n]]
        if not open_vars:
            self.solution = dict(zip(self.keys, lo, strict=True))  # a whole table that agrees with everything
            return True
        v = min(open_vars, key=lambda n: hi[n] - lo[n])
        for value in sorted(range(lo[v], hi[v] + 1), key=lambda x: abs(x - hint[v])):
            lo2, hi2 = lo[:], hi[:]
            lo2[v] = hi2[v] = value
            if self._feasible(lo2, hi2, hint, self._by_var[v]):  # only v's constraints can narrow more
                return True
        return False


def derivable(
    cells: dict[Key, int],
    ndim: int,
    m: int,
    shown: dict[Key, Any],
    coarser: dict[tuple[int, ...], dict[Key, Any] | None],
) -> list[tuple[tuple[int, ...], Key]]:
    """The withheld cells, of this table or of a coarser one, whose true value is the only one that is
    consistent with this table and every coarser one (``coarser``: kept dimensions -> what that grouping
    publishes, ``None`` if it is refused)."""
    cells = {k: v for k, v in cells.items() if v > 0}
    total = sum(cells.values())
    full = tuple(range(ndim))
    tables = {**coarser, full: shown}
    variables: dict[Key, tuple[int, int]] = {}
    for k, value in shown.items():
        if value is None:
            variables[k] = (m, max(total, m))
        elif isinstance(value, str):
            assert value == f"<{m}"
            variables[k] = (1, m - 1)
        else:
            assert value == cells[k]
    constraints: list[tuple[list[Key], int, int]] = []
    targets: list[tuple[tuple[int, ...], Key, list[Key], int, int]] = []
    for dims, table in tables.items():
        if table is None:
            continue
        groups: dict[Key, list[Key]] = defaultdict(list)
        for k in cells:
            groups[tuple(k[d] for d in dims)].append(k)
        assert set(table) == set(groups), dims
        for key, members in groups.items():
            value = table[key]
            unknown = [k for k in members if k in variables]
            known = sum(cells[k] for k in members if k not in variables)
            truth = sum(cells[k] for k in members)
            low, high = (value, value) if isinstance(value, int) else (1, m - 1) if value else (m, max(total, m))
            if isinstance(value, int):
                assert value == truth
            if unknown and dims != full:
                constraints.append((unknown, low - known, high - known))
            if not isinstance(value, int):
                targets.append((dims, key, unknown, known, truth))
    exposed = []
    for dims, key, unknown, known, truth in targets:
        lo = {v: b[0] for v, b in variables.items()}
        hi = {v: b[1] for v, b in variables.items()}
        if not unknown:
            exposed.append((dims, key))
            continue
        below = Search(variables, [*constraints, (unknown, 0, truth - 1 - known)])
        if below.feasible(lo, hi, cells):
            continue
        above = Search(variables, [*constraints, (unknown, truth + 1 - known, 10**9)])
        if not above.feasible(lo, hi, cells):
            exposed.append((dims, key))
    return exposed
