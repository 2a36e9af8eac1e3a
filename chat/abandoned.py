"""A chat the visitor never wrote in is not a case to register: it is counted as abandoned (the
supervisor's day, ``admin/day_stats.py``) and left out of the pending registrations (docs/design.md §5).

Whether the visitor wrote is decided once, when the conversation closes, and kept on the row
(``conversation.visitor_wrote``): the messages themselves are erased with the transcript, the answer
outlives them. After the close no message can be stored any more (the store's guard), so the answer
read then is final.
"""

from __future__ import annotations

from sqlmodel import col, select

from chat.store import ConversationStore
from core.models import Message


async def settle_visitor_wrote(store: ConversationStore, conversation_id: str) -> bool:
    """Store and return whether the visitor wrote anything in this (closed) conversation."""
    async with store.db.session() as session:
        query = select(Message.id).where(
            col(Message.conversation_id) == conversation_id, col(Message.sender) == "visitor"
        )
        wrote = (await session.exec(query.limit(1))).first() is not None
    await store.driver.update_conversation(conversation_id, (), {"visitor_wrote": wrote})
    return wrote
