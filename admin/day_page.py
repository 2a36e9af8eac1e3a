"""``GET /api/v1/supervisor/day`` (role supervisor): the day or week in figures (``admin/day_stats.py``),
for the page ``/supervisor/day``; ``format=csv`` for a spreadsheet. With it, the answers to the visitors'
after-chat question "did you get help?" in the period (``feedback``: yes and no, counted per day only).

The figures on the page are exact: they stay on a staff page. The CSV leaves it, so its counts follow the
published statistics' small-count rule (``admin/suppression.py``): in each table (the totals; by service,
county or language; per adviser; the chart's bars) every count from 1 to ``NORA_STATS_MIN_COUNT`` - 1 is
written ``"<m"``, and further cells are withheld (left empty) where the table's total would give a small
one away; a table that cannot be protected is withheld whole. Wait percentiles are given only where at
least that many conversations were answered, and active time only beside a handled count that is shown.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.auth import require
from admin.context import context
from admin.day_stats import GROUPINGS, day_figures, period_of
from admin.stats import csv_options, csv_response
from admin.suppression import Unprotectable, publish, suppress
from core.clock import to_datetime
from core.http import NO_STORE, HTTPError
from core.models import OSLO, Conversation, StaffUser, VisitorFeedback

COUNTS = ("started", "answered", "abandoned_waiting", "waiting_now", "silent")
PARAMS = frozenset({"period", "date", "format", "sep", "bom"})


def _published(cells: dict[str, int], m: int) -> dict[str, int | str | None]:
    """One table's counts as the published statistics would show them; ``None`` is withheld."""
    try:
        rows, _ = publish({(k,): v for k, v in cells.items()}, ["key"], m)
    except Unprotectable:
        return dict.fromkeys(cells)
    shown: dict[str, int | str | None] = {k: 0 for k, v in cells.items() if v == 0}
    shown.update({row["key"]: row["count"] for row in rows})
    return shown


def csv_rows(figures: dict[str, Any], m: int) -> list[list[Any]]:
    rows: list[list[Any]] = []
    totals = figures["totals"]
    for measure in COUNTS:
        rows.append(["total", "all", measure, suppress(totals[measure], m)])
    enough = totals["answered"] >= m
    for measure in ("wait_p50_s", "wait_p90_s"):
        rows.append(["total", "all", measure, totals[measure] if enough else ""])
    for grouping in GROUPINGS:
        groups = figures["by"][grouping]
        for measure in COUNTS:
            shown = _published({g["key"]: g[measure] for g in groups}, m)
            rows.extend([grouping, g["key"], measure, shown[g["key"]]] for g in groups)
        for g in groups:
            for measure in ("wait_p50_s", "wait_p90_s"):
                rows.append([grouping, g["key"], measure, g[measure] if g["answered"] >= m else ""])
    shown = _published(figures["feedback"], m)
    rows.extend(["feedback", "all", answer, shown[answer]] for answer in ("yes", "no"))
    handled = _published({a["name"] or a["id"]: a["handled"] for a in figures["advisers"]}, m)
    for adviser in figures["advisers"]:
        key = adviser["name"] or adviser["id"]
        rows.append(["adviser", key, "handled", handled[key]])
        rows.append(["adviser", key, "active_s", adviser["active_s"] if isinstance(handled[key], int) else ""])
    bars = figures["chart"]["bars"]
    for measure in ("waiting", "answered"):
        shown = _published({b["label"]: b[measure] for b in bars}, m)
        rows.extend(["chart", b["label"], measure, shown[b["label"]]] for b in bars)
    return [[cell if cell is not None else "" for cell in row] for row in rows]


async def day(request: Request) -> Response:
    ctx = context(request)
    await require(request, "supervisor")
    params = request.query_params
    fields: dict[str, str] = {}
    for name in sorted(set(params) - PARAMS):
        fields[name[:60]] = "unknown parameter"
    kind = params.get("period", "day")
    if kind not in ("day", "week"):
        fields["period"] = "'day' or 'week'"
    now = to_datetime(ctx.clock())
    today = now.astimezone(OSLO).date()
    chosen = today
    if "date" in params:
        try:
            chosen = date.fromisoformat(params["date"])
        except ValueError:
            fields["date"] = "YYYY-MM-DD"
        else:
            if not date(2000, 1, 1) <= chosen <= today:
                fields["date"] = "from 2000-01-01 to today"
    as_csv = params.get("format", "json")
    if as_csv not in ("json", "csv"):
        fields["format"] = "'json' or 'csv'"
    sep, bom = csv_options(params, fields)
    if fields:
        raise HTTPError("invalid", "Some parameters are not valid: see fields.", fields=fields)
    period = period_of(kind, chosen, now)
    touching = (
        select(Conversation)
        .where(col(Conversation.started_at) < period.end)
        .where(or_(col(Conversation.closed_at).is_(None), col(Conversation.closed_at) >= period.start))
    )
    async with ctx.db.session() as session:
        convs = list((await session.exec(touching)).all())
        ids = {c.adviser_id for c in convs if c.adviser_id}
        names = dict(
            (await session.exec(select(StaffUser.id, StaffUser.name).where(col(StaffUser.id).in_(ids)))).all()
            if ids
            else []
        )
        last = period.first + timedelta(days=6 if period.kind == "week" else 0)
        answers = (
            await session.exec(
                select(VisitorFeedback.answer, func.sum(VisitorFeedback.count))
                .where(col(VisitorFeedback.day) >= period.first, col(VisitorFeedback.day) <= last)
                .group_by(col(VisitorFeedback.answer))
            )
        ).all()
    figures = day_figures(convs, period, names)
    # The after-chat question "did you get help?", counted per day only (chat/feedback.py).
    figures["feedback"] = {"yes": 0, "no": 0} | {answer: int(n) for answer, n in answers}
    m = ctx.settings.stats_min_count
    if as_csv == "csv":
        name = f"nora-{kind}-{period.first.isoformat()}.csv"
        return csv_response(["table", "key", "measure", "value"], csv_rows(figures, m), sep=sep, bom=bom, filename=name)
    return JSONResponse({**figures, "min_count": m}, headers=NO_STORE)
