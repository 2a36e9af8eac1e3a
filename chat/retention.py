"""Retention (GDPR Art. 5(1)(e)): what is erased when, by the periodic task and ``nora-chat purge``.

- **Transcripts and every other free text of a conversation** (today the transfer note, which a
  supervisor's route note also writes) are erased ``NORA_TRANSCRIPT_RETENTION_HOURS`` after the close.
  The conversation row stays (without its token and its texts) while its registration is kept.
- **Registrations** are kept ``NORA_REGISTRATION_RETENTION_YEARS`` whole calendar years: a registration
  is erased from 1 January of the year that many years after the year it is counted in (a chat by its
  close date in UTC, any other inquiry by its contact date, exactly as the statistics count them). So a
  year's statistics are either all there or all gone, and the statistics of the years kept never change.
  A case is erased as a whole, when its last inquiry is due: the first inquiry of a case that goes on
  stays, so the case is still counted once, in its first year, and never again in a later one. A
  conversation row goes with its registration (or, never registered, once it would have been due).
- **The audit log** is kept ``NORA_AUDIT_RETENTION_YEARS`` years from each entry's time.
- **Return-code threads** (chat/threads.py) go when their code expires, ``NORA_RETURN_CODE_DAYS`` after it
  was taken: the code's hash, the links between the thread's conversations and any message left that
  nobody answered. Their conversations are ordinary conversations, erased as above.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, delete, or_, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from chat.notes import erase_notes
from chat.threads import erase_expired
from core.db import Database
from core.models import (
    OSLO,
    AuditEntry,
    Case,
    Conversation,
    ConversationState,
    Message,
    Registration,
    ThreadConversation,
)


@dataclass(frozen=True)
class Purged:
    """How many of each were erased by one purge."""

    transcripts: int = 0
    registrations: int = 0
    cases: int = 0
    conversations: int = 0
    audit_entries: int = 0
    threads: int = 0


def registrations_kept_from(now: datetime, years: int) -> date:
    """The first day whose registrations are kept: 1 January, ``years`` years before this one (Oslo)."""
    return date(now.astimezone(OSLO).year - years, 1, 1)


def audit_kept_from(now: datetime, years: int) -> datetime:
    """The oldest audit time kept: the same moment ``years`` years ago (29 February: the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


async def purge_transcripts(db: Database, cutoff: datetime, now: datetime) -> int:
    """Erase the messages and free texts of conversations closed before ``cutoff``; returns how many.

    Also takes the transfer note off conversations purged before notes were erased with them (and a warm
    transfer's note, which the close has normally cleared already)."""
    async with db.writing() as session:
        query = select(Conversation.id).where(
            col(Conversation.state) == ConversationState.CLOSED,
            col(Conversation.closed_at) < cutoff,
            or_(col(Conversation.purged_at).is_(None), col(Conversation.transfer_note).is_not(None)),
        )
        ids = list((await session.exec(query)).all())
        if not ids:
            return 0
        await session.exec(delete(Message).where(col(Message.conversation_id).in_(ids)))
        await erase_notes(session, ids)  # internal notes go with the transcript (chat/notes.py)
        await session.exec(
            update(Conversation)
            .where(col(Conversation.id).in_(ids), col(Conversation.purged_at).is_(None))
            # The token hash must stay unique and must stop matching any token: use the id.
            .values(purged_at=now, token_hash=Conversation.id)
        )
        await session.exec(
            update(Conversation)
            .where(col(Conversation.id).in_(ids))
            .values(transfer_note=None, offer_note=None, offered_to=None)
        )
    return len(ids)


def _counted_before(day: date) -> ColumnElement[bool]:
    """Registrations counted before ``day``: chats by their close date in UTC, others by contact date."""
    chat = col(Registration.channel) == "chat"
    start = datetime.combine(day, time.min, UTC)
    return or_(and_(chat, col(Registration.closed_at) < start), and_(~chat, col(Registration.contact_date) < day))


async def purge_register(db: Database, kept_from: date, audit_from: datetime) -> Purged:
    """Erase registrations counted before ``kept_from`` (whole cases only), the cases and conversation
    rows left without registrations, and audit entries older than ``audit_from``."""
    start = datetime.combine(kept_from, time.min, UTC)
    async with db.writing() as session:
        going_on = select(Registration.case_id).where(
            col(Registration.case_id).is_not(None), ~_counted_before(kept_from)
        )
        due = select(Registration.id).where(
            _counted_before(kept_from),
            or_(col(Registration.case_id).is_(None), col(Registration.case_id).not_in(going_on)),
        )
        ids = list((await session.exec(due)).all())
        for chunk in range(0, len(ids), 500):
            await session.exec(delete(Registration).where(col(Registration.id).in_(ids[chunk : chunk + 500])))
        members = select(Registration.case_id).where(col(Registration.case_id).is_not(None))
        # A case without inquiries (its last one erased, or amended to no case) is gone too. A new case is
        # added in the same transaction as its first inquiry, so none is caught half made.
        cases = await session.exec(delete(Case).where(col(Case.id).not_in(members)))
        registered = select(Registration.conversation_id).where(col(Registration.conversation_id).is_not(None))
        # A conversation still tied into a visitor's return-code thread stays until the thread goes (it
        # holds no text by now); the next purge takes it.
        threaded = select(ThreadConversation.conversation_id)
        old = select(Conversation.id).where(
            col(Conversation.state) == ConversationState.CLOSED,
            col(Conversation.closed_at) < start,
            col(Conversation.purged_at).is_not(None),
            col(Conversation.id).not_in(registered),
            col(Conversation.id).not_in(threaded),
        )
        conversation_ids = list((await session.exec(old)).all())
        for chunk in range(0, len(conversation_ids), 500):
            part = conversation_ids[chunk : chunk + 500]
            await session.exec(delete(Message).where(col(Message.conversation_id).in_(part)))
            await session.exec(delete(Conversation).where(col(Conversation.id).in_(part)))
        audit = await session.exec(delete(AuditEntry).where(col(AuditEntry.at) < audit_from))
    return Purged(
        registrations=len(ids),
        cases=cases.rowcount or 0,
        conversations=len(conversation_ids),
        audit_entries=audit.rowcount or 0,
    )


async def purge(
    db: Database,
    now: datetime,
    *,
    transcript_hours: int,
    registration_years: int,
    audit_years: int,
    return_code_days: int | None = None,
) -> Purged:
    """Everything past its retention period, as of ``now`` (threads first: they refer to conversations)."""
    threads = 0 if return_code_days is None else await erase_expired(db, now - timedelta(days=return_code_days))
    transcripts = await purge_transcripts(db, now - timedelta(hours=transcript_hours), now)
    register = await purge_register(
        db, registrations_kept_from(now, registration_years), audit_kept_from(now, audit_years)
    )
    return Purged(
        transcripts=transcripts,
        registrations=register.registrations,
        cases=register.cases,
        conversations=register.conversations,
        audit_entries=register.audit_entries,
        threads=threads,
    )
