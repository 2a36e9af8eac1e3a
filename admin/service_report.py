"""A service's own report: how often its own (internal) categories were registered (docs/register.md).

The letter behind the service lets each service keep categories of its own for its own reports, next to
the common ones. Such a category belongs to one service (``"service"`` in its reference entry), is
offered to that service's registrations as one of the *other* categories (the main category is always a
common one), and is counted here, never in the published statistics (``admin.stats``), which group by the
main category and list the common categories only.

``GET /api/v1/stats/service?service=MR&period=2026`` (role supervisor; the same fixed periods as the
statistics) → the service's registrations in the period, how many of them are cases, and per own
category the registrations that carry it. The report is internal to the service (``"published":
false``): exact counts, for the service's own use, not for publication.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.auth import require
from admin.context import context
from admin.counting import registrations_between
from admin.stats import stats_period
from core.clock import iso, to_datetime
from core.http import NO_STORE, HTTPError
from core.reference import in_use, in_use_during, oslo_today

SERVICES = ("MR", "AT", "IR", "KT")


async def service_report(request: Request) -> Response:
    ctx = context(request)
    await require(request, "supervisor")
    params = request.query_params
    fields = {name[:60]: "unknown parameter" for name in params if name not in ("service", "period", "from", "to")}
    service = params.get("service")
    if service not in SERVICES:
        fields["service"] = "required: MR, AT, IR or KT"
    today = to_datetime(ctx.clock()).date()
    period = stats_period(params, today, fields)
    if fields or period is None or service is None:
        raise HTTPError("invalid", "Some parameters are not valid.", fields=fields)
    rows = [r for r in await registrations_between(ctx.db, period.start, period.end) if r.service == service]
    ref = ctx.reference()
    carried: dict[str, int] = {}
    for row in rows:
        for code in {c for c in row.other_categories.split(",") if c}:
            carried[code] = carried.get(code, 0) + 1
    own = [e for e in ref.entries.get("categories", []) if e.get("service") == service]
    categories: list[dict[str, Any]] = [
        {
            "category": e["code"],
            "name": e.get("name"),
            "count": carried.get(e["code"], 0),
            "valid_from": e.get("valid_from"),
            "retired_from": e.get("retired_from"),
            "retired": bool(e.get("retired")),
        }
        for e in own
        if carried.get(e["code"]) or in_use_during(e, period.start, period.end)
    ]
    return JSONResponse(
        {
            "service": service,
            "period": period.label,
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "published": False,
            "registrations": len(rows),
            "cases": sum(1 for r in rows if r.is_case),
            "categories": categories,
            "generated_at": iso(to_datetime(ctx.clock())),
        },
        headers=NO_STORE,
    )


async def own_categories(request: Request) -> Response:
    """``GET /api/v1/service-categories`` (any staff role): the services' own categories in use today, for
    the registration form beside the common ones of ``/api/v1/reference``. An adviser gets those of
    their own service, a supervisor or admin those of every service (each names its ``service``)."""
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor", "admin")
    ref = ctx.reference()
    today = oslo_today()
    mine = staff.user.service if not staff.roles & {"supervisor", "admin"} else None
    entries = [
        {k: v for k, v in e.items() if k not in ("retired", "valid_from", "retired_from")}
        for e in ref.entries.get("categories", [])
        if e.get("service") and (mine is None or e["service"] == mine) and in_use(e, today)
    ]
    return JSONResponse({"service": mine, "categories": entries}, headers=NO_STORE)
