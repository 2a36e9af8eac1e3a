"""The ``<conversation>`` body as a console socket needs it: read from the store, shaped by ``wire``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chat import wire
from chat.messages import StoredMessage
from chat.outbox import Outbox
from chat.store import ConversationStore
from core.clock import Clock, to_datetime
from core.models import Conversation
from core.reference import Reference


@dataclass(frozen=True, slots=True)
class KnownBody:
    """A conversation and its whole transcript as this instance just stored them (``Assigner``), when
    nothing else can have changed them in between: the body is built without reading them back."""

    conversation: Conversation
    messages: list[StoredMessage]


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
        return self._built(conv, await self.store.messages_after(conversation_id, 0), outbox)

    def _built(self, conv: Conversation, messages: list[StoredMessage], outbox: Outbox) -> dict[str, Any]:
        outbox.last[conv.id] = messages[-1].seq if messages else 0
        return wire.conversation(
            conv,
            messages,
            owner=outbox.owner,
            rtl=self.reference().is_rtl(conv.language),
            now=to_datetime(self.clock()),
        )

    async def send_assigned(self, conversation_id: str, outbox: Outbox, known: KnownBody | None = None) -> None:
        """Run in the outbox's order (``Run``), so the body and later messages cannot cross. ``known``:
        the body without a read (its two reads were about a tenth of a start's CPU in a burst)."""
        if known is not None:
            body: dict[str, Any] | None = self._built(known.conversation, known.messages, outbox)
        else:
            body = await self.body(conversation_id, outbox)
        if body is not None:
            await outbox.write_now(wire.conversation_assigned(body))
