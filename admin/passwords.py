"""Argon2id password hashing (argon2-cffi defaults: t=3, m=64 MiB, p=4; above OWASP's minimum).

Each hash takes 64 MiB and tens of milliseconds, so hashing runs in a worker thread and at most
``MAX_CONCURRENT`` at a time: a burst of logins cannot exhaust memory or stall the event loop. In front
of those slots the waiting list is bounded (``max_waiting``): a login that finds it full is refused at
once (``Busy``) instead of queueing behind a flood, so a real login never waits for hundreds of hashes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
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


class Busy(Exception):
    """The waiting list in front of the hash slots is full; try again in a moment."""


class Passwords:
    """Hashing bounded to a few worker threads; one instance per app (its semaphore is loop-bound).

    ``max_waiting=None`` (the command line, tests) leaves the waiting list unbounded.
    """

    def __init__(self, concurrency: int = MAX_CONCURRENT, *, max_waiting: int | None = None) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._capacity = None if max_waiting is None else concurrency + max_waiting
        self._admitted = 0

    @property
    def admitted_count(self) -> int:
        return self._admitted

    @contextlib.contextmanager
    def admitted(self, *, priority: bool = False) -> Iterator[None]:
        """A place in line for the hashes of one request, or ``Busy`` at once when the line is full.

        ``priority`` requests (a browser with a valid device cookie) are let in past the bound: they are
        few, as each device cookie has its own small limit of attempts.
        """
        if not priority and self._capacity is not None and self._admitted >= self._capacity:
            raise Busy
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

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
