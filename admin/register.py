"""The case register: pending registrations, registering a closed conversation, and amending a
registration (docs/design.md §5).

Service, region, language and audience come from the conversation, never from the form, so the
statistics cannot be skewed by what an adviser types.

Amendments (additive to docs/protocol.md §6):
- ``GET /api/v1/registrations`` (adviser or supervisor): the caller's own registrations that can still
  be amended, newest first.
- ``GET /api/v1/registrations/{id}`` (its author, or a supervisor; 404 for anyone else): the registration
  with ``editable`` and ``locked_at``.
- ``PUT /api/v1/registrations/{id}`` (its author only; CSRF): the whole form again, validated as the POST.
  A registration can be amended for ``AMEND_DAYS`` (7) days after it was made, then 423 ``locked``. A
  supervisor who is not the author gets 403; anyone else 404. A code retired since the registration was
  made stays valid for that registration. Every creation and every change writes an audit entry naming
  the changed fields (codes before and after; never the note's text).

The note is at most 500 characters, and the form warns against names and identifying details; the
server also refuses a note holding what looks like an e-mail address, a phone number (other than a
help line's) or a national identity number.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.audit import entry
from admin.auth import Staff, require
from admin.cases import LINK_FIELDS, CaseLink, attach, check_joinable, parse_link
from admin.context import context
from admin.reference_admin import fresh_reference
from admin.registration_form import FORM_FIELDS, RegistrationForm, parse_form, split_codes
from admin.routed_service import routed_service
from admin.threads import thread_case
from chat import wire
from chat.messages import StoredMessage
from core.clock import as_utc, iso, to_datetime
from core.http import NO_STORE, HTTPError, read_json_object
from core.models import OSLO, Conversation, ConversationState, Message, Registration

AMEND_DAYS = 7


def _may_register(staff: Staff, conv: Conversation) -> bool:
    return "supervisor" in staff.roles or ("adviser" in staff.roles and conv.adviser_id == staff.user.id)


async def pending(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor")
    query = (
        select(Conversation)
        .outerjoin(Registration, col(Registration.conversation_id) == col(Conversation.id))
        .where(col(Conversation.state) == ConversationState.CLOSED, col(Registration.id).is_(None))
        # A chat the visitor never wrote in is abandoned, not a case to register (chat/abandoned.py);
        # conversations closed before that was recorded (NULL) stay pending.
        .where(or_(col(Conversation.visitor_wrote).is_(None), col(Conversation.visitor_wrote).is_(True)))
        .order_by(col(Conversation.closed_at))
    )
    if "supervisor" not in staff.roles:
        query = query.where(col(Conversation.adviser_id) == staff.user.id)
    async with ctx.db.session() as session:
        rows = (await session.exec(query.limit(500))).all()
        ids = [c.id for c in rows]
        stored = (
            (
                await session.exec(
                    select(Message)
                    .where(col(Message.conversation_id).in_(ids))
                    .order_by(col(Message.conversation_id), col(Message.seq))
                )
            ).all()
            if ids
            else []
        )
    transcripts: dict[str, list[StoredMessage]] = {}
    for m in stored:
        message = StoredMessage(m.seq, m.sender, m.text, as_utc(m.sent_at), m.client_id, m.event, m.sender_id)
        transcripts.setdefault(m.conversation_id, []).append(message)
    # The list carries transcripts (docs/protocol.md §6), and reading a closed conversation is
    # outside the reader's own live chat: every one listed with messages is an audited read.
    now = to_datetime(ctx.clock())
    reads = [
        entry(now, staff.user.id, "transcript_read", conversation_id=c.id, detail="pending registrations list")
        for c in rows
        if c.id in transcripts
    ]
    if reads:
        async with ctx.db.writing() as session:
            session.add_all(reads)
    ref = ctx.reference()
    body = [
        wire.conversation(c, transcripts.get(c.id, []), owner=staff.user.id, rtl=ref.is_rtl(c.language), now=now)
        for c in rows
    ]
    return JSONResponse({"conversations": body}, headers=NO_STORE)


async def register(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor", csrf=True)
    conversation_id = request.path_params["conversation_id"]
    async with ctx.db.session() as session:
        conv = await session.get(Conversation, conversation_id)
    if conv is None or not _may_register(staff, conv):
        raise HTTPError("not_found", "No such conversation.")
    data = await read_json_object(request)
    # The service it was routed to, never the registering person's (admin.routed_service).
    service = await routed_service(ctx.db, conv)
    fields: dict[str, str] = {}
    form: RegistrationForm | None = None
    try:
        # Codes as in use on the day the chat is counted on (its close, UTC, as the statistics count it).
        day = as_utc(conv.closed_at).date() if conv.closed_at is not None else None
        ref = await fresh_reference(ctx)
        form = parse_form(data, ref, allowed_fields=FORM_FIELDS | LINK_FIELDS, on=day, service=service)
    except HTTPError as exc:
        fields = dict(exc.fields or {})
    link = parse_link(data, data.get("is_case"), fields)
    if link == CaseLink() and data.get("is_case") is True:
        # A conversation of a return code's thread joins the case the thread is in (admin/threads.py).
        link = CaseLink(case_id=await thread_case(ctx, conv.id, service))
    await check_joinable(ctx.db, link, service, fields)
    if fields or form is None:
        raise HTTPError("invalid", "The registration has invalid fields.", fields=fields)
    if conv.state != ConversationState.CLOSED or conv.closed_at is None:
        raise HTTPError("not_closed", "Close the conversation before registering it.")
    now = to_datetime(ctx.clock())
    row = Registration(
        conversation_id=conv.id,
        author_id=staff.user.id,
        **form.row_values(),
        service=service,
        region=conv.region,
        language=conv.language,
        audience=conv.audience,
        urgent=conv.urgent,
        transferred=conv.transferred,
        opened_at=conv.started_at,
        closed_at=conv.closed_at,
        created_at=now,
        updated_at=now,
        channel="chat",
        contact_date=as_utc(conv.closed_at).astimezone(OSLO).date(),
    )
    try:
        async with ctx.db.writing() as session:
            row.case_id = await attach(
                session, is_case=form.is_case, link=link, service=service, actor=staff.user.id, now=now
            )
            session.add(row)
            await session.flush()
            session.add(
                entry(
                    now,
                    staff.user.id,
                    "registration_created",
                    conversation_id=conv.id,
                    registration_id=row.id,
                    detail=audit_summary(row),
                )
            )
    except IntegrityError:
        raise HTTPError("already_registered", "This conversation is registered already.") from None
    return JSONResponse({"registration_id": row.id, "case_id": row.case_id}, status_code=201, headers=NO_STORE)


# ---------------------------------------------------------------------------------------- amendments

CODE_FIELDS = ("is_case", "main_category", "other_categories", "violence_forms", "contact", "age_group", "gender")


def audit_summary(row: Registration) -> str:
    """The audit detail of a new registration: its codes, channel and case, never the note."""
    parts = [f"{name}={getattr(row, name)}" for name in CODE_FIELDS]
    parts.append(f"actions={row.actions}")
    parts.append(f"channel={row.channel}")
    parts.append(f"case={row.case_id}")
    parts.append(f"note={len(row.note)} chars")
    return "; ".join(parts)


def locked_at(row: Registration) -> datetime:
    return as_utc(row.created_at) + timedelta(days=AMEND_DAYS)


def registration_body(row: Registration, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "author_id": row.author_id,
        "source": row.source,
        "is_case": row.is_case,
        "main_category": row.main_category,
        "other_categories": list(split_codes(row.other_categories)),
        "violence_forms": list(split_codes(row.violence_forms)),
        "contact": row.contact,
        "age_group": row.age_group,
        "gender": row.gender,
        "actions": list(split_codes(row.actions)),
        "note": row.note,
        "channel": row.channel,
        "contact_date": row.contact_date.isoformat() if row.contact_date else None,
        "case_id": row.case_id,
        "service": row.service,
        "region": row.region,
        "language": row.language,
        "audience": row.audience,
        "urgent": row.urgent,
        "transferred": row.transferred,
        "opened_at": iso(row.opened_at),
        "closed_at": iso(row.closed_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "locked_at": iso(locked_at(row)),
        "editable": now < locked_at(row),
    }


def _may_read(staff: Staff, row: Registration) -> bool:
    return row.author_id == staff.user.id or "supervisor" in staff.roles


async def mine(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor")
    now = to_datetime(ctx.clock())
    async with ctx.db.session() as session:
        rows = (
            await session.exec(
                select(Registration)
                .where(
                    col(Registration.author_id) == staff.user.id,
                    col(Registration.created_at) > now - timedelta(days=AMEND_DAYS),
                )
                .order_by(col(Registration.created_at).desc())
                .limit(500)
            )
        ).all()
        ids = [r.conversation_id for r in rows if r.conversation_id]
        aliases = dict(
            (await session.exec(select(Conversation.id, Conversation.alias).where(col(Conversation.id).in_(ids)))).all()
            if ids
            else []
        )
    # Additive: the chat's alias, so the console can name what it lists ("Gjest 4711").
    body = [{**registration_body(r, now), "alias": aliases.get(r.conversation_id or "")} for r in rows]
    return JSONResponse({"registrations": body}, headers=NO_STORE)


async def read(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor")
    async with ctx.db.session() as session:
        row = await session.get(Registration, request.path_params["registration_id"])
    if row is None or not _may_read(staff, row):
        raise HTTPError("not_found", "No such registration.")
    return JSONResponse(registration_body(row, to_datetime(ctx.clock())), headers=NO_STORE)


async def amend(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor", csrf=True)
    registration_id = request.path_params["registration_id"]
    async with ctx.db.session() as session:
        found = await session.get(Registration, registration_id)
    if found is None or not _may_read(staff, found):
        raise HTTPError("not_found", "No such registration.")
    if found.author_id != staff.user.id:
        raise HTTPError("forbidden", "Only the adviser who made a registration may amend it.")
    data = await read_json_object(request)
    now = to_datetime(ctx.clock())
    if now >= locked_at(found):
        raise HTTPError("locked", f"A registration can be amended for {AMEND_DAYS} days; this one is locked.")
    day = found.contact_date if found.channel != "chat" else as_utc(found.closed_at).date()
    form = parse_form(data, await fresh_reference(ctx), keep=found, on=day, service=found.service)
    async with ctx.db.writing() as session:
        row = await session.get(Registration, registration_id, with_for_update=True)
        if row is None:
            raise HTTPError("not_found", "No such registration.")
        if now >= locked_at(row):
            raise HTTPError("locked", f"A registration can be amended for {AMEND_DAYS} days; this one is locked.")
        values = form.row_values()
        changes = []
        # A registration that stops being a case leaves its case; one that becomes a case opens its own.
        if row.is_case and not form.is_case and row.case_id is not None:
            changes.append(f"case: {row.case_id} -> None")
            row.case_id = None
        elif form.is_case and not row.is_case:
            row.case_id = await attach(
                session, is_case=True, link=CaseLink(), service=row.service, actor=staff.user.id, now=now
            )
            changes.append(f"case: None -> {row.case_id}")
        for name, value in values.items():
            old = getattr(row, name)
            if old == value:
                continue
            changes.append(f"note: {len(old)} -> {len(value)} chars" if name == "note" else f"{name}: {old} -> {value}")
            setattr(row, name, value)
        if changes:
            row.updated_at = now
            session.add(row)
            session.add(
                entry(
                    now,
                    staff.user.id,
                    "registration_amended",
                    conversation_id=row.conversation_id,
                    registration_id=row.id,
                    detail="; ".join(changes),
                )
            )
    return JSONResponse(registration_body(row, now), headers=NO_STORE)


async def registration(request: Request) -> Response:
    """``GET`` reads, ``PUT`` amends ``/api/v1/registrations/{id}``."""
    return await (amend(request) if request.method == "PUT" else read(request))
