"""The supervisors' recent notices, for consoles that open after one was sent.

A notice reaches every console signed in at the time through the fan-out (``Notice``, on every
instance). A console that opens later is shown those of the last ``NOTICE_SHOWN_S``, at most
``NOTICES_KEPT``, after its ``state``. With several instances they are kept in Redis, one list that
expires by itself, so an instance started after a notice (a rolling restart, one more instance) shows it
too; alone, in this instance's memory. Notices are never written to the database.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from datetime import datetime
from typing import Protocol

from chat.events import Notice
from core.limits import Limits, RedisLimits

log = logging.getLogger("nora.chat")
NOTICE_SHOWN_S = 12 * 3600  # a console that opens later is shown the notices of the last 12 hours
NOTICES_KEPT = 20


class NoticeLog(Protocol):
    async def add(self, notice: Notice) -> None:
        """Keep a notice just sent (by the instance that sends it, once)."""
        ...

    async def recent(self, now: float) -> list[Notice]:
        """The notices of the last ``NOTICE_SHOWN_S``, oldest first, at most ``NOTICES_KEPT``."""
        ...


def _shown(notices: list[Notice], now: float) -> list[Notice]:
    return [n for n in notices if now - datetime.fromisoformat(n.at).timestamp() < NOTICE_SHOWN_S]


class MemoryNotices:
    """One instance: the latest notices in memory."""

    def __init__(self) -> None:
        self._kept: deque[Notice] = deque(maxlen=NOTICES_KEPT)

    async def add(self, notice: Notice) -> None:
        self._kept.append(notice)

    async def recent(self, now: float) -> list[Notice]:
        return _shown(list(self._kept), now)


class RedisNotices:
    """Several instances: one list, newest first, trimmed to ``NOTICES_KEPT`` and expiring
    ``NOTICE_SHOWN_S`` after the latest notice (``<prefix>:notices``)."""

    def __init__(self, limits: RedisLimits, key: str) -> None:
        self.redis = limits.redis
        self.key = key

    async def add(self, notice: Notice) -> None:
        entry = json.dumps({"text": notice.text, "sender": notice.sender, "at": notice.at}, ensure_ascii=False)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(self.key, entry)
            pipe.ltrim(self.key, 0, NOTICES_KEPT - 1)
            pipe.expire(self.key, NOTICE_SHOWN_S)
            await pipe.execute()

    async def recent(self, now: float) -> list[Notice]:
        entries = await self.redis.lrange(self.key, 0, NOTICES_KEPT - 1)
        notices = []
        for raw in reversed(entries):
            try:
                entry = json.loads(raw)
                notices.append(Notice(str(entry["text"]), str(entry["sender"]), str(entry["at"])))
            except (ValueError, KeyError, TypeError):
                log.warning("ignored a recent notice that could not be read")
        return _shown(notices, now)


class Notices:
    """The notice log an instance uses; Redis being away costs a late console its recent notices,
    never the notice itself (the fan-out carries that)."""

    def __init__(self, log_: NoticeLog) -> None:
        self.log = log_

    async def add(self, notice: Notice) -> None:
        try:
            await self.log.add(notice)
        except Exception:  # noqa: BLE001 - Redis away: the notice still goes out live
            log.warning("could not keep a notice for consoles that open later")

    async def recent(self, now: float) -> list[Notice]:
        try:
            return await self.log.recent(now)
        except Exception:  # noqa: BLE001 - Redis away: the console opens without them
            log.warning("could not read the recent notices")
            return []


def create_notices(limits: Limits | None, prefix: str) -> Notices:
    """Shared through Redis when the limits are (several instances), else in this instance's memory."""
    if isinstance(limits, RedisLimits):
        return Notices(RedisNotices(limits, f"{prefix}:notices"))
    return Notices(MemoryNotices())
