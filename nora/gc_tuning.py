"""Garbage-collector settings for a long-running server process (``nora-chat serve``, and the bench's
bare relay, so that the two are compared under the same settings)."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Fewer, larger young collections, none of the startup heap in them, and short middle ones.

    With the default thresholds (700, 10, 10) a server holding thousands of sockets ran ~20 collections
    a second, 1.8 s of a 35 s benchmark, and promoted short-lived message objects far enough to trigger
    full collections. Freezing what exists at startup (modules, the app) takes it out of every later
    collection; objects freed by reference counting are unaffected. The middle generation is collected
    every second young collection rather than every eleventh: what it holds is what survived since,
    mostly new sockets' objects, and collecting it after ten rounds of that stalled the loop 90-150 ms
    at 2,000 msg/s; after one or two, 45-60 ms."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 1, 10)
