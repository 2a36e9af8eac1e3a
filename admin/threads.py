"""Staff side of return codes and messages left while closed (docs/protocol.md §6, "Threads").

- ``GET /api/v1/conversations/{id}/thread`` (the conversation's adviser, or a supervisor): the thread's
  other conversations, each with its transcript while it is kept and its registration's codes after
  that (categories, whether it is a case, the case), and the messages waiting for an answer. Every
  transcript shown is an audited read (``thread_read``), as any read outside one's own live chat is.
- ``GET /api/v1/left-messages``: an adviser gets the messages waiting that they may answer (their
  language; the thread's last service, or MR covering the visitor's region and AT; and always the
  thread's last adviser); a supervisor every waiting message with its age, without its text.
- ``POST /api/v1/left-messages/{id}/answer`` ``{"text"}`` (an adviser who may answer; CSRF; audited):
  the thread's waiting messages and the answer become one closed conversation of the thread
  (``close_reason`` ``answered``), held by the adviser: it waits for the visitor, who reads it with the
  code, and for its registration like any closed chat. Someone else answered first: 404.

A conversation of a thread registered as a case joins the open case of the same service that another
conversation of the thread is in, unless the form names a case itself (``thread_case``).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.audit import entry
from admin.auth import require
from admin.context import AdminContext, context
from chat import wire
from chat.frames import CONTROL_CHARS, NO_CONTROL_CHARS
from chat.posting import VISITOR
from chat.visitors import alias
from core.clock import as_utc, iso, to_datetime
from core.http import NO_STORE, HTTPError, read_json_object
from core.models import (
    Case,
    Conversation,
    ConversationState,
    LeftMessage,
    Registration,
    ReturnThread,
    StaffUser,
    ThreadConversation,
)


def _split(value: str) -> frozenset[str]:
    return frozenset(v for v in value.split(",") if v)


def may_answer(user: StaffUser, thread: ReturnThread, last_adviser: str | None, last_service: str | None) -> bool:
    """Whether ``user`` is one of the advisers a waiting message of ``thread`` is for."""
    if user.id == last_adviser:
        return True
    if user.service not in ("MR", "AT") or thread.language not in _split(user.languages):
        return False
    if last_service is not None and user.service != last_service:
        return False
    return user.service == "AT" or thread.region is None or thread.region in _split(user.regions)


async def _registrations(ctx: AdminContext, ids: list[str]) -> dict[str, Registration]:
    if not ids:
        return {}
    async with ctx.db.session() as session:
        rows = (await session.exec(select(Registration).where(col(Registration.conversation_id).in_(ids)))).all()
    return {r.conversation_id or "": r for r in rows}


def registration_codes(row: Registration | None) -> dict[str, Any] | None:
    """What the register says of an earlier conversation, once its transcript is gone: codes only."""
    if row is None:
        return None
    return {
        "is_case": row.is_case,
        "main_category": row.main_category,
        "other_categories": sorted(_split(row.other_categories)),
        "violence_forms": sorted(_split(row.violence_forms)),
        "case_id": row.case_id,
        "channel": row.channel,
    }


async def thread(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor")
    conversation_id = request.path_params["conversation_id"]
    async with ctx.db.session() as session:
        conv = await session.get(Conversation, conversation_id)
    if conv is None or ("supervisor" not in staff.roles and conv.adviser_id != staff.user.id):
        raise HTTPError("not_found", "No such conversation.")
    now = to_datetime(ctx.clock())
    found = await ctx.chat.threads.thread_of(conv.id, now)
    if found is None:
        return JSONResponse({"conversation_id": conv.id, "in_thread": False, "conversations": [], "waiting": []})
    others = [c for c in await ctx.chat.threads.conversations(found.id) if c.id != conv.id]
    registrations = await _registrations(ctx, [c.id for c in others])
    ref = ctx.reference()
    body, reads = [], []
    for other in others:
        messages = None if other.purged_at is not None else await ctx.chat.store.messages_after(other.id, 0)
        adviser = await ctx.directory.profile(other.adviser_id) if other.adviser_id else None
        item = wire.conversation(other, messages or [], owner=None, rtl=ref.is_rtl(other.language), now=now)
        item["messages"] = None if messages is None else item["messages"]
        item["adviser"] = adviser.name if adviser else None
        item["registration"] = registration_codes(registrations.get(other.id))
        body.append(item)
        if messages is not None:
            reads.append(entry(now, staff.user.id, "thread_read", conversation_id=other.id, detail=f"from={conv.id}"))
    waiting = [
        {"id": m.id, "text": m.text, "left_at": iso(m.left_at)} for m in await ctx.chat.threads.waiting(found.id)
    ]
    if reads:
        async with ctx.db.writing() as session:
            session.add_all(reads)
    return JSONResponse(
        {
            "conversation_id": conv.id,
            "in_thread": True,
            "valid_until": iso(ctx.chat.threads.valid_until(found)),
            "conversations": body,
            "waiting": waiting,
        },
        headers=NO_STORE,
    )


# ------------------------------------------------------------------------------ waiting messages


async def waiting_threads(ctx: AdminContext) -> list[tuple[ReturnThread, list[LeftMessage]]]:
    """Every thread with messages waiting, oldest waiting first."""
    async with ctx.db.session() as session:
        rows = list((await session.exec(select(LeftMessage).order_by(col(LeftMessage.left_at)))).all())
        ids = sorted({m.thread_id for m in rows})
        threads = {
            t.id: t for t in (await session.exec(select(ReturnThread).where(col(ReturnThread.id).in_(ids)))).all()
        }
    grouped: dict[str, list[LeftMessage]] = {}
    for m in rows:
        grouped.setdefault(m.thread_id, []).append(m)
    return [(threads[tid], msgs) for tid, msgs in grouped.items() if tid in threads]


def _item(thread_row: ReturnThread, msgs: list[LeftMessage], now: datetime, *, with_text: bool) -> dict[str, Any]:
    first = as_utc(msgs[0].left_at)
    out: dict[str, Any] = {
        "id": msgs[0].id,
        "language": thread_row.language,
        "region": thread_row.region,
        "audience": thread_row.audience,
        "left_at": iso(first),
        "waited_s": max(0, int((now - first).total_seconds())),
        "count": len(msgs),
    }
    if with_text:
        out["messages"] = [{"text": m.text, "left_at": iso(m.left_at)} for m in msgs]
    return out


async def waiting_summary(ctx: AdminContext) -> list[dict[str, Any]]:
    """The waiting messages for the supervisor's queue view: where from, and how long they have waited."""
    now = to_datetime(ctx.clock())
    return [_item(t, msgs, now, with_text=False) for t, msgs in await waiting_threads(ctx)]


async def left_messages(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor")
    now = to_datetime(ctx.clock())
    items = []
    for thread_row, msgs in await waiting_threads(ctx):
        if "adviser" in staff.roles:
            adviser_id, service = await ctx.chat.threads.last_adviser(thread_row.id)
            if may_answer(staff.user, thread_row, adviser_id, service):
                item = _item(thread_row, msgs, now, with_text=True)
                item["earlier_conversations"] = len(await ctx.chat.threads.conversations(thread_row.id))
                item["yours"] = adviser_id == staff.user.id
                items.append(item)
                continue
        if "supervisor" in staff.roles:
            items.append(_item(thread_row, msgs, now, with_text=False))
    return JSONResponse({"left_messages": items}, headers=NO_STORE)


def _answer_text(data: dict[str, Any], limit: int) -> str:
    text = data.get("text")
    problem = None
    if not isinstance(text, str):
        problem = "required, the answer"
    elif CONTROL_CHARS.search(text) is not None:
        problem = NO_CONTROL_CHARS
    elif not text.strip() or len(text.strip()) > limit:
        problem = f"1-{limit} characters"
    if problem is not None or not isinstance(text, str):
        raise HTTPError("invalid", "The answer is not valid.", fields={"text": problem or "required"})
    return text.strip()


async def answer(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", csrf=True)
    async with ctx.db.session() as session:
        left = await session.get(LeftMessage, request.path_params["message_id"])
    now = to_datetime(ctx.clock())
    thread_row = await ctx.chat.threads.get(left.thread_id, now) if left is not None else None
    if thread_row is None:
        raise HTTPError("not_found", "No such message waiting.")
    adviser_id, service = await ctx.chat.threads.last_adviser(thread_row.id)
    if not may_answer(staff.user, thread_row, adviser_id, service):
        raise HTTPError("not_found", "No such message waiting.")
    text = _answer_text(await read_json_object(request), ctx.settings.max_text_chars)
    taken = await ctx.chat.threads.take_waiting(thread_row.id)
    if not taken:
        raise HTTPError("not_found", "No such message waiting.")  # answered by someone else meanwhile
    conv = await ctx.chat.store.create(
        Conversation(
            token_hash=secrets.token_hex(32),  # no visitor token: the visitor reads it with the code
            alias=alias(),
            language=thread_row.language,
            ui_language=thread_row.ui_language,
            region=thread_row.region,
            audience=thread_row.audience,
            state=ConversationState.CLOSED,
            adviser_id=staff.user.id,
            service=staff.user.service,
            started_at=taken[0].left_at,
            enqueued_at=taken[0].left_at,
            assigned_at=now,
            closed_at=now,
            close_reason="answered",
            visitor_away_since=None,
        )
    )
    for m in taken:
        await ctx.chat.store.append(conv.id, sender="visitor", text=m.text, at=m.left_at, sender_id=VISITOR)
    await ctx.chat.store.append(conv.id, sender="adviser", text=text, at=now, sender_id=staff.user.id)
    await ctx.chat.threads.link(thread_row.id, conv)
    async with ctx.db.writing() as session:
        session.add(
            entry(now, staff.user.id, "left_message_answered", conversation_id=conv.id, detail=f"messages={len(taken)}")
        )
    return JSONResponse({"conversation_id": conv.id}, status_code=201, headers=NO_STORE)


# ------------------------------------------------------------------------------ the register


async def thread_case(ctx: AdminContext, conversation_id: str, service: str) -> str | None:
    """The open case of ``service`` that another conversation of this conversation's thread is in."""
    async with ctx.db.session() as session:
        link = await session.get(ThreadConversation, conversation_id)
        if link is None:
            return None
        members = select(ThreadConversation.conversation_id).where(col(ThreadConversation.thread_id) == link.thread_id)
        query = (
            select(Case.id)
            .join(Registration, col(Registration.case_id) == col(Case.id))
            .where(
                col(Registration.conversation_id).in_(members),
                col(Case.service) == service,
                col(Case.closed_at).is_(None),
            )
            .order_by(col(Registration.created_at).desc())
            .limit(1)
        )
        return (await session.exec(query)).first()
