"""The conversation lifecycle: ``queued → assigned → closed`` and every message in between.

The websocket endpoints call these methods; routing decisions come from ``routing``; durable state
from ``ConversationStore``; fan-out through the ``Broker``. Events published here are hints that
each instance turns into frames for its own sockets (see ``_apply``). The publishing instance applies
its own events at once, before the broker hop: its sockets then get a message before any later
message's ack, in seq order, with no read-back from the database (and no JSON round trip).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col

from chat import metrics
from chat.broker import Broker, Event
from chat.errors import FrameError, invalid, not_found
from chat.frames import Resume, Start, Text, parse_transfer
from chat.group_commit import Guard, Outcome
from chat.hours import hours_from
from chat.hub import Hub, StaffConn, VisitorConn
from chat.outbox import WS_1000_NORMAL, WS_1008_POLICY, Ack, Deliver, Outbox, Replay, Run, Untrack
from chat.ratelimit import TokenBucket
from chat.staff import StaffDirectory, StaffProfile
from chat.store import AlreadyExists, ConversationState, ConversationStore, StoredMessage, hash_token
from chat.texts import notice
from core.clock import Clock, as_utc, iso, system_clock, to_datetime
from core.models import Conversation
from core.reference import Reference
from core.settings import Settings
from routing import Adviser, AdviserStatus, ChatRequest, RoutingState, Service, StateBusy, UnknownAdviser
from routing.policy import TierDelays, estimates

log = logging.getLogger("nora.chat")
HEARTBEAT_EVERY_TICKS = 5
PURGE_EVERY_S = 600.0
QUEUE_REFRESH_S = 0.25
ADVISER_LEASE_S = 30.0  # an instance that stops heartbeating for this long is taken for dead
S = ConversationState
VISITOR = "visitor"  # the sender id of every visitor message (visitors are anonymous)


def alias() -> str:
    return f"Gjest {secrets.randbelow(9000) + 1000}"


def chat_request(conv: Conversation, *, not_adviser: str | None = None) -> ChatRequest:
    """The routing view of a conversation; a transfer's target overrides region, language or service."""
    return ChatRequest(
        id=conv.id,
        language=conv.target_language or conv.language,
        region=conv.target_region or conv.region,
        audience=conv.audience,
        enqueued_at=as_utc(conv.enqueued_at).timestamp(),
        urgent=conv.urgent,
        also_languages=tuple(x for x in conv.also_languages.split(",") if x),
        not_adviser=not_adviser,
        only_adviser=conv.target_adviser_id,
        service=Service(conv.target_service) if conv.target_service else None,
        # A transfer to the national team must reach it now, not after the tier-1 delay.
        min_tier=1 if conv.target_service == Service.AT.value else 0,
    )


class ChatService:
    def __init__(
        self,
        *,
        settings: Settings,
        store: ConversationStore,
        routing: RoutingState,
        broker: Broker,
        directory: StaffDirectory,
        reference: Callable[[], Reference],
        clock: Clock = system_clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.routing = routing
        self.broker = broker
        self.directory = directory
        self.reference = reference
        self.clock = clock
        self.delays = TierDelays.of(settings.tier_delays_s)
        self.opening_hours = hours_from(settings.opening_hours, settings.closed_dates)
        self.hub = Hub()
        self.instance = secrets.token_hex(8)  # marks this instance's own events on the broker
        self.queue_listeners: set[Callable[[], None]] = set()
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._step_lock = asyncio.Lock()
        self._route_calls = 0  # route() calls so far
        self._routed_calls = 0  # of which a step that started after them has run (or is running)
        self._listening = asyncio.Event()
        self._ticks = 0
        self._rebuild_due = False
        self._queue_dirty = False
        self._last_purge = 0.0
        self._local_status: dict[str, AdviserStatus] = {}  # advisers connected here, to rebuild state
        # Chats transferred from here, and when their transferring adviser may be offered them again:
        # not at once, but not never either (a chat nobody else can take must not wait forever).
        self._transfer_holds: dict[str, float] = {}
        self._jobs: set[asyncio.Task[None]] = set()
        self._outgoing: deque[Event] = deque()
        self._publisher: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle of the service

    async def start(self) -> None:
        await self._recover()
        self._tasks.append(asyncio.create_task(self._listen(), name="nora-listen"))
        self._tasks.append(asyncio.create_task(self._tick_forever(), name="nora-tick"))
        self._tasks.append(asyncio.create_task(self._refresh_forever(), name="nora-queue-refresh"))
        await asyncio.wait_for(self._listening.wait(), timeout=10)

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._jobs, *([self._publisher] if self._publisher is not None else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def now(self) -> float:
        return self.clock()

    async def publish(self, event: Event, message: StoredMessage | None = None) -> None:
        """Apply an event to this instance's sockets, then publish it as a hint to the others.

        A broker outage is logged, never raised: the database holds the truth and every socket
        catches up by ``seq`` once events flow again."""
        if not self._apply_here(event, message):
            return
        if self._outgoing or (self._publisher is not None and not self._publisher.done()):
            # Messages stored before this event are still on their way out: keep the order.
            self._publish_later(event)
            return
        await self._publish_now([event])

    async def _publish_now(self, events: list[Event]) -> None:
        try:
            await self.broker.publish_many(events)
        except Exception as exc:  # noqa: BLE001 - any broker failure degrades to "delivered later"
            metrics.BROKER_FAILURES.inc()
            log.warning("broker publish failed (%s); clients will catch up by seq", type(exc).__name__)

    async def _recover(self) -> None:
        """After a restart: re-queue waiting chats at their place; held chats wait for their adviser."""
        now = self.now()
        for conv in await self.store.list_where(col(Conversation.state) == S.QUEUED):
            await self.routing.enqueue(chat_request(conv))
        held: dict[str, set[str]] = {}
        for conv in await self.store.list_where(col(Conversation.state) == S.ASSIGNED):
            if conv.adviser_id:
                held.setdefault(conv.adviser_id, set()).add(conv.id)
        for adviser_id, ids in held.items():
            profile = await self.directory.profile(adviser_id)
            if profile is not None:
                adviser = self._adviser(profile, active=frozenset(ids), status=AdviserStatus.OFFLINE)
                adviser.offline_since = now
                await self.routing.put_adviser(adviser)
        away = to_datetime(now)
        for conv in await self.store.list_where(
            col(Conversation.state) != S.CLOSED, col(Conversation.visitor_away_since).is_(None)
        ):
            await self.store.update(conv.id, col(Conversation.visitor_away_since).is_(None), visitor_away_since=away)

    async def _listen(self) -> None:
        while True:
            try:
                async with self.broker.listen() as queue:
                    self._listening.set()
                    while True:
                        event = await queue.get()
                        if event.get("i") != self.instance:  # our own were applied when published
                            self._apply_safely(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.warning("broker listener failed; restarting")
                await asyncio.sleep(1)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_s)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("periodic routing tick failed")

    async def _refresh_forever(self) -> None:
        """Queue positions are recomputed at most every ``QUEUE_REFRESH_S``, however many changes came:
        under a burst of starts that is one computation instead of one per start."""
        while True:
            await asyncio.sleep(QUEUE_REFRESH_S)
            if not self._queue_dirty:
                continue
            self._queue_dirty = False
            try:
                await self._refresh_queues()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("queue refresh failed")

    async def tick(self) -> None:
        """Widen tiers, end grace periods and refresh queue positions."""
        now = self.now()
        self._ticks += 1
        if self._rebuild_due:
            await self._rebuild_routing()
            self._rebuild_due = False
        if self._ticks % HEARTBEAT_EVERY_TICKS == 0:
            await self.routing.touch(list(self.hub.advisers), now)
            expired = await self.routing.expire_leases(now, ADVISER_LEASE_S)
            if expired:
                log.warning("%d adviser lease(s) expired (instance gone?); grace period started", len(expired))
        if now - self._last_purge >= PURGE_EVERY_S:
            self._last_purge = now
            purged = await self.purge(now=now)
            if purged:
                log.info("purged %d transcript(s) past the retention period", purged)
        await self._requeue_expired_advisers(now)
        await self._close_timed_out_visitors(now)
        await self._end_transfer_holds(now)
        await self.route()
        await self.publish({"t": "queue"})

    # ------------------------------------------------------------------ routing

    def _adviser(self, profile: StaffProfile, *, active: frozenset[str], status: AdviserStatus) -> Adviser:
        service = Service.AT if profile.service == "AT" else Service.MR
        return Adviser(
            seen_at=self.now(),
            id=profile.user_id,
            service=service,
            regions=profile.regions,
            languages=profile.languages,
            capacity=profile.capacity,
            status=status,
            active=active,
        )

    async def route(self) -> None:
        """Run a routing step and carry out its assignments.

        Callers queued behind a step share the next one: a step that starts after a call sees
        everything that call changed, so a burst of starts costs a few steps, not one each (with the
        Redis state, each is a transaction on one key that every instance writes). When other
        instances keep the state busy, the step is left to the next tick, a second away; the change
        that asked for it is already stored."""
        self._route_calls += 1
        call = self._route_calls
        async with self._step_lock:
            if self._routed_calls >= call:
                return  # a step that started after this call has run
            self._routed_calls = self._route_calls
            try:
                decisions = await self.routing.step(self.now())
            except StateBusy:
                log.warning("routing state busy; the next tick routes")
                return
        for decision in decisions:
            await self._assign(decision.conversation_id, decision.adviser_id)
        if decisions:
            await self.publish({"t": "queue"})

    async def _assign(self, conversation_id: str, adviser_id: str) -> None:
        now = self.now()
        profile = await self.directory.profile(adviser_id)
        conv = await self.store.get(conversation_id)
        ok = (
            profile is not None
            and conv is not None
            and await self.store.update(
                conversation_id,
                col(Conversation.state) == S.QUEUED,
                state=S.ASSIGNED,
                adviser_id=adviser_id,
                service=profile.service,
                assigned_at=to_datetime(now),
            )
        )
        if not ok or profile is None or conv is None:
            await self.routing.release(adviser_id, conversation_id, now)
            return
        metrics.WAIT_SECONDS.observe(max(0.0, now - as_utc(conv.enqueued_at).timestamp()))
        await self._system(conv, "assigned", adviser_id, name=profile.name)
        await self.publish(
            {"t": "assigned", "c": conversation_id, "a": adviser_id, "name": profile.name, "service": profile.service}
        )

    async def queue_estimates(self) -> dict[str, tuple[int, int | None]]:
        snap = await self.routing.snapshot()
        result = estimates(snap.waiting, snap.advisers, snap.releases, self.now(), self.delays)
        return {cid: (e.position, e.estimated_wait_s) for cid, e in result.items()}

    # ------------------------------------------------------------------ messages

    async def _system(
        self, conv: Conversation, event: str, adviser_id: str | None, *, text_key: str | None = None, **values: str
    ) -> StoredMessage:
        text = notice(text_key or event, conv.language, **values)
        stored = await self.store.append(conv.id, sender="system", text=text, at=to_datetime(self.now()), event=event)
        await self._publish_message(conv.id, adviser_id, stored.message, origin=None)
        return stored.message

    async def _publish_message(
        self, conversation_id: str, adviser_id: str | None, message: StoredMessage, origin: str | None
    ) -> None:
        await self.publish(self._message_event(conversation_id, adviser_id, message, origin), message)

    def _message_event(
        self, conversation_id: str, adviser_id: str | None, message: StoredMessage, origin: str | None
    ) -> Event:
        event: Event = {"t": "msg", "c": conversation_id, "a": adviser_id, "o": origin}
        if self.broker.reaches_other_instances:  # this instance's sockets get ``message`` itself
            event["m"] = message.event_body()
        return event

    def _rate_check(self, key: tuple[str, str], ref: str) -> None:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            bucket = self._buckets[key] = TokenBucket(self.settings.rate_per_s, self.settings.rate_burst, self.clock)
        wait_ms = bucket.take()
        if wait_ms:
            raise FrameError("rate_limited", "Too many messages; wait a moment.", ref=ref, retry_after_ms=wait_ms)

    def _post(
        self,
        outbox: Outbox,
        conversation_id: str,
        *,
        sender: str,
        sender_id: str,
        text: Text,
        origin: str,
        only_if: Guard,
        refused: Callable[[], Awaitable[BaseException]],
    ) -> asyncio.Future[None]:
        """The message hot path, without waiting: hand the message to the next group commit and return a
        future that completes once it is stored (or carries the frame error that refuses it).

        The ack and the fan-out run in the committer's own turn of the loop, right after the commit
        (``ConversationStore.append_nowait``), rather than a turn later in a resumed coroutine; the
        socket's reader goes on to its next frame meanwhile, and seqs still follow arrival order.
        ``refused`` builds the error for a message its guard turned down (it may read the conversation
        to say precisely why)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        at = to_datetime(self.now())
        client_id = text.client_id
        outbox.expect_ack(conversation_id, client_id)

        def settle(outcome: Outcome | BaseException) -> None:
            try:
                answer(outcome)
            except Exception as exc:  # noqa: BLE001 - the lane reports it and closes the socket
                if not done.done():
                    done.set_exception(exc)

        def answer(outcome: Outcome | BaseException) -> None:
            if isinstance(outcome, BaseException) or outcome is None:
                outbox.forget_ack(conversation_id, client_id)
                if outcome is not None:
                    done.set_exception(outcome)
                else:
                    self._spawn(self._refuse(done, refused))
                return
            seq, created, adviser_id = outcome
            outbox.push(Ack(conversation_id, client_id, seq))
            if created:
                metrics.MESSAGES_BY_SENDER[sender].inc()
                message = StoredMessage(seq, sender, text.text, at, client_id, None, sender_id)
                self._publish_soon(self._message_event(conversation_id, adviser_id, message, origin), message)
            done.set_result(None)

        self.store.append_nowait(
            conversation_id,
            sender=sender,
            text=text.text,
            at=at,
            client_id=client_id,
            sender_id=sender_id,
            only_if=only_if,
            on_settle=settle,
        )
        return done

    async def _refuse(self, done: asyncio.Future[None], refused: Callable[[], Awaitable[BaseException]]) -> None:
        try:
            error = await refused()
        except Exception as exc:  # noqa: BLE001 - the precise error is raised, or reading it failed
            error = exc
        if not done.done():
            done.set_exception(error)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        """A background job the service keeps a reference to until it ends."""
        task = asyncio.create_task(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    def _publish_soon(self, event: Event, message: StoredMessage | None = None) -> None:
        """``publish`` from synchronous code: applied here at once, sent to the others in order."""
        if self._apply_here(event, message):
            self._publish_later(event)

    def _apply_here(self, event: Event, message: StoredMessage | None) -> bool:
        """Mark the event as this instance's and apply it to the sockets here; whether other instances
        may need it too."""
        event["i"] = self.instance
        self._apply_safely(event, message)
        return self.broker.reaches_other_instances

    def _publish_later(self, event: Event) -> None:
        """Publish to the other instances from synchronous code: in order, by one background sender."""
        self._outgoing.append(event)
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.create_task(self._send_outgoing())

    async def _send_outgoing(self) -> None:
        """Everything queued while the last send was on the wire goes in the next one, in order."""
        while self._outgoing:
            events = list(self._outgoing)
            self._outgoing.clear()
            await self._publish_now(events)

    async def visitor_start(self, conn: VisitorConn, start: Start) -> None:
        if conn.conversation_id is not None:
            raise FrameError("forbidden", "This connection already has a conversation.", ref="start")
        if self.opening_hours is not None and not self.opening_hours.is_open(self.now()):
            conn.outbox.send(
                {
                    "type": "closed",
                    "reason": "closed_hours",
                    "next_opening": self.opening_hours.next_opening_iso(self.now()),
                    "help_lines": self.reference().help_lines(),
                }
            )
            conn.outbox.push_close(WS_1000_NORMAL)
            return
        start_key = hash_token(start.client_id) if start.client_id else None
        if start_key is not None and await self._start_again(conn, start_key):
            return
        now = to_datetime(self.now())
        token = secrets.token_urlsafe(32)
        try:
            conv = await self._create(start, start_key, token, now)
        except AlreadyExists:
            # The same start arrived twice at once (two sockets after a flaky network): join the twin.
            if start_key is not None and await self._start_again(conn, start_key):
                return
            raise
        metrics.CONVERSATIONS.inc()
        conn.conversation_id, conn.language, conn.state = conv.id, conv.language, S.QUEUED
        conn.outbox.last[conv.id] = 0
        self.hub.add_visitor(conn)
        conn.outbox.send({"type": "started", "conversation_id": conv.id, "token": token, "alias": conv.alias})
        if conv.urgent:
            await self._system(conv, "urgent_help", None)
        await self.routing.enqueue(chat_request(conv))
        await self.route()
        self._queue_dirty = True  # the first `queue` frame comes with the next refresh (< 0.25 s)

    async def _start_again(self, conn: VisitorConn, start_key: str) -> bool:
        """A ``start`` repeated with its ``client_id`` (its ``started`` was lost with the connection)
        gets the same conversation, with a fresh token, and everything that happened since."""
        conv = await self.store.by_start_key(start_key)
        if conv is None:
            return False
        if conv.state == S.CLOSED or conv.purged_at is not None:
            await self.store.update(conv.id, start_key=None)  # that one is over: start afresh
            return False
        token = secrets.token_urlsafe(32)
        await self.store.update(conv.id, token_hash=hash_token(token))
        conn.outbox.send({"type": "started", "conversation_id": conv.id, "token": token, "alias": conv.alias})
        await self._attach(conn, conv, 0)
        return True

    async def _create(self, start: Start, start_key: str | None, token: str, now: datetime) -> Conversation:
        return await self.store.create(
            Conversation(
                token_hash=hash_token(token),
                start_key=start_key,
                alias=alias(),
                language=start.language,
                also_languages=",".join(start.also_languages),
                region=start.region,
                audience=start.audience,
                urgent=start.urgent,
                state=S.QUEUED,
                started_at=now,
                enqueued_at=now,
            )
        )

    async def visitor_resume(self, conn: VisitorConn, resume: Resume) -> None:
        if conn.conversation_id is not None:
            raise FrameError("forbidden", "This connection already has a conversation.", ref="resume")
        conv = await self.store.by_token(resume.token)
        if conv is None or conv.purged_at is not None:
            raise FrameError("not_found", "No conversation for this token.", ref="resume")
        conn.conversation_id, conn.language, conn.state = conv.id, conv.language, conv.state
        conn.outbox.send({"type": "resumed", "conversation_id": conv.id, "state": conv.state})
        if conv.state == S.CLOSED:
            conn.outbox.push(Replay(conv.id, resume.last_seq))
            conn.outbox.send({"type": "closed", "reason": conv.close_reason or "adviser_closed"})
            conn.outbox.push_close(WS_1000_NORMAL)
            return
        await self._attach(conn, conv, resume.last_seq)

    async def _attach(self, conn: VisitorConn, conv: Conversation, last_seq: int) -> None:
        """Join a socket to a live conversation: replay after ``last_seq``, then where it stands."""
        conn.conversation_id, conn.language, conn.state = conv.id, conv.language, conv.state
        self.hub.add_visitor(conn)
        conn.outbox.push(Replay(conv.id, last_seq))
        was_away = conv.visitor_away_since is not None
        await self.store.update(conv.id, visitor_away_since=None)
        if conv.state == S.ASSIGNED and conv.adviser_id:
            profile = await self.directory.profile(conv.adviser_id)
            conn.outbox.send(
                {"type": "assigned", "adviser": {"name": profile.name if profile else "", "service": conv.service}}
            )
        else:
            await self._send_queue(conn, force=True)
        if was_away:
            await self.publish({"t": "presence", "c": conv.id, "a": conv.adviser_id, "presence": "back"})
            await self._system(conv, "visitor_back", conv.adviser_id)

    async def _visitor_conversation(self, conn: VisitorConn, ref: str) -> Conversation:
        if conn.conversation_id is None:
            raise FrameError("not_found", "No conversation on this connection: send start or resume first.", ref=ref)
        conv = await self.store.get(conn.conversation_id)
        if conv is None or conv.state == S.CLOSED:
            raise FrameError("not_found", "This conversation has ended.", ref=ref)
        return conv

    async def visitor_message(self, conn: VisitorConn, text: Text) -> None:
        done = self.visitor_message_nowait(conn, text)
        if done is None:
            await self._visitor_conversation(conn, "message")  # raises the right error
            return
        await done

    def visitor_message_nowait(self, conn: VisitorConn, text: Text) -> asyncio.Future[None] | None:
        """Hand the message over (see ``_post``); ``None`` when the connection has no open conversation,
        which ``visitor_message`` answers with the precise error."""
        conversation_id = conn.conversation_id
        if conversation_id is None or conn.state == S.CLOSED:
            return None
        self._rate_check(("v", conversation_id), "message")

        async def refused() -> BaseException:
            return FrameError("not_found", "This conversation has ended.", ref="message")

        return self._post(
            conn.outbox,
            conversation_id,
            sender="visitor",
            sender_id=VISITOR,
            text=text,
            origin=conn.id,
            only_if=Guard("open"),
            refused=refused,
        )

    async def visitor_typing(self, conn: VisitorConn) -> None:
        if conn.conversation_id is None or conn.state != S.ASSIGNED:
            return  # typing is a hint: silently ignored when nobody could see it
        if self._typing_allowed(("vt", conn.conversation_id)):
            conv = await self.store.get(conn.conversation_id)
            if conv is not None and conv.adviser_id:
                await self.publish({"t": "typing", "c": conv.id, "a": conv.adviser_id, "from": "visitor"})

    def _typing_allowed(self, key: tuple[str, str]) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.settings.typing_per_s, 2, self.clock)
        return bucket.take() == 0

    async def visitor_leave(self, conn: VisitorConn) -> None:
        conv = await self._visitor_conversation(conn, "leave")
        conn.left = True
        if conv.adviser_id:
            await self.publish({"t": "presence", "c": conv.id, "a": conv.adviser_id, "presence": "left"})
        await self.close(conv.id, "visitor_left")

    async def visitor_disconnected(self, conn: VisitorConn) -> None:
        remaining = self.hub.remove_visitor(conn)
        if conn.conversation_id is None or conn.left or remaining:
            return
        conv = await self.store.get(conn.conversation_id)
        if conv is None or conv.state == S.CLOSED:
            return
        changed = await self.store.update(
            conv.id,
            col(Conversation.visitor_away_since).is_(None),
            col(Conversation.state) != S.CLOSED,
            visitor_away_since=to_datetime(self.now()),
        )
        if changed:
            await self.publish({"t": "presence", "c": conv.id, "a": conv.adviser_id, "presence": "away"})
            await self._system(conv, "visitor_away", conv.adviser_id)

    async def _send_queue(self, conn: VisitorConn, *, force: bool = False) -> None:
        if conn.conversation_id is None or conn.state != S.QUEUED:
            return
        current = (await self.queue_estimates()).get(conn.conversation_id)
        if current is not None and (force or current != conn.last_queue):
            conn.last_queue = current
            conn.outbox.send({"type": "queue", "position": current[0], "estimated_wait_s": current[1]})

    # ------------------------------------------------------------------ closing

    async def close(self, conversation_id: str, reason: str) -> bool:
        now = self.now()
        conv = await self.store.get(conversation_id)
        if conv is None or conv.state == S.CLOSED:
            return False
        changed = await self.store.update(
            conversation_id,
            col(Conversation.state) != S.CLOSED,
            state=S.CLOSED,
            closed_at=to_datetime(now),
            close_reason=reason,
        )
        if not changed:
            return False
        if conv.state == S.QUEUED:
            await self.routing.withdraw(conversation_id)
        elif conv.adviser_id:
            await self.routing.release(conv.adviser_id, conversation_id, now)
        if reason == "visitor_left":
            await self._system(conv, "visitor_left", conv.adviser_id)
        else:
            await self._system(
                conv, "closed", conv.adviser_id, text_key=reason if reason == "visitor_timeout" else None
            )
        await self.publish({"t": "closed", "c": conversation_id, "a": conv.adviser_id, "reason": reason})
        await self.route()
        return True

    async def _close_timed_out_visitors(self, now: float) -> None:
        cutoff = to_datetime(now - self.settings.visitor_grace_s)
        for conv in await self.store.list_where(
            col(Conversation.state) != S.CLOSED, col(Conversation.visitor_away_since) < cutoff
        ):
            if not self.hub.visitors_of(conv.id):
                await self.close(conv.id, "visitor_timeout")

    async def _requeue_expired_advisers(self, now: float) -> None:
        snap = await self.routing.snapshot()
        for adviser in snap.advisers:
            if (
                adviser.status is AdviserStatus.OFFLINE
                and adviser.offline_since is not None
                and now - adviser.offline_since >= self.settings.adviser_grace_s
            ):
                removed = await self.routing.remove_adviser(adviser.id)
                for conversation_id in removed.active if removed else ():
                    await self._requeue(conversation_id, adviser.id, "timeout")
                await self._release_transfers_to(adviser.id)

    async def _end_transfer_holds(self, now: float) -> None:
        """After the first tier delay a transferred chat that nobody else took may go back to the
        adviser who transferred it, at its original place in line."""
        for conversation_id, until in list(self._transfer_holds.items()):
            if now >= until:
                await self.routing.lift_exclusion(conversation_id)  # if Redis is away, the next tick retries
                del self._transfer_holds[conversation_id]

    async def _release_transfers_to(self, adviser_id: str) -> None:
        """Chats transferred to a named adviser who has now gone are open to everyone again,
        at their original place, rather than waiting for that one person forever."""
        for conv in await self.store.list_where(
            col(Conversation.state) == S.QUEUED, col(Conversation.target_adviser_id) == adviser_id
        ):
            if await self.store.update(
                conv.id, col(Conversation.target_adviser_id) == adviser_id, target_adviser_id=None
            ):
                conv.target_adviser_id = None
                await self.routing.enqueue(chat_request(conv))

    async def _requeue(self, conversation_id: str, adviser_id: str, reason: str) -> None:
        changed = await self.store.update(
            conversation_id,
            col(Conversation.state) == S.ASSIGNED,
            col(Conversation.adviser_id) == adviser_id,
            state=S.QUEUED,
            adviser_id=None,
            service=None,
        )
        conv = await self.store.get(conversation_id)
        if not changed or conv is None:
            return
        await self._system(conv, "requeued", None)
        await self.publish({"t": "unassigned", "c": conversation_id, "a": adviser_id, "reason": reason})
        await self.publish({"t": "requeued", "c": conversation_id})
        await self.routing.enqueue(chat_request(conv))

    # ------------------------------------------------------------------ advisers

    async def adviser_connected(self, conn: StaffConn) -> None:
        profile = conn.identity.profile
        mine = await self.store.list_where(
            col(Conversation.state) == S.ASSIGNED, col(Conversation.adviser_id) == profile.user_id
        )
        snap = await self.routing.snapshot()
        known = next((a for a in snap.advisers if a.id == profile.user_id), None)
        first_here = self.hub.add_adviser(conn) == 1
        status = AdviserStatus.AWAY
        returning = known is not None and known.status is AdviserStatus.OFFLINE
        if known is not None and known.status is not AdviserStatus.OFFLINE:
            status = known.status
        elif known is not None and known.status_before_offline is not None:
            status = known.status_before_offline  # reconnected within the grace period
        adviser = self._adviser(profile, active=frozenset(c.id for c in mine), status=status)
        if known is not None:
            adviser.capacity = known.capacity  # keep what the adviser chose this shift
        await self.routing.put_adviser(adviser)
        if first_here or known is None:
            await self.routing.set_status(profile.user_id, status, self.now())
        if returning:
            for conv in mine:
                await self._system(conv, "adviser_back", profile.user_id)

        async def send_state(outbox: Outbox) -> None:
            conversations = [await self._conversation_body(c.id, outbox) for c in mine]
            await outbox.websocket.send_json(
                {
                    "type": "state",
                    "adviser": {
                        "id": profile.user_id,
                        "name": profile.name,
                        "service": profile.service,
                        "regions": sorted(profile.regions),
                        "languages": sorted(profile.languages),
                        "capacity": adviser.capacity,
                        "max_capacity": profile.max_capacity,
                    },
                    "status": status.value,
                    "conversations": [c for c in conversations if c is not None],
                }
            )

        self._local_status[profile.user_id] = status
        conn.outbox.push(Run(send_state))
        await self.publish({"t": "status", "a": profile.user_id, "status": status.value})
        await self.route()

    async def _conversation_body(self, conversation_id: str, outbox: Outbox) -> dict[str, Any] | None:
        """The ``<conversation>`` object of PROTOCOL.md; starts tracking its seq on ``outbox``."""
        conv = await self.store.get(conversation_id)
        if conv is None:
            return None
        messages = await self.store.messages_after(conversation_id, 0)
        outbox.last[conversation_id] = messages[-1].seq if messages else 0
        enqueued = as_utc(conv.enqueued_at)
        until = as_utc(conv.assigned_at) if conv.assigned_at else to_datetime(self.now())
        return {
            "id": conv.id,
            "alias": conv.alias,
            "language": conv.language,
            "region": conv.region,
            "audience": conv.audience,
            "urgent": conv.urgent,
            "started_at": iso(conv.started_at),
            "waited_s": max(0, int((until - enqueued).total_seconds())),
            "state": conv.state,
            "transferred": conv.transferred,
            "note": conv.transfer_note,
            "rtl": self.reference().is_rtl(conv.language),
            "messages": [m.wire(owner=outbox.owner) for m in messages],
        }

    async def adviser_status(self, conn: StaffConn, status: str) -> None:
        new = AdviserStatus(status)
        self._local_status[conn.user_id] = new
        try:
            await self.routing.set_status(conn.user_id, new, self.now())
        except UnknownAdviser:
            await self.adviser_connected(conn)
            await self.routing.set_status(conn.user_id, new, self.now())
        await self.publish({"t": "status", "a": conn.user_id, "status": new.value})
        if new is AdviserStatus.AVAILABLE:
            await self.route()

    async def _adviser_conversation(self, conn: StaffConn, conversation_id: str, ref: str) -> Conversation:
        conv = await self.store.get(conversation_id)
        if conv is None or conv.adviser_id != conn.user_id:
            raise not_found(ref)  # someone else's conversation reads exactly like a missing one
        if conv.state != S.ASSIGNED:
            raise FrameError("forbidden", "This conversation is closed.", ref=ref)
        return conv

    async def adviser_message(self, conn: StaffConn, text: Text) -> None:
        await self.adviser_message_nowait(conn, text)

    def adviser_message_nowait(self, conn: StaffConn, text: Text) -> asyncio.Future[None]:
        """Hand the message over (see ``_post``)."""
        conversation_id = text.conversation_id
        assert conversation_id is not None  # noqa: S101 - parse_text(with_conversation=True)
        self._rate_check((conn.user_id, conversation_id), "message")

        async def refused() -> BaseException:
            try:
                await self._adviser_conversation(conn, conversation_id, "message")  # raises the precise error
            except FrameError as exc:
                return exc
            return not_found("message")

        return self._post(
            conn.outbox,
            conversation_id,
            sender="adviser",
            sender_id=conn.user_id,
            text=text,
            origin=conn.id,
            only_if=Guard("adviser", conn.user_id),
            refused=refused,
        )

    async def adviser_typing(self, conn: StaffConn, conversation_id: str) -> None:
        if not self._typing_allowed((conn.user_id + "t", conversation_id)):
            return
        conv = await self._adviser_conversation(conn, conversation_id, "typing")
        await self.publish({"t": "typing", "c": conv.id, "a": conn.user_id, "from": "adviser", "o": conn.id})

    async def adviser_close(self, conn: StaffConn, conversation_id: str) -> None:
        await self._adviser_conversation(conn, conversation_id, "close")
        await self.close(conversation_id, "adviser_closed")

    async def adviser_transfer(self, conn: StaffConn, conversation_id: str, data: dict[str, Any]) -> None:
        """Back to the queue at its original place, for another adviser, service, region or language."""
        target = parse_transfer(data, self.reference())
        conv = await self._adviser_conversation(conn, conversation_id, "transfer")
        if target.adviser_id is not None:
            if target.adviser_id == conn.user_id or await self.directory.profile(target.adviser_id) is None:
                raise invalid("transfer", {"to.adviser_id": "no other adviser with this id"})
            snap = await self.routing.snapshot()
            if not any(a.id == target.adviser_id for a in snap.advisers):
                raise invalid("transfer", {"to.adviser_id": "that adviser is not connected"})
        changed = await self.store.update(
            conversation_id,
            col(Conversation.state) == S.ASSIGNED,
            col(Conversation.adviser_id) == conn.user_id,
            state=S.QUEUED,
            adviser_id=None,
            service=None,
            transferred=True,
            transfer_note=target.note,
            target_adviser_id=target.adviser_id,
            target_service=target.service,
            target_region=target.region or conv.target_region,
            target_language=target.language or conv.target_language,
        )
        if not changed:
            raise not_found("transfer")
        await self.routing.release(conn.user_id, conversation_id, self.now())
        moved = await self.store.get(conversation_id)
        assert moved is not None  # noqa: S101 - updated just above
        await self._system(moved, "transferred", None)
        conn.outbox.send({"type": "unassigned", "conversation_id": conversation_id, "reason": "transferred"})
        conn.outbox.push(Untrack(conversation_id))
        await self.publish({"t": "requeued", "c": conversation_id})
        await self.routing.enqueue(chat_request(moved, not_adviser=conn.user_id))
        self._transfer_holds[conversation_id] = self.now() + self.delays.t1
        await self.route()

    async def adviser_sync(self, conn: StaffConn, wanted: dict[str, int]) -> None:
        for conversation_id in wanted:
            conv = await self.store.get(conversation_id)
            if conv is None or conv.adviser_id != conn.user_id:
                raise not_found("sync")
        for conversation_id, after in wanted.items():
            conn.outbox.push(Replay(conversation_id, after))

    async def adviser_disconnected(self, conn: StaffConn) -> None:
        if self.hub.remove_adviser(conn) == 0:
            self._local_status.pop(conn.user_id, None)
            with contextlib.suppress(UnknownAdviser):
                await self.routing.set_status(conn.user_id, AdviserStatus.OFFLINE, self.now())
            # The visitors are told at once; after the grace period they go back to the queue.
            for conv in await self.store.list_where(
                col(Conversation.state) == S.ASSIGNED, col(Conversation.adviser_id) == conn.user_id
            ):
                await self._system(conv, "adviser_away", conn.user_id)
            await self.publish({"t": "queue"})

    async def adviser_capacity(self, conn: StaffConn, capacity: int) -> None:
        """An adviser chooses how many chats to hold at once, up to the maximum an admin set."""
        maximum = conn.identity.profile.max_capacity
        if not 1 <= capacity <= maximum:
            raise invalid("capacity", {"capacity": f"a whole number from 1 to {maximum}"})
        snap = await self.routing.snapshot()
        known = next((a for a in snap.advisers if a.id == conn.user_id), None)
        if known is None:
            raise FrameError("forbidden", "Not connected as an adviser.", ref="capacity")
        await self.routing.put_adviser(replace(known, capacity=capacity))
        await self.publish({"t": "capacity", "a": conn.user_id, "capacity": capacity})
        await self.route()

    # ------------------------------------------------------------------ events from the broker

    def _apply_safely(self, event: Event, message: StoredMessage | None = None) -> None:
        try:
            self._apply(event, message)
        except Exception:  # noqa: BLE001 - one bad event must not stop delivery
            log.exception("event handling failed for %s", event.get("t"))

    def _apply(self, event: Event, message: StoredMessage | None = None) -> None:
        """Turn an event into frames for the sockets connected here (``message``: the stored message
        of a ``msg`` event published by this instance, saving its decoding)."""
        kind = event.get("t")
        cid, aid = event.get("c"), event.get("a")
        if kind == "msg" and isinstance(cid, str):
            if message is None:
                message = StoredMessage.from_event(event["m"])
            for vconn in self.hub.visitors_of(cid):
                if vconn.id != event.get("o"):
                    vconn.outbox.push(Deliver(cid, message))
            for sconn in self.hub.advisers_of(aid):
                if sconn.id != event.get("o"):
                    sconn.outbox.push(Deliver(cid, message))
        elif kind == "typing" and isinstance(cid, str):
            if event.get("from") == "adviser":
                for vconn in self.hub.visitors_of(cid):
                    vconn.outbox.send({"type": "typing", "sender": "adviser"})
            else:
                for sconn in self.hub.advisers_of(aid):
                    sconn.outbox.send({"type": "typing", "conversation_id": cid, "sender": "visitor"})
        elif kind == "assigned" and isinstance(cid, str) and isinstance(aid, str):
            for vconn in self.hub.visitors_of(cid):
                vconn.state = S.ASSIGNED
                vconn.outbox.send({"type": "assigned", "adviser": {"name": event["name"], "service": event["service"]}})
            for sconn in self.hub.advisers_of(aid):
                sconn.outbox.push(Run(self._send_assigned(cid)))
        elif kind == "closed" and isinstance(cid, str):
            for vconn in list(self.hub.visitors_of(cid)):
                vconn.state = S.CLOSED
                vconn.outbox.send({"type": "closed", "reason": event["reason"]})
                vconn.outbox.push_close(WS_1000_NORMAL)
                self.hub.remove_visitor(vconn)
            for sconn in self.hub.advisers_of(aid):
                sconn.outbox.send(
                    {
                        "type": "conversation_closed",
                        "conversation_id": cid,
                        "reason": event["reason"],
                        "registration_due": True,
                    }
                )
                sconn.outbox.push(Untrack(cid))
        elif kind == "presence" and isinstance(cid, str):
            for sconn in self.hub.advisers_of(aid):
                sconn.outbox.send({"type": "visitor", "conversation_id": cid, "presence": event["presence"]})
        elif kind == "unassigned" and isinstance(cid, str):
            for sconn in self.hub.advisers_of(aid):
                sconn.outbox.send({"type": "unassigned", "conversation_id": cid, "reason": event["reason"]})
                sconn.outbox.push(Untrack(cid))
        elif kind == "requeued" and isinstance(cid, str):
            for vconn in self.hub.visitors_of(cid):
                vconn.state, vconn.last_queue = S.QUEUED, None
            self._queue_dirty = True
        elif kind == "capacity" and isinstance(aid, str):
            for sconn in self.hub.advisers_of(aid):
                sconn.outbox.send({"type": "capacity", "capacity": event["capacity"]})
            self._notify_queue_listeners()
        elif kind == "status" and isinstance(aid, str):
            for sconn in self.hub.advisers_of(aid):
                sconn.outbox.send({"type": "status", "status": event["status"]})
            self._notify_queue_listeners()
        elif kind == "queue":
            self._queue_dirty = True
        elif kind == "revoke":
            for sconn in list(self.hub.all_staff()):
                if sconn.identity.session_key == event.get("session") or sconn.user_id == event.get("user"):
                    sconn.outbox.push_close(WS_1008_POLICY, "session ended")
            for listener in list(self.queue_listeners):
                listener()
        elif kind == "resync":
            conns: list[VisitorConn | StaffConn] = [*self.hub.all_visitors(), *self.hub.all_staff()]
            for conn in conns:
                for conversation_id, last in list(conn.outbox.last.items()):
                    conn.outbox.push(Replay(conversation_id, last))
            self._rebuild_due = True  # done by the next tick, retried until Redis answers again

    async def _rebuild_routing(self) -> None:
        """After the broker reconnects (a Redis restart may have emptied the routing state): put back
        every waiting conversation from the database and every adviser connected here."""
        for conv in await self.store.list_where(col(Conversation.state) == S.QUEUED):
            await self.routing.enqueue(chat_request(conv))
        for adviser_id, conns in list(self.hub.advisers.items()):
            profile = next(iter(conns)).identity.profile
            mine = await self.store.list_where(
                col(Conversation.state) == S.ASSIGNED, col(Conversation.adviser_id) == adviser_id
            )
            status = self._local_status.get(adviser_id, AdviserStatus.AWAY)
            await self.routing.put_adviser(self._adviser(profile, active=frozenset(c.id for c in mine), status=status))
            await self.routing.set_status(adviser_id, status, self.now())
        await self.route()

    def _send_assigned(self, conversation_id: str) -> Callable[[Outbox], Any]:
        async def job(outbox: Outbox) -> None:
            body = await self._conversation_body(conversation_id, outbox)
            if body is not None:
                await outbox.websocket.send_json({"type": "assigned", "conversation": body})

        return job

    async def _refresh_queues(self) -> None:
        waiting = [c for c in self.hub.all_visitors() if c.state == S.QUEUED]
        if waiting:
            current = await self.queue_estimates()
            for conn in waiting:
                value = current.get(conn.conversation_id or "")
                if value is not None and value != conn.last_queue:
                    conn.last_queue = value
                    conn.outbox.send({"type": "queue", "position": value[0], "estimated_wait_s": value[1]})
        self._notify_queue_listeners()

    def _notify_queue_listeners(self) -> None:
        for listener in list(self.queue_listeners):
            listener()

    # ------------------------------------------------------------------ retention

    async def purge(self, *, now: float | None = None) -> int:
        """Erase transcripts closed longer ago than the retention period; returns how many."""
        from chat.retention import purge_transcripts

        at = to_datetime(self.now() if now is None else now)
        return await purge_transcripts(
            self.store.db, at - timedelta(hours=self.settings.transcript_retention_hours), at
        )
