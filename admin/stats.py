"""Published statistics of the case register with small counts suppressed (docs/design.md §5).

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
When no pattern exists for some small cell (tiny tables, e.g. 5 + 1 with the total 6 public, or
detailed groupings of three or more dimensions), the contract still gets its answer: the per-table
rule of docs/protocol.md §7 (small counts ``"<m"``, total withheld) with ``"protection": "per_table"`` instead
of ``"across_tables"``, telling whoever publishes figures to use fewer groupings or a longer period.

``total`` is published only when no cell is withheld and it is not itself small (as before).

Not covered: differences between overlapping periods (``from``/``to``) — two tables a day apart give
that day's counts. The statistics are for people with the supervisor role, who could see the register
anyway; published reports should use whole years (``/api/v1/stats/summary``).

CSV (``format=csv``): the ``by`` columns and ``count``, one row per cell, then a total row; a withheld
cell is ``:`` (Statistics Norway's sign for "not shown for confidentiality"), a withheld total empty.
``sep=;`` for spreadsheets set up for Norwegian; ``bom=1`` writes a UTF-8 byte-order mark so that
spreadsheets read æøå right (the default with ``sep=;``, ``bom=0`` turns it off).

The yearly summary ``GET /api/v1/stats/summary?year=2026`` has the shape of the published reports:
per service, the cases per main category as counts and percentages of the service's cases, and the
inquiries; one table ``service × category`` under the same suppression. Figures are per service: the
same case can reach several services, so they must not be added up across services.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import col, select
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
)
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

    def __init__(self, cells: dict[Key, int], ndim: int, m: int, lower: Lower) -> None:
        self.cells = cells
        self.ndim = ndim
        self.m = m
        self.lower = lower
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
            groups = [(d,) for d in dims]
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
        # Cells a coarser grouping withholds must not become derivable from this finer table.
        for dims in sorted(self.lower, key=len, reverse=True):
            table = self.lower[dims]
            if table is None:
                continue
            for q in sorted((k for k, v in table.items() if not isinstance(v, int)), key=_sort_key):
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


def tabulate(rows: Iterable[Registration], by: list[str], min_count: int) -> tuple[list[dict[str, Any]], int | None]:
    cells = Counter(tuple(_key(r, b) for b in by) for r in rows)
    return publish(dict(cells), by, min_count)


def primary_only(
    rows: Iterable[Registration], by: list[str], min_count: int
) -> tuple[list[dict[str, Any]], int | None]:
    """The rule of docs/protocol.md §7, table by table: counts below ``min_count`` as ``"<m"``, and the total
    withheld whenever a cell is."""
    cells = Counter(tuple(_key(r, b) for b in by) for r in rows)
    out = []
    for key in sorted(cells, key=_sort_key):
        cell: dict[str, Any] = dict(zip(by, key, strict=True))
        cell["count"] = suppress(cells[key], min_count)
        out.append(cell)
    total = sum(cells.values())
    hidden = any(isinstance(c["count"], str) for c in out) or 0 < total < min_count
    return out, None if hidden else total


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


async def cases(request: Request) -> Response:
    ctx = context(request)
    await require(request, "supervisor")
    params = request.query_params
    fields: dict[str, str] = {}
    for name in params:
        if name not in ("from", "to", "by", "format", "sep", "bom"):
            fields[name[:60]] = "unknown parameter"
    today = to_datetime(ctx.clock()).date()
    start = parse_date(params.get("from"), date(today.year, 1, 1), "from", fields)
    end = parse_date(params.get("to"), date(today.year, 12, 31), "to", fields)
    if end < start:
        fields["to"] = "must not be before from"
    by = [b for b in (params.get("by") or "").split(",") if b]
    bad = [b for b in by if b not in GROUPINGS]
    if bad or len(set(by)) != len(by):
        fields["by"] = f"comma-separated, each once, from: {', '.join(GROUPINGS)}"
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        fields["format"] = "json or csv"
    sep, bom = csv_options(params, fields)
    if fields:
        raise HTTPError("invalid", "Some parameters are not valid.", fields=fields)
    rows = await registrations_between(ctx.db, start, end)
    min_count = ctx.settings.stats_min_count
    protection = "across_tables"
    try:
        cells, total = tabulate(rows, by, min_count)
    except Unprotectable:
        # The contract promises an answer for every grouping, so we fall back to its own rule (small
        # counts "<m", total withheld) and say so: combined with coarser tables this one may reveal a
        # small count, which clients publishing figures should avoid (fewer groupings, longer period).
        cells, total = primary_only(rows, by, min_count)
        protection = "per_table"
    if fmt == "csv":
        lines = [[*("" if cell[b] is None else cell[b] for b in by), _csv_count(cell["count"])] for cell in cells]
        lines.append([*(["total"] + [""] * (len(by) - 1) if by else []), "" if total is None else total])
        return csv_response([*by, "count"], lines, sep=sep, bom=bom, filename=f"nora-cases-{start}-{end}.csv")
    return JSONResponse(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "by": by,
            "suppressed_below": min_count,
            "rows": cells,
            "total": total,
            "protection": protection,
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
    """Cases per main category per service (counts and percentages) and inquiries per service."""
    case_cells = Counter((r.service, r.main_category) for r in rows if r.is_case)
    inquiry_cells = Counter((r.service,) for r in rows if not r.is_case)
    withheld_all = False
    try:
        case_rows, _ = publish(dict(case_cells), ("service", "category"), min_count)
    except Unprotectable:
        withheld_all = True
        case_rows = [{"service": s, "category": c, "count": None} for (s, c) in case_cells]
    try:
        inquiry_rows, _ = publish(dict(inquiry_cells), ("service",), min_count)
    except Unprotectable:
        inquiry_rows = [{"service": s, "count": None} for s in SERVICES]
    published = {(c["service"], c["category"]): c["count"] for c in case_rows}
    inquiries = {c["service"]: c["count"] for c in inquiry_rows}
    service_codes = list(SERVICES) + sorted({r.service for r in rows} - set(SERVICES))
    category_codes = [e["code"] for e in ref.entries.get("categories", [])]
    category_codes += sorted({c for (_, c) in case_cells if c not in category_codes}, key=_sort_value)
    services = []
    for service in service_codes:
        total = sum(v for (s, _), v in case_cells.items() if s == service)
        shown_total = suppress(total, min_count)
        categories = []
        for code in category_codes:
            count: int | str | None = published.get((service, code), 0)
            if withheld_all and total:
                count = None  # zeros too: a known zero next to a withheld cell can give it away
            entry = ref.entry("categories", code or "")
            if count == 0 and entry is not None and entry.get("retired"):
                continue
            percent = None
            if isinstance(count, int) and isinstance(shown_total, int) and total:
                percent = round(100 * count / total, 1)
            categories.append(
                {"category": code, "name": _label(ref, "categories", code), "count": count, "percent": percent}
            )
        services.append(
            {
                "service": service,
                "name": _label(ref, "services", service),
                "cases": shown_total,
                "inquiries": inquiries.get(service, 0),
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
    body = yearly_summary(rows, year, ctx.reference(), ctx.settings.stats_min_count)
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
