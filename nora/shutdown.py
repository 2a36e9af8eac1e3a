"""SIGTERM drains the instance before the server stops it (a rolling restart, chat/drain.py).

uvicorn installs its own SIGTERM handler before the app starts, and on SIGTERM at once stops accepting,
closes every socket and runs the lifespan shutdown. While the app runs, ``drain_on_sigterm`` puts a
handler of its own in front: the first SIGTERM starts the drain, and only when the drain is done is
the signal handed to the server's handler, which then shuts down as usual (with nothing left to
close). A second SIGTERM, or SIGINT (Ctrl+C), goes to the server's handler at once.

Signal handlers can only be set in the main thread: an app served elsewhere (an in-process test
client) or under a server with no Python-level handler gets no drain, and shuts down as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType

log = logging.getLogger("nora.drain")


@contextlib.contextmanager
def drain_on_sigterm(drain: Callable[[], Awaitable[None]]) -> Iterator[None]:
    """While the context lasts, SIGTERM runs ``drain`` first, then the server's own SIGTERM handler."""
    previous = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    if not callable(previous):
        yield  # no server handler to hand the signal on to
        return
    server_handler: Callable[[int, FrameType | None], object] = previous
    loop = asyncio.get_running_loop()
    task: asyncio.Task[None] | None = None

    async def run() -> None:
        try:
            await drain()
        except Exception:  # noqa: BLE001 - stopping must go on whatever the drain met
            log.exception("drain failed; stopping anyway")
        finally:
            server_handler(signal.SIGTERM, None)

    def start() -> None:
        nonlocal task
        if task is None:
            task = loop.create_task(run(), name="nora-drain")

    def handler(sig: int, frame: FrameType | None) -> None:
        if task is None:
            loop.call_soon_threadsafe(start)
        else:
            server_handler(sig, frame)  # asked twice: stop now

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, server_handler)
        if task is not None and not task.done():
            task.cancel()
