"""Rolling restart: how an instance asked to stop (SIGTERM) leaves without losing or disturbing anyone.

1. **Out of the load balancer.** ``/readyz`` answers 503 and every new socket is refused with 503
   (``Admission.draining``), for ``NORA_DRAIN_NOTICE_MS``: long enough for the load balancer's health
   checks to take the instance out, so reconnecting clients are sent elsewhere. Sockets already open go
   on as before meanwhile.
2. **Hand over.** Each conversation with a visitor socket here gets its visitor grace period started
   (as if the visitor had dropped, but silently: the other instances are told with ``HandedOver`` and
   say nothing when the visitor resumes there). Advisers keep their status and their conversations in
   the routing state: this instance stops renewing their lease, and whichever instance the console
   reconnects to renews it; only if none does within the lease does the lease expire and the grace
   period start, as after a crash. Nothing is requeued and no notice is posted.
3. **Reconnect.** Every socket gets what is already queued for it (acks included), then close code
   1012 (service restart), consoles first, 50 sockets every 0.1 s: the widget and the console
   reconnect, through the load balancer, to another instance and resume from their last ``seq``,
   resending what was not acknowledged.
4. **Flush.** Frames already read are handled (``receive_loop`` drains its lanes), every message
   handed to the group commit is committed and answered, and every event still waiting for the broker
   is sent. Then the server's own shutdown runs (nora/shutdown.py hands it the signal).
"""

from __future__ import annotations

import asyncio
import logging

from chat.events import HandedOver
from chat.hub import StaffConn, VisitorConn
from chat.service import ChatService
from core.clock import to_datetime

log = logging.getLogger("nora.drain")
WS_1012_SERVICE_RESTART = 1012
# Sockets told to reconnect at a time, and how many a second: 1,000 sockets move in 2 s. Told all at
# once, every socket of an instance reconnected to the others in the same instant, and each waited for
# all the resumes queued before its own (the benchmark's rolling restart of chat-1000: a median of
# seconds without a socket).
RECONNECT_BATCH = 50
RECONNECTS_PER_S = 500


async def drain(service: ChatService) -> None:
    """Steps 1-4 above; returns when the instance may exit."""
    settings = service.settings
    service.admission.draining = True
    log.info("stopping: readiness off, new sockets refused; clients move in %.1fs", settings.drain_notice_s)
    await asyncio.sleep(settings.drain_notice_s)
    visitors, staff = await hand_over(service)
    log.info("handed over %d visitor and %d staff socket(s); asked them to reconnect", visitors, staff)
    await _until_closed(service, settings.drain_close_s)
    await service.store.flush()
    await service.fanout.flush()
    log.info("drained; exiting")


async def hand_over(service: ChatService) -> tuple[int, int]:
    """Start the grace period of the visitors here, leave the advisers' leases to whichever instance
    they reach next, and tell every socket to reconnect; returns (visitor sockets, staff sockets)."""
    hub = service.hub
    now = to_datetime(service.clock())
    visitors: list[VisitorConn] = list(hub.all_visitors())
    staff: list[StaffConn] = list(hub.all_staff())
    conversations = sorted({c.conversation_id for c in visitors if c.conversation_id})
    for visitor in visitors:
        visitor.handed_over = True
    for member in staff:
        member.handed_over = True
    # Before any socket is told to reconnect: a visitor back elsewhere must never be marked away after.
    for conversation_id in conversations:
        await service.store.mark_visitor_away(conversation_id, now)
    if conversations:
        await service.fanout.publish(HandedOver(conversations))
    await service.fanout.flush()
    # Consoles first, then visitors, RECONNECT_BATCH at a time: the instances that take them over get
    # them as a stream, not all at once (a socket waiting here for its turn still works).
    outboxes = [c.outbox for c in staff] + [c.outbox for c in visitors]
    for first in range(0, len(outboxes), RECONNECT_BATCH):
        if first:
            await asyncio.sleep(RECONNECT_BATCH / RECONNECTS_PER_S)
        for outbox in outboxes[first : first + RECONNECT_BATCH]:
            outbox.push_close(WS_1012_SERVICE_RESTART, "service restart")
    return len(visitors), len(staff)


def _open(service: ChatService) -> int:
    hub = service.hub
    return sum(1 for _ in hub.all_visitors()) + sum(1 for _ in hub.all_staff())


async def _until_closed(service: ChatService, timeout: float) -> None:
    """Wait until every socket handed over has finished (its frames handled), or ``timeout``. A visitor
    socket that never started a conversation is left to the server's own shutdown (also 1012)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while _open(service) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    if left := _open(service):
        log.warning("%d socket(s) still open after %.0fs; the server closes them", left, timeout)
