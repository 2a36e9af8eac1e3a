"""Published statistics of the case register with small counts suppressed.

Every count from 1 to ``min_count - 1`` is published as ``"<5"``. The total is published only when
no cell is suppressed: with one hidden cell, total minus the visible cells would give it away, and a
rule that is always safe is easier to trust than a clever one.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.auth import require
from admin.context import context
from core.clock import as_utc, iso, to_datetime
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
)


def _key(row: Registration, by: str) -> Any:
    if by == "category":
        return row.main_category
    if by == "month":
        return as_utc(row.closed_at).strftime("%Y-%m")
    return getattr(row, by)


def suppress(count: int, min_count: int) -> int | str:
    return f"<{min_count}" if 0 < count < min_count else count


def tabulate(rows: list[Registration], by: list[str], min_count: int) -> tuple[list[dict[str, Any]], int | None]:
    cells = Counter(tuple(_key(r, b) for b in by) for r in rows)
    out = []
    for key in sorted(cells, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        cell: dict[str, Any] = dict(zip(by, key, strict=True))
        cell["count"] = suppress(cells[key], min_count)
        out.append(cell)
    total = len(rows)
    hidden = any(isinstance(c["count"], str) for c in out)
    if hidden or 0 < total < min_count:
        return out, None
    return out, total


def _parse_date(raw: str | None, default: date, name: str, fields: dict[str, str]) -> date:
    if raw is None or raw == "":
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        fields[name] = "a date as YYYY-MM-DD"
        return default


async def cases(request: Request) -> Response:
    ctx = context(request)
    await require(request, "supervisor")
    params = request.query_params
    fields: dict[str, str] = {}
    for name in params:
        if name not in ("from", "to", "by", "format"):
            fields[name[:60]] = "unknown parameter"
    today = to_datetime(ctx.clock()).date()
    start = _parse_date(params.get("from"), date(today.year, 1, 1), "from", fields)
    end = _parse_date(params.get("to"), date(today.year, 12, 31), "to", fields)
    if end < start:
        fields["to"] = "must not be before from"
    by = [b for b in (params.get("by") or "").split(",") if b]
    bad = [b for b in by if b not in GROUPINGS]
    if bad or len(set(by)) != len(by):
        fields["by"] = f"comma-separated, each once, from: {', '.join(GROUPINGS)}"
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        fields["format"] = "json or csv"
    if fields:
        raise HTTPError("invalid", "Some parameters are not valid.", fields=fields)
    lo = datetime.combine(start, time.min).replace(tzinfo=to_datetime(0).tzinfo)
    hi = datetime.combine(end + timedelta(days=1), time.min).replace(tzinfo=to_datetime(0).tzinfo)
    async with ctx.db.session() as session:
        rows = list(
            (
                await session.exec(
                    select(Registration).where(col(Registration.closed_at) >= lo, col(Registration.closed_at) < hi)
                )
            ).all()
        )
    min_count = ctx.settings.stats_min_count
    cells, total = tabulate(rows, by, min_count)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow([*by, "count"])
        for cell in cells:
            writer.writerow([*("" if cell[b] is None else cell[b] for b in by), cell["count"]])
        writer.writerow([*(["total"] + [""] * (len(by) - 1) if by else []), "" if total is None else total])
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={**NO_STORE, "Content-Disposition": f'attachment; filename="nora-cases-{start}-{end}.csv"'},
        )
    return JSONResponse(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "by": by,
            "suppressed_below": min_count,
            "rows": cells,
            "total": total,
            "generated_at": iso(to_datetime(ctx.clock())),
        },
        headers=NO_STORE,
    )
