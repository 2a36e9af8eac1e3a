"""Diversions: a supervisor sends a region's or a language's queue to the ambulating team for a while.

They live in the database (every instance routes by them, and the audit trail names them); each
instance keeps the active ones in memory, read again when another instance says they changed and at
least every ``REFRESH_S``, so a new chat's routing costs no query. While one lasts, matching
conversations, waiting and new, route as at tier 1 at once; when it ends, chats already passed on stay
passed (tiers never narrow), new ones route as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from core.clock import Clock, as_utc, iso, to_datetime
from core.db import Database
from core.models import Conversation, Diversion

REFRESH_S = 5.0
MAX_MINUTES = 7 * 24 * 60


@dataclass(frozen=True, slots=True)
class ActiveDiversion:
    id: str
    region: str | None
    language: str | None
    to: str
    until: float

    def matches(self, conv: Conversation) -> bool:
        region = conv.target_region or conv.region
        language = conv.target_language or conv.language
        return (self.region is None or self.region == region) and (self.language is None or self.language == language)

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "region": self.region,
            "language": self.language,
            "to": self.to,
            "until": iso(to_datetime(self.until)),
        }


def _active(row: Diversion) -> ActiveDiversion:
    return ActiveDiversion(row.id, row.region, row.language, row.to_service, as_utc(row.until).timestamp())


class Diversions:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._active: tuple[ActiveDiversion, ...] = ()
        self._read_at = float("-inf")
        self.stale = False  # another instance changed them (``Fanout``)

    def active(self) -> tuple[ActiveDiversion, ...]:
        now = self.clock()
        return tuple(d for d in self._active if d.until > now)

    def applies(self, conv: Conversation) -> bool:
        return any(d.matches(conv) for d in self.active())

    async def refresh(self, *, force: bool = False) -> None:
        now = self.clock()
        if not (force or self.stale or now - self._read_at >= REFRESH_S):
            return
        self.stale = False
        async with self.db.session() as session:
            rows = (
                await session.exec(
                    select(Diversion).where(col(Diversion.ended_at).is_(None), col(Diversion.until) > to_datetime(now))
                )
            ).all()
        self._active = tuple(_active(r) for r in sorted(rows, key=lambda r: (as_utc(r.created_at), r.id)))
        self._read_at = now

    async def create(self, region: str | None, language: str | None, minutes: int, actor: str) -> ActiveDiversion:
        now = to_datetime(self.clock())
        row = Diversion(
            region=region,
            language=language,
            to_service="AT",
            created_by=actor,
            created_at=now,
            until=now + timedelta(minutes=minutes),
        )
        async with self.db.writing() as session:
            session.add(row)
        await self.refresh(force=True)
        return _active(row)

    async def end(self, diversion_id: str) -> ActiveDiversion | None:
        """End an active diversion early; ``None`` if there is no such active one."""
        now = to_datetime(self.clock())
        async with self.db.writing() as session:
            row = await session.get(Diversion, diversion_id)
            if row is None or row.ended_at is not None or as_utc(row.until) <= now:
                return None
            row.ended_at = now
            session.add(row)
            ended = _active(row)
        await self.refresh(force=True)
        return ended
