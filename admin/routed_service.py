"""The service a registered chat counts for, when no adviser held it as it closed (issue 16).

A conversation that closed while it waited (the visitor left, or went away too long) or after it went
back to the queue has no adviser, so no service of its own. It counts for the service it was routed
to, never for the service of whoever registers it (a supervisor of AT registering an Oslo youth's chat
must not make it an AT chat):

1. the adviser's service, if one held it as it closed;
2. the service it was transferred or rerouted to (``target_service``), or the service of the adviser it
   was sent to by name;
3. AT if a supervisor's diversion to the ambulating team covered it while it waited;
4. otherwise its first tier: MR with a county (the county's minority advisers), AT without one (a visitor
   without county starts with the national team; docs/design.md §3.2).
"""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import col, select

from core.clock import as_utc
from core.db import Database
from core.models import Conversation, Diversion, StaffUser

CHAT_SERVICES = ("MR", "AT")


async def routed_service(db: Database, conv: Conversation) -> str:
    if conv.service in CHAT_SERVICES:
        return conv.service
    if conv.target_service in CHAT_SERVICES:
        return conv.target_service
    region, language = conv.target_region or conv.region, conv.target_language or conv.language
    async with db.session() as session:
        if conv.target_adviser_id:
            adviser = await session.get(StaffUser, conv.target_adviser_id)
            if adviser is not None and adviser.service in CHAT_SERVICES:
                return adviser.service
        if conv.closed_at is not None:
            diversions = (
                await session.exec(
                    select(Diversion).where(
                        col(Diversion.created_at) <= conv.closed_at,
                        col(Diversion.until) > conv.enqueued_at,
                        or_(col(Diversion.region).is_(None), col(Diversion.region) == region),
                        or_(col(Diversion.language).is_(None), col(Diversion.language) == language),
                    )
                )
            ).all()
            waited_from = as_utc(conv.enqueued_at)
            for diversion in diversions:
                if diversion.ended_at is None or as_utc(diversion.ended_at) > waited_from:
                    return diversion.to_service
    return "MR" if region is not None else "AT"
