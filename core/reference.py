"""Reference codes (regions, languages, categories …) as loaded from the ``reference_item`` table.

Codes are the wire contract; the labels are data an administrator may edit. A retired code is not
offered to new input but stays valid in old records.

Validity (additive): an entry may say ``valid_from`` and ``retired_from`` (``YYYY-MM-DD``, Europe/Oslo
days): it is in use on the days from the first to the day before the second, so a change of codes takes
effect on a date; input is checked against the codes in use *on the day it is counted for* (a chat's
close, an inquiry's contact date), so older registrations keep theirs. ``retired`` retires at once.

Service-internal categories (additive): a category with ``"service": "MR"`` belongs to that service for
its own reports. ``codes`` and ``public`` never include one (they are the common, published codes);
``internal_codes`` gives a service's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import ReferenceItem

WIRE_KINDS = (
    "regions",
    "languages",
    "audiences",
    "services",
    "channels",
    "categories",
    "contacts",
    "age_groups",
    "genders",
    "actions",
    "help_lines",
    "violence_forms",
)


OSLO = ZoneInfo("Europe/Oslo")


def oslo_today() -> date:
    return datetime.now(OSLO).date()


def in_use(entry: dict[str, Any], on: date) -> bool:
    """Whether ``entry`` is in use on the day ``on``: not retired, and within its validity period."""
    if entry.get("retired"):
        return False
    start, end = entry.get("valid_from"), entry.get("retired_from")
    return (start is None or date.fromisoformat(start) <= on) and (end is None or on < date.fromisoformat(end))


def in_use_during(entry: dict[str, Any], first: date, last: date) -> bool:
    """Whether ``entry`` is in use on any day from ``first`` to ``last`` (retired ones: never)."""
    if entry.get("retired"):
        return False
    start, end = entry.get("valid_from"), entry.get("retired_from")
    return (start is None or date.fromisoformat(start) <= last) and (end is None or first < date.fromisoformat(end))


def internal(entry: dict[str, Any]) -> bool:
    return entry.get("service") is not None


@dataclass(frozen=True)
class Reference:
    entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # ``codes`` by (kind, day): every visitor's ``start`` checks its language and region against them,
    # and working them out (every entry, its dates parsed) was a tenth of a start's own work in a burst.
    # An edit makes a new ``Reference`` (``ReferenceBox.replace``), so nothing here goes stale.
    _codes: dict[tuple[str, date], frozenset[str]] = field(default_factory=dict, compare=False, repr=False)

    def codes(self, kind: str, on: date | None = None) -> frozenset[str]:
        """The common codes of ``kind`` in use on ``on`` (default: today in Oslo)."""
        day = on or oslo_today()
        key = (kind, day)
        found = self._codes.get(key)
        if found is None:
            if len(self._codes) > 256:  # days go by in a long-running process
                self._codes.clear()
            found = frozenset(e["code"] for e in self.entries.get(kind, []) if in_use(e, day) and not internal(e))
            self._codes[key] = found
        return found

    def internal_codes(self, kind: str, service: str | None, on: date | None = None) -> frozenset[str]:
        """``service``'s own codes of ``kind`` in use on ``on`` (none without a service)."""
        day = on or oslo_today()
        entries = self.entries.get(kind, [])
        return frozenset(e["code"] for e in entries if service and e.get("service") == service and in_use(e, day))

    def is_internal(self, kind: str, code: str | None) -> bool:
        e = self.entry(kind, code or "")
        return e is not None and internal(e)

    def entry(self, kind: str, code: str) -> dict[str, Any] | None:
        for e in self.entries.get(kind, []):
            if e["code"] == code:
                return e
        return None

    def is_rtl(self, language: str) -> bool:
        e = self.entry("languages", language)
        return bool(e and e.get("rtl"))

    def help_lines(self, *codes: str) -> list[dict[str, Any]]:
        today = oslo_today()
        lines = [e for e in self.entries.get("help_lines", []) if in_use(e, today)]
        return [e for e in lines if not codes or e["code"] in codes]

    def public(self) -> dict[str, Any]:
        """The body of ``GET /api/v1/reference``: the common entries in use today, without internal
        fields (a code coming into use later, or retired, is left out; so is a service's own)."""
        today = oslo_today()
        out: dict[str, Any] = {}
        for kind in WIRE_KINDS:
            out[kind] = [
                {k: v for k, v in e.items() if k not in ("retired", "valid_from", "retired_from")}
                for e in self.entries.get(kind, [])
                if in_use(e, today) and not internal(e)
            ]
        return out


class ReferenceBox:
    """This instance's current reference data, shared by ``chat`` and ``admin``: calling it gives the
    data, ``replace`` swaps in what an administrator just saved."""

    def __init__(self, reference: Reference) -> None:
        self._reference = reference

    def __call__(self) -> Reference:
        return self._reference

    def replace(self, reference: Reference) -> None:
        self._reference = reference


async def load_reference(session: AsyncSession) -> Reference:
    rows = (
        await session.exec(select(ReferenceItem).order_by(col(ReferenceItem.kind), col(ReferenceItem.position)))
    ).all()
    entries: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        data = json.loads(row.data)
        if row.retired:
            data["retired"] = True
        entries.setdefault(row.kind, []).append(data)
    return Reference(entries)
