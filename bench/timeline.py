"""Message latency over time, from a chat scenario's ``BENCH_DUMP`` file.

A p99 says how bad the tail is, not when it happened: one stall of 100 ms (a collection, a disk
flush, a neighbour) and a server that runs hot the whole window give the same p99. This prints p50,
p99 and max per interval of send time, so the two can be told apart.

Run: ``BENCH_DUMP=/tmp/lat python -m bench run --only chat-1000 --db sqlite`` writes
``/tmp/lat.<server>`` per server; then ``python -m bench.timeline /tmp/lat.nora-sqlite [seconds]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def buckets(sent_at: list[float], latency_ms: list[float], step_s: float) -> list[tuple[float, list[float]]]:
    """Latencies grouped by send time, ``step_s`` wide, each group sorted; from the first send."""
    if not sent_at:
        return []
    start = min(sent_at)
    groups: dict[int, list[float]] = {}
    for at, ms in zip(sent_at, latency_ms, strict=True):
        groups.setdefault(int((at - start) / step_s), []).append(ms)
    return [(k * step_s, sorted(groups[k])) for k in sorted(groups)]


def line(offset_s: float, ordered: list[float]) -> str:
    n = len(ordered)
    p50, p99, top = ordered[n // 2], ordered[min(n - 1, int(n * 0.99))], ordered[-1]
    bar = "#" * min(60, int(p99 / 2))
    return f"{offset_s:7.2f} s  n={n:5d}  p50={p50:7.1f}  p99={p99:7.1f}  max={top:7.1f}  {bar}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dump", type=Path, help="a file BENCH_DUMP wrote for one server (e.g. /tmp/lat.nora-sqlite)")
    parser.add_argument("step", type=float, nargs="?", default=1.0, help="interval in seconds (default 1)")
    args = parser.parse_args()
    sent_at, latency_ms = json.loads(args.dump.read_text())
    for offset, ordered in buckets(sent_at, latency_ms, args.step):
        print(line(offset, ordered))  # noqa: T201 - a command-line report


if __name__ == "__main__":
    main()
