"""The ``<conversation>`` body as a console socket needs it: read from the store, shaped by ``wire``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chat import wire
from chat.outbox import Outbox
from chat.store import ConversationStore
from core.clock import Clock, to_datetime
from core.reference import Reference


class ConversationViews:
    def __init__(self, store: ConversationStore, reference: Callable[[], Reference], clock: Clock) -> None:
        self.store = store
        self.reference = reference
        self.clock = clock

    async def body(self, conversation_id: str, outbox: Outbox) -> dict[str, Any] | None:
        """The conversation with its transcript so far; the outbox tracks its seq from here on."""
        conv = await self.store.get(conversation_id)
        if conv is None:
            return None
        messages = await self.store.messages_after(conversation_id, 0)
        outbox.last[conversation_id] = messages[-1].seq if messages else 0
        return wire.conversation(
            conv,
            messages,
            owner=outbox.owner,
            rtl=self.reference().is_rtl(conv.language),
            now=to_datetime(self.clock()),
        )

    async def send_assigned(self, conversation_id: str, outbox: Outbox) -> None:
        """Run in the outbox's order (``Run``), so the body and later messages cannot cross."""
        body = await self.body(conversation_id, outbox)
        if body is not None:
            await outbox.write_now(wire.conversation_assigned(body))
