"""The yearly summary of the case register: cases per main category per service, inquiries in all and
per channel, with small counts suppressed as in every published table (docs/register.md); as JSON, CSV,
the printable page's data and the command line's Markdown (``nora-chat stats-summary``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.auth import require
from admin.context import context
from admin.counting import counted_cases, first_inquiries_within
from admin.counting import registrations_between as registrations_between  # the CLI reads it here
from admin.stats import SERVICES, Publication, csv_response
from admin.stats_csv import csv_style, note, summary_table
from admin.suppression import (
    Shown,
    sort_value,
)
from core.clock import iso, to_datetime
from core.http import NO_STORE, HTTPError
from core.models import Registration
from core.reference import Reference, in_use_during


def _label(ref: Reference, kind: str, code: str | None) -> dict[str, str] | None:
    e = ref.entry(kind, code or "")
    name = e.get("name") if e else None
    return dict(name) if isinstance(name, dict) else None


def _codes(ref: Reference, kind: str, found: Iterable[str | None]) -> list[str | None]:
    codes: list[str | None] = [e["code"] for e in ref.entries.get(kind, [])]
    return codes + sorted(set(found) - set(codes), key=sort_value)


def yearly_summary(
    rows: Sequence[Registration],
    year: int,
    ref: Reference,
    min_count: int,
    case_rows: Sequence[Registration] | None = None,
) -> dict[str, Any]:
    """Cases per main category per service (counts and percentages), and inquiries per service.

    Every figure is one the statistics publish for the year (``Publication``). Cases are counted once
    (``count=cases``, from ``case_rows``: ``counted_cases`` of ``rows``): the cases per category and
    service are that count's table by category and service (with ``is_case``, which the category
    implies), the cases and the inquiries that are not cases per service its table by service and
    ``is_case``. Every inquiry (``count=inquiries``): per service, and per service and channel. So the
    summary and ``/api/v1/stats/cases?period=<year>`` never show one count two ways."""
    case_rows = first_inquiries_within(rows) if case_rows is None else case_rows
    publication = Publication(case_rows, min_count)
    by_category = publication.table(("category", "service", "is_case"))
    by_service = publication.table(("service", "is_case"))
    every = Publication(rows, min_count)
    all_by_service = every.table(("service",))
    by_channel = every.table(("service", "channel"))
    withheld_all = by_category is None
    service_codes = list(SERVICES) + sorted({r.service for r in rows} - set(SERVICES))
    # The common categories only: a service's own are for its own report, never published here.
    found = (r.main_category for r in case_rows if r.is_case)
    category_codes = [c for c in _codes(ref, "categories", found) if not ref.is_internal("categories", c)]
    channel_codes = _codes(ref, "channels", (r.channel for r in rows))
    services = []
    for service in service_codes:
        # A refused table shows nothing, zeros neither: a known zero next to a withheld cell gives it away.
        cases: Shown = None if by_service is None else by_service.get((service, True), 0)
        inquiries: Shown = None if by_service is None else by_service.get((service, False), 0)
        any_cases = any(r.is_case and r.service == service for r in case_rows)
        any_inquiries = any(r.service == service for r in rows)
        channels = []
        for channel in channel_codes:
            shown: Shown = 0 if by_channel is None else by_channel.get((service, channel), 0)
            if by_channel is None and any_inquiries:
                shown = None
            channels.append({"channel": channel, "name": _label(ref, "channels", channel), "count": shown})
        categories = []
        for code in category_codes:
            count: Shown = 0 if by_category is None else by_category.get((code, service, True), 0)
            if withheld_all and any_cases:
                count = None
            entry = ref.entry("categories", code or "")
            # A category not in use at any time of the year (retired, or valid only later) is left out if
            # it has nothing to show.
            if count == 0 and entry is not None and not in_use_during(entry, date(year, 1, 1), date(year, 12, 31)):
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
                "all_inquiries": None if all_by_service is None else all_by_service.get((service,), 0),
                "channels": channels,
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


def _md(count: Any) -> str:
    return "–" if count is None else str(count)


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
    lines.append("| All inquiries | " + " | ".join(_md(s.get("all_inquiries")) for s in services) + " |")
    for i, c in enumerate(services[0].get("channels", []) if services else []):
        counts = [s["channels"][i]["count"] for s in services]
        if all(n == 0 for n in counts):
            continue
        name = c["name"] or {}
        label = name.get(lang, c["channel"]) if isinstance(name, dict) else str(c["channel"])
        lines.append(f"| Inquiries: {label} | " + " | ".join(_md(n) for n in counts) + " |")
    return "\n".join(lines) + "\n"


async def summary(request: Request) -> Response:
    ctx = context(request)
    await require(request, "supervisor")
    params = request.query_params
    known = ("year", "format", "sep", "bom", "labels", "lang")
    fields = {name[:60]: "unknown parameter" for name in params if name not in known}
    today = to_datetime(ctx.clock()).date()
    raw = params.get("year") or str(today.year)
    year = int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else 0
    if not year:
        fields["year"] = "a year, 2000-2100"
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        fields["format"] = "json or csv"
    style = csv_style(params, fields)
    if fields:
        raise HTTPError("invalid", "Some parameters are not valid.", fields=fields)
    rows = await registrations_between(ctx.db, date(year, 1, 1), date(year, 12, 31))
    case_rows = await counted_cases(ctx.db, rows)
    body = await run_in_threadpool(yearly_summary, rows, year, ctx.reference(), ctx.settings.stats_min_count, case_rows)
    if fmt == "csv":
        header, lines = summary_table(body, ctx.reference(), style)
        lines += note(style, str(year), ctx.settings.stats_min_count)
        return csv_response(header, lines, sep=style.sep, bom=style.bom, filename=f"nora-summary-{year}.csv")
    body["generated_at"] = iso(to_datetime(ctx.clock()))
    return JSONResponse(body, headers=NO_STORE)
