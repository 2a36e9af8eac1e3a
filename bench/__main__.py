"""``python -m bench run --standard`` / ``--quick`` / ``--only NAME`` and ``python -m bench selfcheck``.

Exit status: 0 when every correctness check held, 1 when any run lost, duplicated or misordered
something (or could not run), 4 when nothing was definitely lost but some run could not be verified
because the server had not worked through its backlog within the scenario's drain time, 2 for a usage
error. Missed performance targets are printed, not fatal,
unless ``--strict-targets``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import uvloop

from bench import report
from bench.runner import run_one
from bench.scenarios import QUICK, SETS, Scenario, by_name
from bench.servers import BareRelay, Deployment, Nora


def _run(main: Coroutine[Any, Any, int]) -> int:
    """The generator's loop is uvloop, as the servers' is: every CPU cycle the load generator spends
    is taken from the servers it measures on the same cores."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _print(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _line(r: dict[str, Any]) -> str:
    keys = (
        "acked_per_s",
        "latency_ms_p50",
        "latency_ms_p99",
        "cpu_cores",
        "gen_cpu_cores",
        "machine_busy",
        "rss_per_conn_kib",
        "assign_ms_p99",
        "latency_during_starts_ms_p99",
        "cpu_cores_each",
        "restart_closes",
        "rejoin_ms_p50",
        "rejoin_ms_p99",
        "longest_rejoin_ms",
        "lost",
        "wire_duplicates",
        "out_of_order",
        "setup_s",
        "wall_s",
    )
    bits = [f"{k}={r[k]:.1f}" if isinstance(r.get(k), float) else f"{k}={r[k]}" for k in keys if k in r]
    return f"  {r['deployment']:<14} {r['verdict']:<10} " + " ".join(bits)


async def run_set(
    scenarios: list[Scenario],
    dbs: list[str],
    *,
    bare: bool,
    relay_postgres: bool = False,
    relay_lb: bool = False,
    profile: str | None,
    label: str,
    strict_targets: bool,
    repeat: int = 1,
) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="nora-bench-"))
    results_dir = report.RESULTS
    profile_dir = None
    if profile:
        profile_dir = results_dir / "profiles"
        profile_dir.mkdir(parents=True, exist_ok=True)
    need = max((s.advisers for s in scenarios), default=1)
    noras = [Nora(workdir, db, need) for db in dbs]
    info = report.machine()
    _print(
        f"nora-chat benchmark ({label}) on {info['nproc']} cores, {info['cpu']}, Python {info['python']}, "
        f"commit {info['git_commit']}{' + uncommitted server changes' if info['server_tree_dirty'] else ''}"
    )
    steady = info["cpu_steadiness"]
    _print(
        f"CPU steadiness before the run: one fixed loop took {steady['fastest_ms']}-{steady['slowest_ms']} ms "
        f"(median {steady['median_ms']}, {steady['median_ms'] / steady['fastest_ms']:.2f}x the fastest); "
        "far apart means the host's other load moves this run's figures"
    )
    _print(f"work files and server logs: {workdir}")
    for s in scenarios:
        if s.note:
            _print(f"note: {s.name}: {s.note}")
    runs: list[dict[str, Any]] = []
    try:
        for s, round_ in [(s, i) for s in scenarios for i in range(1, repeat + 1)]:
            _print(f"\n== {s.name}: {s.describe()}" + (f" (round {round_} of {repeat})" if repeat > 1 else ""))
            deps: list[Deployment] = (
                ([BareRelay(workdir)] if bare else [])
                + ([BareRelay(workdir, postgres=True)] if relay_postgres else [])
                + ([BareRelay(workdir, lb=True)] if relay_lb and s.lb else [])
                + list(noras)
            )
            bare_result = None
            for dep in deps:
                r = await run_one(s, dep, profile_dir=profile_dir, profile_mode=profile or "cpu")
                if repeat > 1:
                    r["round"] = round_
                if dep.name == "bare":
                    bare_result = r
                else:
                    r["targets"] = report.evaluate_targets(s, r, bare_result)
                runs.append(r)
                _print(_line(r))
                for failure in r["failures"]:
                    _print(f"    FAIL: {failure}")
                for p in r.get("profiles", []):
                    _print(f"    profile {p['file']} ({p['samples']} samples); top own time:")
                    for name, share in p["own_pct"][:8]:
                        _print(f"      {share:5.1f}%  {name}")
                await asyncio.sleep(1)
    except (KeyboardInterrupt, asyncio.CancelledError):
        _print("\ninterrupted: reporting the runs completed so far")
    finally:
        for n in noras:
            await n.close()
    _print("\n" + report.table(scenarios, runs))
    medians = report.median_targets(scenarios, runs) if repeat > 1 else []
    if medians:
        _print(f"Targets over {repeat} rounds (each round's ratio to its own bare relay; the median decides):\n")
        _print(report.median_table(medians) + "\n")
    record = {
        "set": label,
        "machine": info,
        "databases": dbs,
        "scenarios": [s.__dict__ | {"description": s.describe(), "advisers": s.advisers} for s in scenarios],
        "repeat": repeat,
        "runs": runs,
        "median_targets": medians,
    }
    path = report.write_json(record, label)
    _print(f"JSON: {path}")
    failed = [r for r in runs if r["verdict"] == "FAIL"]
    unverified = [r for r in runs if r["verdict"] == "UNVERIFIED"]
    missed_names = report.missed_targets(runs, medians)
    if unverified:
        _print(
            f"\nUNVERIFIED (server had not caught up when the drain time ran out; nothing definitely lost) "
            f"in {len(unverified)} run(s): " + ", ".join(f"{r['scenario']}/{r['deployment']}" for r in unverified)
        )
    if failed:
        _print(
            f"\nCORRECTNESS FAILED in {len(failed)} run(s): "
            + ", ".join(f"{r['scenario']}/{r['deployment']}" for r in failed)
        )
        return 1
    if missed_names:
        _print(f"\ntargets missed in {len(missed_names)} run(s): " + ", ".join(missed_names))
        if strict_targets:
            return 3
    return 4 if unverified else 0


async def selfcheck() -> int:
    """The checks must fail when the relay drops, duplicates, skips or loses, and pass when it does not."""
    workdir = Path(tempfile.mkdtemp(prefix="nora-bench-selfcheck-"))
    scenario = QUICK[0]
    ok = True
    for fault in ("", "drop:40", "dup:40", "gap:40", "lose:40"):
        r = await run_one(scenario, BareRelay(workdir, fault))
        expected = "ok" if fault == "" else "FAIL"
        good = r["verdict"] == expected
        ok &= good
        _print(
            f"relay fault {fault or 'none':<8} -> run {'passed' if r['ok'] else 'failed'} "
            f"({'as it must' if good else 'WRONG'})"
        )
        for failure in r["failures"][:3]:
            _print(f"    {failure}")
    _print("selfcheck " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description="nora-chat benchmark harness")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario set against the bare relay and nora-chat")
    which = run.add_mutually_exclusive_group(required=True)
    which.add_argument("--standard", action="store_true", help="the standard set (about 10 minutes per database)")
    which.add_argument("--quick", action="store_true", help="a few seconds per scenario: a smoke check")
    which.add_argument("--only", help="comma-separated scenario names (any set, or the extra entries)")
    run.add_argument("--db", default="sqlite,postgres", help="comma-separated: sqlite, postgres (default both)")
    run.add_argument("--no-bare", action="store_true", help="skip the bare relay (no ratios)")
    run.add_argument(
        "--relay-lb",
        action="store_true",
        help="in scenarios behind HAProxy, also play the relay behind the same HAProxy (relay-lb): the floor "
        "with the balancer's hop; shown beside, targets stay against the bare relay",
    )
    run.add_argument(
        "--relay-postgres",
        action="store_true",
        help="also play the relay committing one INSERT per message to PostgreSQL before its ack "
        "(relay-postgres): what a plain durable ack costs on this machine",
    )
    run.add_argument(
        "--profile",
        nargs="?",
        const="cpu",
        choices=["cpu", "gil"],
        help="py-spy the nora processes during each chat window (gil: only GIL-holding samples)",
    )
    run.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="play each scenario N times (bare relay and servers each round); targets judged on the median ratio",
    )
    run.add_argument("--strict-targets", action="store_true", help="exit 3 when a target is missed")
    sub.add_parser("selfcheck", help="prove the checks fail on lost, duplicated or skipped messages")
    sub.add_parser("list", help="list the scenarios")
    args = p.parse_args(argv)
    if args.command == "list":
        from bench.scenarios import EXTRA, STANDARD
        from bench.scenarios import QUICK as Q

        for label, group in (("standard", STANDARD), ("quick", Q), ("extra", EXTRA)):
            for s in group:
                _print(f"{label:<9} {s.name:<20} {s.describe()}")
        return 0
    if args.command == "selfcheck":
        return _run(selfcheck())
    if args.only:
        try:
            scenarios = [by_name(n.strip()) for n in args.only.split(",") if n.strip()]
        except KeyError as exc:
            _print(f"unknown scenario {exc}; see python -m bench list")
            return 2
        label = "only-" + "-".join(s.name for s in scenarios)
    else:
        label = "standard" if args.standard else "quick"
        scenarios = list(SETS[label])
    if args.repeat < 1:
        _print("--repeat takes a whole number of at least 1")
        return 2
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    if any(d not in ("sqlite", "postgres") for d in dbs):
        _print("--db takes sqlite and/or postgres")
        return 2
    return _run(
        run_set(
            scenarios,
            dbs,
            bare=not args.no_bare,
            relay_postgres=args.relay_postgres,
            relay_lb=args.relay_lb,
            profile=args.profile,
            label=label + (f"-x{args.repeat}" if args.repeat > 1 else ""),
            strict_targets=args.strict_targets,
            repeat=args.repeat,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
