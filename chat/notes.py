"""Internal notes go with the transcript (docs/design.md §6.2): the retention purge erases a
conversation's notes in the same transaction as its messages. Reading and writing notes is a staff
matter (``admin/notes.py``); this is the one place the chat side touches them."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import ConversationNote


async def erase_notes(session: AsyncSession, conversation_ids: list[str]) -> None:
    """Delete every note of these conversations (their transcripts are being purged)."""
    await session.exec(delete(ConversationNote).where(col(ConversationNote.conversation_id).in_(conversation_ids)))
