"""Published statistics of the case register with small counts suppressed (docs/design.md §5).

Fixed periods (issue 18 #7): figures are published for whole calendar months, quarters and years only
(``period=2026-03``, ``2026-Q1``, ``2026``, or ``from``/``to`` spanning exactly one of them); any other
range is refused. Totals up to a day and up to the day before gave every day's count; with fixed
periods the only overlap between two periods is nesting (a month in its quarter in its year), and the
nesting is part of the tables below: the months of a quarter are the cells of a table whose coarser
table gives the quarters, whose coarser table gives the year.

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

Time and implied keys (``Publication``): a table of a period is a slice of the year's table with the
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

CSV (``format=csv``): the ``by`` columns and ``count``, one row per cell, then a total row; a withheld
cell is ``:`` (Statistics Norway's sign for "not shown for confidentiality"), a withheld total empty.
``sep=;`` for spreadsheets set up for Norwegian; ``bom=1`` writes a UTF-8 byte-order mark so that
spreadsheets read æøå right (the default with ``sep=;``, ``bom=0`` turns it off).

The yearly summary ``GET /api/v1/stats/summary?year=2026`` has the shape of the published reports:
per service, the cases per main category as counts and percentages of the service's cases, and the
inquiries: the figures of the tables by category, service and ``is_case`` and by service and
``is_case`` for the year, as the statistics publish them. Figures are per service: the same case can
reach several services, so they must not be added up across services.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.auth import require
from admin.context import context
from core.clock import as_utc, iso, to_datetime
from core.csv_safe import csv_bytes
from core.db import Database
from core.http import NO_STORE, HTTPError
from core.models import Registration
from core.reference import Reference

GROUPINGS = (
    "category",
    "service",
    "region",
    "language",
    "audience",
    "contact",
    "age_group",
    "gender",
    "month",
    "is_case",
    "quarter",
)
# Every table is computed with its keys in this order, whatever order ``by`` names them in: the choice of
# cells to withhold must not depend on how the question was put, or two orders of one table could
# withhold different cells and together give both away.
ORDER = (
    "quarter",
    "month",
    "category",
    "service",
    "region",
    "language",
    "audience",
    "contact",
    "age_group",
    "gender",
    "is_case",
)
TIME = ("quarter", "month")
# A key that is a finer form of another: a month lies in one quarter, a main category (or none) says
# whether it is a case. Tables are computed with the coarser key beside the finer one (``closure``), so
# that the figures for both come from one protected table.
IMPLIES = {"month": "quarter", "category": "is_case"}
LEVELS = ("year", "quarter", "month")
SERVICES = ("MR", "AT", "IR", "KT")
WITHHELD_CSV = ":"
# Work limit of the pattern search (corner checks), so that a very detailed grouping is refused in
# bounded time instead of tying up the server; deterministic, unlike a time limit.
SEARCH_BUDGET = 1_000_000
PARTNERS_PER_DIMENSION = 20
COUPLED_UP_TO = 3

Key = tuple[Any, ...]


class Unprotectable(Exception):
    """No publication of this table keeps every small count from being derived."""


def _key(row: Registration, by: str) -> Any:
    if by == "category":
        return row.main_category
    if by == "month":
        return as_utc(row.closed_at).strftime("%Y-%m")
    if by == "quarter":
        closed = as_utc(row.closed_at)
        return f"{closed.year}-Q{(closed.month - 1) // 3 + 1}"
    return getattr(row, by)


def suppress(count: int, min_count: int) -> int | str:
    return f"<{min_count}" if 0 < count < min_count else count


Dims = tuple[int, ...]
Shape = tuple[Dims, ...]
Shown = int | str | None
# What each coarser grouping publishes: per kept-dimensions tuple, key -> shown count (None = refused).
Lower = dict[Dims, dict[Key, Shown] | None]


def _project(key: Key, dims: Dims) -> Key:
    return tuple(key[d] for d in dims)


class _Protector:
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
            return (0 if k in self.withheld else 1, self.cells[k], _sort_key(values))

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
        for p in sorted(self.withheld, key=lambda k: (self.cells[k], _sort_key(k))):
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
            for q in sorted(targets, key=_sort_key):
                if (dims, q) in self.covered:
                    continue
                children = [k for k in self.cells if _project(k, dims) == q]
                children.sort(key=lambda k: (k not in self.withheld, self.cells[k]))
                self._cover(self.best_pattern(children[:PARTNERS_PER_DIMENSION], self.shapes(dims)))
        return self.withheld


def _sort_value(v: Any) -> str:
    return "" if v is None else str(v)


def _sort_key(k: Key) -> tuple[str, ...]:
    return tuple(_sort_value(v) for v in k)


def _aggregate(cells: dict[Key, int], dims: Dims) -> dict[Key, int]:
    out: dict[Key, int] = defaultdict(int)
    for k, v in cells.items():
        out[_project(k, dims)] += v
    return dict(out)


def _shown(cells: dict[Key, int], withheld: set[Key], m: int) -> dict[Key, Shown]:
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
                withheld = _Protector(sub, size, min_count, lower).run() if min_count > 1 else set()
                out[dims] = _shown(sub, withheld, min_count)
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
    for key in sorted((k for k, v in cells.items() if v > 0), key=_sort_key):
        cell: dict[str, Any] = dict(zip(by, key, strict=True))
        count = cells[key]
        cell["count"] = suppress(count, min_count) if 0 < count < min_count else (None if key in withheld else count)
        out.append(cell)
    total = sum(cells.values())
    if withheld or 0 < total < min_count:
        return out, None
    return out, total


# Dates a query may name (statistics, export, audit log): the register has nothing outside them, and a
# far date such as 9999-12-31 overflowed the day after it (a 500 before); both ends as the summary's years.
DATE_MIN, DATE_MAX = date(2000, 1, 1), date(2100, 12, 31)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_date(raw: str | None, name: str, fields: dict[str, str]) -> date | None:
    """``raw`` as a date (``YYYY-MM-DD``, from ``DATE_MIN`` to ``DATE_MAX``); ``None`` if not given. A bad
    one is named in ``fields`` with the reason."""
    if raw is None or raw == "":
        return None
    try:
        value = date.fromisoformat(raw) if ISO_DATE.fullmatch(raw) else None
    except ValueError:
        value = None
    if value is None:
        fields[name] = "a date as YYYY-MM-DD"
    elif not DATE_MIN <= value <= DATE_MAX:
        fields[name] = f"a date from {DATE_MIN} to {DATE_MAX}"
        value = None
    return value


def parse_date(raw: str | None, default: date, name: str, fields: dict[str, str]) -> date:
    value = check_date(raw, name, fields)
    return default if value is None else value


# ------------------------------------------------------------------------------ fixed periods


@dataclass(frozen=True)
class Period:
    """A calendar year, quarter or month: the only periods statistics are published for."""

    kind: str  # "year", "quarter" or "month"
    year: int
    number: int = 0  # the quarter (1-4) or month (1-12); 0 for a year

    @property
    def label(self) -> str:
        if self.kind == "quarter":
            return f"{self.year}-Q{self.number}"
        if self.kind == "month":
            return f"{self.year}-{self.number:02d}"
        return str(self.year)

    @property
    def start(self) -> date:
        month = {"year": 1, "quarter": 3 * self.number - 2, "month": self.number}[self.kind]
        return date(self.year, month, 1)

    @property
    def end(self) -> date:
        month = {"year": 12, "quarter": 3 * self.number, "month": self.number}[self.kind]
        following = date(self.year + 1, 1, 1) if month == 12 else date(self.year, month + 1, 1)
        return following - timedelta(days=1)

    @property
    def time_keys(self) -> tuple[str, ...]:
        """The keys that name this period in a table (none for the year)."""
        return {"year": (), "quarter": ("quarter",), "month": ("quarter", "month")}[self.kind]

    @property
    def time_values(self) -> tuple[str, ...]:
        quarter = f"{self.year}-Q{(self.start.month - 1) // 3 + 1}"
        return {"year": (), "quarter": (quarter,), "month": (quarter, self.label)}[self.kind]


PERIOD = re.compile(r"(\d{4})(?:-Q([1-4])|-(\d{2}))?")
PERIOD_HELP = "a year (2026), a quarter (2026-Q1) or a month (2026-03)"
WHOLE_PERIODS = (
    "statistics are published for whole months, quarters and years only: from the first day of a month, "
    "quarter or year to its last day (2026-03-01 to 2026-03-31, 2026-01-01 to 2026-03-31, "
    "2026-01-01 to 2026-12-31), or period=2026-03, 2026-Q1 or 2026"
)


def parse_period(raw: str, fields: dict[str, str]) -> Period | None:
    match = PERIOD.fullmatch(raw)
    year = int(match.group(1)) if match else 0
    if match is None or not DATE_MIN.year <= year <= DATE_MAX.year:
        fields["period"] = f"{PERIOD_HELP}, from {DATE_MIN.year} to {DATE_MAX.year}"
        return None
    if match.group(2):
        return Period("quarter", year, int(match.group(2)))
    if match.group(3):
        month = int(match.group(3))
        if not 1 <= month <= 12:
            fields["period"] = PERIOD_HELP
            return None
        return Period("month", year, month)
    return Period("year", year)


def period_between(start: date, end: date) -> Period | None:
    """The month, quarter or year that runs exactly from ``start`` to ``end``, if one does."""
    candidates = [Period("year", start.year), Period("quarter", start.year, (start.month - 1) // 3 + 1)]
    candidates.append(Period("month", start.year, start.month))
    return next((p for p in candidates if (p.start, p.end) == (start, end)), None)


def periods_of(year: int) -> list[Period]:
    """Every period of a year: the year, its four quarters and its twelve months."""
    return [
        Period("year", year),
        *(Period("quarter", year, q) for q in range(1, 5)),
        *(Period("month", year, m) for m in range(1, 13)),
    ]


def closure(keys: Iterable[str]) -> tuple[str, ...]:
    """``keys`` with the coarser keys they imply, in ``ORDER``."""
    out = set(keys)
    for finer, coarser in IMPLIES.items():
        if finer in out:
            out.add(coarser)
    return tuple(k for k in ORDER if k in out)


class Publication:
    """Everything the statistics publish about one calendar year, from one lattice of tables.

    A table is named by its keys in ``ORDER`` (closed under ``IMPLIES``); its coarser tables are the ones
    with fewer keys, and a period is a slice of a table with its time keys: a month of the table with
    ``quarter`` and ``month``, a quarter of the table with ``quarter``, the year of the table without
    either. Each table is protected (``_Protector``) against all its coarser tables, which include the
    coarser periods: the months of a quarter add up to the quarter, the quarters to the year, so a
    quarter minus two of its months is one of the differences a table must withstand. Each table is
    computed once, only from its own cells and the tables below it, so every answer that shows a table
    shows it the same way.
    """

    def __init__(self, rows: Iterable[Registration], min_count: int) -> None:
        self.rows = list(rows)
        self.min_count = min_count
        self._tables: dict[tuple[str, ...], dict[Key, Shown] | None] = {}

    def table(self, keys: tuple[str, ...]) -> dict[Key, Shown] | None:
        """What the table by ``keys`` publishes per cell (``None``: it cannot be protected, so it is not)."""
        if keys in self._tables:
            return self._tables[keys]
        assert keys == closure(keys), keys  # noqa: S101 - callers pass closed, ordered keys
        cells = dict(Counter(tuple(_key(r, k) for k in keys) for r in self.rows))
        lower: Lower = {}
        for size in range(len(keys)):
            for dims in itertools.combinations(range(len(keys)), size):
                sub = tuple(keys[d] for d in dims)
                if closure(sub) == sub:
                    lower[dims] = self.table(sub)
        couples = [
            tuple(sorted((keys.index(finer), keys.index(coarser))))
            for finer, coarser in IMPLIES.items()
            if finer in keys and coarser in keys
        ]
        shown: dict[Key, Shown] | None
        try:
            m = self.min_count
            withheld = _Protector(cells, len(keys), m, lower, couples).run() if m > 1 else set()
            shown = _shown(cells, withheld, m)
        except Unprotectable:
            shown = None
        self._tables[keys] = shown
        return shown

    def answer(self, period: Period, by: Sequence[str]) -> tuple[list[dict[str, Any]], int | None]:
        """The rows and total for ``by`` in ``period``; raises ``Unprotectable`` when that table cannot be
        published without giving a small count away."""
        level = max([LEVELS.index(period.kind), *(LEVELS.index(k) for k in by if k in TIME)])
        keys = closure([*(k for k in by if k not in TIME), *Period(LEVELS[level], 2000, 1).time_keys])
        table = self.table(keys)
        if table is None:
            raise Unprotectable("this table")
        at = [keys.index(k) for k in period.time_keys]
        rows: dict[Key, dict[str, Any]] = {}
        for key, shown in table.items():
            if tuple(key[i] for i in at) != period.time_values:
                continue
            values = tuple(key[keys.index(b)] for b in by)
            if values in rows:  # a coarser key not fixed by the finer one: never published merged
                raise Unprotectable("keys that do not imply each other")
            rows[values] = {**dict(zip(by, values, strict=True)), "count": shown}
        out = [rows[v] for v in sorted(rows, key=_sort_key)]
        totals = self.table(period.time_keys)
        total = None if totals is None else totals.get(period.time_values, 0)
        if not isinstance(total, int) or any(not isinstance(r["count"], int) for r in out):
            total = None
        return out, total


def csv_options(params: Any, fields: dict[str, str]) -> tuple[str, bool]:
    sep = params.get("sep", ",")
    if sep not in (",", ";"):
        fields["sep"] = "',' or ';'"
    bom = params.get("bom")
    if bom not in (None, "0", "1", "true", "false"):
        fields["bom"] = "0 or 1"
    with_bom = sep == ";" if bom is None else bom in ("1", "true")
    return sep, with_bom


def csv_response(header: list[str], rows: list[list[Any]], *, sep: str, bom: bool, filename: str) -> Response:
    """Every CSV answer of the service (statistics, summary, export): cells neutralised against formula
    injection by ``core.csv_safe``."""
    return Response(
        csv_bytes(header, rows, sep=sep, bom=bom),
        media_type="text/csv; charset=utf-8",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_count(value: Any) -> Any:
    return WITHHELD_CSV if value is None else value


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, time.min, UTC), datetime.combine(end + timedelta(days=1), time.min, UTC)


async def registrations_between(db: Database, start: date, end: date) -> list[Registration]:
    lo, hi = _bounds(start, end)
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(Registration).where(col(Registration.closed_at) >= lo, col(Registration.closed_at) < hi)
                )
            ).all()
        )


TOO_DETAILED = (
    "too detailed to publish for this period without revealing counts under {m}: use fewer groupings or a longer period"
)


def stats_period(params: Any, today: date, fields: dict[str, str]) -> Period | None:
    """The period a statistics query asks for: ``period``, or ``from``/``to`` (default: this year)."""
    raw = params.get("period")
    if raw is not None:
        if params.get("from") is not None or params.get("to") is not None:
            fields["period"] = "give either period or from and to"
            return None
        return parse_period(raw, fields)
    start = parse_date(params.get("from"), date(today.year, 1, 1), "from", fields)
    end = parse_date(params.get("to"), date(today.year, 12, 31), "to", fields)
    if "from" in fields or "to" in fields:
        return None
    if end < start:
        fields["to"] = "must not be before from"
        return None
    period = period_between(start, end)
    if period is None:
        names = [n for n in ("from", "to") if params.get(n) is not None] or ["from", "to"]
        for name in names:
            fields[name] = WHOLE_PERIODS
    return period


async def cases(request: Request) -> Response:
    ctx = context(request)
    await require(request, "supervisor")
    params = request.query_params
    fields: dict[str, str] = {}
    for name in params:
        if name not in ("period", "from", "to", "by", "format", "sep", "bom"):
            fields[name[:60]] = "unknown parameter"
    today = to_datetime(ctx.clock()).date()
    period = stats_period(params, today, fields)
    by = [b for b in (params.get("by") or "").split(",") if b]
    bad = [b for b in by if b not in GROUPINGS]
    if bad or len(set(by)) != len(by):
        fields["by"] = f"comma-separated, each once, from: {', '.join(GROUPINGS)}"
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        fields["format"] = "json or csv"
    sep, bom = csv_options(params, fields)
    if fields or period is None:
        raise HTTPError("invalid", "Some parameters are not valid.", fields=fields)
    # The whole year is always read: a month's figures are protected together with the other months
    # of its quarter and year, which the same question about another month also sees.
    rows = await registrations_between(ctx.db, date(period.year, 1, 1), date(period.year, 12, 31))
    min_count = ctx.settings.stats_min_count
    try:
        # The search is CPU work of up to a second or two: off the event loop, so chats go on meanwhile.
        cells, total = await run_in_threadpool(Publication(rows, min_count).answer, period, by)
    except Unprotectable:
        # No answer rather than a weaker one: next to the coarser tables and periods, this table would
        # let someone work out a count under the threshold.
        reason = TOO_DETAILED.format(m=min_count)
        message = f"Too {reason.removeprefix('too ')}."
        raise HTTPError("invalid", message, fields={"by" if by else "period": reason}) from None
    start, end = period.start, period.end
    if fmt == "csv":
        lines = [[*("" if cell[b] is None else cell[b] for b in by), _csv_count(cell["count"])] for cell in cells]
        lines.append([*(["total"] + [""] * (len(by) - 1) if by else []), "" if total is None else total])
        return csv_response([*by, "count"], lines, sep=sep, bom=bom, filename=f"nora-cases-{start}-{end}.csv")
    return JSONResponse(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "period": period.label,
            "by": by,
            "suppressed_below": min_count,
            "rows": cells,
            "total": total,
            "protection": "across_tables",
            "generated_at": iso(to_datetime(ctx.clock())),
        },
        headers=NO_STORE,
    )


# ------------------------------------------------------------------------------------ yearly summary


def _label(ref: Reference, kind: str, code: str | None) -> dict[str, str] | None:
    e = ref.entry(kind, code or "")
    name = e.get("name") if e else None
    return dict(name) if isinstance(name, dict) else None


def yearly_summary(rows: Sequence[Registration], year: int, ref: Reference, min_count: int) -> dict[str, Any]:
    """Cases per main category per service (counts and percentages) and inquiries per service.

    Every figure is one the statistics publish for the year (``Publication``): the cases per category
    and service are the table by category and service (with ``is_case``, which the category implies),
    the cases and inquiries per service the table by service and ``is_case``. So the summary and
    ``/api/v1/stats/cases?period=<year>`` never show one count two ways."""
    publication = Publication(rows, min_count)
    by_category = publication.table(("category", "service", "is_case"))
    by_service = publication.table(("service", "is_case"))
    withheld_all = by_category is None
    service_codes = list(SERVICES) + sorted({r.service for r in rows} - set(SERVICES))
    category_codes = [e["code"] for e in ref.entries.get("categories", [])]
    found = {r.main_category for r in rows if r.is_case}
    category_codes += sorted(found - set(category_codes), key=_sort_value)
    services = []
    for service in service_codes:
        # A refused table shows nothing, zeros neither: a known zero next to a withheld cell gives it away.
        cases: Shown = None if by_service is None else by_service.get((service, True), 0)
        inquiries: Shown = None if by_service is None else by_service.get((service, False), 0)
        any_cases = any(r.is_case and r.service == service for r in rows)
        categories = []
        for code in category_codes:
            count: Shown = 0 if by_category is None else by_category.get((code, service, True), 0)
            if withheld_all and any_cases:
                count = None
            entry = ref.entry("categories", code or "")
            if count == 0 and entry is not None and entry.get("retired"):
                continue
            percent = None
            if isinstance(count, int) and isinstance(cases, int) and cases:
                percent = round(100 * count / cases, 1)
            categories.append(
                {"category": code, "name": _label(ref, "categories", code), "count": count, "percent": percent}
            )
        services.append(
            {
                "service": service,
                "name": _label(ref, "services", service),
                "cases": cases,
                "inquiries": inquiries,
                "categories": categories,
            }
        )
    return {
        "year": year,
        "from": date(year, 1, 1).isoformat(),
        "to": date(year, 12, 31).isoformat(),
        "suppressed_below": min_count,
        "withheld": withheld_all,
        "per_service_only": True,
        "services": services,
    }


def summary_markdown(summary: dict[str, Any], lang: str = "en") -> str:
    """The summary as a Markdown table: categories down, services across, ``count (percent %)``."""
    services = [s for s in summary["services"]]
    head = ["Main category"] + [s["service"] for s in services]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    codes = [c["category"] for c in services[0]["categories"]] if services else []
    for i, code in enumerate(codes):
        name = services[0]["categories"][i]["name"] or {}
        row = [name.get(lang, code) if isinstance(name, dict) else str(code)]
        for s in services:
            c = s["categories"][i]
            count = "–" if c["count"] is None else str(c["count"])
            row.append(count if c["percent"] is None else f"{count} ({c['percent']:.1f} %)")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("| **Cases** | " + " | ".join(f"**{s['cases']}**" for s in services) + " |")
    lines.append("| Inquiries (not cases) | " + " | ".join(str(s["inquiries"]) for s in services) + " |")
    return "\n".join(lines) + "\n"


async def summary(request: Request) -> Response:
    ctx = context(request)
    await require(request, "supervisor")
    params = request.query_params
    fields = {name[:60]: "unknown parameter" for name in params if name not in ("year", "format", "sep", "bom")}
    today = to_datetime(ctx.clock()).date()
    raw = params.get("year") or str(today.year)
    year = int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else 0
    if not year:
        fields["year"] = "a year, 2000-2100"
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        fields["format"] = "json or csv"
    sep, bom = csv_options(params, fields)
    if fields:
        raise HTTPError("invalid", "Some parameters are not valid.", fields=fields)
    rows = await registrations_between(ctx.db, date(year, 1, 1), date(year, 12, 31))
    body = await run_in_threadpool(yearly_summary, rows, year, ctx.reference(), ctx.settings.stats_min_count)
    if fmt == "csv":
        lines: list[list[Any]] = []
        for s in body["services"]:
            for c in s["categories"]:
                lines.append(
                    [s["service"], c["category"], _csv_count(c["count"]), "" if c["percent"] is None else c["percent"]]
                )
            lines.append(
                [s["service"], "all_cases", s["cases"], 100.0 if isinstance(s["cases"], int) and s["cases"] else ""]
            )
            lines.append([s["service"], "inquiries", _csv_count(s["inquiries"]), ""])
        return csv_response(
            ["service", "category", "count", "percent"], lines, sep=sep, bom=bom, filename=f"nora-summary-{year}.csv"
        )
    body["generated_at"] = iso(to_datetime(ctx.clock()))
    return JSONResponse(body, headers=NO_STORE)
