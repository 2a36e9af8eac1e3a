"""Published statistics of the case register with small counts suppressed (docs/design.md §5).

Fixed periods (issue 18 #7): figures are published for whole calendar months, quarters and years only
(``period=2026-03``, ``2026-Q1``, ``2026``, or ``from``/``to`` spanning exactly one of them); any other
range is refused. Totals up to a day and up to the day before gave every day's count; with fixed
periods the only overlap between two periods is nesting (a month in its quarter in its year), and the
nesting is part of the protected tables (``admin.suppression``): the months of a quarter are the cells
of a table whose coarser table gives the quarters, whose coarser table gives the year.

CSV (``format=csv``): the ``by`` columns and ``count``, one row per cell, then a total row; a withheld
cell is ``:`` (Statistics Norway's sign for "not shown for confidentiality"). By default it opens right
in a spreadsheet set up for Norwegian (``admin.stats_csv``: ``;``, a byte-order mark, labels, the total
written out); ``sep=,&labels=0`` gives the codes and commas of the first version.

The yearly summary ``GET /api/v1/stats/summary?year=2026`` (``admin.summary``) has the shape of the published reports:
per service, the cases per main category as counts and percentages of the service's cases, and the
inquiries: the figures of the tables by category, service and ``is_case`` and by service and
``is_case`` for the year, as the statistics publish them. Figures are per service: the same case can
reach several services, so they must not be added up across services.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from datetime import date
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.auth import require
from admin.context import context
from admin.counting import counted_cases, counted_on, several_conversations
from admin.counting import registrations_between as registrations_between  # the CLI reads it here
from admin.periods import WHOLE_PERIODS, Period, parse_date, parse_period, period_between
from admin.stats_csv import cases_table, csv_style, note
from admin.suppression import (
    Key,
    Lower,
    Protector,
    Shown,
    Unprotectable,
    shown_counts,
    sort_key,
)
from core.clock import iso, to_datetime
from core.csv_safe import csv_bytes
from core.http import NO_STORE, HTTPError
from core.models import Registration

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
    "channel",
    "several_conversations",
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
    "channel",
    "several_conversations",
    "is_case",
)
TIME = ("quarter", "month")
# A key that is a finer form of another: a month lies in one quarter, a main category (or none) says
# whether it is a case. Tables are computed with the coarser key beside the finer one (``closure``), so
# that the figures for both come from one protected table.
IMPLIES = {"month": "quarter", "category": "is_case"}
LEVELS = ("year", "quarter", "month")
# ``count=inquiries`` (the default) counts every registration, ``count=cases`` every case once.
COUNTS = ("inquiries", "cases")
SERVICES = ("MR", "AT", "IR", "KT")


def _key(row: Registration, by: str, several: Collection[str] = ()) -> Any:
    if by == "several_conversations":  # the case took more than one conversation (admin.counting)
        return row.case_id is not None and row.case_id in several
    if by == "category":
        return row.main_category
    if by == "month":
        return counted_on(row).strftime("%Y-%m")
    if by == "quarter":
        day = counted_on(row)
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return getattr(row, by)


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
    either. Each table is protected (``Protector``) against all its coarser tables, which include the
    coarser periods: the months of a quarter add up to the quarter, the quarters to the year, so a
    quarter minus two of its months is one of the differences a table must withstand. Each table is
    computed once, only from its own cells and the tables below it, so every answer that shows a table
    shows it the same way.
    """

    def __init__(self, rows: Iterable[Registration], min_count: int, several: Collection[str] = ()) -> None:
        self.rows = list(rows)
        self.min_count = min_count
        self.several = frozenset(several)
        self._tables: dict[tuple[str, ...], dict[Key, Shown] | None] = {}

    def table(self, keys: tuple[str, ...]) -> dict[Key, Shown] | None:
        """What the table by ``keys`` publishes per cell (``None``: it cannot be protected, so it is not)."""
        if keys in self._tables:
            return self._tables[keys]
        assert keys == closure(keys), keys  # noqa: S101 - callers pass closed, ordered keys
        cells = dict(Counter(tuple(_key(r, k, self.several) for k in keys) for r in self.rows))
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
            withheld = Protector(cells, len(keys), m, lower, couples).run() if m > 1 else set()
            shown = shown_counts(cells, withheld, m)
        except Unprotectable:
            shown = None
        self._tables[keys] = shown
        return shown

    def answer(
        self, period: Period, by: Sequence[str], *, only_cases: bool = False
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The rows and total for ``by`` in ``period``; raises ``Unprotectable`` when that table cannot be
        published without giving a small count away.

        ``only_cases``: the slice ``is_case`` true of the table with ``is_case`` (``count=cases``: the
        registrations are then the cases' first inquiries beside the inquiries that are not cases, so a
        case is counted once and is protected together with everything else the year publishes)."""
        level = max([LEVELS.index(period.kind), *(LEVELS.index(k) for k in by if k in TIME)])
        extra = ["is_case"] if only_cases else []
        keys = closure([*(k for k in by if k not in TIME), *extra, *Period(LEVELS[level], 2000, 1).time_keys])
        table = self.table(keys)
        if table is None:
            raise Unprotectable("this table")
        fixed = [*period.time_keys, *extra]
        at = [keys.index(k) for k in fixed]
        values_at: tuple[Any, ...] = (*period.time_values, *([True] if only_cases else []))
        rows: dict[Key, dict[str, Any]] = {}
        for key, shown in table.items():
            if tuple(key[i] for i in at) != values_at:
                continue
            values = tuple(key[keys.index(b)] for b in by)
            if values in rows:  # a coarser key not fixed by the finer one: never published merged
                raise Unprotectable("keys that do not imply each other")
            rows[values] = {**dict(zip(by, values, strict=True)), "count": shown}
        out = [rows[v] for v in sorted(rows, key=sort_key)]
        totals = self.table(closure(fixed))
        total = None if totals is None else totals.get(values_at, 0)
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
        if name not in ("period", "from", "to", "by", "count", "format", "sep", "bom", "labels", "lang"):
            fields[name[:60]] = "unknown parameter"
    today = to_datetime(ctx.clock()).date()
    period = stats_period(params, today, fields)
    by = [b for b in (params.get("by") or "").split(",") if b]
    bad = [b for b in by if b not in GROUPINGS]
    if bad or len(set(by)) != len(by):
        fields["by"] = f"comma-separated, each once, from: {', '.join(GROUPINGS)}"
    count = params.get("count", "inquiries")
    if count not in COUNTS:
        fields["count"] = "cases or inquiries"
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        fields["format"] = "json or csv"
    style = csv_style(params, fields)
    if fields or period is None:
        raise HTTPError("invalid", "Some parameters are not valid.", fields=fields)
    # The whole year is always read: a month's figures are protected together with the other months
    # of its quarter and year, which the same question about another month also sees.
    rows = await registrations_between(ctx.db, date(period.year, 1, 1), date(period.year, 12, 31))
    only_cases = count == "cases"
    if only_cases:
        rows = await counted_cases(ctx.db, rows)
    min_count = ctx.settings.stats_min_count
    several = await several_conversations(ctx.db, rows) if "several_conversations" in by else set()
    try:
        # The search is CPU work of up to a second or two: off the event loop, so chats go on meanwhile.
        publication = Publication(rows, min_count, several)
        cells, total = await run_in_threadpool(partial(publication.answer, period, by, only_cases=only_cases))
    except Unprotectable:
        # No answer rather than a weaker one: next to the coarser tables and periods, this table would
        # let someone work out a count under the threshold.
        reason = TOO_DETAILED.format(m=min_count)
        message = f"Too {reason.removeprefix('too ')}."
        raise HTTPError("invalid", message, fields={"by" if by else "period": reason}) from None
    start, end = period.start, period.end
    if fmt == "csv":
        header, lines = cases_table(cells, total, by, ctx.reference(), style)
        lines += note(style, period.label, min_count)
        filename = f"nora-cases-{start}-{end}.csv"
        return csv_response(header, lines, sep=style.sep, bom=style.bom, filename=filename)
    return JSONResponse(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "period": period.label,
            "by": by,
            "count": count,
            "suppressed_below": min_count,
            "rows": cells,
            "total": total,
            "protection": "across_tables",
            "generated_at": iso(to_datetime(ctx.clock())),
        },
        headers=NO_STORE,
    )


# ------------------------------------------------------------------------------------ yearly summary
