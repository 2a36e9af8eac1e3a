"""An independent attacker for the statistics: can a withheld count be derived from what is published?

It knows what ``admin/stats.py``'s docstring says an attacker knows: the table's cells (a number; ``"<m"``
as 1..m-1; ``None`` as m or more; a combination not listed as 0) and every total of the table at every
coarser level (exactly when it is m or more, else as 1..m-1). For each withheld cell it searches, by
depth-first search with interval propagation over whole numbers, for a table that agrees with all of it
and differs in that cell. It shares no code with the module under test.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

Key = tuple[Any, ...]


class Search:
    def __init__(
        self,
        variables: dict[Key, tuple[int, int]],
        constraints: list[tuple[list[Key], int, int]],
        limit: int = 200_000,
    ) -> None:
        self.variables = variables
        self.constraints = constraints
        self.limit = limit
        self.by_var: dict[Key, list[int]] = defaultdict(list)
        for i, (vs, _, _) in enumerate(constraints):
            for v in vs:
                self.by_var[v].append(i)
        self.nodes = 0

    def propagate(self, lo: dict[Key, int], hi: dict[Key, int]) -> bool:
        queue = set(range(len(self.constraints)))
        while queue:
            i = queue.pop()
            vs, low, high = self.constraints[i]
            sum_lo = sum(lo[v] for v in vs)
            sum_hi = sum(hi[v] for v in vs)
            if sum_lo > high or sum_hi < low:
                return False
            for v in vs:
                new_lo = max(lo[v], low - (sum_hi - hi[v]))
                new_hi = min(hi[v], high - (sum_lo - lo[v]))
                if new_lo > new_hi:
                    return False
                if (new_lo, new_hi) != (lo[v], hi[v]):
                    sum_lo += new_lo - lo[v]
                    sum_hi += new_hi - hi[v]
                    lo[v], hi[v] = new_lo, new_hi
                    queue.update(self.by_var[v])
        return True

    def feasible(self, lo: dict[Key, int], hi: dict[Key, int], hint: dict[Key, int]) -> bool:
        self.nodes += 1
        if self.nodes > self.limit:
            raise RuntimeError("search too large for this checker")
        if not self.propagate(lo, hi):
            return False
        open_vars = [v for v in lo if lo[v] < hi[v]]
        if not open_vars:
            return True
        v = min(open_vars, key=lambda k: hi[k] - lo[k])
        for value in sorted(range(lo[v], hi[v] + 1), key=lambda x: abs(x - hint[v])):
            lo2, hi2 = dict(lo), dict(hi)
            lo2[v] = hi2[v] = value
            if self.feasible(lo2, hi2, hint):
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
    search = Search(variables, constraints)
    exposed = []
    for dims, key, unknown, known, truth in targets:
        lo = {v: b[0] for v, b in variables.items()}
        hi = {v: b[1] for v, b in variables.items()}
        if not unknown:
            exposed.append((dims, key))
            continue
        search.constraints = [*constraints, (unknown, 0, truth - 1 - known)]
        search.by_var = defaultdict(list)
        for i, (vs, _, _) in enumerate(search.constraints):
            for v in vs:
                search.by_var[v].append(i)
        if search.feasible(dict(lo), dict(hi), cells):
            continue
        search.constraints = [*constraints, (unknown, truth + 1 - known, 10**9)]
        search.by_var = defaultdict(list)
        for i, (vs, _, _) in enumerate(search.constraints):
            for v in vs:
                search.by_var[v].append(i)
        if not search.feasible(dict(lo), dict(hi), cells):
            exposed.append((dims, key))
    return exposed
