"""Who is signed in, by adviser group: tells which tiers of a chat add somebody, without a scan.

``policy.adds_by_definition`` looks at every signed-in adviser for each chat and tier. Here each
adviser group (``policy.adviser_groups``) keeps its members, and the answer for a pair of reach keys
(the tier and the one below) is cached until somebody joins or leaves a group. Chats with equal keys
get the same answer, so a burst of starts costs a dictionary lookup each.
"""

from __future__ import annotations

from routing.model import Adviser, ChatRequest
from routing.policy import Group, adviser_groups, key_groups, reach_key, start_tier


class SignedIn:
    def __init__(self) -> None:
        self._members: dict[Group, set[str]] = {}
        self._groups: dict[str, tuple[Group, ...]] = {}
        self._profiles: dict[str, tuple[object, ...]] = {}  # what the groups were derived from
        self._adds: dict[tuple[tuple[Group, ...], tuple[Group, ...]], bool] = {}

    def put(self, adviser: Adviser) -> bool:
        """Record the adviser as signed in; ``True`` when a group lost them (their profile changed),
        which may make tiers pass that did not before."""
        profile = (adviser.service, adviser.regions, adviser.languages)
        if self._profiles.get(adviser.id) == profile:
            return False  # a heartbeat or a status change: the same groups
        self._profiles[adviser.id] = profile
        groups = adviser_groups(adviser)
        old = self._groups.get(adviser.id)
        lost = self._leave(adviser.id, old or ())
        self._groups[adviser.id] = groups
        for group in groups:
            self._members.setdefault(group, set()).add(adviser.id)
        self._adds.clear()
        return lost

    def remove(self, adviser_id: str) -> bool:
        """The adviser signed out (grace period over); ``True`` if they were signed in."""
        old = self._groups.pop(adviser_id, None)
        self._profiles.pop(adviser_id, None)
        if old is None:
            return False
        self._leave(adviser_id, old)
        self._adds.clear()
        return True

    def _leave(self, adviser_id: str, groups: tuple[Group, ...]) -> bool:
        for group in groups:
            members = self._members[group]
            members.discard(adviser_id)
            if not members:
                del self._members[group]
        return bool(groups)

    def adds(self, chat: ChatRequest, t: int) -> bool:
        """``policy.Adds``: tier ``t`` reaches somebody signed in whom the tier below did not."""
        reached = key_groups(reach_key(chat, t))
        below = key_groups(reach_key(chat, t - 1)) if t > start_tier(chat) else ()
        key = (reached, below)
        answer = self._adds.get(key)
        if answer is None:
            before: set[str] = set()
            for group in below:
                before |= self._members.get(group, set())
            answer = any(m not in before for g in reached for m in self._members.get(g, ()))
            self._adds[key] = answer
        return answer
