"""Inquiries that did not come through the chat: a pupil at the door, a teacher on the phone, a parent's
e-mail (docs/register.md "Inquiries from every channel").

``POST /api/v1/registrations`` (role adviser of any service, MR, AT, IR or KT; CSRF; audited): the
registration form of a conversation plus what a conversation would have told — ``channel`` (phone,
meeting, email, sms, video, other), ``contact_date`` (a Europe/Oslo date, not in the future),
``region`` (may be null), ``language`` and ``audience`` — and optionally ``case_id`` (join an open case
of the same service) or ``case_ref`` (a short reference for the new case it opens) → 201
``{"registration_id","case_id"}`` (``case_id`` null for an inquiry that is not a case). The service is
the registering adviser's: IR and KT advisers, who never chat, register their inquiries here.

The row keeps ``closed_at`` at 12:00 UTC of ``contact_date`` (as imported rows do), so every query by
date, the statistics and the export count it on its contact date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.audit import entry
from admin.auth import require
from admin.cases import LINK_FIELDS, attach, check_joinable, parse_link
from admin.context import context
from admin.periods import check_date
from admin.reference_admin import fresh_reference
from admin.register import audit_summary, mine
from admin.registration_form import FORM_FIELDS, RegistrationForm, parse_form
from core.clock import to_datetime
from core.http import NO_STORE, HTTPError, read_json_object
from core.models import OSLO, Registration
from core.reference import Reference

SERVICES = ("MR", "AT", "IR", "KT")
FACT_FIELDS = frozenset({"channel", "contact_date", "region", "language", "audience"})
INQUIRY_FIELDS = FORM_FIELDS | FACT_FIELDS | LINK_FIELDS


@dataclass(frozen=True)
class InquiryFacts:
    """What a conversation would have said about an inquiry, given in the form instead."""

    channel: str
    contact_date: date
    region: str | None
    language: str
    audience: str


def oslo_today(now: float) -> date:
    return datetime.fromtimestamp(now, OSLO).date()


def noon_utc(day: date) -> datetime:
    """``closed_at`` of an inquiry counted on ``day`` (12:00 UTC is ``day`` in Oslo, summer or winter)."""
    return datetime.combine(day, time(12), UTC)


def _code(data: dict[str, Any], name: str, allowed: frozenset[str], fields: dict[str, str], *, required: bool) -> Any:
    value = data.get(name)
    if value is None:
        if required:
            fields[name] = "required"
        return None
    if not isinstance(value, str) or value not in allowed:
        fields[name] = "unknown code"
        return None
    return value


def parse_facts(data: dict[str, Any], ref: Reference, today: date, fields: dict[str, str]) -> InquiryFacts | None:
    """``channel``, ``contact_date``, ``region``, ``language`` and ``audience``; problems go into ``fields``."""
    channels = ref.codes("channels") - {"chat"}
    channel = data.get("channel")
    if channel == "chat":
        fields["channel"] = "a chat is registered from its conversation (POST /api/v1/conversations/{id}/registration)"
    elif not isinstance(channel, str) or channel not in channels:
        fields["channel"] = f"required, one of: {', '.join(c for c in CHANNEL_ORDER if c in channels)}"
    raw = data.get("contact_date")
    day = None
    if raw is None:
        fields["contact_date"] = "required, a date as YYYY-MM-DD"
    elif not isinstance(raw, str):
        fields["contact_date"] = "a date as YYYY-MM-DD"
    else:
        day = check_date(raw, "contact_date", fields)
        if day is not None and day > today:
            fields["contact_date"] = "must not be in the future"
            day = None
    region = _code(data, "region", ref.codes("regions"), fields, required=False)
    language = _code(data, "language", ref.codes("languages"), fields, required=True)
    audience = _code(data, "audience", ref.codes("audiences"), fields, required=True)
    if not isinstance(channel, str) or day is None or language is None or audience is None:
        return None
    return InquiryFacts(channel, day, region, language, audience)


CHANNEL_ORDER = ("phone", "meeting", "email", "sms", "video", "other")


def inquiry_row(form: RegistrationForm, facts: InquiryFacts, service: str, author: str, now: datetime) -> Registration:
    return Registration(
        author_id=author,
        **form.row_values(),
        service=service,
        region=facts.region,
        language=facts.language,
        audience=facts.audience,
        closed_at=noon_utc(facts.contact_date),
        created_at=now,
        updated_at=now,
        source="form",
        channel=facts.channel,
        contact_date=facts.contact_date,
    )


async def register_inquiry(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", csrf=True)
    service = staff.user.service
    if service not in SERVICES:
        raise HTTPError("forbidden", "Your account has no service to register inquiries for.")
    data = await read_json_object(request)
    ref = await fresh_reference(ctx)
    fields: dict[str, str] = {}
    facts = parse_facts(data, ref, oslo_today(ctx.clock()), fields)
    form: RegistrationForm | None = None
    try:
        day = facts.contact_date if facts is not None else None
        form = parse_form(data, ref, allowed_fields=INQUIRY_FIELDS, on=day, service=service)
    except HTTPError as exc:
        fields = {**(exc.fields or {}), **fields}
    link = parse_link(data, data.get("is_case"), fields)
    await check_joinable(ctx.db, link, service, fields)
    if fields or form is None or facts is None:
        raise HTTPError("invalid", "The registration has invalid fields.", fields=fields)
    now = to_datetime(ctx.clock())
    row = inquiry_row(form, facts, service, staff.user.id, now)
    async with ctx.db.writing() as session:
        row.case_id = await attach(
            session, is_case=form.is_case, link=link, service=service, actor=staff.user.id, now=now
        )
        session.add(row)
        await session.flush()
        session.add(
            entry(now, staff.user.id, "registration_created", registration_id=row.id, detail=audit_summary(row))
        )
    return JSONResponse({"registration_id": row.id, "case_id": row.case_id}, status_code=201, headers=NO_STORE)


async def registrations(request: Request) -> Response:
    """``GET`` lists the caller's amendable registrations, ``POST`` registers an inquiry."""
    return await (register_inquiry(request) if request.method == "POST" else mine(request))
