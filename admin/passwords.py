"""Argon2id password hashing (argon2-cffi defaults: t=3, m=64 MiB, p=4; above OWASP's minimum).

Each hash takes 64 MiB and tens of milliseconds, so hashing runs in a worker thread and at most
``MAX_CONCURRENT`` at a time: a burst of logins cannot exhaust memory or stall the event loop.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_CONCURRENT = 2
_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("nora-dummy-password-for-timing")


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class Passwords:
    """Hashing bounded to a few worker threads; one instance per app (its semaphore is loop-bound)."""

    def __init__(self, concurrency: int = MAX_CONCURRENT) -> None:
        self._slots = asyncio.Semaphore(concurrency)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(_hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """``stored=None`` (unknown user) still costs one full hash, so timing reveals nothing."""
        async with self._slots:
            return await asyncio.to_thread(_verify, stored, password)


def needs_rehash(stored: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True
