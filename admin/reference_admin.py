"""Reference data administration: labels of every editable kind, new codes, retiring codes.

Codes are the wire contract and the keys of every registration, so:
- a code never changes and is never deleted; an entry can only be *retired*: it is no longer offered
  (``GET /api/v1/reference`` leaves it out, new registrations refuse it) but stays valid in the old
  registrations that hold it, in amendments of those, and in the statistics;
- a new code is only ever added, and a code that exists or existed (retired) is never given again, so a
  number in an old report always means what it meant (the ``(kind, code)`` unique key enforces it too).

What may change, by kind:
- ``categories``, ``actions``: ``name`` {nb, en}; new codes; retire/unretire;
- ``help_lines``: ``name``, ``number``, ``hours``; new codes; retire/unretire;
- for those three, a validity period: ``valid_from`` and ``retired_from`` (``YYYY-MM-DD`` or null), so a
  code comes into use or goes out of use on a date and registrations counted before keep theirs
  (``core.reference``);
- a new category may belong to one service (``"service": "MR"``, fixed once made): it is offered to
  that service's registrations beside the common ones, appears in that service's own report
  (``admin.service_report``) and never in the published statistics or the public reference;
- ``regions``: ``name``, ``sami``; ``languages``: ``name``, ``native`` — labels only: region and
  language codes also drive routing and staff profiles, so that set changes with a migration.

HTTP (role admin; changes need CSRF): ``GET /api/v1/reference/{kind}`` (every entry, retired ones with
``"retired": true``), ``POST /api/v1/reference/{kind}`` ``{"code","name":{nb,en},…}`` → 201,
``PUT /api/v1/reference/{kind}/{code}`` ``{"name":{"nb":…},"retired":true,…}`` → 200. The CLI
(``nora-chat reference …``) calls the same functions. Every change writes an audit entry.

The running instance swaps in the new reference at once. Another instance picks it up when it next
validates a registration, an import or a guideline (those read the reference afresh), and for the
visitor widget's lists on its restart.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.audit import entry
from admin.auth import require
from admin.context import AdminContext, context
from core.clock import to_datetime
from core.db import Database
from core.http import NO_STORE, HTTPError, read_json_object
from core.models import ReferenceItem
from core.reference import Reference, load_reference

ADDABLE = frozenset({"categories", "actions", "help_lines"})
VALIDITY = frozenset({"valid_from", "retired_from"})
SERVICES = ("MR", "AT", "IR", "KT")
EDITABLE: dict[str, frozenset[str]] = {
    "categories": frozenset({"name"}) | VALIDITY,
    "actions": frozenset({"name"}) | VALIDITY,
    "help_lines": frozenset({"name", "number", "hours"}) | VALIDITY,
    "regions": frozenset({"name", "sami"}),
    "languages": frozenset({"name", "native"}),
}
CODE = re.compile(r"[a-z][a-z0-9_]{1,47}")
NUMBER = re.compile(r"\+?[0-9][0-9 ]{1,18}[0-9]")
LABEL_MAX = 200


def _label(value: Any, fields: dict[str, str], *, partial: bool) -> dict[str, str]:
    if not isinstance(value, dict) or not value or not set(value) <= {"nb", "en"}:
        fields["name"] = "an object with the labels nb and en"
        return {}
    if not partial and set(value) != {"nb", "en"}:
        fields["name"] = "both labels, nb and en, are required"
    out = {}
    for lang, text in value.items():
        if not isinstance(text, str) or not text.strip() or len(text) > LABEL_MAX:
            fields[f"name.{lang}"] = f"text of 1-{LABEL_MAX} characters"
        else:
            out[lang] = text.strip()
    return out


def _changes(kind: str, data: dict[str, Any], *, partial: bool, fields: dict[str, str]) -> dict[str, Any]:
    """The entry fields of ``data`` that may change for ``kind``, checked."""
    allowed = EDITABLE[kind]
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name in ("code", "retired", "service"):
            continue
        if name in VALIDITY and name in allowed:
            out[name] = _day(value, name, fields)
        elif name not in allowed:
            fields[name[:60]] = "cannot be changed" if name in ("forms", "rtl", "chats") else "unknown field"
        elif name == "name":
            out["name"] = _label(value, fields, partial=partial)
        elif name == "number":
            if not isinstance(value, str) or not NUMBER.fullmatch(value.strip()):
                fields["number"] = "a phone number of digits and spaces"
            else:
                out["number"] = value.strip()
        elif value is None and name == "sami":
            out[name] = None
        elif not isinstance(value, str) or not value.strip() or len(value) > LABEL_MAX:
            fields[name] = f"text of 1-{LABEL_MAX} characters"
        else:
            out[name] = value.strip()
    return out


def _day(value: Any, name: str, fields: dict[str, str]) -> str | None:
    """A validity date as stored (``YYYY-MM-DD``), or ``None`` to have none."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2100:
        fields[name] = "a date YYYY-MM-DD, or null"
        return None
    return day.isoformat()


def _period_problem(entry: dict[str, Any], fields: dict[str, str]) -> None:
    start, end = entry.get("valid_from"), entry.get("retired_from")
    if start is not None and end is not None and end <= start:
        fields["retired_from"] = "after valid_from"


def _check_kind(kind: str) -> None:
    if kind not in EDITABLE:
        raise HTTPError("not_found", f"No editable reference list {kind[:40]!r}.")


def item_body(row: ReferenceItem) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(row.data)
    data["retired"] = row.retired
    return data


async def list_items(db: Database, kind: str) -> list[dict[str, Any]]:
    _check_kind(kind)
    async with db.session() as session:
        rows = (
            await session.exec(
                select(ReferenceItem).where(col(ReferenceItem.kind) == kind).order_by(col(ReferenceItem.position))
            )
        ).all()
    return [item_body(r) for r in rows]


async def add_item(db: Database, kind: str, data: dict[str, Any], actor_id: str | None, now: float) -> dict[str, Any]:
    """Add a new code to ``kind``; 409 ``conflict`` if the code exists or ever existed."""
    _check_kind(kind)
    if kind not in ADDABLE:
        raise HTTPError("forbidden", f"New {kind} codes come with a migration, not through the API.")
    fields: dict[str, str] = {}
    code = data.get("code")
    if not isinstance(code, str) or not CODE.fullmatch(code):
        fields["code"] = "2-48 characters of a-z, 0-9 and _, starting with a letter"
    if data.get("retired") not in (None, False):
        fields["retired"] = "a new code starts active"
    values = _changes(kind, data, partial=False, fields=fields)
    service = data.get("service")
    if service is not None and (kind != "categories" or service not in SERVICES):
        fields["service"] = "a service's own category: MR, AT, IR or KT" if kind == "categories" else "unknown field"
    elif service is not None:
        values["service"] = service
    values = {k: v for k, v in values.items() if v is not None}
    _period_problem(values, fields)
    if "name" not in data:
        fields["name"] = "required: the labels nb and en"
    if kind == "help_lines" and "number" not in data:
        fields["number"] = "required for a help line"
    if fields:
        raise HTTPError("invalid", "The new entry has invalid fields.", fields=fields)
    assert isinstance(code, str)  # noqa: S101 - checked above
    body = {"code": code, **values}
    at = to_datetime(now)
    try:
        async with db.writing() as session:
            taken = (
                await session.exec(
                    select(ReferenceItem).where(col(ReferenceItem.kind) == kind, col(ReferenceItem.code) == code)
                )
            ).first()
            if taken is not None:
                raise HTTPError(
                    "conflict",
                    f"The code {code!r} {'was retired' if taken.retired else 'exists'}; codes are never reused.",
                )
            last = (
                await session.exec(select(func.max(ReferenceItem.position)).where(ReferenceItem.kind == kind))
            ).one()
            row = ReferenceItem(
                kind=kind,
                code=code,
                position=int(last if last is not None else -1) + 1,
                data=json.dumps(body, ensure_ascii=False),
                retired=False,
            )
            session.add(row)
            session.add(entry(at, actor_id, "reference_added", detail=f"{kind}/{code}"))
    except IntegrityError:
        raise HTTPError("conflict", f"The code {code!r} exists; codes are never reused.") from None
    return item_body(row)


async def update_item(
    db: Database, kind: str, code: str, data: dict[str, Any], actor_id: str | None, now: float
) -> dict[str, Any]:
    """Change the labels of an entry, or retire (``"retired": true``) / unretire it."""
    _check_kind(kind)
    fields: dict[str, str] = {}
    if "code" in data and data["code"] != code:
        fields["code"] = "codes never change"
    retired = data.get("retired")
    if retired is not None and not isinstance(retired, bool):
        fields["retired"] = "true or false"
    elif retired is not None and kind not in ADDABLE:
        fields["retired"] = f"{kind} are retired with a migration, not through the API"
    if "service" in data:
        fields["service"] = "cannot be changed: a category stays the service's own, or common"
    values = _changes(kind, data, partial=True, fields=fields)
    if fields:
        raise HTTPError("invalid", "The change has invalid fields.", fields=fields)
    at = to_datetime(now)
    async with db.writing() as session:
        row = (
            await session.exec(
                select(ReferenceItem).where(col(ReferenceItem.kind) == kind, col(ReferenceItem.code) == code)
            )
        ).first()
        if row is None:
            raise HTTPError("not_found", f"No {kind} code {code[:48]!r}.")
        body = json.loads(row.data)
        changed = []
        for name, value in values.items():
            new = {**body.get("name", {}), **value} if name == "name" else value
            if body.get(name) != new:
                changed.append(f"{name}={new}" if name in VALIDITY else name)
                if new is None:
                    body.pop(name, None)
                else:
                    body[name] = new
        _period_problem(body, fields)
        if fields:
            raise HTTPError("invalid", "The change has invalid fields.", fields=fields)
        if isinstance(retired, bool) and retired != row.retired:
            changed.append("retired" if retired else "unretired")
            row.retired = retired
        if changed:
            row.data = json.dumps(body, ensure_ascii=False)
            session.add(row)
            session.add(entry(at, actor_id, "reference_changed", detail=f"{kind}/{code}: {', '.join(changed)}"))
    return item_body(row)


async def fresh_reference(ctx: AdminContext) -> Reference:
    """The reference as stored now, swapped into this instance (admin and chat) on the way."""
    async with ctx.db.session() as session:
        ref = await load_reference(session)
    ctx.reference.replace(ref)  # the same box the chat service reads
    return ref


async def get_kind(request: Request) -> Response:
    ctx = context(request)
    await require(request, "admin")
    return JSONResponse(
        {"kind": request.path_params["kind"], "entries": await list_items(ctx.db, request.path_params["kind"])},
        headers=NO_STORE,
    )


async def post_kind(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "admin", csrf=True)
    kind = request.path_params["kind"]
    _check_kind(kind)
    body = await add_item(ctx.db, kind, await read_json_object(request), staff.user.id, ctx.clock())
    await fresh_reference(ctx)
    return JSONResponse(body, status_code=201, headers=NO_STORE)


async def put_code(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "admin", csrf=True)
    kind, code = request.path_params["kind"], request.path_params["code"]
    _check_kind(kind)
    body = await update_item(ctx.db, kind, code, await read_json_object(request), staff.user.id, ctx.clock())
    await fresh_reference(ctx)
    return JSONResponse(body, headers=NO_STORE)


async def kind(request: Request) -> Response:
    """``GET`` lists, ``POST`` adds to ``/api/v1/reference/{kind}``."""
    return await (post_kind(request) if request.method == "POST" else get_kind(request))
