"""Property-based: the invariants of docs/design.md §3.4 hold under any sequence of events.

Random arrivals (any region, language, audience, urgency), advisers joining, changing status, going
offline and coming back or dropping out (their conversations go back to the queue), conversations
finishing, being transferred (to a named adviser, a service, another region or language, never straight
back to the transferring adviser) or withdrawn, visitors closing their last socket and coming back, and
the clock moving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from routing import Adviser, AdviserStatus, Assignment, ChatRequest, Service, TierDelays
from routing.backends.memory import MemoryRoutingState
from routing.policy import adds_by_definition, eligible, estimates, excluded, reaches, tier, top_tier

REGIONS = ["03", "46", None]
LANGUAGES = ["nb", "ar", "so"]
D = TierDelays(60, 120, 180)
T = TypeVar("T")


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
        self.request: dict[str, ChatRequest] = {}  # what the chat layer would enqueue for each conversation
        self.arrived: dict[str, float] = {}  # when each conversation first entered the queue
        self.widest: dict[str, int] = {}  # the widest tier each waiting conversation has reached

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
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
        self.request[chat.id] = chat
        self.arrived[chat.id] = chat.enqueued_at
        self.run(self.state.enqueue(chat))
        self.step()

    @precondition(lambda self: bool(self.held))
    @rule(
        data=st.data(),
        to=st.sampled_from(["adviser", "service", "region", "language"]),
        adviser_n=st.integers(0, 5),
        service=st.sampled_from([Service.MR, Service.AT]),
        region=st.sampled_from(REGIONS),
        language=st.sampled_from(LANGUAGES),
    )
    def transfer(
        self,
        data: st.DataObject,
        to: str,
        adviser_n: int,
        service: Service,
        region: str | None,
        language: str,
    ) -> None:
        """As ``ChatService.transfer``: release, then queue again with the original enqueue time."""
        conversation = data.draw(st.sampled_from(sorted(self.held)))
        adviser = self.held.pop(conversation)
        self.run(self.state.release(adviser, conversation, self.now))
        before = self.request[conversation]
        if to == "adviser":
            moved = replace(before, only_adviser=f"a{adviser_n}")
        elif to == "service":
            moved = replace(before, service=service, min_tier=1 if service is Service.AT else 0)
        elif to == "region":
            moved = replace(before, region=region)
        else:
            moved = replace(before, language=language, also_languages=())
        self.request[conversation] = moved
        # Not back to the transferring adviser at once; after the first tier delay they may get it back.
        self.run(self.state.enqueue(replace(moved, not_adviser=adviser, not_adviser_until=self.now + D.t1)))
        self.step()

    @rule(n=st.integers(0, 5))
    def adviser_drops(self, n: int) -> None:
        """Offline past the grace period: the adviser is removed and their conversations queue again."""
        ids = {a.id for a in self.run(self.state.snapshot()).advisers}
        if f"a{n}" not in ids:
            return
        self.run(self.state.set_status(f"a{n}", AdviserStatus.OFFLINE, self.now))
        removed = self.run(self.state.remove_adviser(f"a{n}"))
        assert removed is not None
        for conversation in sorted(removed.active):
            assert self.held.pop(conversation) == removed.id
            self.run(self.state.enqueue(self.request[conversation]))
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
            gone = data.draw(st.sampled_from(waiting))
            self.run(self.state.withdraw(gone))
            self.widest.pop(gone, None)

    @rule(data=st.data(), present=st.booleans())
    def visitor_closes_tab_or_comes_back(self, data: st.DataObject, present: bool) -> None:
        waiting = sorted(c.id for c in self.run(self.state.snapshot()).waiting)
        if waiting:
            assert self.run(self.state.set_present(data.draw(st.sampled_from(waiting)), present))
            self.step()

    @rule(seconds=st.sampled_from([1.0, 30.0, 61.0, 130.0]))
    def clock(self, seconds: float) -> None:
        self.now += seconds
        self.step()

    def step(self) -> None:
        self.waiting_before = list(self.run(self.state.snapshot()).waiting)
        self.last_step = self.run(self.state.step(self.now))
        present = {c.id for c in self.waiting_before if c.present}
        for decision in self.last_step:
            assert decision.conversation_id not in self.held, "assigned twice"
            assert decision.conversation_id in present, "an absent visitor assigned"
            self.widest.pop(decision.conversation_id, None)
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
            for chat in snap.waiting:
                if chat.present:
                    assert not eligible(adviser, chat, self.now, D), (adviser.id, chat.id)

    @invariant()
    def tiers_adding_nobody_are_passed_and_never_narrow(self) -> None:
        """A present visitor waits at a tier that adds somebody signed in (or at its widest), never at
        one that only the clock would open; and no tier once reached closes again while it waits."""
        snap = self.run(self.state.snapshot())
        adds = adds_by_definition(snap.advisers)
        for chat in snap.waiting:
            t = tier(chat, self.now, D)
            if chat.present:
                assert t >= top_tier(chat) or adds(chat, t), (chat.id, t, "adds nobody signed in")
            if chat.id in self.request and self.request[chat.id].enqueued_at == chat.enqueued_at:
                assert t >= self.widest.get(chat.id, 0) or chat.min_tier < self.request[chat.id].min_tier, chat.id
            self.widest[chat.id] = max(t, self.widest.get(chat.id, 0))

    @invariant()
    def first_come_first_served_within_what_an_adviser_can_take(self) -> None:
        snap = self.run(self.state.snapshot())
        by_id = {c.id: c for c in self.waiting_before}
        advisers = {a.id: a for a in snap.advisers}
        for decision in self.last_step:
            served = by_id[decision.conversation_id]
            for left in snap.waiting:
                if left.present and left.priority() < served.priority():
                    adviser = advisers[decision.adviser_id]
                    could = adviser.id != excluded(left, self.now) and reaches(adviser, left, tier(left, self.now, D))
                    assert not could, (left.id, "passed over for", served.id)

    @invariant()
    def original_place_kept_after_requeue_and_transfer(self) -> None:
        """A conversation back in the queue keeps its first enqueue time, hence its place in line: with
        first come first served (above) nobody who arrived later is served before it, and no later
        arrival counts in its queue position."""
        snap = self.run(self.state.snapshot())
        for chat in snap.waiting:
            assert chat.enqueued_at == self.arrived[chat.id], chat.id
        positions = estimates(snap.waiting, snap.advisers, snap.releases, self.now, D)
        present = sorted((c for c in snap.waiting if c.present), key=ChatRequest.priority)
        assert set(positions) == {c.id for c in present}, "only present visitors have a position"
        for ahead, chat in enumerate(present):
            assert positions[chat.id].position <= ahead + 1, chat.id

    @rule(data=st.data())
    def no_starvation(self, data: st.DataObject) -> None:
        """On a copy of the state: every tier opens, advisers keep finishing their conversations, and a
        newcomer competing with a waiting chat arrives every second. Within as many rounds as chats
        were waiting, each of them is served unless no adviser could ever take it."""
        copy = MemoryRoutingState.load(self.state.dump(), D)
        snap = self.run(copy.snapshot())
        starting = {c.id for c in snap.waiting}
        now = self.now + D.t3
        for round_ in range(len(starting) + 1):
            for adviser in snap.advisers:
                for conversation in adviser.active:
                    self.run(copy.release(adviser.id, conversation, now))
            if snap.waiting:
                model = data.draw(st.sampled_from(sorted(snap.waiting, key=lambda c: c.id)))
                newcomer = replace(model, id=f"n{round_}", enqueued_at=now, urgent=False, not_adviser=None)
                self.run(copy.enqueue(newcomer))
            self.run(copy.step(now))
            now += 1.0
            snap = self.run(copy.snapshot())
        for chat in snap.waiting:
            if chat.id in starting and chat.present:
                able = [
                    a.id
                    for a in snap.advisers
                    if a.status is AdviserStatus.AVAILABLE
                    and a.capacity > 0
                    and a.id != excluded(chat, now)
                    and reaches(a, chat, tier(chat, now, D))
                ]
                assert not able, (chat.id, "starved although", able, "could take it")


RoutingMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestRouting = RoutingMachine.TestCase
