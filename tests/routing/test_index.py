"""The indexed state decides exactly as the reference ``route``, and fast ``estimates`` as its definition.

A small alphabet of ids, regions, languages and times makes collisions (same id enqueued again, equal
enqueue times, transfers to and away from the same adviser, capacity changes, the clock going back)
common, which is where an index could drift from the plain state.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from routing import Adviser, AdviserStatus, ChatRequest, Service, TierDelays, UnknownAdviser
from routing.backends.memory import MemoryRoutingState
from routing.policy import (
    MAX_TIER,
    adds_by_definition,
    adviser_groups,
    estimates,
    estimates_by_definition,
    key_groups,
    reach_key,
    reaches,
)
from routing.signed_in import SignedIn

REGIONS = ["03", "46"]
LANGUAGES = ["nb", "ar", "so"]
ADVISERS = [f"a{n}" for n in range(6)]
CHATS = [f"c{n}" for n in range(24)]


@st.composite
def chats(draw: st.DrawFn, now: float = 0.0, ids: list[str] = CHATS) -> ChatRequest:
    language = draw(st.sampled_from(LANGUAGES))
    also = draw(st.lists(st.sampled_from(LANGUAGES), max_size=2))
    return ChatRequest(
        id=draw(st.sampled_from(ids)),
        language=language,
        region=draw(st.one_of(st.none(), st.sampled_from(REGIONS))),
        audience=draw(st.sampled_from(["youth", "staff"])),
        enqueued_at=now - draw(st.sampled_from([0.0, 0.0, 1.0, 30.0, 60.0, 119.5, 200.0, -5.0])),
        urgent=draw(st.booleans()),
        also_languages=tuple(x for x in dict.fromkeys(also) if x != language),
        min_tier=draw(st.sampled_from([0, 0, 0, 1, 2, 3, 5])),
        not_adviser=draw(st.sampled_from([None, None, None, None, *ADVISERS])),
        # A transfer hold that lapses: already, on the step, between steps, at a tier delay, or never.
        not_adviser_until=draw(st.sampled_from([None, now - 1.0, now, now + 0.5, now + 10.0, now + 60.0])),
        only_adviser=draw(st.sampled_from([None] * 12 + ADVISERS)),
        service=draw(st.sampled_from([None, None, Service.MR, Service.AT])),
        present=draw(st.sampled_from([True, True, True, False])),
    )


@st.composite
def advisers(draw: st.DrawFn) -> Adviser:
    return Adviser(
        id=draw(st.sampled_from(ADVISERS)),
        service=draw(st.sampled_from([Service.MR, Service.AT])),
        regions=frozenset(draw(st.sets(st.sampled_from(REGIONS), max_size=2))),
        languages=frozenset(draw(st.sets(st.sampled_from(LANGUAGES), min_size=1, max_size=3))),
        capacity=draw(st.sampled_from([0, 1, 1, 2, 3])),
        status=draw(st.sampled_from([*AdviserStatus, AdviserStatus.AVAILABLE, AdviserStatus.AVAILABLE])),
        last_assigned_at=draw(st.sampled_from([0.0, 0.0, 5.0])),
    )


@given(adviser=advisers(), chat=chats(), t=st.integers(0, MAX_TIER))
def test_reach_keys_say_what_reaches_says(adviser: Adviser, chat: ChatRequest, t: int) -> None:
    shared = set(adviser_groups(adviser)) & set(key_groups(reach_key(chat, t)))
    assert bool(shared) == reaches(adviser, chat, t)


@settings(max_examples=300, deadline=None)
@given(
    signed=st.lists(advisers(), max_size=6, unique_by=lambda a: a.id),
    changed=st.lists(advisers(), max_size=3),
    gone=st.sets(st.sampled_from(ADVISERS)),
    chat=chats(),
    t=st.integers(0, MAX_TIER),
)
def test_signed_in_says_what_the_definition_says(
    signed: list[Adviser], changed: list[Adviser], gone: set[str], chat: ChatRequest, t: int
) -> None:
    """Group bookkeeping and its cache answer as a scan of the signed-in advisers would, through
    profile changes and sign-outs."""
    index = SignedIn()
    everyone = {a.id: a for a in signed}
    for adviser in signed:
        index.put(adviser)
    assert index.adds(chat, t) == adds_by_definition(everyone.values())(chat, t)
    for adviser in changed:
        index.put(adviser)
        everyone[adviser.id] = adviser
    for adviser_id in gone:
        index.remove(adviser_id)
        everyone.pop(adviser_id, None)
    assert index.adds(chat, t) == adds_by_definition(everyone.values())(chat, t)


class SameDecisions(RuleBasedStateMachine):
    """The same events applied to the indexed state and to one that runs ``route`` on each step."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.now = 1000.0
        self.delays = TierDelays()
        self.fast = MemoryRoutingState(self.delays)
        self.slow = MemoryRoutingState(self.delays, indexed=False)

    def teardown(self) -> None:
        self.loop.close()

    def both(self, op: str, *args: Any) -> Any:
        results = []
        for state in (self.fast, self.slow):
            try:
                results.append(("ok", self.loop.run_until_complete(getattr(state, op)(*args))))
            except UnknownAdviser as exc:
                results.append(("raised", exc.adviser_id))
        assert results[0] == results[1], (op, args, results)
        return results[0][1]

    @initialize(
        delays=st.sampled_from([(60, 120, 180), (0, 0, 0), (10, 10, 30), (1, 5, 5)]),
        staff=st.lists(advisers(), min_size=1, max_size=6, unique_by=lambda a: a.id),
        data=st.data(),
    )
    def configure(self, delays: tuple[int, int, int], staff: list[Adviser], data: st.DataObject) -> None:
        self.delays = TierDelays.of(delays)
        self.fast = MemoryRoutingState(self.delays)
        self.slow = MemoryRoutingState(self.delays, indexed=False)
        for adviser in staff:
            self.both("put_adviser", adviser)
        for chat in data.draw(st.lists(chats(self.now), max_size=12)):
            self.both("enqueue", chat)

    def then(self, step: bool) -> None:
        """Most events are followed by a step, as in the service; some pile up between steps."""
        if step:
            self.both("step", self.now)

    @rule(data=st.data(), n=st.integers(1, 3), step=st.booleans())
    def enqueue(self, data: st.DataObject, n: int, step: bool) -> None:
        for _ in range(n):
            self.both("enqueue", data.draw(chats(self.now)))
        self.then(step)

    @rule(chat_id=st.sampled_from(CHATS))
    def withdraw(self, chat_id: str) -> None:
        self.both("withdraw", chat_id)

    @rule(chat_id=st.sampled_from(CHATS), adviser_id=st.sampled_from(ADVISERS), step=st.booleans())
    def supervisor_assigns(self, chat_id: str, adviser_id: str, step: bool) -> None:
        self.both("assign_to", chat_id, adviser_id, self.now)
        self.then(step)

    @rule(chat_id=st.sampled_from(CHATS), present=st.booleans(), step=st.booleans())
    def presence(self, chat_id: str, present: bool, step: bool) -> None:
        """A visitor closes its last socket, or comes back."""
        self.both("set_present", chat_id, present)
        self.then(step)

    @rule(adviser=advisers(), held=st.sets(st.sampled_from(CHATS), max_size=2), step=st.booleans())
    def put_adviser(self, adviser: Adviser, held: set[str], step: bool) -> None:
        self.both("put_adviser", replace(adviser, active=frozenset(held)))
        self.then(step)

    @rule(
        adviser_id=st.sampled_from(ADVISERS),
        status=st.sampled_from([*AdviserStatus, AdviserStatus.AVAILABLE, AdviserStatus.AVAILABLE]),
        step=st.booleans(),
    )
    def set_status(self, adviser_id: str, status: AdviserStatus, step: bool) -> None:
        self.both("set_status", adviser_id, status, self.now)
        self.then(step)

    @rule(data=st.data(), every=st.booleans(), step=st.booleans())
    def release(self, data: st.DataObject, every: bool, step: bool) -> None:
        """One conversation ends, or all of one adviser's."""
        held = sorted((a.id, c) for a in self.loop.run_until_complete(self.slow.snapshot()).advisers for c in a.active)
        if held:
            adviser_id, chat_id = data.draw(st.sampled_from(held))
            for other_adviser, other_chat in held:
                if other_chat == chat_id or (every and other_adviser == adviser_id):
                    self.both("release", other_adviser, other_chat, self.now)
        self.then(step)

    @rule(data=st.data(), n=st.integers(1, 3))
    def burst(self, data: st.DataObject, n: int) -> None:
        """Advisers free up and chats arrive before the next step: the step must interleave them."""
        held = sorted((a.id, c) for a in self.loop.run_until_complete(self.slow.snapshot()).advisers for c in a.active)
        for adviser_id, chat_id in data.draw(st.lists(st.sampled_from(held), max_size=2)) if held else []:
            self.both("release", adviser_id, chat_id, self.now)
        for _ in range(n):
            self.both("enqueue", data.draw(chats(self.now)))
        self.both("set_status", data.draw(st.sampled_from(ADVISERS)), AdviserStatus.AVAILABLE, self.now)
        self.both("step", self.now)

    @rule(adviser_id=st.sampled_from(ADVISERS))
    def remove_adviser(self, adviser_id: str) -> None:
        self.both("remove_adviser", adviser_id)

    @rule(ids=st.sets(st.sampled_from(ADVISERS)), lease=st.sampled_from([0.0, 30.0]))
    def heartbeats(self, ids: set[str], lease: float) -> None:
        self.both("touch", sorted(ids), self.now)
        self.both("expire_leases", self.now, lease)

    @rule(seconds=st.sampled_from([0.0, 0.5, 1.0, 10.0, 59.5, 60.0, 61.0, 200.0, -1.0, -70.0]))
    def step(self, seconds: float) -> None:
        self.now += seconds
        self.both("step", self.now)

    @rule(data=st.data(), k=st.sampled_from([0, 1, 2]), nudge=st.sampled_from([-1e-6, 0.0, 0.0, 1e-6]))
    def step_when_a_tier_opens(self, data: st.DataObject, k: int, nudge: float) -> None:
        """The clock lands on (or just beside) the moment a waiting chat reaches a tier."""
        waiting = sorted(self.loop.run_until_complete(self.slow.snapshot()).waiting, key=lambda c: c.id)
        if waiting:
            chat = data.draw(st.sampled_from(waiting))
            at = chat.enqueued_at + (self.delays.t1, self.delays.t2, self.delays.t3)[k] + nudge
            if at >= self.now:
                self.now = at
                self.both("step", self.now)

    @rule()
    def dump_and_load(self) -> None:
        self.fast = MemoryRoutingState.load(self.fast.dump(), self.delays)

    @invariant()
    def same_state_and_same_estimates(self) -> None:
        fast = self.loop.run_until_complete(self.fast.snapshot())
        slow = self.loop.run_until_complete(self.slow.snapshot())
        assert {c.id: c for c in fast.waiting} == {c.id: c for c in slow.waiting}
        assert {a.id: a for a in fast.advisers} == {a.id: a for a in slow.advisers}
        assert fast.releases == slow.releases
        args = (slow.waiting, slow.advisers, slow.releases, self.now, self.delays)
        assert estimates(*args) == estimates_by_definition(*args)


SameDecisions.TestCase.settings = settings(
    max_examples=150, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestSameDecisions = SameDecisions.TestCase


@settings(max_examples=200, deadline=None)
@given(
    waiting=st.lists(chats(1000.0, [f"c{n}" for n in range(40)]), max_size=40, unique_by=lambda c: c.id),
    staff=st.lists(advisers(), max_size=6, unique_by=lambda a: a.id),
    releases=st.lists(st.tuples(st.sampled_from(ADVISERS), st.sampled_from([0.0, 900.0, 990.0])), max_size=12),
    now=st.sampled_from([1000.0, 1060.0, 1200.0]),
)
def test_fast_estimates_match_the_definition(
    waiting: list[ChatRequest], staff: list[Adviser], releases: list[tuple[str, float]], now: float
) -> None:
    delays = TierDelays()
    assert estimates(waiting, staff, releases, now, delays) == estimates_by_definition(
        waiting, staff, releases, now, delays
    )
