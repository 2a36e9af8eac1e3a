"""Cases: the inquiries about one situation, grouped so that the statistics count the situation once
(docs/register.md "Cases").

Every registration is an inquiry; one that ``is_case`` belongs to a case. It opens a new case, or, with
``case_id``, joins an open case of the same service (a phone call after last week's chat, the third
meeting about one pupil). An inquiry that is not a case joins none. A case is found again by date,
category or the adviser's own short reference (``ref``, such as ``OSL-14``; it must hold a digit, so
that it cannot be a bare name), never by anything about a person.

- ``GET /api/v1/cases/{id}`` (advisers of the case's service; supervisors read all; audited):
  ``{"case_id","service","opened_at","closed_at","ref","inquiries":[…]}``; any other case reads as
  missing (404), so a case of another service cannot even be told to exist.
- ``POST /api/v1/cases/{id}/close`` (the same; CSRF; audited): no inquiry can join it afterwards.
- ``GET /api/v1/cases?state=open&from=…&to=…&category=…&ref=…``: the caller's service's cases, newest
  contact first, to pick the one an inquiry joins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.audit import entry
from admin.auth import Staff, require
from admin.context import context
from admin.periods import check_date
from core.clock import iso, to_datetime
from core.db import Database
from core.http import NO_STORE, HTTPError
from core.models import Case, Registration

LINK_FIELDS = frozenset({"case_id", "case_ref"})
CASE_REF = re.compile(r"(?=[^0-9]*[0-9])[A-Za-z0-9][A-Za-z0-9._/-]{0,23}")
CASE_REF_HELP = (
    "a short reference of your own, 1-24 letters, digits and . _ / -, with at least one digit (never a name)"
)
NOT_JOINABLE = "no open case of your service has this id"
SEARCH_LIMIT = 100


@dataclass(frozen=True)
class CaseLink:
    """What a registration form says about its case: the one it joins, or the ``ref`` of a new one."""

    case_id: str | None = None
    case_ref: str | None = None


def parse_link(data: dict[str, Any], is_case: object, fields: dict[str, str]) -> CaseLink:
    """``case_id`` and ``case_ref`` of a registration form; problems go into ``fields``."""
    case_id = data.get("case_id")
    if case_id is not None and (not isinstance(case_id, str) or not case_id or len(case_id) > 64):
        fields["case_id"] = "the id of an open case of your service, or null"
        case_id = None
    case_ref = data.get("case_ref")
    if case_ref is not None and (not isinstance(case_ref, str) or not CASE_REF.fullmatch(case_ref)):
        fields["case_ref"] = CASE_REF_HELP
        case_ref = None
    if is_case is False:
        if data.get("case_id") is not None:
            fields["case_id"] = "an inquiry that is not a case (is_case false) joins no case"
        if data.get("case_ref") is not None:
            fields["case_ref"] = "an inquiry that is not a case (is_case false) has no case"
        return CaseLink()
    if case_id is not None and case_ref is not None:
        fields["case_ref"] = "only for a new case: the case joined keeps its own"
    return CaseLink(case_id, case_ref)


async def check_joinable(db: Database, link: CaseLink, service: str, fields: dict[str, str]) -> None:
    """``fields.case_id`` unless ``link`` names an open case of ``service`` (or none)."""
    if link.case_id is None or "case_id" in fields:
        return
    async with db.session() as session:
        case = await session.get(Case, link.case_id)
    if case is None or case.service != service or case.closed_at is not None:
        # Unknown, another service's and closed read alike: a case id tells nothing about other services.
        fields["case_id"] = NOT_JOINABLE


async def attach(
    session: AsyncSession, *, is_case: bool, link: CaseLink, service: str, actor: str | None, now: datetime
) -> str | None:
    """Inside the registration's transaction: the id of the case it belongs to, opening one if it is new.

    The joined case is locked and checked again, so a case closed meanwhile is not joined."""
    if not is_case:
        return None
    if link.case_id is not None:
        case = await session.get(Case, link.case_id, with_for_update=True)
        if case is None or case.service != service or case.closed_at is not None:
            raise HTTPError("invalid", "The registration has invalid fields.", fields={"case_id": NOT_JOINABLE})
        return case.id
    case = Case(service=service, ref=link.case_ref, opened_at=now, created_by=actor)
    session.add(case)
    await session.flush()
    session.add(entry(now, actor, "case_opened", detail=f"case={case.id}; service={service}"))
    return case.id


# ---------------------------------------------------------------------------------------------- reads


def _split(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


def inquiry_body(row: Registration) -> dict[str, Any]:
    """An inquiry as a case shows it: codes and dates, never the note (other advisers read the case)."""
    return {
        "registration_id": row.id,
        "channel": row.channel,
        "contact_date": row.contact_date.isoformat(),
        "is_case": row.is_case,
        "main_category": row.main_category,
        "other_categories": _split(row.other_categories),
        "violence_forms": _split(row.violence_forms),
        "contact": row.contact,
        "age_group": row.age_group,
        "gender": row.gender,
        "actions": _split(row.actions),
        "region": row.region,
        "language": row.language,
        "audience": row.audience,
        "conversation_id": row.conversation_id,
        "source": row.source,
        "author_id": row.author_id,
        "created_at": iso(row.created_at),
    }


def case_body(case: Case, inquiries: list[Registration]) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "service": case.service,
        "opened_at": iso(case.opened_at),
        "closed_at": iso(case.closed_at),
        "ref": case.ref,
        "inquiries": [inquiry_body(r) for r in inquiries],
    }


def may_read(staff: Staff, case: Case) -> bool:
    return "supervisor" in staff.roles or ("adviser" in staff.roles and staff.user.service == case.service)


def _order(row: Registration) -> tuple[date, str, str]:
    return (row.contact_date, iso(row.created_at) or "", row.id)


async def _inquiries(session: AsyncSession, case_id: str) -> list[Registration]:
    rows = (await session.exec(select(Registration).where(col(Registration.case_id) == case_id))).all()
    return sorted(rows, key=_order)


async def _readable(request: Request, staff: Staff) -> Case:
    ctx = context(request)
    async with ctx.db.session() as session:
        case = await session.get(Case, request.path_params["case_id"])
    if case is None or not may_read(staff, case):
        raise HTTPError("not_found", "No such case.")
    return case


async def read(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor")
    case = await _readable(request, staff)
    now = to_datetime(ctx.clock())
    async with ctx.db.writing() as session:
        inquiries = await _inquiries(session, case.id)
        session.add(entry(now, staff.user.id, "case_read", detail=f"case={case.id}; inquiries={len(inquiries)}"))
    return JSONResponse(case_body(case, inquiries), headers=NO_STORE)


async def close(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor", csrf=True)
    found = await _readable(request, staff)
    now = to_datetime(ctx.clock())
    async with ctx.db.writing() as session:
        case = await session.get(Case, found.id, with_for_update=True)
        if case is None:
            raise HTTPError("not_found", "No such case.")
        if case.closed_at is not None:
            raise HTTPError("conflict", "The case is closed already.")
        case.closed_at, case.closed_by = now, staff.user.id
        session.add(case)
        session.add(entry(now, staff.user.id, "case_closed", detail=f"case={case.id}; service={case.service}"))
        inquiries = await _inquiries(session, case.id)
    return JSONResponse(case_body(case, inquiries), headers=NO_STORE)


# --------------------------------------------------------------------------------------------- search

SEARCH_PARAMS = frozenset({"state", "from", "to", "category", "ref", "service", "limit"})


async def search(request: Request) -> Response:
    """The caller's service's cases for attaching an inquiry: by date, category or short reference."""
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor")
    params = request.query_params
    fields = {name[:60]: "unknown parameter" for name in params if name not in SEARCH_PARAMS}
    state = params.get("state", "open")
    if state not in ("open", "closed", "all"):
        fields["state"] = "open, closed or all"
    start = check_date(params.get("from"), "from", fields)
    end = check_date(params.get("to"), "to", fields)
    category = params.get("category") or None
    ref = params.get("ref") or None
    if ref is not None and len(ref) > 24:
        fields["ref"] = "at most 24 characters"
    raw_limit = params.get("limit", "50")
    limit = int(raw_limit) if raw_limit.isdigit() and 1 <= int(raw_limit) <= SEARCH_LIMIT else 0
    if not limit:
        fields["limit"] = f"1-{SEARCH_LIMIT}"
    service = params.get("service") or None
    if "supervisor" not in staff.roles:
        if service is not None and service != staff.user.service:
            fields["service"] = "only your own service"
        service = staff.user.service
    if fields:
        raise HTTPError("invalid", "Some parameters are not valid.", fields=fields)
    matching = select(Registration.case_id).where(col(Registration.case_id).is_not(None))
    if start is not None:
        matching = matching.where(col(Registration.contact_date) >= start)
    if end is not None:
        matching = matching.where(col(Registration.contact_date) <= end)
    if category is not None:
        matching = matching.where(col(Registration.main_category) == category)
    last = func.max(Registration.contact_date)
    query = (
        select(Case, func.count(col(Registration.id)), func.min(Registration.contact_date), last)
        .join(Registration, col(Registration.case_id) == col(Case.id))
        .where(col(Case.id).in_(matching))
        .group_by(col(Case.id))
        .order_by(last.desc(), col(Case.id))
        .limit(limit)
    )
    if service is not None:
        query = query.where(col(Case.service) == service)
    if state != "all":
        query = query.where(col(Case.closed_at).is_(None) if state == "open" else col(Case.closed_at).is_not(None))
    if ref is not None:
        query = query.where(func.lower(col(Case.ref)).startswith(ref.lower(), autoescape=True))
    async with ctx.db.session() as session:
        found = (await session.exec(query)).all()
        ids = [case.id for case, *_ in found]
        rows = (await session.exec(select(Registration).where(col(Registration.case_id).in_(ids)))).all() if ids else []
    first: dict[str, Registration] = {}
    for row in sorted(rows, key=_order):
        first.setdefault(row.case_id or "", row)
    out = []
    for case, count, earliest, latest in found:
        head = first.get(case.id)
        out.append(
            {
                "case_id": case.id,
                "service": case.service,
                "ref": case.ref,
                "opened_at": iso(case.opened_at),
                "closed_at": iso(case.closed_at),
                "inquiry_count": count,
                "first_contact_date": _day(earliest),
                "last_contact_date": _day(latest),
                "main_category": head.main_category if head else None,
                "channel": head.channel if head else None,
            }
        )
    return JSONResponse({"cases": out}, headers=NO_STORE)


def _day(value: object) -> str | None:
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if value is not None else None
