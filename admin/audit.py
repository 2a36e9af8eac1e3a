"""The audit log (docs/design.md §6.3): staff reads of transcripts, registrations and their amendments,
imports and exports, guideline and reference changes.

An entry says who (``actor_id``), what (``action``), on which conversation or registration, and a short
``detail`` of codes and field names. It never holds message text, the registration's note, a client
address or a token.

Routes:
- ``GET /api/v1/conversations/{id}/transcript`` (adviser or supervisor): the messages of a conversation
  whose transcript has not been purged. An adviser may read the conversation currently assigned to them
  (live, or closed and not yet purged, for its registration); a supervisor may read any. Everyone else,
  and every purged or unknown conversation, gets the same 404 ``not_found``: existence is not revealed.
  Every read except an adviser's read of their own *live* conversation writes a ``transcript_read``
  entry before the transcript is sent.
- ``GET /api/v1/audit`` (admin): newest first; filters ``conversation_id``, ``registration_id``,
  ``actor`` (user id or username), ``action``, ``from``/``to`` (dates, inclusive, UTC), ``limit``
  (1-1000, default 100) and ``before_id`` to page on (the answer's ``next_before_id``).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.auth import require
from admin.context import context
from admin.periods import check_date
from core.clock import iso, to_datetime
from core.db import Database
from core.http import NO_STORE, HTTPError
from core.models import AuditEntry, Conversation, ConversationState, Message, StaffUser

DETAIL_MAX = 400


def entry(
    at: datetime,
    actor_id: str | None,
    action: str,
    *,
    conversation_id: str | None = None,
    registration_id: str | None = None,
    detail: str = "",
) -> AuditEntry:
    """An audit row to add in the same transaction as the change it records."""
    return AuditEntry(
        at=at,
        actor_id=actor_id,
        action=action[:48],
        conversation_id=conversation_id,
        registration_id=registration_id,
        detail=detail[:DETAIL_MAX],
    )


async def record(db: Database, row: AuditEntry) -> None:
    async with db.writing() as session:
        session.add(row)


def entry_body(row: AuditEntry, usernames: dict[str, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.at),
        "actor_id": row.actor_id,
        "actor": usernames.get(row.actor_id or ""),
        "action": row.action,
        "conversation_id": row.conversation_id,
        "registration_id": row.registration_id,
        "detail": row.detail,
    }


def _int(raw: str | None, name: str, lo: int, hi: int, default: int | None, fields: dict[str, str]) -> int | None:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        fields[name] = f"a whole number {lo}-{hi}"
        return default
    return int(raw)


AUDIT_PARAMS = ("conversation_id", "registration_id", "actor", "action", "from", "to", "limit", "before_id")


async def audit_log(request: Request) -> Response:
    ctx = context(request)
    await require(request, "admin")
    params = request.query_params
    fields = {name[:60]: "unknown parameter" for name in params if name not in AUDIT_PARAMS}
    start = check_date(params.get("from"), "from", fields)
    end = check_date(params.get("to"), "to", fields)
    limit = _int(params.get("limit"), "limit", 1, 1000, 100, fields) or 100
    before = _int(params.get("before_id"), "before_id", 1, 2**62, None, fields)
    if start and end and end < start:
        fields["to"] = "must not be before from"
    if fields:
        raise HTTPError("invalid", "Some parameters are not valid.", fields=fields)
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    async with ctx.db.session() as session:
        actor = params.get("actor")
        if actor:
            user = (await session.exec(select(StaffUser).where(col(StaffUser.username) == actor.lower()))).first()
            query = query.where(col(AuditEntry.actor_id) == (user.id if user else actor))
        for name in ("conversation_id", "registration_id", "action"):
            value = params.get(name)
            if value:
                query = query.where(getattr(AuditEntry, name) == value)
        if start:
            query = query.where(col(AuditEntry.at) >= datetime.combine(start, time.min, UTC))
        if end:
            query = query.where(col(AuditEntry.at) < datetime.combine(end + timedelta(days=1), time.min, UTC))
        if before:
            query = query.where(col(AuditEntry.id) < before)
        rows = list((await session.exec(query)).all())
        actor_ids = {r.actor_id for r in rows if r.actor_id}
        users = (
            (await session.exec(select(StaffUser).where(col(StaffUser.id).in_(actor_ids)))).all() if actor_ids else []
        )
    usernames = {u.id: u.username for u in users}
    return JSONResponse(
        {
            "entries": [entry_body(r, usernames) for r in rows],
            "next_before_id": rows[-1].id if len(rows) == limit else None,
        },
        headers=NO_STORE,
    )


async def transcript(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor")
    conversation_id = request.path_params["conversation_id"]
    async with ctx.db.session() as session:
        conv = await session.get(Conversation, conversation_id)
    own = conv is not None and "adviser" in staff.roles and conv.adviser_id == staff.user.id
    if conv is None or conv.purged_at is not None or not (own or "supervisor" in staff.roles):
        raise HTTPError("not_found", "No such conversation.")
    live = conv.state != ConversationState.CLOSED
    if not (own and live):
        await record(
            ctx.db,
            entry(
                to_datetime(ctx.clock()),
                staff.user.id,
                "transcript_read",
                conversation_id=conv.id,
                detail=f"state={conv.state}; as={'assigned adviser' if own else 'supervisor'}",
            ),
        )
    async with ctx.db.session() as session:
        messages = (
            await session.exec(
                select(Message).where(col(Message.conversation_id) == conv.id).order_by(col(Message.seq))
            )
        ).all()
    return JSONResponse(
        {
            "conversation": {
                "id": conv.id,
                "alias": conv.alias,
                "state": conv.state,
                "language": conv.language,
                "region": conv.region,
                "audience": conv.audience,
                "urgent": conv.urgent,
                "service": conv.service,
                "transferred": conv.transferred,
                "started_at": iso(conv.started_at),
                "closed_at": iso(conv.closed_at),
            },
            "messages": [
                {"seq": m.seq, "sender": m.sender, "event": m.event, "text": m.text, "sent_at": iso(m.sent_at)}
                for m in messages
            ],
        },
        headers=NO_STORE,
    )
