"""A stored message as the chat package passes it around (read back from any database driver)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StoredMessage:
    seq: int
    sender: str  # "visitor", "adviser" or "system"
    text: str | None  # None once the transcript is purged
    sent_at: datetime
    client_id: str | None = None
    event: str | None = None  # what a system notice announces ("assigned", "closed", …)
    sender_id: str | None = None  # "visitor", or the adviser's user id
