"""Canned replies: ready answers an adviser inserts into the composer (docs/design.md §2, issue 17).

Two kinds, each written in one chat language and offered in conversations in that language:
- **shared** ones belong to a service (MR or AT); supervisors and admins keep them, every adviser of
  that service uses them;
- **personal** ones belong to one adviser, who alone sees and keeps them.

Routes (docs/protocol.md §6, "Canned replies"):
- ``GET /api/v1/canned-replies`` (adviser, supervisor or admin): what the caller may use or keep;
  ``?language=ar`` narrows to one language.
- ``POST /api/v1/canned-replies`` (CSRF): ``{"scope": "shared"|"personal", "service", "language",
  "title", "text"}``; shared needs the supervisor or admin role and a service, personal the adviser role.
- ``PUT`` / ``DELETE /api/v1/canned-replies/{id}`` (CSRF): by who may keep it; anyone else gets 404.
Every change is written to the audit log (scope, service, language; never the title or the text).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.audit import entry
from admin.auth import Staff, require
from admin.context import context
from chat.frames import CONTROL_CHARS, NO_CONTROL_CHARS
from core.clock import iso, to_datetime
from core.http import NO_STORE, HTTPError, read_json_object
from core.models import CannedReply

TITLE_MAX = 80
KEEPERS = frozenset({"supervisor", "admin"})
SERVICES = ("MR", "AT")
FIELDS = frozenset({"scope", "service", "language", "title", "text"})


def _keeps_shared(staff: Staff) -> bool:
    return bool(staff.roles & KEEPERS)


def _may_keep(staff: Staff, reply: CannedReply) -> bool:
    if reply.owner_id is not None:
        return reply.owner_id == staff.user.id
    return _keeps_shared(staff)


def _may_use(staff: Staff, reply: CannedReply) -> bool:
    if reply.owner_id is not None:
        return reply.owner_id == staff.user.id
    return _keeps_shared(staff) or reply.service == staff.user.service


def body(reply: CannedReply, staff: Staff) -> dict[str, Any]:
    return {
        "id": reply.id,
        "scope": "personal" if reply.owner_id else "shared",
        "service": reply.service,
        "language": reply.language,
        "title": reply.title,
        "text": reply.text,
        "updated_at": iso(reply.updated_at),
        "editable": _may_keep(staff, reply),
    }


def _text(value: Any, name: str, limit: int, fields: dict[str, str]) -> str:
    if not isinstance(value, str) or not value.strip():
        fields[name] = "required, text"
        return ""
    if CONTROL_CHARS.search(value) is not None:
        fields[name] = NO_CONTROL_CHARS
        return ""
    stripped: str = value.strip()
    if len(stripped) > limit:
        fields[name] = f"at most {limit} characters"
    return stripped


def parse(data: dict[str, Any], staff: Staff, languages: frozenset[str], max_chars: int) -> dict[str, Any]:
    """The reply's fields, each problem named; the scope decides who may write it."""
    fields: dict[str, str] = {}
    for name in sorted(set(data) - FIELDS):
        fields[name[:60]] = "unknown field"
    scope = data.get("scope")
    if scope not in ("shared", "personal"):
        fields["scope"] = "'shared' or 'personal'"
    service = data.get("service")
    if scope == "shared" and service not in SERVICES:
        fields["service"] = "required for a shared reply: 'MR' or 'AT'"
    elif scope == "personal" and service is not None:
        fields["service"] = "a personal reply has no service"
    language = data.get("language")
    if not isinstance(language, str) or language not in languages:
        fields["language"] = "required, a language code from /api/v1/reference"
    title = _text(data.get("title"), "title", TITLE_MAX, fields)
    text = _text(data.get("text"), "text", max_chars, fields)
    if fields:
        raise HTTPError("invalid", "The reply has invalid fields.", fields=fields)
    if scope == "shared" and not _keeps_shared(staff):
        raise HTTPError("forbidden", "Shared replies are kept by supervisors and admins.")
    if scope == "personal" and "adviser" not in staff.roles:
        raise HTTPError("forbidden", "Personal replies are for advisers.")
    return {"scope": scope, "service": service, "language": language, "title": title, "text": text}


def _audit(now: datetime, staff: Staff, action: str, reply: CannedReply) -> Any:
    scope = "personal" if reply.owner_id else f"shared {reply.service}"
    return entry(now, staff.user.id, action, detail=f"reply {reply.id}; {scope}; language={reply.language}")


async def replies(request: Request) -> Response:
    """``GET`` lists, ``POST`` adds."""
    if request.method == "POST":
        return await add(request)
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor", "admin")
    query = select(CannedReply)
    mine = col(CannedReply.owner_id) == staff.user.id
    if _keeps_shared(staff):
        query = query.where(or_(col(CannedReply.owner_id).is_(None), mine))
    else:
        shared = col(CannedReply.owner_id).is_(None) & (col(CannedReply.service) == staff.user.service)
        query = query.where(or_(shared, mine))
    language = request.query_params.get("language")
    if language:
        query = query.where(col(CannedReply.language) == language)
    async with ctx.db.session() as session:
        rows = (await session.exec(query.order_by(col(CannedReply.title)).limit(1000))).all()
    return JSONResponse({"replies": [body(r, staff) for r in rows if _may_use(staff, r)]}, headers=NO_STORE)


async def add(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor", "admin", csrf=True)
    data = await read_json_object(request)
    values = parse(data, staff, ctx.reference().codes("languages"), ctx.settings.max_text_chars)
    now = to_datetime(ctx.clock())
    reply = CannedReply(
        owner_id=staff.user.id if values["scope"] == "personal" else None,
        service=values["service"],
        language=values["language"],
        title=values["title"],
        text=values["text"],
        created_at=now,
        updated_at=now,
        updated_by=staff.user.id,
    )
    async with ctx.db.writing() as session:
        session.add(reply)
        await session.flush()
        session.add(_audit(now, staff, "canned_reply_added", reply))
    return JSONResponse(body(reply, staff), status_code=201, headers=NO_STORE)


async def reply(request: Request) -> Response:
    """``PUT`` changes, ``DELETE`` removes ``/api/v1/canned-replies/{id}``."""
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor", "admin", csrf=True)
    reply_id = request.path_params["reply_id"]
    data = await read_json_object(request) if request.method == "PUT" else {}
    now = to_datetime(ctx.clock())
    async with ctx.db.writing() as session:
        row = await session.get(CannedReply, reply_id, with_for_update=True)
        if row is None or not _may_keep(staff, row):
            raise HTTPError("not_found", "No such reply.")  # another adviser's reads as missing
        if request.method == "DELETE":
            session.add(_audit(now, staff, "canned_reply_removed", row))
            await session.delete(row)
            return Response(status_code=204, headers=NO_STORE)
        scope = "personal" if row.owner_id else "shared"
        values = parse({**data, "scope": scope}, staff, ctx.reference().codes("languages"), ctx.settings.max_text_chars)
        row.service, row.language = values["service"], values["language"]
        row.title, row.text = values["title"], values["text"]
        row.updated_at, row.updated_by = now, staff.user.id
        session.add(row)
        session.add(_audit(now, staff, "canned_reply_changed", row))
    return JSONResponse(body(row, staff), headers=NO_STORE)
