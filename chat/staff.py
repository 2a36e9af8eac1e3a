"""What ``chat`` needs to know about staff, as an interface that ``admin`` implements.

Keeping this a Protocol lets the adviser websocket authenticate without importing ``admin``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StaffProfile:
    user_id: str
    name: str
    roles: frozenset[str]
    service: str | None
    regions: frozenset[str]
    languages: frozenset[str]
    capacity: int
    max_capacity: int = 6


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    profile: StaffProfile
    session_key: str  # hash of the session token, never the token itself


class StaffDirectory(Protocol):
    async def identify(self, cookies: Mapping[str, str]) -> StaffIdentity | None:
        """The staff member behind a request's session cookie, or ``None``."""
        ...

    async def session_valid(self, session_key: str, *, activity: bool) -> bool:
        """Whether a session is still live (not revoked, not idle or past its absolute limit);
        ``activity``: the staff member was active on this socket since the last check."""
        ...

    async def profile(self, user_id: str) -> StaffProfile | None: ...

    async def warm(self, user_ids: Iterable[str]) -> None:
        """Have the profiles of ``user_ids`` at hand for ``profile`` (read together, not one by one)."""
        ...

    def forget(self, user_id: str | None) -> None:
        """The account changed (``None``: any may have): read the profile again at its next use."""
