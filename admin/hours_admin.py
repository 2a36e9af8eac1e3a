"""Opening hours and closed dates as an administrator edits them (``/admin``).

- ``GET /api/v1/hours`` (admin or supervisor): the hours in force, where they come from (``settings``
  or ``database``), open now or the next opening, and the settings' defaults.
- ``PUT /api/v1/hours`` (admin; CSRF): ``{"weekly":[{"day":"mon","open":"08:00","close":"16:00"}…] |
  null, "closed_dates":[{"date":"2026-12-24","label":"Julaften"}…]}`` replaces both; ``weekly`` null is
  open around the clock (but on the closed dates), ``[]`` never open.
- ``DELETE /api/v1/hours`` (admin; CSRF): back to the settings ``NORA_OPENING_HOURS`` and
  ``NORA_CLOSED_DATES``.

Each change is audited (``hours_changed``, ``hours_reset``) and in force on this instance at once, on
the others within ``chat.hours.REFRESH_S`` (they read the row again).
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.audit import entry
from admin.auth import require
from admin.context import context
from chat.hours import ClosedDate, OpeningHoursBook, Schedule, weekly_spec
from core.clock import to_datetime
from core.db import Database
from core.http import NO_STORE, HTTPError, read_json_object
from core.models import ServiceHours, StaffUser
from routing.hours import DAYS

HHMM = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
MAX_WINDOWS = 7 * 4
MAX_CLOSED = 400
LABEL_MAX = 100


def _windows(value: Any, fields: dict[str, str]) -> list[tuple[str, time, time]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_WINDOWS:
        fields["weekly"] = f"null (open around the clock) or a list of at most {MAX_WINDOWS} periods"
        return None
    out: list[tuple[str, time, time]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"day", "open", "close"}:
            fields[f"weekly.{i}"] = 'an object {"day","open","close"}'
            continue
        day, start, end = item["day"], item["open"], item["close"]
        if day not in DAYS:
            fields[f"weekly.{i}.day"] = f"one of {', '.join(DAYS)}"
        if not isinstance(start, str) or not HHMM.fullmatch(start):
            fields[f"weekly.{i}.open"] = "a time HH:MM"
        if not isinstance(end, str) or not HHMM.fullmatch(end):
            fields[f"weekly.{i}.close"] = "a time HH:MM"
        if any(k.startswith(f"weekly.{i}.") for k in fields):
            continue
        opens, closes = time.fromisoformat(start), time.fromisoformat(end)
        if closes <= opens:
            fields[f"weekly.{i}.close"] = "after the opening time"
            continue
        out.append((day, opens, closes))
    for i, (day, opens, closes) in enumerate(out):
        if any(d == day and o < closes and opens < c for j, (d, o, c) in enumerate(out) if j != i):
            fields["weekly"] = f"periods on {day} overlap"
    return out


def _closed(value: Any, fields: dict[str, str]) -> tuple[ClosedDate, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_CLOSED:
        fields["closed_dates"] = f"a list of at most {MAX_CLOSED} dates"
        return ()
    out: list[ClosedDate] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not set(item) <= {"date", "label"} or "date" not in item:
            fields[f"closed_dates.{i}"] = 'an object {"date","label"}'
            continue
        raw, label = item["date"], item.get("label") or ""
        try:
            day = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            day = None
        if day is None or not 2000 <= day.year <= 2100:
            fields[f"closed_dates.{i}.date"] = "a date YYYY-MM-DD"
            continue
        if not isinstance(label, str) or len(label.strip()) > LABEL_MAX:
            fields[f"closed_dates.{i}.label"] = f"text of at most {LABEL_MAX} characters"
            continue
        if any(c.day == day for c in out):
            fields[f"closed_dates.{i}.date"] = "listed twice"
            continue
        out.append(ClosedDate(day, label.strip()))
    return tuple(sorted(out, key=lambda c: c.day))


def parse_schedule(data: dict[str, Any]) -> tuple[str | None, tuple[ClosedDate, ...]]:
    fields = {name[:60]: "unknown field" for name in data if name not in ("weekly", "closed_dates")}
    if "weekly" not in data:
        fields["weekly"] = "required: a list of periods, or null for open around the clock"
    windows = _windows(data.get("weekly"), fields)
    closed = _closed(data.get("closed_dates"), fields)
    if fields:
        raise HTTPError("invalid", "The opening hours have invalid fields.", fields=fields)
    return (None if windows is None else weekly_spec(windows)), closed


async def save(db: Database, weekly: str | None, closed: tuple[ClosedDate, ...], actor: str, now: float) -> None:
    at = to_datetime(now)
    probe = Schedule(weekly, closed)
    async with db.writing() as session:
        row = await session.get(ServiceHours, 1, with_for_update=True)
        if row is None:
            row = ServiceHours(id=1, version=0, updated_at=at)
        row.weekly, row.closed_dates = weekly, probe.closed_json()
        row.version, row.updated_at, row.updated_by = row.version + 1, at, actor
        session.add(row)
        detail = f"weekly={weekly if weekly is not None else 'around the clock'}; closed dates={len(closed)}"
        session.add(entry(at, actor, "hours_changed", detail=detail))


async def reset(db: Database, actor: str, now: float) -> None:
    at = to_datetime(now)
    async with db.writing() as session:
        await session.exec(delete(ServiceHours))
        session.add(entry(at, actor, "hours_reset", detail="back to NORA_OPENING_HOURS and NORA_CLOSED_DATES"))


async def _body(db: Database, book: OpeningHoursBook) -> dict[str, Any]:
    await book.refresh(force=True)
    body = book.body()
    user_id = book.schedule.updated_by
    async with db.session() as session:
        user = await session.get(StaffUser, user_id) if user_id else None
    body["updated_by"] = user.username if user else None
    return body


async def hours(request: Request) -> Response:
    """``GET`` reads, ``PUT`` replaces, ``DELETE`` resets ``/api/v1/hours``."""
    ctx = context(request)
    if request.method == "GET":
        await require(request, "admin", "supervisor")
        return JSONResponse(await _body(ctx.db, ctx.chat.hours), headers=NO_STORE)
    staff = await require(request, "admin", csrf=True)
    if request.method == "PUT":
        weekly, closed = parse_schedule(await read_json_object(request))
        try:
            await save(ctx.db, weekly, closed, staff.user.id, ctx.clock())
        except IntegrityError:  # two first saves at the same moment
            raise HTTPError("conflict", "The opening hours were saved at the same moment; try again.") from None
    else:
        await reset(ctx.db, staff.user.id, ctx.clock())
    return JSONResponse(await _body(ctx.db, ctx.chat.hours), headers=NO_STORE)
