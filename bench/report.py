"""The printed table (absolute figures and ratio to the bare relay) and the JSON record."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.scenarios import Scenario

RESULTS = Path(__file__).resolve().parent / "results"

# target metric -> (result field, whether the bound is a ratio to the bare relay or an absolute value)
TARGET_FIELDS = {
    "p99_ms": ("latency_ms_p99", True),
    "cpu": ("cpu_cores", True),
    "throughput": ("acked_per_s", True),
    "rss_per_conn": ("rss_per_conn_kib", True),
    "wait_with_room_s": ("visitor_wait_with_room_s", False),
    "assign_p99_ms": ("assign_ms_p99", False),
}


def _spin_ms(loops: int = 200_000) -> float:
    started, x = time.thread_time(), 0
    for i in range(loops):
        x += i * i
    return (time.thread_time() - started) * 1000


def cpu_steadiness(seconds: float = 2.0) -> dict[str, float]:
    """The CPU time of one fixed pure-Python loop, run every 20 ms for ``seconds`` with nothing else
    of the bench running: its fastest, median and slowest. On a machine of its own they are close;
    on a shared host the same loop has taken 1.7 times as long at one moment as at another
    (bench/README.md), and a run's p99, set by its slowest moments, moves with that."""
    times: list[float] = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        times.append(_spin_ms())
        time.sleep(0.02)
    return {
        "fastest_ms": round(min(times), 2),
        "median_ms": round(statistics.median(times), 2),
        "slowest_ms": round(max(times), 2),
    }


def machine() -> dict[str, Any]:
    def run(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return ""

    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    root = Path(__file__).resolve().parent.parent
    commit = run("git", "-C", str(root), "rev-parse", "--short", "HEAD")
    dirty = run("git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": run("nproc"),
        "cpu": model,
        "mem_gib": round(mem_kib / 2**20, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
        "cpu_steadiness": cpu_steadiness(),
        "git_commit": commit,
        "server_tree_dirty": bool(dirty),
    }


def ratio(value: Any, base: Any) -> float | None:
    if not isinstance(value, int | float) or not isinstance(base, int | float) or base == 0:
        return None
    return value / base


def evaluate_targets(scenario: Scenario, run: dict[str, Any], bare: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric, (op, bound) in scenario.targets.items():
        field, relative = TARGET_FIELDS[metric]
        value = run.get(field)
        r = ratio(value, (bare or {}).get(field)) if relative else value
        if not isinstance(r, int | float):
            out[metric] = {"ratio": None, "bound": f"{op} {bound}", "met": None, "relative": relative}
            continue
        met = r <= bound if op == "<=" else r >= bound
        out[metric] = {"ratio": round(r, 2), "bound": f"{op} {bound}", "met": met, "relative": relative}
    return out


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _share(value: Any) -> str:
    """A share of the machine's cores as a percentage."""
    return "-" if not isinstance(value, float | int) else f"{100 * value:.0f}%"


def _x(value: Any, base: Any) -> str:
    r = ratio(value, base)
    return "" if r is None else f" ({r:.2f}x)"


def _verdict(r: dict[str, Any]) -> str:
    v = r.get("verdict", "ok" if r.get("ok") else "FAIL")
    return v if v == "ok" else f"**{v}**"


def _skipped(r: dict[str, Any]) -> str:
    sent, skipped = r.get("sent"), r.get("skipped")
    if not isinstance(sent, int) or not isinstance(skipped, int) or sent + skipped == 0:
        return "-"
    return f"{100 * skipped / (sent + skipped):.0f}%"


def _targets_cell(t: dict[str, Any]) -> str:
    if not t:
        return ""
    parts = []
    for metric, v in t.items():
        mark = "?" if v["met"] is None else ("met" if v["met"] else "MISSED")
        unit = "x" if v.get("relative", True) else ""
        parts.append(f"{metric} {_f(v['ratio'], 2)}{unit} {v['bound']}: {mark}")
    return "; ".join(parts)


def _server(r: dict[str, Any]) -> str:
    return f"{r['deployment']} #{r['round']}" if r.get("round") else r["deployment"]


def table(scenarios: list[Scenario], runs: list[dict[str, Any]]) -> str:
    """Markdown tables: one per scenario kind; the ratio to the bare relay of the same run in brackets."""
    by = {(r["scenario"], r.get("round", 1), r["deployment"]): r for r in runs}
    lines: list[str] = []

    def rows_for(kind: str) -> list[tuple[Scenario, dict[str, Any], dict[str, Any] | None]]:
        out = []
        for s in scenarios:
            if s.kind != kind:
                continue
            for r in runs:
                if r["scenario"] == s.name:
                    bare = by.get((s.name, r.get("round", 1), "bare"))
                    out.append((s, r, bare if r["deployment"] != "bare" else None))
        return out

    chat = rows_for("chat")
    if chat:
        lines += [
            "| scenario | server | offered msg/s | skipped sends | delivered msg/s | latency p50 ms | p99 ms | max ms "
            "| ack p99 ms | server CPU (cores) | DB CPU | generator CPU | machine busy | checks | targets |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s, r, bare in chat:
            b = bare or {}
            lines.append(
                f"| {s.name} | {_server(r)} | {_f(r.get('offered_per_s'), 0)} | {_skipped(r)} "
                f"| {_f(r.get('acked_per_s'), 0)}{_x(r.get('acked_per_s'), b.get('acked_per_s'))} "
                f"| {_f(r.get('latency_ms_p50'))} "
                f"| {_f(r.get('latency_ms_p99'))}{_x(r.get('latency_ms_p99'), b.get('latency_ms_p99'))} "
                f"| {_f(r.get('latency_ms_max'), 0)} | {_f(r.get('ack_ms_p99'))} "
                f"| {_f(r.get('cpu_cores'), 2)}{_x(r.get('cpu_cores'), b.get('cpu_cores'))} "
                f"| {_f(r.get('db_cpu_cores'), 2)} | {_f(r.get('gen_cpu_cores'), 2)} | {_share(r.get('machine_busy'))} "
                f"| {_verdict(r)} | {_targets_cell(r.get('targets', {}))} |"
            )
        lines.append("")
    idle = rows_for("idle")
    if idle:
        lines += [
            "| scenario | server | sockets | RSS before MiB | RSS after MiB | RSS per connection KiB "
            "| connect s | idle CPU (cores) | checks | targets |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s, r, bare in idle:
            b = bare or {}
            lines.append(
                f"| {s.name} | {_server(r)} | {_f(r.get('sockets'))} "
                f"| {_f((r.get('rss_before_kib') or 0) / 1024)} | {_f((r.get('rss_after_kib') or 0) / 1024)} "
                f"| {_f(r.get('rss_per_conn_kib'))}{_x(r.get('rss_per_conn_kib'), b.get('rss_per_conn_kib'))} "
                f"| {_f(r.get('connect_s'))} | {_f(r.get('idle_cpu_cores'), 3)} "
                f"| {_verdict(r)} | {_targets_cell(r.get('targets', {}))} |"
            )
        lines.append("")
    burst = rows_for("burst") + rows_for("bursts")
    if burst:
        lines += [
            "| scenario | server | start->assigned p50 ms | p99 ms | max ms | first of a burst p50 ms "
            "| longest wait with room s | longest stretch anyone waited with room s | server CPU (cores) "
            "| checks | targets |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s, r, bare in burst:
            b = bare or {}
            lines.append(
                f"| {s.name} | {_server(r)} | {_f(r.get('assign_ms_p50'))} "
                f"| {_f(r.get('assign_ms_p99'))}{_x(r.get('assign_ms_p99'), b.get('assign_ms_p99'))} "
                f"| {_f(r.get('assign_ms_max'), 0)} | {_f(r.get('burst_first_ms_p50'))} "
                f"| {_f(r.get('visitor_wait_with_room_s'), 2)} "
                f"| {_f(r.get('longest_wait_with_room_s'), 2)} "
                f"| {_f(r.get('cpu_cores'), 2)} | {_verdict(r)} | {_targets_cell(r.get('targets', {}))} |"
            )
        lines.append("")
    return "\n".join(lines)


def median_targets(scenarios: list[Scenario], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario, server and target: each round's ratio (to that round's own bare relay) and their
    median, which decides the verdict of a repeated run. One round's p99 moves with whatever else the
    machine did in those 20 seconds; the median of several paired rounds does not."""
    out = []
    for s in scenarios:
        deployments = sorted({r["deployment"] for r in runs if r["scenario"] == s.name and r["deployment"] != "bare"})
        for dep in deployments:
            rounds = [r for r in runs if r["scenario"] == s.name and r["deployment"] == dep]
            for metric, (op, bound) in s.targets.items():
                found = (r.get("targets", {}).get(metric, {}).get("ratio") for r in rounds)
                ratios = [v for v in found if isinstance(v, int | float)]
                if not ratios:
                    continue
                mid = statistics.median(ratios)
                met = mid <= bound if op == "<=" else mid >= bound
                out.append(
                    {
                        "scenario": s.name,
                        "deployment": dep,
                        "metric": metric,
                        "ratios": ratios,
                        "median": round(mid, 2),
                        "bound": f"{op} {bound}",
                        "met": met,
                        "relative": TARGET_FIELDS[metric][1],
                    }
                )
    return out


def missed_targets(runs: list[dict[str, Any]], medians: list[dict[str, Any]]) -> list[str]:
    """``scenario/deployment`` of every nora server that missed a target: the median's verdict when the
    rounds were repeated, else each run's. The relay-postgres comparison is shown with its ratios but
    never fails a run: the targets are nora's."""
    if medians:
        names = {f"{m['scenario']}/{m['deployment']}" for m in medians if not m["met"]}
    else:
        names = {
            f"{r['scenario']}/{r['deployment']}"
            for r in runs
            if any(t.get("met") is False for t in r.get("targets", {}).values())
        }
    return sorted(n for n in names if n.split("/", 1)[1].startswith("nora"))


def median_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | server | target | each round | median | bound | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        unit = "x" if row["relative"] else ""
        each = ", ".join(f"{v:.2f}{unit}" for v in row["ratios"])
        lines.append(
            f"| {row['scenario']} | {row['deployment']} | {row['metric']} | {each} | {row['median']:.2f}{unit} "
            f"| {row['bound']} | {'met' if row['met'] else 'MISSED'} |"
        )
    return "\n".join(lines)


def write_json(record: dict[str, Any], name: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.json"
    path.write_text(json.dumps(record, indent=2, default=str))
    return path
