"""Ending a chat as abusive, and keeping that browser session from starting another for a while.

The widget keeps a random id for its browser session (``sessionStorage``, gone when the tab closes or
by quick exit) and sends it with ``start`` and ``resume``. The socket holds its SHA-256 in memory while
it is open; when an adviser ends the chat as abusive, the instance holding the visitor's socket
remembers that hash until ``NORA_ABUSE_BLOCK_MINUTES`` have passed (in memory, or in Redis when the
instances share one, where the key expires by itself), and a ``start`` carrying it is refused until
then. Nothing else is kept: no address, no fingerprint, nothing in the database, nothing that ties the
blocked session to the conversation. Another browser session (another tab, another browser) is not
blocked; that is the price of storing nothing that identifies the visitor (docs/design.md §6.7).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections import OrderedDict
from typing import Protocol

from chat.store import ConversationStore
from core.clock import Clock, to_datetime
from core.limits import Limits, RedisLimits
from core.models import AuditEntry

log = logging.getLogger("nora.chat")
MAX_BLOCKED = 100_000  # sessions remembered per instance in memory; the oldest go first


def session_key(session: str) -> str:
    """The hash a browser session is known by (its id itself is never kept)."""
    return hashlib.sha256(session.encode("ascii")).hexdigest()


class Blocks(Protocol):
    async def block(self, key: str, seconds: int) -> None:
        """Refuse new chats from the session ``key`` for ``seconds``."""
        ...

    async def blocked_for(self, key: str) -> int:
        """Milliseconds the session ``key`` is still blocked (0: not blocked)."""
        ...


class MemoryBlocks:
    """One instance: a bounded table of session hashes and when their block ends."""

    def __init__(self, clock: Clock, max_entries: int = MAX_BLOCKED) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self._until: OrderedDict[str, float] = OrderedDict()

    async def block(self, key: str, seconds: int) -> None:
        now = self.clock()
        for old, until in list(self._until.items()):
            if until <= now:
                del self._until[old]
        self._until[key] = now + seconds
        self._until.move_to_end(key)
        while len(self._until) > self.max_entries:
            self._until.popitem(last=False)

    async def blocked_for(self, key: str) -> int:
        until = self._until.get(key)
        if until is None:
            return 0
        left = until - self.clock()
        if left <= 0:
            del self._until[key]
            return 0
        return max(1, math.ceil(left * 1000))


class RedisBlocks:
    """Several instances: one key per blocked session, expiring by itself (``…:limit:block:abuse:<hash>``)."""

    def __init__(self, limits: RedisLimits) -> None:
        self.limits = limits

    def _key(self, key: str) -> str:
        return self.limits.key("block", f"abuse:{key}")

    async def block(self, key: str, seconds: int) -> None:
        await self.limits.redis.set(self._key(key), "1", ex=seconds)

    async def blocked_for(self, key: str) -> int:
        ttl = int(await self.limits.redis.pttl(self._key(key)))
        return max(0, ttl)


def create_blocks(limits: Limits | None, clock: Clock) -> Blocks:
    """Shared through Redis when the limits are, else in this instance's memory."""
    return RedisBlocks(limits) if isinstance(limits, RedisLimits) else MemoryBlocks(clock)


async def audit_abusive(
    store: ConversationStore, at: float, adviser_id: str, conversation_id: str, block_s: int
) -> None:
    """The audit entry of an abusive end (docs/design.md §6.3): who, which conversation, how long."""
    async with store.db.writing() as session:
        session.add(
            AuditEntry(
                at=to_datetime(at),
                actor_id=adviser_id,
                action="conversation_abusive",
                conversation_id=conversation_id,
                detail=f"new chats from that browser session refused for {block_s // 60} min",
            )
        )


class AbuseGuard:
    """The blocks of one instance's visitors: set from the fan-out (the instance holding the visitor's
    socket hears the abusive close, wherever the adviser pressed it), checked at ``start``."""

    def __init__(self, blocks: Blocks, block_s: int) -> None:
        self.blocks = blocks
        self.block_s = block_s
        self._pending: set[asyncio.Task[None]] = set()

    def closed_as_abusive(self, session_keys: list[str]) -> None:
        """Called by the fan-out (synchronous) with the session hashes of the conversation's sockets here."""
        for key in session_keys:
            task = asyncio.get_running_loop().create_task(self._block(key))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _block(self, key: str) -> None:
        try:
            await self.blocks.block(key, self.block_s)
        except Exception:  # noqa: BLE001 - Redis away: the block is lost, the chat is ended anyway
            log.warning("could not record an abusive session's block")

    async def start_wait_ms(self, key: str | None) -> int:
        """How long a ``start`` from this session must still wait (0: it may start)."""
        if key is None:
            return 0
        await asyncio.gather(*self._pending, return_exceptions=True)  # a block being written counts already
        try:
            return await self.blocks.blocked_for(key)
        except Exception:  # noqa: BLE001 - Redis away: let the visitor in rather than refuse everyone
            log.warning("could not read abusive session blocks")
            return 0
