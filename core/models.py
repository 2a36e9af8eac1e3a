"""Persistent tables. The Alembic migrations (``core/migrations``) create exactly these.

Design notes that matter for privacy and correctness:
- no column holds a client address, user agent or visitor name; a visitor is a random alias;
- the resume token and staff session token are stored only as SHA-256 hashes;
- ``message`` is unique on (conversation, seq) and on (conversation, sender_id, client_id), so a
  resend can never create a second row and seq stays gapless;
- message text is nulled by the retention purge; registrations keep no text but the short note;
- ``0003`` adds the register's import columns, the audit log's registration link and the guideline;
- ``0006`` adds cases and the inquiry's channel and contact date (older rows: chats, imported ones "other");
- ``0008`` adds the opening hours an administrator edits (``service_hours``).
- ``0009`` adds return-code threads, their conversations and the messages left while closed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class ConversationState(StrEnum):
    """A conversation's lifecycle: ``queued → assigned → closed``, and back to ``queued`` from
    ``assigned`` when it is transferred or its adviser's grace period ends (docs/design.md)."""

    QUEUED = "queued"
    ASSIGNED = "assigned"
    CLOSED = "closed"


OSLO = ZoneInfo("Europe/Oslo")


def new_id() -> str:
    return uuid.uuid4().hex


def _ts(nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    username: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    name: str = Field(max_length=100)
    password_hash: str = Field(max_length=255)
    roles: str = Field(max_length=100, description="comma-separated: adviser, supervisor, admin")
    service: str | None = Field(default=None, max_length=4)
    regions: str = Field(default="", max_length=200)
    languages: str = Field(default="", max_length=300)
    capacity: int = Field(default=3)
    max_capacity: int = Field(default=6)
    disabled: bool = Field(default=False)
    failed_logins: int = Field(default=0)
    failed_since: datetime | None = Field(default=None, sa_column=_ts(True))
    created_at: datetime = Field(sa_column=_ts())
    last_login_at: datetime | None = Field(default=None, sa_column=_ts(True))


class StaffSession(SQLModel, table=True):
    __tablename__ = "staff_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="staff_user.id", index=True, max_length=32)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_ts())
    last_seen_at: datetime = Field(sa_column=_ts())
    revoked: bool = Field(default=False)


class Conversation(SQLModel, table=True):
    __tablename__ = "conversation"
    # ``0014``: by state, and within a state by when the visitor went away: the scheduler's search for
    # visitors gone past their grace period (every tick) reads only those, however many
    # conversations are open; a lookup by state alone uses the same index.
    __table_args__ = (sa.Index("ix_conversation_state_away", "state", "visitor_away_since"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    start_key: str | None = Field(
        default=None, max_length=64, sa_column_kwargs={"unique": True}, description="hash of the start's client_id"
    )
    alias: str = Field(max_length=40)
    language: str = Field(max_length=8)
    also_languages: str = Field(default="", max_length=100)
    ui_language: str | None = Field(
        default=None, max_length=8, description="the language of the visitor's page; system notices are written in it"
    )
    region: str | None = Field(default=None, max_length=4)
    audience: str = Field(max_length=32)
    urgent: bool = Field(default=False)
    state: str = Field(max_length=16)
    adviser_id: str | None = Field(default=None, foreign_key="staff_user.id", index=True, max_length=32)
    service: str | None = Field(default=None, max_length=4)
    transferred: bool = Field(default=False)
    next_seq: int = Field(default=0)
    started_at: datetime = Field(sa_column=_ts())
    enqueued_at: datetime = Field(sa_column=_ts())
    assigned_at: datetime | None = Field(default=None, sa_column=_ts(True))
    closed_at: datetime | None = Field(default=None, sa_column=_ts(True))
    close_reason: str | None = Field(default=None, max_length=32)
    transfer_note: str | None = Field(default=None, max_length=500)
    target_adviser_id: str | None = Field(default=None, max_length=32)
    target_service: str | None = Field(default=None, max_length=4)
    target_region: str | None = Field(default=None, max_length=4)
    target_language: str | None = Field(default=None, max_length=8)
    visitor_away_since: datetime | None = Field(default=None, sa_column=_ts(True))
    purged_at: datetime | None = Field(default=None, sa_column=_ts(True))
    # ``0010``: when an adviser first took it (``assigned_at`` is the latest assignment, after transfers),
    # and, set at the close, whether the visitor wrote anything (a silent chat is abandoned, not pending).
    answered_at: datetime | None = Field(default=None, sa_column=_ts(True))
    visitor_wrote: bool | None = Field(default=None)
    # ``0012``: the instance holding the visitor's socket, so that another can mark the visitor away
    # when that instance dies without closing it (``ChatInstance``).
    visitor_instance: str | None = Field(default=None, max_length=16, index=True)
    # ``0013``: a warm transfer on offer to a named colleague (``chat.warm_transfer``), kept here rather
    # than in an instance's memory so that any instance, started before or after, knows it. Every
    # transition that takes the conversation from its holder clears both.
    offered_to: str | None = Field(default=None, max_length=32, index=True)
    offer_note: str | None = Field(default=None, max_length=500)


class Message(SQLModel, table=True):
    __tablename__ = "message"
    __table_args__ = (
        sa.UniqueConstraint("conversation_id", "seq", name="uq_message_seq"),
        sa.UniqueConstraint("conversation_id", "sender_id", "client_id", name="uq_message_client_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", max_length=32)
    seq: int
    sender: str = Field(max_length=8, description="visitor, adviser or system")
    sender_id: str | None = Field(
        default=None,
        max_length=32,
        description="'visitor', or the staff user id for advisers; client ids are unique per sender",
    )
    client_id: str | None = Field(default=None, max_length=64)
    event: str | None = Field(default=None, max_length=32)
    text: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    sent_at: datetime = Field(sa_column=_ts())


def _oslo_close_date(context: Any) -> date:
    """``contact_date`` when none is given: the Europe/Oslo date of ``closed_at`` (a chat's close date)."""
    closed = context.get_current_parameters()["closed_at"]
    closed = closed if closed.tzinfo is not None else closed.replace(tzinfo=UTC)
    return closed.astimezone(OSLO).date()  # type: ignore[no-any-return]


class Case(SQLModel, table=True):
    """A case: the inquiries (registrations) about one situation, counted once in the statistics.

    Opened by a registration that is a case (``is_case``) and not attached to an existing case; later
    inquiries of the same service may join it while it is open. ``ref`` is the adviser's own short
    reference for finding it again (never a name); imported rows keep their file's ``ref`` here.
    """

    __tablename__ = "case"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    service: str = Field(max_length=4, index=True)
    ref: str | None = Field(default=None, max_length=64)
    opened_at: datetime = Field(sa_column=_ts())
    closed_at: datetime | None = Field(default=None, sa_column=_ts(True))
    created_by: str | None = Field(default=None, foreign_key="staff_user.id", max_length=32)
    closed_by: str | None = Field(default=None, foreign_key="staff_user.id", max_length=32)


class Registration(SQLModel, table=True):
    """One inquiry (henvendelse): a registered conversation (``source`` "chat", ``channel`` "chat"), an
    inquiry received another way (``channel`` phone, meeting, email, sms, video or other), a row
    imported from a service's own system (``source`` "import", no conversation) or generated demo data
    (``source`` "demo"). Those with ``is_case`` are cases and belong to one ``Case`` (``case_id``).

    ``contact_date`` is the Europe/Oslo date of the inquiry (for a chat, of its close); inquiries that
    did not come through the chat are counted by it, and store ``closed_at`` as 12:00 UTC of that date.
    ``external_ref`` is the importing service's own reference, unique per service, so that importing the
    same file twice is refused instead of counting its rows twice.
    """

    __tablename__ = "registration"
    __table_args__ = (sa.UniqueConstraint("service", "external_ref", name="uq_registration_external_ref"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    conversation_id: str | None = Field(
        default=None, foreign_key="conversation.id", max_length=32, sa_column_kwargs={"unique": True}
    )
    author_id: str | None = Field(default=None, foreign_key="staff_user.id", max_length=32)
    is_case: bool
    main_category: str | None = Field(default=None, max_length=48)
    other_categories: str = Field(default="", max_length=400)
    violence_forms: str = Field(default="", max_length=200)
    contact: str = Field(default="unknown", max_length=32)
    age_group: str = Field(default="unknown", max_length=32)
    gender: str = Field(default="unknown", max_length=32)
    actions: str = Field(default="", max_length=600)
    note: str = Field(default="", max_length=500)
    service: str = Field(max_length=4)
    region: str | None = Field(default=None, max_length=4)
    language: str | None = Field(default=None, max_length=8)
    audience: str | None = Field(default=None, max_length=32)
    urgent: bool = Field(default=False)
    transferred: bool = Field(default=False)
    opened_at: datetime | None = Field(default=None, sa_column=_ts(True))
    closed_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())
    source: str = Field(default="chat", max_length=16, description="chat, import or demo")
    external_ref: str | None = Field(default=None, max_length=64)
    import_batch: str | None = Field(default=None, max_length=32, index=True)
    channel: str = Field(default="chat", max_length=16, description="chat, phone, meeting, email, sms, video, other")
    # Given for every inquiry that is not a chat; otherwise filled in on insert from ``closed_at``.
    contact_date: date = Field(default=None, sa_column=sa.Column(sa.Date, nullable=False, default=_oslo_close_date))
    case_id: str | None = Field(default=None, foreign_key="case.id", max_length=32, index=True)


class ReferenceItem(SQLModel, table=True):
    """Codes and labels, seeded from ``core/reference.json``; codes are stable, labels editable."""

    __tablename__ = "reference_item"
    __table_args__ = (sa.UniqueConstraint("kind", "code", name="uq_reference_kind_code"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    code: str = Field(max_length=48)
    position: int = Field(default=0)
    data: str = Field(sa_column=sa.Column(sa.Text, nullable=False), description="JSON of the entry")
    retired: bool = Field(default=False)


class AuditEntry(SQLModel, table=True):
    """Who did what to which conversation or registration; never message text or the note itself."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))
    actor_id: str | None = Field(default=None, max_length=32, index=True)
    action: str = Field(max_length=48)
    conversation_id: str | None = Field(default=None, max_length=32, index=True)
    registration_id: str | None = Field(default=None, max_length=32, index=True)
    detail: str = Field(default="", max_length=400)


class CannedReply(SQLModel, table=True):
    """A ready answer an adviser inserts into the composer (``0011``): shared by a service (kept by
    supervisors and admins; ``owner_id`` null) or an adviser's own (``owner_id``; ``service`` null).
    Each is written in one chat language and offered in conversations in that language."""

    __tablename__ = "canned_reply"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    owner_id: str | None = Field(default=None, foreign_key="staff_user.id", index=True, max_length=32)
    service: str | None = Field(default=None, max_length=4)
    language: str = Field(max_length=8, index=True)
    title: str = Field(max_length=80)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())
    updated_by: str | None = Field(default=None, foreign_key="staff_user.id", max_length=32)


class ConversationNote(SQLModel, table=True):
    """An adviser's internal note on a conversation (``0011``): never sent to the visitor, erased with the
    transcript (``chat/retention.py``)."""

    __tablename__ = "conversation_note"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", index=True, max_length=32)
    author_id: str | None = Field(default=None, foreign_key="staff_user.id", max_length=32)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(sa_column=_ts())


class GuidelineVersion(SQLModel, table=True):
    """The registration guideline as replaced by an administrator; the newest version is in force.

    With no row the built-in text of ``admin/guideline.py`` is in force.
    """

    __tablename__ = "guideline_version"

    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False), description="JSON of the guideline")
    author_id: str | None = Field(default=None, foreign_key="staff_user.id", max_length=32)
    created_at: datetime = Field(sa_column=_ts())


class ChatInstance(SQLModel, table=True):
    """A running instance's heartbeat. One that stops beating for the lease is taken for dead, and
    another marks away the visitors whose sockets it held (their grace period runs as after a close)."""

    __tablename__ = "chat_instance"

    id: str = Field(primary_key=True, max_length=16)
    seen_at: datetime = Field(sa_column=_ts())


class Diversion(SQLModel, table=True):
    """A supervisor's order that a region's or a language's queue go to the ambulating team for a while.

    Ended early by hand (``ended_at``); otherwise over at ``until``. Kept for the audit trail's sake."""

    __tablename__ = "diversion"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    region: str | None = Field(default=None, max_length=4)
    language: str | None = Field(default=None, max_length=8)
    to_service: str = Field(default="AT", max_length=4)
    created_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_column=_ts())
    until: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))
    ended_at: datetime | None = Field(default=None, sa_column=_ts(True))


class ServiceHours(SQLModel, table=True):
    """The opening hours and closed dates in force, as an administrator last saved them (``0008``).

    One row (``id`` 1) or none: with none, ``NORA_OPENING_HOURS`` and ``NORA_CLOSED_DATES`` are in force,
    so a fresh install starts from its settings. ``weekly`` is in the setting's own syntax
    (``mon-fri 08:00-16:00; sat 10:00-14:00``), ``None`` for open around the clock; ``closed_dates`` is
    JSON, ``[{"date": "2026-12-24", "label": "Julaften"}, …]``. Every instance re-reads it within
    seconds (``chat.hours``); ``version`` counts the saves."""

    __tablename__ = "service_hours"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    weekly: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    closed_dates: str = Field(default="[]", sa_column=sa.Column(sa.Text, nullable=False))
    version: int = Field(default=1)
    updated_at: datetime = Field(sa_column=_ts())
    updated_by: str | None = Field(default=None, foreign_key="staff_user.id", max_length=32)


class VisitorFeedback(SQLModel, table=True):
    """The after-chat question "did you get help?", counted per day and answer only: no conversation,
    time of day or anything else that could tie an answer to a chat (``0007``)."""

    __tablename__ = "visitor_feedback"

    day: date = Field(primary_key=True, description="Europe/Oslo date the answer was given")
    answer: str = Field(primary_key=True, max_length=8, description="yes or no")
    count: int = Field(default=0)


class ReturnThread(SQLModel, table=True):
    """Conversations a visitor tied together with an anonymous return code (docs/design.md §9, ``0009``).

    The code is never stored: ``lookup`` is 24 bits of a keyed HMAC of it (it finds candidates, never one
    visitor) and ``code_hash`` its Argon2id hash (``chat.codes``). The code works
    ``NORA_RETURN_CODE_DAYS`` after ``code_issued_at``; then, or when the visitor withdraws it, the thread
    is erased with its links and waiting messages (``chat.threads``). Language, region, audience and page
    language are those of the visitor's last visit, for a message left and for coming back."""

    __tablename__ = "return_thread"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    lookup: str = Field(max_length=8, index=True)
    code_hash: str = Field(max_length=255)
    code_issued_at: datetime = Field(sa_column=_ts())
    language: str = Field(max_length=8)
    region: str | None = Field(default=None, max_length=4)
    audience: str = Field(max_length=32)
    ui_language: str | None = Field(default=None, max_length=8)
    created_at: datetime = Field(sa_column=_ts())


class ThreadConversation(SQLModel, table=True):
    """A conversation's place in a thread: the only tie between two visits, erased with the thread."""

    __tablename__ = "thread_conversation"

    conversation_id: str = Field(primary_key=True, foreign_key="conversation.id", max_length=32)
    thread_id: str = Field(foreign_key="return_thread.id", index=True, max_length=32)


class LeftMessage(SQLModel, table=True):
    """A message a visitor left while the chat was closed (or nobody in their language was signed in),
    waiting for an adviser's answer. Answering moves it into a closed conversation of the thread, which
    then follows the transcripts' retention; unanswered, it goes with the thread."""

    __tablename__ = "left_message"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    thread_id: str = Field(foreign_key="return_thread.id", index=True, max_length=32)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    left_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))
