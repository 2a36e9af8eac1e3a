"""The routing policy of docs/design.md §3, rule by rule."""

from __future__ import annotations

from routing import Adviser, AdviserStatus, ChatRequest, Service, TierDelays
from routing.policy import choose, estimates, reaches, route, tier

D = TierDelays(60, 120, 180)


def chat(
    id: str = "c1",
    *,
    language: str = "ar",
    region: str | None = "03",
    audience: str = "youth",
    at: float = 0.0,
    urgent: bool = False,
    also: tuple[str, ...] = (),
) -> ChatRequest:
    return ChatRequest(id, language, region, audience, at, urgent, also)


def adviser(
    id: str,
    service: Service = Service.MR,
    regions: set[str] | None = None,
    languages: set[str] | None = None,
    capacity: int = 2,
    active: set[str] | None = None,
    last: float = 0.0,
    status: AdviserStatus = AdviserStatus.AVAILABLE,
) -> Adviser:
    return Adviser(
        id,
        service,
        frozenset(regions or {"03"}),
        frozenset(languages or {"ar"}),
        capacity,
        status,
        frozenset(active or set()),
        last,
    )


def test_tiers_widen_with_waiting_time_and_also_languages_open_tier_3() -> None:
    assert [tier(chat(), t, D) for t in (0, 59, 60, 119, 120, 500)] == [0, 0, 1, 1, 2, 2]
    assert tier(chat(also=("en",)), 180, D) == 3
    assert tier(chat(region=None), 0, D) == 1  # no region: starts with the national team


def test_tier_0_is_mr_in_region_and_language_staff_also_reach_at() -> None:
    mr_here, mr_elsewhere = adviser("a"), adviser("b", regions={"46"})
    at = adviser("t", Service.AT, regions=set())
    youth, staff = chat(), chat(audience="staff")
    assert reaches(mr_here, youth, 0) and not reaches(mr_elsewhere, youth, 0) and not reaches(at, youth, 0)
    assert reaches(at, staff, 0)
    assert reaches(at, youth, 1) and not reaches(mr_elsewhere, youth, 1)
    assert reaches(mr_elsewhere, youth, 2)
    assert not reaches(adviser("x", languages={"so"}), youth, 2)


def test_also_languages_only_from_tier_3() -> None:
    english_mr = adviser("e", regions={"46"}, languages={"en"})
    c = chat(also=("en",))
    assert not reaches(english_mr, c, 2) and reaches(english_mr, c, 3)


def test_choice_is_least_loaded_then_idle_longest() -> None:
    busy = adviser("busy", capacity=2, active={"x"})
    idle_recent = adviser("recent", last=50)
    idle_long = adviser("long", last=10)
    assert choose([busy, idle_recent, idle_long]) is idle_long
    assert choose([busy, idle_recent]) is idle_recent


def test_route_serves_urgent_first_then_oldest_and_respects_capacity() -> None:
    advisers = {"a": adviser("a", capacity=2)}
    waiting = [chat("old", at=1), chat("new", at=5), chat("urgent", at=9, urgent=True)]
    decisions = route(waiting, advisers, 10, D)
    assert [d.conversation_id for d in decisions] == ["urgent", "old"]
    assert advisers["a"].active == {"urgent", "old"}
    assert route([chat("new", at=5)], advisers, 11, D) == []  # full


def test_away_and_offline_advisers_get_nothing() -> None:
    for status in (AdviserStatus.AWAY, AdviserStatus.OFFLINE):
        assert route([chat()], {"a": adviser("a", status=status)}, 0, D) == []


def test_estimates_count_only_chats_competing_for_the_same_advisers() -> None:
    advisers = [
        adviser("a", capacity=1, active={"busy"}),
        adviser("s", regions={"46"}, languages={"so"}, capacity=1, active={"busy2"}),
    ]
    waiting = [chat("ar1", at=1), chat("so1", language="so", region="46", at=2), chat("ar2", at=3)]
    result = estimates(waiting, advisers, [], 10, D)
    assert (result["ar1"].position, result["so1"].position, result["ar2"].position) == (1, 1, 2)
    assert result["ar2"].estimated_wait_s is None  # no finished conversations yet: unknown
    releases = [("a", 10 - i * 60.0) for i in range(6)]  # six finished in the last half hour
    timed = estimates(waiting, advisers, releases, 10, D)
    assert timed["ar1"].estimated_wait_s == 300 and timed["ar2"].estimated_wait_s == 600


def test_tiers_that_add_nobody_signed_in_are_passed_one_after_another() -> None:
    from routing.policy import adds_by_definition, current_tier

    youth = chat(region="03", language="ar")
    nobody = adds_by_definition([])
    assert current_tier(youth, 0, D, nobody) == 2  # widest without also-languages
    assert current_tier(chat(also=("en",)), 0, D, nobody) == 3
    at_busy = adviser("t", Service.AT, regions=set(), active={"x", "y"})
    assert current_tier(youth, 0, D, adds_by_definition([at_busy])) == 1  # busy, but signed in
    away_here = adviser("a", status=AdviserStatus.AWAY)
    assert current_tier(youth, 0, D, adds_by_definition([away_here, at_busy])) == 0
    # At the first delay, tier 1 adds nobody when no national team member speaks the language.
    assert current_tier(youth, 60, D, adds_by_definition([away_here])) == 2


def test_route_never_assigns_an_absent_visitor() -> None:
    from dataclasses import replace

    gone, here = replace(chat("gone", at=0), present=False), chat("here", at=5)
    decisions = route([gone, here], {"a": adviser("a", capacity=1)}, 10, D)
    assert [d.conversation_id for d in decisions] == ["here"]
