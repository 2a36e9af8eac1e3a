"""The after-chat question "did you get help?": ``POST /api/v1/feedback``, counted in aggregate only.

The answer adds one to a count per Europe/Oslo day and answer (``visitor_feedback``). Nothing else is
taken: no conversation id, no time of day, no address, so an answer can never be traced to a chat.
Requests from other origins are refused by the security middleware, as for every unsafe method.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from starlette.requests import Request
from starlette.responses import Response

from chat.hours import OSLO
from chat.service import ChatService
from core.db import Database
from core.http import HTTPError
from core.models import VisitorFeedback

ANSWERS = ("yes", "no")


async def count_answer(db: Database, day: date, answer: str) -> None:
    """One more ``answer`` on ``day``, atomically on SQLite and PostgreSQL."""
    dialect = postgresql if not db.is_sqlite else sqlite
    table = VisitorFeedback.__table__  # type: ignore[attr-defined]
    statement = dialect.insert(table).values(day=day, answer=answer, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.day, table.c.answer], set_={"count": table.c.count + 1}
    )
    async with db.writing() as session:
        await session.execute(statement)


async def feedback(request: Request) -> Response:
    service: ChatService = request.app.state.chat
    try:
        body: Any = await request.json()
    except ValueError:
        body = None
    answer = body.get("answer") if isinstance(body, dict) else None
    if answer not in ANSWERS:
        raise HTTPError("invalid", "The answer must be yes or no.", fields={"answer": "yes or no"})
    day = datetime.fromtimestamp(service.now(), OSLO).date()
    await count_answer(request.app.state.db, day, answer)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})
