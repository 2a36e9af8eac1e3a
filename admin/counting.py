"""Which registrations a statistic counts, and on which day (docs/register.md "Statistics").

Every registration is an inquiry. A chat is counted on its close date (UTC, as the statistics always
have), any other inquiry on its ``contact_date`` (Europe/Oslo). ``count=cases`` counts each case once:
as its first inquiry, in the period of that inquiry, beside the inquiries that are not cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, or_
from sqlmodel import col, func, select

from core.clock import as_utc
from core.db import Database
from core.models import Registration


def counted_on(row: Registration) -> date:
    """The day an inquiry is counted on: a chat's close date (UTC, as ever), any other's ``contact_date``."""
    if row.channel == "chat" or row.contact_date is None:
        return as_utc(row.closed_at).date()
    return row.contact_date


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, time.min, UTC), datetime.combine(end + timedelta(days=1), time.min, UTC)


async def registrations_between(db: Database, start: date, end: date) -> list[Registration]:
    """The inquiries counted from ``start`` to ``end``: chats by close date (UTC), others by contact date."""
    lo, hi = _bounds(start, end)
    chat = col(Registration.channel) == "chat"
    by_close = and_(chat, col(Registration.closed_at) >= lo, col(Registration.closed_at) < hi)
    by_contact = and_(~chat, col(Registration.contact_date) >= start, col(Registration.contact_date) <= end)
    async with db.session() as session:
        return list((await session.exec(select(Registration).where(or_(by_close, by_contact)))).all())


def _first_order(row: Registration) -> tuple[date, datetime, datetime, str]:
    return (counted_on(row), as_utc(row.closed_at), as_utc(row.created_at), row.id)


async def counted_cases(db: Database, rows: Sequence[Registration]) -> list[Registration]:
    """What ``count=cases`` counts among one year's inquiries ``rows``: every inquiry that is not a case,
    and every case once, as its first inquiry (by the day it is counted on), in the year of that inquiry:
    a case whose first inquiry lies in an earlier year is not counted again. A case registration without a
    case (none is made so; a safeguard) is a case of its own."""
    ids = sorted({r.case_id for r in rows if r.is_case and r.case_id})
    first: dict[str, Registration] = {}
    async with db.session() as session:
        for start in range(0, len(ids), 500):
            members = (
                await session.exec(
                    select(Registration).where(
                        col(Registration.case_id).in_(ids[start : start + 500]), col(Registration.is_case)
                    )
                )
            ).all()
            for member in sorted(members, key=_first_order):
                first.setdefault(member.case_id or "", member)
    return [r for r in rows if not r.is_case or r.case_id is None or first[r.case_id].id == r.id]


def first_inquiries_within(rows: Sequence[Registration]) -> list[Registration]:
    """``counted_cases`` without the database: each case as its first inquiry among ``rows`` alone."""
    first: dict[str, Registration] = {}
    for r in sorted((r for r in rows if r.is_case and r.case_id), key=_first_order):
        first.setdefault(r.case_id or "", r)
    return [r for r in rows if not r.is_case or r.case_id is None or first[r.case_id] is r]


async def several_conversations(db: Database, rows: Sequence[Registration]) -> set[str]:
    """The cases among ``rows`` that took more than one conversation (registered chats, messages left and
    answered included), counted over all their inquiries, whatever year they are in: ``by=several_conversations``."""
    ids = sorted({r.case_id for r in rows if r.case_id})
    found: set[str] = set()
    async with db.session() as session:
        for start in range(0, len(ids), 500):
            query = (
                select(Registration.case_id)
                .where(
                    col(Registration.case_id).in_(ids[start : start + 500]),
                    col(Registration.conversation_id).is_not(None),
                )
                .group_by(col(Registration.case_id))
                .having(func.count() > 1)
            )
            found.update(c for c in (await session.exec(query)).all() if c)
    return found
