"""Reference codes (regions, languages, categories …) as loaded from the ``reference_item`` table.

Codes are the wire contract; the labels are data an administrator may edit. A retired code is not
offered to new input but stays valid in old records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class Reference:
    entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def codes(self, kind: str) -> frozenset[str]:
        return frozenset(e["code"] for e in self.entries.get(kind, []) if not e.get("retired"))

    def entry(self, kind: str, code: str) -> dict[str, Any] | None:
        for e in self.entries.get(kind, []):
            if e["code"] == code:
                return e
        return None

    def is_rtl(self, language: str) -> bool:
        e = self.entry("languages", language)
        return bool(e and e.get("rtl"))

    def help_lines(self, *codes: str) -> list[dict[str, Any]]:
        lines = [e for e in self.entries.get("help_lines", []) if not e.get("retired")]
        return [e for e in lines if not codes or e["code"] in codes]

    def public(self) -> dict[str, Any]:
        """The body of ``GET /api/v1/reference``: active entries without internal fields."""
        out: dict[str, Any] = {}
        for kind in WIRE_KINDS:
            out[kind] = [
                {k: v for k, v in e.items() if k != "retired"}
                for e in self.entries.get(kind, [])
                if not e.get("retired")
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
