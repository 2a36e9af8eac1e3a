"""The events instances send each other through the broker, as named types, and their one codec.

An event is a hint, never the only copy of anything: a message is in the database before its event is
published, and each socket fills gaps by ``seq`` (docs/design.md §4). The publishing instance applies
its own events to its own sockets directly, as these objects (``chat.fanout``); only the other
instances see the encoded form, a JSON object whose ``type`` names the event.

Instances of different versions do not understand each other's events while a rolling upgrade runs
(an unknown ``type`` is ignored and counted); their clients catch up from the database at the next
event, sync or reconnect, so nothing is lost, only delayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat.messages import StoredMessage
from core.clock import iso


@dataclass(frozen=True, slots=True)
class MessagePosted:
    """A message was stored; ``origin`` is the socket that sent it (it got an ``ack``, not the message)."""

    conversation_id: str
    adviser_id: str | None
    message: StoredMessage
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class Typing:
    conversation_id: str
    adviser_id: str | None
    sender: str  # "visitor" or "adviser"
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class Assigned:
    conversation_id: str
    adviser_id: str
    name: str
    service: str | None


@dataclass(frozen=True, slots=True)
class Closed:
    conversation_id: str
    adviser_id: str | None
    reason: str
    quick_exit: bool | None = False  # the visitor left by quick exit (None from an older instance)
    registration_due: bool | None = True  # False: the visitor never wrote (None from an older instance)


@dataclass(frozen=True, slots=True)
class Presence:
    """The visitor's socket went ``away``, came ``back``, or the visitor ``left`` (by quick exit or not)."""

    conversation_id: str
    adviser_id: str | None
    presence: str
    quick_exit: bool | None = False  # None from an older instance, which does not send it


@dataclass(frozen=True, slots=True)
class Unassigned:
    """The adviser no longer holds the conversation (``reason``: ``transferred`` or ``timeout``)."""

    conversation_id: str
    adviser_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Requeued:
    conversation_id: str


@dataclass(frozen=True, slots=True)
class CapacityChanged:
    adviser_id: str
    capacity: int


@dataclass(frozen=True, slots=True)
class StatusChanged:
    adviser_id: str
    status: str


@dataclass(frozen=True, slots=True)
class QueueChanged:
    """Something changed the queue: positions and the supervisors' view are due for a refresh."""


@dataclass(frozen=True, slots=True)
class SessionRevoked:
    """A staff session ended (logout) or a staff member's access ended: close their sockets."""

    session_key: str | None = None
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class HandedOver:
    """An instance stopping for a restart closed these conversations' visitor sockets on purpose: when
    a visitor resumes elsewhere it is no news to the adviser (no ``visitor_back`` notice)."""

    conversation_ids: list[str]


@dataclass(frozen=True, slots=True)
class Notice:
    """A supervisor's short notice to every signed-in adviser."""

    text: str
    sender: str  # the supervisor's display name
    at: str  # ISO time


@dataclass(frozen=True, slots=True)
class TransferOffered:
    """An adviser offers a conversation to a named colleague (a warm transfer, ``chat.warm_transfer``);
    ``body`` is the ``<conversation>`` the colleague reads before answering."""

    conversation_id: str
    from_id: str
    from_name: str
    to_id: str
    to_name: str
    note: str | None
    body: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class TransferEnded:
    """A warm transfer's offer is over: ``accepted``, ``declined``, ``withdrawn`` or ``gone``; from the
    holder ``from_id`` to the colleague ``to_id`` (named ``to_name`` when they answered). The three are
    None only from an instance of an earlier version."""

    conversation_id: str
    outcome: str
    from_id: str | None = None
    to_id: str | None = None
    to_name: str | None = None


@dataclass(frozen=True, slots=True)
class StaffChanged:
    """An administrator changed a staff account (name, service, counties, languages, capacity): every
    instance reads its profile again at its next use."""

    user_id: str


@dataclass(frozen=True, slots=True)
class DiversionsChanged:
    """A diversion began or ended: every instance reads the active ones again."""


@dataclass(frozen=True, slots=True)
class Resync:
    """Raised locally when the broker reconnects: events may have been missed meanwhile."""


Event = (
    MessagePosted
    | Typing
    | Assigned
    | Closed
    | Presence
    | Unassigned
    | Requeued
    | CapacityChanged
    | StatusChanged
    | QueueChanged
    | SessionRevoked
    | HandedOver
    | Notice
    | TransferOffered
    | TransferEnded
    | StaffChanged
    | DiversionsChanged
    | Resync
)

NAMES: dict[type[Any], str] = {
    MessagePosted: "message_posted",
    Typing: "typing",
    Assigned: "assigned",
    Closed: "closed",
    Presence: "presence",
    Unassigned: "unassigned",
    Requeued: "requeued",
    CapacityChanged: "capacity_changed",
    StatusChanged: "status_changed",
    QueueChanged: "queue_changed",
    SessionRevoked: "session_revoked",
    HandedOver: "handed_over",
    Notice: "notice",
    TransferOffered: "transfer_offered",
    TransferEnded: "transfer_ended",
    StaffChanged: "staff_changed",
    DiversionsChanged: "diversions_changed",
    Resync: "resync",
}
TYPES = {name: kind for kind, name in NAMES.items()}


class UnknownEvent(ValueError):
    """A payload that is not an event of this version (another version's, or damaged)."""


def encode(event: Event, instance: str) -> dict[str, Any]:
    """The broker payload: ``type``, the sending ``instance``, and the event's fields by name."""
    payload: dict[str, Any] = {"type": NAMES[type(event)], "instance": instance}
    if isinstance(event, MessagePosted):
        payload.update(
            conversation_id=event.conversation_id,
            adviser_id=event.adviser_id,
            origin=event.origin,
            message=_message_fields(event.message),
        )
    else:
        payload.update({name: getattr(event, name) for name in event.__slots__})
    return payload


def decode(payload: dict[str, Any]) -> tuple[Event, str | None]:
    """The event and the instance that sent it; ``UnknownEvent`` for anything else."""
    kind = TYPES.get(payload.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise UnknownEvent(str(payload.get("type"))[:40])
    instance = payload.get("instance")
    fields = {name: payload.get(name) for name in kind.__slots__}
    try:
        if kind is MessagePosted:
            fields["message"] = _message_from(fields["message"])
        event: Event = kind(**fields)
    except (TypeError, ValueError, KeyError) as exc:
        raise UnknownEvent(NAMES[kind]) from exc
    return event, instance if isinstance(instance, str) else None


def _message_fields(message: StoredMessage) -> dict[str, Any]:
    return {
        "seq": message.seq,
        "sender": message.sender,
        "text": message.text,
        "sent_at": iso(message.sent_at),
        "client_id": message.client_id,
        "event": message.event,
        "sender_id": message.sender_id,
    }


def _message_from(body: Any) -> StoredMessage:
    if not isinstance(body, dict) or not isinstance(body.get("seq"), int) or not isinstance(body.get("sender"), str):
        raise ValueError("not a stored message")

    def text(name: str) -> str | None:
        value = body.get(name)
        return value if isinstance(value, str) else None

    return StoredMessage(
        body["seq"],
        body["sender"],
        text("text"),
        datetime.fromisoformat(str(body["sent_at"]).replace("Z", "+00:00")),
        text("client_id"),
        text("event"),
        text("sender_id"),
    )
