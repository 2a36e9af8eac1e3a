"""Stand-ins for the parts of a ChatService that in-process tests do not exercise."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chat.staff import StaffIdentity, StaffProfile


class StandInDirectory:
    """The staff directory of an in-process test: the profiles it is given, no cookie identifies
    anyone, and every session is valid or none is (``sessions_valid``)."""

    def __init__(self, *profiles: StaffProfile, sessions_valid: bool = False) -> None:
        self.profiles = {p.user_id: p for p in profiles}
        self.sessions_valid = sessions_valid

    async def identify(self, cookies: Mapping[str, str]) -> StaffIdentity | None:
        return None

    async def session_valid(self, session_key: str, *, activity: bool) -> bool:
        return self.sessions_valid

    async def profile(self, user_id: str) -> StaffProfile | None:
        return self.profiles.get(user_id)

    async def warm(self, user_ids: Iterable[str]) -> None:
        """Every profile is at hand."""

    def forget(self, user_id: str | None) -> None:
        """Nothing is cached."""
