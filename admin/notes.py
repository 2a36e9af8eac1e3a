"""Internal notes on a conversation (docs/design.md §4, issue 17): what an adviser writes down for
themselves, the next adviser or the registration. A note is never sent to the visitor: it lives in its own
table, is read and written over these staff routes only, and is erased with the transcript
(``chat/retention.py``).

- ``GET /api/v1/conversations/{id}/notes``: the adviser the conversation is (or, closed, was last)
  assigned to, or a supervisor; anyone else, and a purged conversation, gets 404 as for a transcript.
  A read other than that adviser's of their own open conversation is written to the audit log
  (``notes_read``), as transcript reads are.
- ``POST /api/v1/conversations/{id}/notes`` (CSRF): ``{"text": "…"}`` (1–2,000 characters, no control
  characters but tab, LF and CR) by the same people; audited (``note_added``, its length only).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.audit import entry, record
from admin.auth import Staff, require
from admin.context import context
from chat.frames import CONTROL_CHARS, NO_CONTROL_CHARS
from core.clock import iso, to_datetime
from core.http import NO_STORE, HTTPError, read_json_object
from core.models import Conversation, ConversationNote, ConversationState, StaffUser

NOTE_MAX = 2000


async def _conversation(request: Request, staff: Staff) -> tuple[Conversation, bool]:
    """The conversation and whether it is the caller's own; 404 for anyone else and once purged."""
    ctx = context(request)
    async with ctx.db.session() as session:
        conv = await session.get(Conversation, request.path_params["conversation_id"])
    own = conv is not None and "adviser" in staff.roles and conv.adviser_id == staff.user.id
    if conv is None or conv.purged_at is not None or not (own or "supervisor" in staff.roles):
        raise HTTPError("not_found", "No such conversation.")
    return conv, own


def note_body(note: ConversationNote, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": note.id,
        "author_id": note.author_id,
        "author": names.get(note.author_id or ""),
        "text": note.text,
        "created_at": iso(note.created_at),
    }


async def notes(request: Request) -> Response:
    """``GET`` lists, ``POST`` adds."""
    if request.method == "POST":
        return await add(request)
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor")
    conv, own = await _conversation(request, staff)
    if not (own and conv.state != ConversationState.CLOSED):
        detail = f"state={conv.state}; as={'assigned adviser' if own else 'supervisor'}"
        read = entry(to_datetime(ctx.clock()), staff.user.id, "notes_read", conversation_id=conv.id, detail=detail)
        await record(ctx.db, read)
    async with ctx.db.session() as session:
        rows = (
            await session.exec(
                select(ConversationNote)
                .where(col(ConversationNote.conversation_id) == conv.id)
                .order_by(col(ConversationNote.id))
            )
        ).all()
        authors = {r.author_id for r in rows if r.author_id}
        names = dict(
            (await session.exec(select(StaffUser.id, StaffUser.name).where(col(StaffUser.id).in_(authors)))).all()
            if authors
            else []
        )
    return JSONResponse({"notes": [note_body(r, names) for r in rows]}, headers=NO_STORE)


async def add(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "adviser", "supervisor", csrf=True)
    conv, _ = await _conversation(request, staff)
    data = await read_json_object(request)
    fields: dict[str, str] = {}
    for name in sorted(set(data) - {"text"}):
        fields[name[:60]] = "unknown field"
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        fields["text"] = "required, text"
    elif CONTROL_CHARS.search(text) is not None:
        fields["text"] = NO_CONTROL_CHARS
    elif len(text.strip()) > NOTE_MAX:
        fields["text"] = f"at most {NOTE_MAX} characters"
    if fields:
        raise HTTPError("invalid", "The note has invalid fields.", fields=fields)
    assert isinstance(text, str)  # noqa: S101 - checked above
    now = to_datetime(ctx.clock())
    note = ConversationNote(conversation_id=conv.id, author_id=staff.user.id, text=text.strip(), created_at=now)
    async with ctx.db.writing() as session:
        session.add(note)
        await session.flush()
        detail = f"note {note.id}; {len(note.text)} chars"
        session.add(entry(now, staff.user.id, "note_added", conversation_id=conv.id, detail=detail))
    return JSONResponse(note_body(note, {staff.user.id: staff.user.name}), status_code=201, headers=NO_STORE)
