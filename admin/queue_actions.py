"""Supervisor actions on the queue over HTTP: route a waiting conversation, diversions, notices.

Role supervisor, CSRF, and one audit row per action. Validation (422) comes before the state checks
(404, 409) so a client learns everything wrong with its request at once. The work itself is
``chat.supervision``'s.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin import audit
from admin.auth import Staff, require
from admin.context import AdminContext, context
from chat.diversions import MAX_MINUTES
from chat.frames import CONTROL_CHARS, NO_CONTROL_CHARS
from chat.supervision import RouteRefused, RouteTarget
from core.clock import to_datetime
from core.http import NO_STORE, HTTPError, read_json_object

NOTE_MAX = 500
NOTICE_MAX = 500
TARGETS = ("adviser_id", "service", "region", "language")
SERVICES = ("MR", "AT")


def _code(ctx: AdminContext, data: dict[str, Any], name: str, kind: str, fields: dict[str, str]) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or value not in ctx.reference().codes(kind):
        fields[name] = f"not a code of {kind}"
        return None
    return value


def _invalid(fields: dict[str, str]) -> HTTPError:
    return HTTPError("invalid", "Some fields are not valid: see fields.", fields=fields)


async def _route_target(ctx: AdminContext, data: dict[str, Any]) -> RouteTarget:
    fields: dict[str, str] = {}
    given = [name for name in TARGETS if data.get(name) is not None]
    if len(given) != 1:
        fields["body"] = "give exactly one of adviser_id, service, region, language"
    adviser_id = data.get("adviser_id")
    if adviser_id is not None:
        profile = await ctx.directory.profile(adviser_id) if isinstance(adviser_id, str) and adviser_id else None
        if profile is None or "adviser" not in profile.roles or profile.service not in SERVICES:
            fields["adviser_id"] = "no adviser with this id"
    service = data.get("service")
    if service is not None and service not in SERVICES:
        fields["service"] = "must be MR or AT"
    region = _code(ctx, data, "region", "regions", fields)
    language = _code(ctx, data, "language", "languages", fields)
    urgent = data.get("urgent", False)
    if not isinstance(urgent, bool):
        fields["urgent"] = "must be true or false"
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or len(note.strip()) > NOTE_MAX):
        fields["note"] = f"text of at most {NOTE_MAX} characters"
    elif isinstance(note, str) and CONTROL_CHARS.search(note) is not None:
        fields["note"] = NO_CONTROL_CHARS
    if fields:
        raise _invalid(fields)
    return RouteTarget(
        adviser_id=adviser_id,
        service=service,
        region=region,
        language=language,
        urgent=bool(urgent),
        note=(note or "").strip() or None,
    )


async def _audit(
    ctx: AdminContext, staff: Staff, action: str, *, conversation_id: str | None = None, detail: str
) -> None:
    row = audit.entry(
        to_datetime(ctx.chat.now()), staff.user.id, action, conversation_id=conversation_id, detail=detail
    )
    await audit.record(ctx.db, row)


async def route(request: Request) -> Response:
    """``POST /api/v1/conversations/{id}/route``."""
    staff = await require(request, "supervisor", csrf=True)
    ctx = context(request)
    target = await _route_target(ctx, await read_json_object(request))
    conversation_id = request.path_params["conversation_id"]
    try:
        state = await ctx.chat.queue_actions.route(conversation_id, target)
    except RouteRefused as exc:
        raise HTTPError(exc.code, exc.message) from None
    named = next(f"{name}={getattr(target, name)}" for name in TARGETS if getattr(target, name) is not None)
    detail = f"{named}{' urgent' if target.urgent else ''}{' with note' if target.note else ''} -> {state}"
    await _audit(ctx, staff, "queue.route", conversation_id=conversation_id, detail=detail)
    return JSONResponse({"conversation_id": conversation_id, "state": state}, headers=NO_STORE)


async def diversions(request: Request) -> Response:
    """``GET`` (the active ones) and ``POST /api/v1/diversions``."""
    if request.method == "GET":
        await require(request, "supervisor")
        active = context(request).chat.queue_actions.diversions()
        return JSONResponse({"diversions": [d.body() for d in active]}, headers=NO_STORE)
    staff = await require(request, "supervisor", csrf=True)
    ctx = context(request)
    data = await read_json_object(request)
    fields: dict[str, str] = {}
    region = _code(ctx, data, "region", "regions", fields)
    language = _code(ctx, data, "language", "languages", fields)
    if data.get("region") is None and data.get("language") is None:
        fields["body"] = "name a region, a language or both"
    if data.get("to") != "AT":
        fields["to"] = 'must be "AT"'
    minutes = data.get("minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_MINUTES:
        fields["minutes"] = f"a whole number from 1 to {MAX_MINUTES}"
    if fields:
        raise _invalid(fields)
    assert isinstance(minutes, int)
    diversion = await ctx.chat.queue_actions.divert(region, language, minutes, staff.user.id)
    detail = f"region={region} language={language} to=AT minutes={minutes} id={diversion.id}"
    await _audit(ctx, staff, "queue.divert", detail=detail)
    return JSONResponse(diversion.body(), status_code=201, headers=NO_STORE)


async def end_diversion(request: Request) -> Response:
    """``DELETE /api/v1/diversions/{id}``: end it early."""
    staff = await require(request, "supervisor", csrf=True)
    ctx = context(request)
    diversion_id = request.path_params["diversion_id"]
    ended = await ctx.chat.queue_actions.end_diversion(diversion_id)
    if ended is None:
        raise HTTPError("not_found", "No such active diversion.")
    await _audit(ctx, staff, "queue.divert_end", detail=f"id={ended.id}")
    return Response(status_code=204, headers=NO_STORE)


async def notices(request: Request) -> Response:
    """``POST /api/v1/notices``: a short notice to every signed-in adviser."""
    staff = await require(request, "supervisor", csrf=True)
    ctx = context(request)
    data = await read_json_object(request)
    text = data.get("text")
    text = text.strip() if isinstance(text, str) else None
    if not text or len(text) > NOTICE_MAX:
        raise _invalid({"text": f"1 to {NOTICE_MAX} characters"})
    if CONTROL_CHARS.search(text) is not None:
        raise _invalid({"text": NO_CONTROL_CHARS})
    await ctx.chat.queue_actions.notice(text, staff.user.name)
    await _audit(ctx, staff, "queue.notice", detail=f"{len(text)} characters")
    return JSONResponse({"sent": True}, status_code=202, headers=NO_STORE)
