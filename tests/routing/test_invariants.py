"""Property-based: the invariants of DESIGN.md §3 hold under any sequence of events.

Random arrivals (any region, language, audience, urgency), advisers joining, changing status, going
offline and coming back, conversations finishing or being withdrawn, and the clock moving.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from routing import Adviser, AdviserStatus, Assignment, ChatRequest, Service, TierDelays
from routing.backends.memory import MemoryRoutingState
from routing.policy import can_take, reaches, tier

REGIONS = ["03", "46", None]
LANGUAGES = ["nb", "ar", "so"]
D = TierDelays(60, 120, 180)


class RoutingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.state = MemoryRoutingState(D)
        self.now = 0.0
        self.next_id = 0
        self.held: dict[str, str] = {}  # conversation -> adviser, as the chat layer would record it
        self.ever_assigned: set[str] = set()
        self.last_step: list[Assignment] = []
        self.waiting_before: list[ChatRequest] = []

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.loop.close()

    @initialize()
    def start(self) -> None:
        self.step()

    @rule(
        region=st.sampled_from(REGIONS),
        language=st.sampled_from(LANGUAGES),
        urgent=st.booleans(),
        audience=st.sampled_from(["youth", "staff"]),
        also=st.lists(st.sampled_from(LANGUAGES), max_size=2),
    )
    def arrive(self, region: str | None, language: str, urgent: bool, audience: str, also: list[str]) -> None:
        self.next_id += 1
        chat = ChatRequest(
            f"c{self.next_id}",
            language,
            region,
            audience,
            self.now,
            urgent,
            tuple(x for x in dict.fromkeys(also) if x != language),
        )
        self.run(self.state.enqueue(chat))
        self.step()

    @rule(
        n=st.integers(0, 5),
        service=st.sampled_from([Service.MR, Service.AT]),
        regions=st.sets(st.sampled_from(["03", "46"]), min_size=1),
        languages=st.sets(st.sampled_from(LANGUAGES), min_size=1),
        capacity=st.integers(1, 3),
    )
    def adviser_joins(self, n: int, service: Service, regions: set[str], languages: set[str], capacity: int) -> None:
        adviser = Adviser(f"a{n}", service, frozenset(regions), frozenset(languages), capacity)
        self.run(self.state.put_adviser(adviser))
        self.run(self.state.set_status(adviser.id, AdviserStatus.AVAILABLE, self.now))
        self.step()

    @rule(n=st.integers(0, 5), status=st.sampled_from(list(AdviserStatus)))
    def status_change(self, n: int, status: AdviserStatus) -> None:
        ids = {a.id for a in self.run(self.state.snapshot()).advisers}
        if f"a{n}" in ids:
            self.run(self.state.set_status(f"a{n}", status, self.now))
            self.step()

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def conversation_ends(self, data: st.DataObject) -> None:
        conversation = data.draw(st.sampled_from(sorted(self.held)))
        adviser = self.held.pop(conversation)
        self.run(self.state.release(adviser, conversation, self.now))
        self.step()

    @rule(data=st.data())
    def visitor_leaves_queue(self, data: st.DataObject) -> None:
        waiting = sorted(c.id for c in self.run(self.state.snapshot()).waiting)
        if waiting:
            self.run(self.state.withdraw(data.draw(st.sampled_from(waiting))))

    @rule(seconds=st.sampled_from([1.0, 30.0, 61.0, 130.0]))
    def clock(self, seconds: float) -> None:
        self.now += seconds
        self.step()

    def step(self) -> None:
        self.waiting_before = list(self.run(self.state.snapshot()).waiting)
        self.last_step = self.run(self.state.step(self.now))
        for decision in self.last_step:
            assert decision.conversation_id not in self.held, "assigned twice"
            self.held[decision.conversation_id] = decision.adviser_id
            self.ever_assigned.add(decision.conversation_id)

    @invariant()
    def never_assigned_over_capacity_and_books_agree(self) -> None:
        snap = self.run(self.state.snapshot())
        for adviser in snap.advisers:
            # A lowered capacity keeps current chats; no step may add one beyond it.
            if any(d.adviser_id == adviser.id for d in self.last_step):
                assert len(adviser.active) <= adviser.capacity
            assert adviser.active == {c for c, a in self.held.items() if a == adviser.id}
        assert not {c.id for c in snap.waiting} & set(self.held), "a chat both waiting and held"

    @invariant()
    def no_idle_eligible_pair(self) -> None:
        snap = self.run(self.state.snapshot())
        for adviser in snap.advisers:
            if can_take(adviser):
                for chat in snap.waiting:
                    assert not reaches(adviser, chat, tier(chat, self.now, D)), (adviser.id, chat.id)

    @invariant()
    def first_come_first_served_within_what_an_adviser_can_take(self) -> None:
        snap = self.run(self.state.snapshot())
        by_id = {c.id: c for c in self.waiting_before}
        advisers = {a.id: a for a in snap.advisers}
        for decision in self.last_step:
            served = by_id[decision.conversation_id]
            for left in snap.waiting:
                if left.priority() < served.priority():
                    adviser = advisers[decision.adviser_id]
                    assert not reaches(adviser, left, tier(left, self.now, D)), (left.id, "passed over for", served.id)


RoutingMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestRouting = RoutingMachine.TestCase
