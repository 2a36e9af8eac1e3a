"""Transcript purge (GDPR Art. 5(1)(e)): texts are erased once the retention period after close ends.

Registrations are kept; the conversation row stays (without its token) so statistics and the audit
log still refer to it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, select

from core.db import Database
from core.models import Conversation, ConversationState, Message


async def purge_transcripts(db: Database, cutoff: datetime, now: datetime) -> int:
    async with db.writing() as session:
        query = select(Conversation.id).where(
            col(Conversation.state) == ConversationState.CLOSED,
            col(Conversation.closed_at) < cutoff,
            col(Conversation.purged_at).is_(None),
        )
        ids = list((await session.exec(query)).all())
        if not ids:
            return 0
        await session.exec(delete(Message).where(col(Message.conversation_id).in_(ids)))
        await session.exec(
            update(Conversation)
            .where(col(Conversation.id).in_(ids))
            # The token hash must stay unique and must stop matching any token: use the id.
            .values(purged_at=now, token_hash=Conversation.id)
        )
    return len(ids)
