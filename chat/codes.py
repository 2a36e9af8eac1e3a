"""Anonymous return codes: made, normalised, found again, and hashed (docs/design.md §9).

A code is a few words from the word list of the visitor's page language (``chat/locale/<lang>/words.txt``)
or, for a language without a list, digits in groups of four. It carries at least ``ENTROPY_BITS`` bits
chosen by ``secrets``: 5 words from 2,048 (55 bits) or 16 digits (53 bits).

The code itself is never stored or logged. The database keeps two things derived from it:

- ``lookup``: the first 24 bits of an HMAC-SHA256 of the normalised code, keyed with a value derived
  from ``NORA_SECRET_KEY``. It finds the candidate rows without scanning; it is deliberately short, so
  that even someone holding a copy of the database *and* the key is left with 2^29 or more codes per row
  to test against the slow hash, and without the key it tells nothing at all.
- ``code_hash``: Argon2id of the normalised code (argon2-cffi's defaults, as staff passwords), computed
  in worker threads, at most ``MAX_CONCURRENT`` at a time.

Normalising lets a visitor type a code as they remember it: any case, any spaces, hyphens or dots
between the words (digits: any grouping).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import re
import secrets
import unicodedata
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

ENTROPY_BITS = 53
MIN_WORDS = 2048  # a shorter list is not used: its language gets digits
DIGITS = math.ceil(ENTROPY_BITS / math.log2(10))  # 16
LOCALE = Path(__file__).with_name("locale")
MAX_CONCURRENT = 2
MAX_CODE_CHARS = 200  # what a visitor may send; a real code is far shorter
_SEPARATORS = re.compile(r"[\s\-_.,;:/·]+")
_hasher = PasswordHasher()


@lru_cache(maxsize=32)
def word_list(language: str) -> tuple[str, ...] | None:
    """The language's words (normalised, distinct), or ``None`` when it has no list of ``MIN_WORDS``."""
    if not re.fullmatch(r"[a-z]{2,3}", language):
        return None
    path = LOCALE / language / "words.txt"
    if not path.is_file():
        return None
    words = []
    for line in path.read_text("utf-8").splitlines():
        word = line.strip()
        if word and not word.startswith("#"):
            words.append(normalise(word))
    distinct = tuple(dict.fromkeys(words))
    return distinct if len(distinct) >= MIN_WORDS else None


def word_count(words: int) -> int:
    """How many words of a list of ``words`` make at least ``ENTROPY_BITS`` bits."""
    return math.ceil(ENTROPY_BITS / math.log2(words))


def entropy_bits(language: str) -> float:
    words = word_list(language)
    if words is None:
        return DIGITS * math.log2(10)
    return word_count(len(words)) * math.log2(len(words))


def new_code(language: str) -> str:
    """A fresh code in ``language``: words separated by spaces, or digits in groups of four."""
    words = word_list(language)
    if words is None:
        digits = "".join(str(secrets.randbelow(10)) for _ in range(DIGITS))
        return " ".join(digits[i : i + 4] for i in range(0, DIGITS, 4))
    return " ".join(secrets.choice(words) for _ in range(word_count(len(words))))


def normalise(code: str) -> str:
    """The form a code is hashed in: NFKC, case-folded, single spaces between words; digits only for a
    code of digits (any grouping)."""
    text = unicodedata.normalize("NFKC", code).casefold().strip()
    if text and all(c.isdigit() or _SEPARATORS.fullmatch(c) for c in text):
        return "".join(c for c in text if c.isdigit())
    return " ".join(part for part in _SEPARATORS.split(text) if part)


def lookup_key(secret_key: str) -> bytes:
    """The HMAC key for lookups, derived from the service's secret (never the secret itself)."""
    return hmac.new(secret_key.encode("utf-8"), b"nora return code lookup v1", hashlib.sha256).digest()


def lookup(key: bytes, normalised: str) -> str:
    """24 bits of HMAC-SHA256 as 6 hex digits: finds candidates, identifies nobody."""
    return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()[:6]


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("nora dummy return code for timing")


def _verify(stored: str | None, normalised: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), normalised) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class CodeHasher:
    """Argon2id in worker threads, at most ``MAX_CONCURRENT`` at once (64 MiB each)."""

    def __init__(self, concurrency: int = MAX_CONCURRENT) -> None:
        self._slots = asyncio.Semaphore(concurrency)

    async def hash(self, normalised: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(_hasher.hash, normalised)

    async def verify(self, stored: str | None, normalised: str) -> bool:
        """``stored=None`` (no candidate) costs one full hash too, so timing tells nothing."""
        async with self._slots:
            return await asyncio.to_thread(_verify, stored, normalised)
