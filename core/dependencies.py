"""Whether an error means a dependency (the database, Redis) is away, rather than a fault of the
request: such a request gets a retryable answer (HTTP 503 ``unavailable`` with ``Retry-After``, or the
error frame ``unavailable`` with ``retry_after_ms``) and one log line, never a traceback per request."""

from __future__ import annotations

import logging
import sqlite3
import sys
import time

import asyncpg
from sqlalchemy import exc as sa_errors

log = logging.getLogger("nora.availability")
RETRY_AFTER_S = 5
LOG_EVERY_S = 10.0

_AWAY = (
    OSError,  # refused, reset, unreachable, timed out
    asyncpg.PostgresConnectionError,  # SQLSTATE 08: the connection is gone or was refused
    asyncpg.InsufficientResourcesError,  # 53: too many connections, out of memory or disk
    asyncpg.OperatorInterventionError,  # 57: shutting down, starting up
    asyncpg.PostgresSystemError,  # 58: I/O error on the server
    sqlite3.OperationalError,  # the file is locked elsewhere, unreadable or full
)


def _redis_away() -> tuple[type[BaseException], ...]:
    """Redis's own errors, when Redis is in use: an instance without it never imports the client (a
    tenth of its start-up), and then no error can be one of them."""
    errors = sys.modules.get("redis.exceptions")
    if errors is None:
        return ()
    return (errors.ConnectionError, errors.TimeoutError, errors.BusyLoadingError)


def dependency_away(exc: BaseException) -> bool:
    if isinstance(exc, _AWAY) or isinstance(exc, _redis_away()):
        return True
    if isinstance(exc, asyncpg.InterfaceError) and not isinstance(exc, ValueError):
        return True  # the connection is closed or broken (a value that cannot be encoded is a ValueError)
    if isinstance(exc, sa_errors.DBAPIError):
        return exc.connection_invalidated or (exc.orig is not None and dependency_away(exc.orig))
    cause = exc.__cause__
    return cause is not None and cause is not exc and dependency_away(cause)


class OutageLog:
    """One WARNING per ``LOG_EVERY_S`` for failures of one kind, with how many there were since."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._last = 0.0
        self._since = 0

    def note(self, exc: BaseException) -> None:
        self._since += 1
        now = time.monotonic()
        if now - self._last >= LOG_EVERY_S:
            log.warning(
                "%s: a dependency is away (%s); %d since the last note", self.what, type(exc).__name__, self._since
            )
            self._last, self._since = now, 0
