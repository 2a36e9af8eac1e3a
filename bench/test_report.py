"""Repeated runs: each round is judged against its own relay, and the median ratio decides."""

from __future__ import annotations

from typing import Any

from bench import report
from bench.scenarios import STANDARD

CHAT_1000 = STANDARD[1]


def rounds(bare_p99: list[float], nora_p99: list[float]) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for i, (b, n) in enumerate(zip(bare_p99, nora_p99, strict=True), start=1):
        bare = {"scenario": "chat-1000", "deployment": "bare", "round": i, "latency_ms_p99": b, "cpu_cores": 0.6}
        nora = {"scenario": "chat-1000", "deployment": "nora-sqlite", "round": i, "latency_ms_p99": n, "cpu_cores": 0.9}
        nora["targets"] = report.evaluate_targets(CHAT_1000, nora, bare)
        runs += [bare, nora]
    return runs


def p99_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(m for m in report.median_targets([CHAT_1000], runs) if m["metric"] == "p99_ms")


def test_each_round_is_paired_with_its_own_relay_and_the_median_decides() -> None:
    # Round 2's nora p99 would miss against round 1's relay (90/20 = 4.5x) but not against its own.
    row = p99_row(rounds([20.0, 60.0, 30.0], [30.0, 90.0, 150.0]))
    assert row["ratios"] == [1.5, 1.5, 5.0]
    assert row["median"] == 1.5 and row["met"] is True
    table = report.median_table([row])
    assert "1.50x, 1.50x, 5.00x" in table and "| met |" in table


def test_a_median_over_the_bound_is_missed_even_if_one_round_was_fine() -> None:
    row = p99_row(rounds([20.0, 20.0, 20.0], [100.0, 30.0, 70.0]))
    assert row["median"] == 3.5 and row["met"] is False
    assert "MISSED" in report.median_table([row])


def test_the_table_names_each_round_and_its_own_ratio() -> None:
    text = report.table([CHAT_1000], rounds([20.0, 60.0], [30.0, 30.0]))
    assert "| nora-sqlite #1 |" in text and "30.0 (1.50x)" in text
    assert "| nora-sqlite #2 |" in text and "30.0 (0.50x)" in text


def test_only_nora_servers_fail_on_targets_not_the_durable_relay_shown_beside_them() -> None:
    runs = rounds([20.0, 20.0, 20.0], [30.0, 30.0, 30.0])
    for i, p99 in enumerate([200.0, 200.0, 200.0], start=1):
        bare = next(r for r in runs if r["deployment"] == "bare" and r["round"] == i)
        relay = {"scenario": "chat-1000", "deployment": "relay-postgres", "round": i, "latency_ms_p99": p99}
        relay["cpu_cores"] = 0.9
        relay["targets"] = report.evaluate_targets(CHAT_1000, relay, bare)
        runs.append(relay)
    medians = report.median_targets([CHAT_1000], runs)
    assert any(m["deployment"] == "relay-postgres" and not m["met"] for m in medians)  # shown as missed
    assert report.missed_targets(runs, medians) == []
    assert report.missed_targets(runs, []) == []  # a single round: judged per run, the same rule
    slow = rounds([20.0, 20.0, 20.0], [100.0, 100.0, 100.0])
    assert report.missed_targets(slow, report.median_targets([CHAT_1000], slow)) == ["chat-1000/nora-sqlite"]
    assert report.missed_targets(slow, []) == ["chat-1000/nora-sqlite"]


def test_the_chat_table_shows_how_busy_the_whole_machine_was() -> None:
    runs = rounds([20.0], [30.0])
    runs[1]["machine_busy"] = 0.964
    lines = report.table([CHAT_1000], runs).splitlines()
    header = next(line for line in lines if line.startswith("| scenario"))
    nora = next(line for line in lines if "nora-sqlite" in line)
    column = [cell.strip() for cell in header.split("|")].index("machine busy")
    assert [cell.strip() for cell in nora.split("|")][column] == "96%"
