"""Parsing and validating client frames into typed values.

Every refusal is a ``FrameError`` naming the offending fields; nothing is acted on until the whole
frame is valid, so a refused frame changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson

from chat.errors import FrameError, invalid
from core.reference import Reference

CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
CONVERSATION_ID = re.compile(r"[0-9a-f]{32}")
TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")
AUDIENCES = ("youth", "introduction_programme", "adult_education", "staff")

VISITOR_TYPES = frozenset({"start", "resume", "message", "typing", "leave", "page_language"})
ADVISER_TYPES = frozenset(
    {
        "status",
        "capacity",
        "message",
        "typing",
        "transfer",
        "close",
        "sync",
        # issue 17: colleagues signed in, and the warm transfer (chat/warm_transfer.py)
        "colleagues",
        "transfer_offer",
        "transfer_cancel",
        "transfer_accept",
        "transfer_decline",
    }
)


def parse(raw: str | bytes | None, max_bytes: int) -> dict[str, Any]:
    """Turn wire text into a JSON object with a string ``type``.

    orjson is strict where the standard library is lenient: it refuses ``NaN``, ``Infinity`` and
    unpaired surrogate escapes, none of which is JSON (RFC 8259)."""
    if raw is None or isinstance(raw, bytes):
        raise FrameError("bad_frame", "Binary frames are not accepted; send UTF-8 JSON text.")
    if len(raw) * 4 > max_bytes and len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
        # uvicorn already closes with 1009 above the limit; this guards other servers.
        raise FrameError("bad_frame", f"Frame larger than {max_bytes} bytes.")
    try:
        data = orjson.loads(raw)
    except (orjson.JSONDecodeError, UnicodeError):
        raise FrameError("bad_frame", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise FrameError("bad_frame", "A frame must be a JSON object.")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise FrameError("bad_frame", "A frame needs a string field 'type'.")
    return data


def encode(body: dict[str, Any]) -> str:
    """A frame as compact JSON text (what ``send_json`` writes, at a fraction of its cost)."""
    return orjson.dumps(body).decode()


def check_type(data: dict[str, Any], allowed: frozenset[str]) -> str:
    kind: str = data["type"]
    if kind not in allowed:
        raise FrameError("unknown_type", f"Unknown frame type {kind[:40]!r}.", ref=kind[:40])
    return kind


START_KEY = re.compile(r"[A-Za-z0-9_-]{22,64}")  # at least 128 random bits, so it cannot be guessed

# Characters no free text from a client may hold (message text, transfer note): the C0 controls except
# TAB, LF and CR, DEL, and the C1 controls. PostgreSQL cannot store U+0000 in text at all (one such
# message failed the whole group-commit batch it was in); the others only hide or garble what a reader
# sees. Checked on the text as sent, before trimming, with one precompiled search (C, no Python loop
# per character). Unpaired surrogates never reach it: ``parse`` refuses them as not JSON.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
NO_CONTROL_CHARS = "must not contain control characters (U+0000-U+001F other than tab, LF and CR; U+007F-U+009F)"


@dataclass(frozen=True, slots=True)
class Start:
    language: str
    region: str | None
    audience: str
    urgent: bool
    also_languages: tuple[str, ...]
    client_id: str | None = None  # additive: a repeated start with it finds the same conversation
    page_language: str | None = None  # additive: the widget's language, which system notices are written in
    session: str | None = None  # additive: the browser session's random id (chat/abuse.py)


@dataclass(frozen=True, slots=True)
class Resume:
    token: str
    last_seq: int
    page_language: str | None = None
    session: str | None = None


@dataclass(frozen=True, slots=True)
class Text:
    client_id: str
    text: str
    conversation_id: str | None = None


def _code(data: dict[str, Any], name: str, allowed: Collection[str], errors: dict[str, str]) -> str:
    value = data.get(name)
    if not isinstance(value, str) or value not in allowed:
        errors[name] = "unknown code" if isinstance(value, str) else "required, a code from /api/v1/reference"
        return ""
    return value


def parse_start(data: dict[str, Any], languages: Collection[str], regions: Collection[str]) -> Start:
    errors: dict[str, str] = {}
    language = _code(data, "language", languages, errors)
    audience = _code(data, "audience", AUDIENCES, errors)
    region = data.get("region")
    if region is not None and (not isinstance(region, str) or region not in regions):
        errors["region"] = "unknown code"
    urgent = data.get("urgent", False)
    if not isinstance(urgent, bool):
        errors["urgent"] = "must be true or false"
    also = data.get("also_languages", [])
    also_out: list[str] = []
    if also is None:
        also = []
    if not isinstance(also, list) or len(also) > 10:
        errors["also_languages"] = "must be a list of at most 10 language codes"
    else:
        for code in also:
            if not isinstance(code, str) or code not in languages:
                errors["also_languages"] = "unknown code"
            elif code != language and code not in also_out:
                also_out.append(code)
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not START_KEY.fullmatch(client_id)):
        errors["client_id"] = "22-64 characters of A-Z a-z 0-9 _ - (a random id, e.g. 16 random bytes in base64url)"
    page_language = _page_language(data, languages, errors)
    session = _session(data, errors)
    if errors:
        raise invalid("start", errors)
    return Start(language, region, audience, urgent, tuple(also_out), client_id, page_language, session)


def _session(data: dict[str, Any], errors: dict[str, str]) -> str | None:
    """The optional ``session`` of start and resume: the browser session's random id (``chat.abuse``)."""
    value = data.get("session")
    if value is not None and (not isinstance(value, str) or not START_KEY.fullmatch(value)):
        errors["session"] = "22-64 characters of A-Z a-z 0-9 _ - (a random id kept for the browser session)"
        return None
    return value


def _page_language(data: dict[str, Any], languages: Collection[str], errors: dict[str, str]) -> str | None:
    """The optional ``page_language`` of start, resume and page_language frames: a language code."""
    value = data.get("page_language")
    if value is not None and (not isinstance(value, str) or value not in languages):
        errors["page_language"] = "unknown code"
        return None
    return value


def parse_page_language(data: dict[str, Any], languages: Collection[str]) -> str:
    errors: dict[str, str] = {}
    value = _page_language(data, languages, errors)
    if value is None and not errors:
        errors["page_language"] = "required, a language code from /api/v1/reference"
    if errors or value is None:
        raise invalid("page_language", errors)
    return value


MAX_SEQ = 2**31 - 1  # the database's seq column is a 32-bit integer


def _is_seq(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEQ


def parse_resume(data: dict[str, Any], languages: Collection[str] = ()) -> Resume:
    errors: dict[str, str] = {}
    page_language = _page_language(data, languages, errors) if "page_language" in data else None
    token = data.get("token")
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        errors["token"] = "required, the token from 'started'"
    last_seq = data.get("last_seq", 0)
    if not _is_seq(last_seq):
        errors["last_seq"] = f"must be a whole number from 0 to {MAX_SEQ}"
    session = _session(data, errors)
    if errors:
        raise invalid("resume", errors)
    return Resume(str(token), int(last_seq), page_language, session)


def parse_conversation_id(data: dict[str, Any], errors: dict[str, str]) -> str:
    value = data.get("conversation_id")
    if not isinstance(value, str) or not CONVERSATION_ID.fullmatch(value):
        errors["conversation_id"] = "required, a conversation id"
        return ""
    return value


def parse_text(data: dict[str, Any], max_chars: int, *, with_conversation: bool) -> Text:
    errors: dict[str, str] = {}
    conversation_id = parse_conversation_id(data, errors) if with_conversation else None
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        errors["client_id"] = "required, 1-64 characters of A-Z a-z 0-9 _ -"
    text = data.get("text")
    if not isinstance(text, str):
        errors["text"] = "required, a string"
        text = ""
    elif CONTROL_CHARS.search(text) is not None:
        errors["text"] = NO_CONTROL_CHARS
    else:
        text = text.strip()
        if not text:
            errors["text"] = "must not be empty"
        elif len(text) > max_chars:
            errors["text"] = f"at most {max_chars} characters"
    if errors:
        raise invalid("message", errors)
    return Text(str(client_id), text, conversation_id)


@dataclass(frozen=True, slots=True)
class Transfer:
    adviser_id: str | None = None
    service: str | None = None
    region: str | None = None
    language: str | None = None
    note: str | None = None
    urgent: bool = False


def parse_transfer(data: dict[str, Any], reference: Reference) -> Transfer:
    """``to`` names exactly one of adviser_id, service, region, language; ``note`` and ``urgent``
    (the adviser marks the conversation urgent for whoever takes it) are optional."""
    errors: dict[str, str] = {}
    to = data.get("to")
    note = data.get("note")
    urgent = data.get("urgent", False)
    if not isinstance(urgent, bool):
        errors["urgent"] = "true or false"
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        errors["note"] = "at most 500 characters"
    elif note is not None and CONTROL_CHARS.search(note) is not None:
        errors["note"] = NO_CONTROL_CHARS
    if not isinstance(to, dict) or len(to) != 1:
        errors["to"] = "one of {adviser_id}, {service}, {region}, {language}"
        raise invalid("transfer", errors)
    ((key, value),) = to.items()
    allowed: dict[str, frozenset[str] | None] = {
        "adviser_id": None,
        "service": frozenset({"MR", "AT"}),
        "region": reference.codes("regions"),
        "language": reference.codes("languages"),
    }
    if key not in allowed:
        errors["to"] = "one of {adviser_id}, {service}, {region}, {language}"
    elif not isinstance(value, str) or (
        CONVERSATION_ID.fullmatch(value) is None if key == "adviser_id" else value not in (allowed[key] or ())
    ):
        errors[f"to.{key}"] = "unknown value"
    if errors:
        raise invalid("transfer", errors)
    text = note.strip() if isinstance(note, str) and note.strip() else None
    return Transfer(note=text, urgent=urgent is True, **{key: str(value)})


def parse_leave(data: dict[str, Any]) -> bool:
    """``leave`` may say it came from the widget's quick exit (``quick_exit``, additive): the adviser is
    told the visitor left in a hurry, which can mean danger, rather than that they ended the chat."""
    quick_exit = data.get("quick_exit", False)
    if not isinstance(quick_exit, bool):
        raise invalid("leave", {"quick_exit": "must be true or false"})
    return quick_exit


CLOSE_REASONS = ("adviser_closed", "abusive")


def parse_close_reason(data: dict[str, Any]) -> str:
    """``close`` may say why (additive): ``abusive`` ends the chat and keeps the visitor's browser session
    from starting another for a while (``chat.abuse``); the default is an ordinary close."""
    reason = data.get("reason", "adviser_closed")
    if reason not in CLOSE_REASONS:
        raise invalid("close", {"reason": "'adviser_closed' or 'abusive'"})
    return str(reason)


def parse_status(data: dict[str, Any]) -> str:
    status = data.get("status")
    if status not in ("available", "away"):
        raise invalid("status", {"status": "must be 'available' or 'away'"})
    return str(status)


def parse_capacity(data: dict[str, Any]) -> int:
    value = data.get("capacity")
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid("capacity", {"capacity": "a whole number"})
    return value


def parse_sync(data: dict[str, Any]) -> dict[str, int]:
    conversations = data.get("conversations")
    if not isinstance(conversations, dict) or len(conversations) > 100:
        raise invalid("sync", {"conversations": "an object of conversation id to last seq (at most 100)"})
    out: dict[str, int] = {}
    for key, value in conversations.items():
        if not CONVERSATION_ID.fullmatch(key) or not _is_seq(value):
            raise invalid("sync", {"conversations": f"bad entry {key[:40]!r}"})
        out[key] = value
    return out
