"""Every frame the server sends to a client, built in one place (docs/protocol.md §3.2, §5.3, §8).

The endpoints, the fan-out, the outbox and the case register all take their frames from here, so a
frame has one shape wherever it is sent. Functions return plain dicts; ``encode`` turns one into the
compact JSON text that goes on the socket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from chat.messages import StoredMessage
from core.clock import as_utc, iso
from core.models import Conversation

QUICK_EXIT_EVENT = "visitor_quick_exit"  # the notice of a leave by the widget's quick exit


def encode(body: dict[str, Any]) -> str:
    """A frame as compact JSON text (what ``send_json`` writes, at a fraction of its cost)."""
    return orjson.dumps(body).decode()


# ---------------------------------------------------------------- messages and acks (both roles)


def message(stored: StoredMessage, *, owner: str | None, conversation_id: str | None = None) -> dict[str, Any]:
    """A ``message`` frame; ``conversation_id`` for advisers, whose socket carries several
    conversations; ``client_id`` only to the sender who chose it (``owner``)."""
    out: dict[str, Any] = {"type": "message"}
    if conversation_id is not None:
        out["conversation_id"] = conversation_id
    out.update(
        seq=stored.seq,
        sender=stored.sender,
        text=stored.text if stored.text is not None else "",
        sent_at=iso(stored.sent_at),
    )
    if stored.event is not None:
        out["event"] = stored.event
    if stored.client_id is not None and owner is not None and owner == stored.sender_id:
        out["client_id"] = stored.client_id
    return out


def ack(client_id: str | None, seq: int, *, conversation_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "ack"}
    if conversation_id is not None:
        out["conversation_id"] = conversation_id
    out.update(client_id=client_id, seq=seq)
    return out


def error(
    code: str,
    message: str,
    *,
    ref: str | None,
    fields: dict[str, str] | None = None,
    retry_after_ms: int | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "error", "code": code, "message": message, "ref": ref}
    if fields is not None:
        out["fields"] = fields
    if retry_after_ms is not None:
        out["retry_after_ms"] = retry_after_ms
    return out


# ---------------------------------------------------------------- visitor socket


def started(conversation_id: str, token: str, alias: str) -> dict[str, Any]:
    return {"type": "started", "conversation_id": conversation_id, "token": token, "alias": alias}


def resumed(conversation_id: str, state: str) -> dict[str, Any]:
    return {"type": "resumed", "conversation_id": conversation_id, "state": str(state)}


def queue_position(position: int, estimated_wait_s: int | None) -> dict[str, Any]:
    return {"type": "queue", "position": position, "estimated_wait_s": estimated_wait_s}


def adviser_joined(name: str, service: str | None) -> dict[str, Any]:
    """The visitor's ``assigned``: who is there (never the adviser's id)."""
    return {"type": "assigned", "adviser": {"name": name, "service": service}}


def adviser_typing() -> dict[str, Any]:
    return {"type": "typing", "sender": "adviser"}


def closed(reason: str) -> dict[str, Any]:
    return {"type": "closed", "reason": reason}


def closed_hours(next_opening: str | None, help_lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "closed", "reason": "closed_hours", "next_opening": next_opening, "help_lines": help_lines}


# ---------------------------------------------------------------- adviser socket


def conversation(
    conv: Conversation, messages: list[StoredMessage], *, owner: str | None, rtl: bool, now: datetime
) -> dict[str, Any]:
    """The ``<conversation>`` object, for the console and the case register alike. ``waited_s`` runs
    from joining the queue (a transfer keeps the original place) until assignment, close, or now."""
    until = conv.assigned_at or conv.closed_at or now
    return {
        "id": conv.id,
        "alias": conv.alias,
        "language": conv.language,
        "region": conv.region,
        "audience": conv.audience,
        "urgent": conv.urgent,
        "started_at": iso(conv.started_at),
        "waited_s": max(0, int((as_utc(until) - as_utc(conv.enqueued_at)).total_seconds())),
        "state": str(conv.state),
        "transferred": conv.transferred,
        "note": conv.transfer_note,
        "rtl": rtl,
        "service": conv.service,
        "closed_at": iso(conv.closed_at),
        "close_reason": conv.close_reason,
        "visitor_present": conv.visitor_away_since is None and conv.state != "closed",
        "visitor_away_since": iso(conv.visitor_away_since) if conv.state != "closed" else None,
        # Additive: the visitor left by quick exit (known from its notice, so erased with the transcript).
        "quick_exit": any(m.event == QUICK_EXIT_EVENT for m in messages),
        "messages": [message(m, owner=owner) for m in messages],
    }


def adviser_state(
    profile: dict[str, Any], status: str, conversations: list[dict[str, Any]], offers: list[str]
) -> dict[str, Any]:
    """``offers``: the conversations on offer to this adviser now (their ``transfer_offer`` frames follow)."""
    return {"type": "state", "adviser": profile, "status": status, "conversations": conversations, "offers": offers}


def conversation_assigned(body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "assigned", "conversation": body}


def visitor_typing(conversation_id: str) -> dict[str, Any]:
    return {"type": "typing", "conversation_id": conversation_id, "sender": "visitor"}


def conversation_closed(
    conversation_id: str, reason: str, quick_exit: bool = False, registration_due: bool = True
) -> dict[str, Any]:
    """``registration_due`` is false for a chat the visitor never wrote in: abandoned, not registered."""
    out: dict[str, Any] = {
        "type": "conversation_closed",
        "conversation_id": conversation_id,
        "reason": reason,
        "registration_due": registration_due,
    }
    if reason == "visitor_left":
        out["quick_exit"] = quick_exit  # additive: whether the visitor left by the widget's quick exit
    return out


def visitor_presence(conversation_id: str, presence: str, quick_exit: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "visitor", "conversation_id": conversation_id, "presence": presence}
    if presence == "left":
        out["quick_exit"] = quick_exit  # additive: whether it was the widget's quick exit
    return out


def notice(text: str, sender: str, at: str) -> dict[str, Any]:
    """A supervisor's notice to every signed-in adviser."""
    return {"type": "notice", "text": text, "from": sender, "at": at}


def colleagues(advisers: list[dict[str, Any]]) -> dict[str, Any]:
    """Every other adviser signed in, with status and room (issue 17, ``chat.warm_transfer``)."""
    return {"type": "colleagues", "advisers": advisers}


def transfer_offer(body: dict[str, Any], from_id: str, from_name: str, note: str | None) -> dict[str, Any]:
    """To the colleague: the conversation offered to them, as it is now, to read before answering."""
    return {"type": "transfer_offer", "conversation": body, "from": {"id": from_id, "name": from_name}, "note": note}


def transfer_offered(conversation_id: str, to_id: str, to_name: str) -> dict[str, Any]:
    """To the holder: the offer went out."""
    return {"type": "transfer_offered", "conversation_id": conversation_id, "to": {"id": to_id, "name": to_name}}


def transfer_answer(conversation_id: str, outcome: str, by_id: str, by_name: str) -> dict[str, Any]:
    """To the holder: the colleague ``accepted`` or ``declined``."""
    return {
        "type": "transfer_answer",
        "conversation_id": conversation_id,
        "outcome": outcome,
        "by": {"id": by_id, "name": by_name},
    }


def transfer_withdrawn(conversation_id: str, reason: str) -> dict[str, Any]:
    """To the colleague: the offer is over (``withdrawn``, ``declined`` by another tab, or ``gone``)."""
    return {"type": "transfer_withdrawn", "conversation_id": conversation_id, "reason": reason}


def unassigned(conversation_id: str, reason: str) -> dict[str, Any]:
    return {"type": "unassigned", "conversation_id": conversation_id, "reason": reason}


def capacity(value: int) -> dict[str, Any]:
    return {"type": "capacity", "capacity": value}


def status(value: str) -> dict[str, Any]:
    return {"type": "status", "status": value}


# ---------------------------------------------------------------- supervisor socket


def supervisor_queue(view: dict[str, Any]) -> dict[str, Any]:
    return {"type": "queue", **view}
