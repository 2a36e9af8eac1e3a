"""Play scenarios against deployments, measure, check, and collect one result per (scenario, deployment)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.checks import check_conversation
from bench.generator import Generator
from bench.scenarios import Scenario
from bench.servers import VENV_BIN, Deployment, Nora, machine_cpu_s, proc_cpu_s

now = time.monotonic


@contextlib.contextmanager
def generator_gc_paused() -> Iterator[None]:
    """No garbage collection in the generator while it measures: a full collection of its thousands of
    client sockets stops its event loop for 200-300 ms, which it would then book as the latency of
    whatever server it is measuring (the bare relay included). Collected once before and after."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.collect()


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _round(share: float | None) -> float | None:
    return None if share is None else round(share, 3)


def dist(values: list[float], prefix: str) -> dict[str, float | None]:
    return {
        f"{prefix}_p50": pct(values, 50),
        f"{prefix}_p90": pct(values, 90),
        f"{prefix}_p99": pct(values, 99),
        f"{prefix}_max": max(values) if values else None,
        f"{prefix}_n": len(values),
    }


class Meter:
    """Server, database and generator CPU over one window, and how busy the whole machine was: once
    that nears all of its cores, everything on it queues, and latency measures the queue more than the
    code."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep

    async def __aenter__(self) -> Meter:
        self.t0 = now()
        self.cpu0 = self.dep.cpu_s()
        self.pids0 = self.dep.pids
        self.each0 = self.dep.cpu_each()
        self.db0 = await self.dep.db_cpu_snapshot()
        self.gen0 = proc_cpu_s(os.getpid())
        self.machine0 = machine_cpu_s()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.elapsed = now() - self.t0
        self.cpu = (self.dep.cpu_s() - self.cpu0) / self.elapsed
        # Per process, when the processes are the same ones as at the start (not after a restart).
        same = self.dep.pids == self.pids0
        each = zip(self.each0, self.dep.cpu_each(), strict=True) if same else []
        self.each = [(b - a) / self.elapsed for a, b in each]
        db1 = await self.dep.db_cpu_snapshot()
        self.db = sum(v - self.db0.get(pid, 0.0) for pid, v in db1.items()) / self.elapsed if db1 else None
        self.gen = (proc_cpu_s(os.getpid()) - self.gen0) / self.elapsed
        busy, total = (b - a for a, b in zip(self.machine0, machine_cpu_s(), strict=True))
        self.machine_busy = busy / total if total > 0 else None


class Profiler:
    """py-spy on every server process for the measurement window (``--profile``)."""

    def __init__(self, dep: Deployment, out: Path | None, tag: str, seconds: float, mode: str = "cpu") -> None:
        self.dep, self.out, self.tag, self.seconds, self.mode = dep, out, tag, seconds, mode
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self) -> None:
        exe = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
        if self.out is None or not self.dep.name.startswith("nora") or not Path(exe).exists():
            return
        for pid in self.dep.pids:
            path = self.out / f"{self.tag}-{self.mode}-{pid}.txt"
            argv = [
                exe,
                "record",
                "-p",
                str(pid),
                "-d",
                str(max(1, int(self.seconds))),
                "-r",
                os.environ.get("BENCH_PROFILE_RATE", "50"),  # samples a second
                "-f",
                "raw",
                "-o",
                str(path),
                "--nonblocking",
            ]
            if self.mode == "gil":
                argv.append("--gil")  # only samples holding the GIL: where the Python CPU goes
            self.procs.append((subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), path))

    def finish(self) -> list[dict[str, Any]]:
        out = []
        for popen, path in self.procs:
            try:
                popen.wait(30)
            except subprocess.TimeoutExpired:
                popen.kill()
            if path.exists():
                out.append({"file": str(path), **summarise_profile(path)})
        return out


def summarise_profile(path: Path, top: int = 15) -> dict[str, Any]:
    """Own (leaf) and inclusive sample share per function from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = [f for f in stack.split(";") if f and not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for f in set(frames):
            incl[f] = incl.get(f, 0) + count

    def ranked(d: dict[str, int]) -> list[tuple[str, float]]:
        return [(k, round(100 * v / total, 1)) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

    return {"samples": total, "own_pct": ranked(own), "inclusive_pct": ranked(incl)}


def _git_commit() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        return subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except OSError:
        return ""


async def _until(t: float) -> None:
    await asyncio.sleep(max(0.0, t - now()))


async def run_one(
    scenario: Scenario, dep: Deployment, *, profile_dir: Path | None = None, profile_mode: str = "cpu"
) -> dict[str, Any]:
    """Set up ``dep`` for ``scenario``, play it, check it, tear it down; returns the result record."""
    result: dict[str, Any] = {
        "scenario": scenario.name,
        "deployment": dep.name,
        "kind": scenario.kind,
        "failures": [],
        "git_commit": _git_commit(),
    }
    t0 = now()
    try:
        await dep.setup(scenario)
        result["server_rss_start_kib"] = dep.rss_kib()
        with generator_gc_paused():
            if scenario.kind == "chat":
                await _chat(scenario, dep, result, profile_dir, profile_mode)
            elif scenario.kind == "idle":
                await _idle(scenario, dep, result)
            elif scenario.kind == "burst":
                await _burst(scenario, dep, result, profile_dir, profile_mode)
            elif scenario.kind == "bursts":
                await _bursts(scenario, dep, result, profile_dir, profile_mode)
            else:
                raise ValueError(f"unknown scenario kind {scenario.kind!r}")
    except Exception as exc:  # noqa: BLE001 - any failure of a run is reported as a failure of that run
        import traceback

        result["failures"].append(f"run failed: {type(exc).__name__}: {exc}")
        result["traceback"] = traceback.format_exc()[-3000:]
    finally:
        with contextlib.suppress(Exception):
            result["server_rss_end_kib"] = dep.rss_kib()
        marks = dep.log_marks()
        await dep.teardown()
        problems = dep.problems(end=marks)
        if problems:
            result["server_log_errors"] = problems[:20]
            result["failures"].append(f"server logged {len(problems)} error line(s), e.g. {problems[0]}")
        at_stop = dep.problems(start=marks)
        if at_stop:  # SIGINT with a backlog: worth knowing, not a failure of the run
            result["server_log_errors_at_shutdown"] = at_stop[:5]
    result["wall_s"] = round(now() - t0, 1)
    result["loadavg_1m_at_end"] = os.getloadavg()[0]
    result["ok"] = not result["failures"]
    definite = [f for f in result["failures"] if not f.startswith("PENDING")]
    result["verdict"] = "ok" if result["ok"] else ("FAIL" if definite else "UNVERIFIED")
    return result


def _check_all(
    gen: Generator,
    transcripts: dict[str, Any],
    *,
    allow_repeats: bool,
    settled: bool = True,
    frozen: dict[str, Any] | None = None,
) -> list[str]:
    failures: list[str] = []
    for cid, conv in (frozen if frozen is not None else gen.convs).items():
        failures += check_conversation(
            cid,
            transcripts.get(cid),
            [conv.vview, conv.aview],
            [conv.vout, conv.aout],
            allow_wire_repeats=allow_repeats,
            settled=settled,
        )
        if len(conv.assigned_to) != 1:
            failures.append(f"{cid[:8]}: assigned {len(conv.assigned_to)} times ({conv.assigned_to})")
    for a in gen.advisers:
        if len(a.convs) > a.capacity:
            failures.append(f"adviser{a.idx}: {len(a.convs)} conversations, capacity {a.capacity}")
    if gen.stats.closed_unexpectedly:
        failures.append(f"{gen.stats.closed_unexpectedly} socket(s) closed by the server unexpectedly")
    unexpected = {k: v for k, v in gen.stats.errors.items() if not k.startswith("adviser_unassigned")}
    if unexpected:
        failures.append(f"error frames / unexpected events: {dict(unexpected)}")
    return failures


def _summarise_failures(failures: list[str], limit: int = 12) -> list[str]:
    """Definite failures first; what may still have been queued (``PENDING``) after them, counted."""
    definite = [f for f in failures if not f.startswith("PENDING")]
    pending = [f for f in failures if f.startswith("PENDING")]
    out = definite[:limit] + ([f"... and {len(definite) - limit} more"] if len(definite) > limit else [])
    out += pending[:3] + ([f"PENDING ... and {len(pending) - 3} more"] if len(pending) > 3 else [])
    return out


async def _chat(
    s: Scenario, dep: Deployment, result: dict[str, Any], profile_dir: Path | None, profile_mode: str
) -> None:
    gen = Generator(s, dep.bases, dep.cookies)
    lag = asyncio.create_task(gen.watch_loop())
    try:
        t = now()
        await gen.connect_advisers()
        await gen.start_visitors(s.conversations)
        await gen.wait_assigned(120)
        result["setup_s"] = round(now() - t, 1)
        result.update(dist(gen.stats.assign_ms, "assign_ms"))
        play = asyncio.create_task(gen.play())
        await asyncio.sleep(0)
        await _until(gen.window[0])
        profiler = Profiler(dep, profile_dir, f"{s.name}-{dep.name}", s.duration_s, profile_mode)
        profiler.start()
        restarts: list[float] = []
        async with Meter(dep) as meter:
            if s.rolling and isinstance(dep, Nora):
                await asyncio.sleep(2.0)
                for index in range(len(dep.procs)):
                    restarts.append(round(await dep.restart(index), 2))
                    await asyncio.sleep(2.0)
            await _until(gen.window[1])
        await play
        profiles = profiler.finish()
        t = now()
        drained = await gen.drain(s.drain_s)
        result["drain_s"] = round(now() - t, 1)
        frozen = gen.freeze()  # clients' state first, then the transcript: no ack can outrun the snapshot
        transcripts = await dep.transcript(list(frozen))
        failures = (
            []
            if drained
            else [
                f"PENDING not settled {s.drain_s:.0f}s after sending stopped: {gen.unacked()} message(s) unacked, "
                f"{gen.stats.acks_in_last_5s()} acks in the last 5 s (server still working through its backlog?)"
            ]
        )
        failures += _check_all(gen, transcripts, allow_repeats=bool(s.drops), settled=drained, frozen=frozen)
        st = gen.stats
        if os.environ.get("BENCH_DUMP"):
            Path(f"{os.environ['BENCH_DUMP']}.{dep.name}").write_text(json.dumps([st.latency_at, st.latency_ms]))
        offered = None if s.rate is None else s.conversations * 2 * s.rate
        result.update(
            offered_per_s=offered,
            delivered_per_s=round(st.delivered_in_window / s.duration_s, 1),
            acked_per_s=round(st.acked_in_window / s.duration_s, 1),
            sent=st.sent,
            resent=st.resent,
            skipped=st.skipped,
            stored_messages=sum(len(t.rows) for t in transcripts.values() if t),
            cpu_cores=round(meter.cpu, 3),
            db_cpu_cores=None if meter.db is None else round(meter.db, 3),
            gen_cpu_cores=round(meter.gen, 3),
            machine_busy=_round(meter.machine_busy),
            loop_lag_p99_ms=pct(st.loop_lag_ms, 99),
            **dist(st.latency_ms, "latency_ms"),
            **dist(st.ack_ms, "ack_ms"),
            **dist(st.latency_v2a, "visitor_to_adviser_ms"),
            **dist(st.latency_a2v, "adviser_to_visitor_ms"),
        )
        if result["delivered_per_s"]:
            result["cpu_ms_per_msg"] = round(1000 * meter.cpu / result["delivered_per_s"], 3)
        if len(meter.each) > 1:
            result["cpu_cores_each"] = [round(c, 3) for c in meter.each]
        if s.rolling or st.restart_closes:
            views = [v for c in frozen.values() for v in (c.vview, c.aview)]
            result.update(
                restarts_s=restarts,
                restart_closes=st.restart_closes,
                longest_rejoin_ms=round(1000 * max(st.rejoin_s, default=0.0), 1),
                **dist([1000 * x for x in st.rejoin_s], "rejoin_ms"),
                wire_duplicates=sum(v.wire_dups for v in views),
                out_of_order=sum(v.out_of_order for v in views),
                # acked and not stored as acked, or a seq a participant never saw
                lost=sum(1 for f in failures if "never acked" in f or "acked as seq" in f or "never saw" in f),
            )
        if profiles:
            result["profiles"] = profiles
        result["failures"] += _summarise_failures(failures)
    finally:
        lag.cancel()
        await gen.close_all()


async def _idle(s: Scenario, dep: Deployment, result: dict[str, Any]) -> None:
    gen = Generator(s, dep.bases, dep.cookies)
    try:
        await asyncio.sleep(1)
        rss0 = dep.rss_kib()
        t = now()
        if s.start_conversations:
            await gen.start_visitors(s.sockets, concurrency=100)
        else:
            from bench.generator import Visitor

            gen.visitors = [Visitor(gen, i, dep.bases[i % len(dep.bases)]) for i in range(s.sockets)]
            sem = asyncio.Semaphore(100)

            async def one(v: Visitor) -> None:
                async with sem:
                    await v.connect()

            await asyncio.gather(*(one(v) for v in gen.visitors))
        result["connect_s"] = round(now() - t, 1)
        await asyncio.sleep(3)
        async with Meter(dep) as meter:
            await asyncio.sleep(5)
        rss1 = dep.rss_kib()
        result.update(
            sockets=s.sockets,
            rss_before_kib=rss0,
            rss_after_kib=rss1,
            rss_per_conn_kib=round((rss1 - rss0) / s.sockets, 2),
            idle_cpu_cores=round(meter.cpu, 3),
            gen_cpu_cores=round(meter.gen, 3),
            machine_busy=_round(meter.machine_busy),
        )
        failures = []
        if gen.stats.closed_unexpectedly:
            failures.append(f"{gen.stats.closed_unexpectedly} idle socket(s) closed by the server")
        if gen.stats.errors:
            failures.append(f"error frames: {dict(gen.stats.errors)}")
        result["failures"] += failures
    finally:
        await gen.close_all()


async def _burst(
    s: Scenario, dep: Deployment, result: dict[str, Any], profile_dir: Path | None, profile_mode: str
) -> None:
    gen = Generator(s, dep.bases, dep.cookies)
    samples: list[tuple[float, int, int]] = []
    waited_with_room: dict[int, float] = {}  # per visitor: seconds spent waiting while an adviser had room

    async def sample() -> None:
        last = now()
        while True:
            at = now()
            waiting = [v for v in gen.visitors if v.started.is_set() and not v.assigned.is_set()]
            free = sum(max(0, a.capacity - len(a.convs)) for a in gen.advisers if a.connected.is_set())
            samples.append((at, len(waiting), free))
            if free > 0:
                for v in waiting:
                    waited_with_room[id(v)] = waited_with_room.get(id(v), 0.0) + (at - last)
            last = at
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    try:
        await gen.connect_advisers()
        profiler = Profiler(dep, profile_dir, f"{s.name}-{dep.name}", s.ramp_s + 10, profile_mode)
        profiler.start()
        async with Meter(dep) as meter:
            await gen.start_visitors(s.conversations, spread_s=s.ramp_s, concurrency=s.conversations)
            result["starts_done_s"] = round(meter_elapsed(meter), 1)
            await gen.wait_assigned(60)
        profiles = profiler.finish()
        if profiles:
            result["profiles"] = profiles
        drained = await gen.drain(s.drain_s)
        frozen = gen.freeze()
        transcripts = await dep.transcript(list(frozen))
        failures = [] if drained else ["PENDING views not settled: somebody has not seen the 'assigned' notice yet"]
        failures += _check_all(gen, transcripts, allow_repeats=False, settled=drained, frozen=frozen)
        longest = cur = 0.0
        for (t_a, w, f), (t_b, _, _) in zip(samples, samples[1:], strict=False):
            cur = cur + (t_b - t_a) if (w > 0 and f > 0) else 0.0
            longest = max(longest, cur)
        result.update(
            dist(gen.stats.assign_ms, "assign_ms"),
            cpu_cores=round(meter.cpu, 3),
            gen_cpu_cores=round(meter.gen, 3),
            machine_busy=_round(meter.machine_busy),
            burst_s=round(meter.elapsed, 1),
            longest_wait_with_room_s=round(longest, 2),
            visitor_wait_with_room_s=round(max(waited_with_room.values(), default=0.0), 2),
            max_waiting=max((w for _, w, _ in samples), default=0),
        )
        result["failures"] += _summarise_failures(failures)
    finally:
        sampler.cancel()
        await gen.close_all()


async def _bursts(
    s: Scenario, dep: Deployment, result: dict[str, Any], profile_dir: Path | None, profile_mode: str
) -> None:
    """The second client (``bench/burst_client.py``): starts 50 at a time, start -> assigned."""
    from bench import burst_client

    profiler = Profiler(dep, profile_dir, f"{s.name}-{dep.name}", 20, profile_mode)
    profiler.start()
    async with Meter(dep) as meter:
        tally = await burst_client.run(
            dep.bases[0], dep.cookies, s.conversations, s.capacity, rate=s.rate, chat_s=s.duration_s
        )
    profiles = profiler.finish()
    if profiles:
        result["profiles"] = profiles
    if os.environ.get("BENCH_DUMP"):
        Path(os.environ["BENCH_DUMP"]).write_text(json.dumps(tally.assign_ms))
    result.update(
        dist(tally.assign_ms, "assign_ms"),
        **dist(tally.first_ms, "burst_first_ms"),
        cpu_cores=round(meter.cpu, 3),
        gen_cpu_cores=round(meter.gen, 3),
        machine_busy=_round(meter.machine_busy),
        burst_s=round(meter.elapsed, 1),
    )
    if s.rate is not None:
        # The chat load of the harness: timed while bursts still arrive, and after the last one.
        result.update(dist(tally.during_ms, "latency_during_starts_ms"), **dist(tally.after_ms, "latency_ms"))
        result["sent"] = tally.sent
    if tally.errors:
        result["failures"].append(f"{len(tally.errors)} problem(s), e.g. {tally.errors[0]}")


def meter_elapsed(meter: Meter) -> float:
    return now() - meter.t0
