"""Argon2id password hashing (argon2-cffi defaults: t=3, m=64 MiB, p=4; above OWASP's minimum).

Each hash takes 64 MiB and tens of milliseconds, so hashing runs in a worker thread and at most
``MAX_CONCURRENT`` at a time: a burst of logins cannot exhaust memory or stall the event loop. In front
of those slots the waiting list is bounded (``max_waiting``): a login that finds it full is refused at
once (``Busy``) instead of queueing behind a flood, so a real login never waits for hundreds of hashes.

``NORA_PASSWORD_HASHING=fast`` (development only, for the test suite: hundreds of servers each log a
few people in) hashes with t=1, m=1 MiB, p=1. A hash keeps its parameters, so a server with the usual
ones verifies a fast hash and replaces it at that login (``needs_rehash``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import string
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_CONCURRENT = 2
MIN_LENGTH = 12
MAX_LENGTH = 1024  # what a login accepts
MIN_DISTINCT = 5
COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")
_DECORATION = string.digits + string.punctuation + string.whitespace
STANDARD = PasswordHasher()
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_hasher = STANDARD


def use_fast_hashing(fast: bool) -> None:
    """Hash with ``FAST`` (or ``STANDARD`` again) in this process; set once at start-up from settings."""
    global _hasher
    _hasher = FAST if fast else STANDARD
    _dummy_hash.cache_clear()


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


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list (``admin/common_passwords.txt``; where it comes from is in its header)."""
    lines = COMMON_PASSWORDS.read_text("utf-8").splitlines()
    body = lines[lines.index("") + 1 :]
    return frozenset(line.strip().lower() for line in body if line.strip())


def _sequential(text: str) -> bool:
    """``abcdefghijkl``, ``987654321098``: every character one step from the one before it."""
    steps = set()
    for a, b in itertools.pairwise(text):
        step = ord(b) - ord(a)
        if a.isdigit() and b.isdigit():
            step = {1: 1, 9: -1}.get(step % 10, step)  # 7890123 counts on past 9
        steps.add(step)
    return steps in ({1}, {-1})


def password_problem(password: str, username: str) -> str | None:
    """What is wrong with ``password`` as the password of ``username``, or ``None`` if it will do.

    NIST SP 800-63B and OWASP: a minimum length and no composition rules, but no password that is
    common or known from breaches, repetitive or sequential, or built from the username.
    """
    if len(password) < MIN_LENGTH:
        return f"at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"at most {MAX_LENGTH} characters"
    lowered = password.strip().lower()
    name = username.strip().lower()
    if name and (lowered == name or (len(name) >= 3 and name in lowered)):
        return "must not contain the username"
    common = common_passwords()
    if lowered in common or lowered.strip(_DECORATION) in common:
        return "too common: it is on a list of common and breached passwords (a longer phrase of your own is better)"
    letters_and_digits = "".join(c for c in lowered if c.isalnum())
    if len(set(lowered)) < MIN_DISTINCT or lowered in (lowered + lowered)[1:-1] or _sequential(letters_and_digits):
        return "too easy to guess: repeated or sequential characters"
    return None
