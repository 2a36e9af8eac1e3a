"""The machine's busy share, which tells a run whose latency measures a queue for the cores."""

from __future__ import annotations

import os
import time

from bench.servers import machine_cpu_s


def test_a_busy_loop_shows_in_the_machine_busy_share() -> None:
    start = machine_cpu_s()
    until = time.monotonic() + 0.5
    while time.monotonic() < until:
        pass
    busy, total = (b - a for a, b in zip(start, machine_cpu_s(), strict=True))
    cores = os.cpu_count() or 1
    assert 0 < busy <= total
    # This loop kept one core busy for 0.5 s of the ~0.5 s window; whatever else ran only adds to it.
    assert busy / total >= 0.3 / cores
