"""The case register: pending registrations and registering a closed conversation (DESIGN.md §5).

Service, region, language and audience come from the conversation, never from the form, so the
statistics cannot be skewed by what an adviser types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.auth import Staff, require
from admin.context import context
from core.clock import as_utc, iso, to_datetime
from core.http import NO_STORE, HTTPError, read_json_object
from core.models import Conversation, Registration
from core.reference import Reference

NOTE_MAX = 500
FORM_FIELDS = frozenset(
    {
        "is_case",
        "main_category",
        "other_categories",
        "violence_forms",
        "contact",
        "age_group",
        "gender",
        "actions",
        "note",
    }
)


@dataclass(frozen=True)
class RegistrationForm:
    is_case: bool
    main_category: str | None
    other_categories: tuple[str, ...]
    violence_forms: tuple[str, ...]
    contact: str
    age_group: str
    gender: str
    actions: tuple[str, ...]
    note: str


def _code_list(data: dict[str, Any], name: str, allowed: frozenset[str], fields: dict[str, str]) -> tuple[str, ...]:
    value = data.get(name, [])
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fields[name] = "must be a list of codes"
        return ()
    unknown = [v for v in value if v not in allowed]
    if unknown:
        fields[name] = f"unknown code(s): {', '.join(sorted(set(unknown)))[:200]}"
    if len(set(value)) != len(value):
        fields[name] = "codes must not repeat"
    return tuple(value)


def _code(data: dict[str, Any], name: str, allowed: frozenset[str], fields: dict[str, str]) -> str:
    value = data.get(name)
    if value is None:
        return "unknown"
    if not isinstance(value, str) or value not in allowed:
        fields[name] = "unknown code"
        return "unknown"
    return value


def parse_form(data: dict[str, Any], ref: Reference) -> RegistrationForm:
    fields: dict[str, str] = {}
    for name in sorted(set(data) - FORM_FIELDS):
        fields[name[:60]] = "unknown field"
    is_case = data.get("is_case")
    if not isinstance(is_case, bool):
        fields["is_case"] = "required, true (a case) or false (an inquiry)"
    categories = ref.codes("categories")
    main = data.get("main_category")
    if main is not None and (not isinstance(main, str) or main not in categories):
        fields["main_category"] = "unknown code"
        main = None
    others = _code_list(data, "other_categories", categories, fields)
    threats = ref.entry("categories", "threats_violence") or {}
    forms = _code_list(data, "violence_forms", frozenset(threats.get("forms", [])), fields)
    actions = _code_list(data, "actions", ref.codes("actions"), fields)
    contact = _code(data, "contact", ref.codes("contacts"), fields)
    age_group = _code(data, "age_group", ref.codes("age_groups"), fields)
    gender = _code(data, "gender", ref.codes("genders"), fields)
    note = data.get("note", "")
    if note is None:
        note = ""
    if not isinstance(note, str):
        fields["note"] = "must be text"
        note = ""
    elif len(note.strip()) > NOTE_MAX:
        fields["note"] = f"at most {NOTE_MAX} characters"
    if is_case is True and main is None and "main_category" not in fields:
        fields["main_category"] = "required for a case"
    if is_case is False:
        if main is not None:
            fields["main_category"] = "an inquiry (is_case false) has no category"
        if others:
            fields["other_categories"] = "an inquiry (is_case false) has no categories"
        if forms:
            fields["violence_forms"] = "an inquiry (is_case false) has no forms of violence"
    if main is not None and main in others:
        fields["other_categories"] = "must not repeat the main category"
    if forms and "threats_violence" not in (main, *others):
        fields["violence_forms"] = "only with the category threats_violence"
    if fields:
        raise HTTPError("invalid", "The registration has invalid fields.", fields=fields)
    return RegistrationForm(bool(is_case), main, others, forms, contact, age_group, gender, actions, note.strip())


def _conversation_body(conv: Conversation) -> dict[str, Any]:
    return {
        "id": conv.id,
        "alias": conv.alias,
        "language": conv.language,
        "region": conv.region,
        "audience": conv.audience,
        "urgent": conv.urgent,
        "started_at": iso(conv.started_at),
        "waited_s": int(
            (as_utc(conv.assigned_at or conv.closed_at or conv.started_at) - as_utc(conv.enqueued_at)).total_seconds()
        ),
        "state": conv.state,
        "closed_at": iso(conv.closed_at),
        "close_reason": conv.close_reason,
        "transferred": conv.transferred,
        "service": conv.service,
    }


def _may_register(staff: Staff, conv: Conversation) -> bool:
    return "supervisor" in staff.roles or ("adviser" in staff.roles and conv.adviser_id == staff.user.id)


async def pending(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor")
    query = (
        select(Conversation)
        .outerjoin(Registration, col(Registration.conversation_id) == col(Conversation.id))
        .where(col(Conversation.state) == "closed", col(Registration.id).is_(None))
        .order_by(col(Conversation.closed_at))
    )
    if "supervisor" not in staff.roles:
        query = query.where(col(Conversation.adviser_id) == staff.user.id)
    async with ctx.db.session() as session:
        rows = (await session.exec(query.limit(500))).all()
    return JSONResponse({"conversations": [_conversation_body(c) for c in rows]}, headers=NO_STORE)


async def register(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor", csrf=True)
    conversation_id = request.path_params["conversation_id"]
    async with ctx.db.session() as session:
        conv = await session.get(Conversation, conversation_id)
    if conv is None or not _may_register(staff, conv):
        raise HTTPError("not_found", "No such conversation.")
    form = parse_form(await read_json_object(request), ctx.reference())
    if conv.state != "closed" or conv.closed_at is None:
        raise HTTPError("not_closed", "Close the conversation before registering it.")
    now = to_datetime(ctx.clock())
    row = Registration(
        conversation_id=conv.id,
        author_id=staff.user.id,
        is_case=form.is_case,
        main_category=form.main_category,
        other_categories=",".join(form.other_categories),
        violence_forms=",".join(form.violence_forms),
        contact=form.contact,
        age_group=form.age_group,
        gender=form.gender,
        actions=",".join(form.actions),
        note=form.note,
        service=conv.service or staff.user.service or "MR",
        region=conv.region,
        language=conv.language,
        audience=conv.audience,
        urgent=conv.urgent,
        transferred=conv.transferred,
        opened_at=conv.started_at,
        closed_at=conv.closed_at,
        created_at=now,
        updated_at=now,
    )
    try:
        async with ctx.db.writing() as session:
            session.add(row)
    except IntegrityError:
        raise HTTPError("already_registered", "This conversation is registered already.") from None
    return JSONResponse({"registration_id": row.id}, status_code=201, headers=NO_STORE)


def form_json(form: RegistrationForm) -> str:
    return json.dumps(form.__dict__, ensure_ascii=False)
