"""The sockets connected to this instance, indexed the way events address them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

from chat.outbox import Outbox
from chat.staff import StaffIdentity


def socket_id() -> str:
    return secrets.token_hex(8)


@dataclass(eq=False)
class VisitorConn:
    outbox: Outbox
    id: str = field(default_factory=socket_id)
    conversation_id: str | None = None
    session_key: str | None = field(default=None, repr=False)  # the browser session's hash (chat/abuse.py)
    language: str = "en"
    state: str | None = None
    last_queue: tuple[int, int | None] | None = None
    left: bool = False
    handed_over: bool = False  # closed by a rolling restart: the visitor reconnects elsewhere (chat/drain.py)
    address: str | None = field(default=None, repr=False)  # the client's, for the start and return-code caps only
    thread_id: str | None = None  # after ``return`` with a valid code (chat/returning.py)
    thread_language: str | None = None  # the page language the ``return`` named


@dataclass(eq=False)
class StaffConn:
    outbox: Outbox
    identity: StaffIdentity
    id: str = field(default_factory=socket_id)
    acted: bool = False  # sent a frame since the last session check (chat.ws_adviser.watch_session)
    handed_over: bool = False  # closed by a rolling restart: the adviser reconnects elsewhere (chat/drain.py)

    @property
    def user_id(self) -> str:
        return self.identity.profile.user_id


class Hub:
    def __init__(self) -> None:
        self.visitors: dict[str, set[VisitorConn]] = {}
        self.advisers: dict[str, set[StaffConn]] = {}
        self.supervisors: set[StaffConn] = set()

    def add_visitor(self, conn: VisitorConn) -> None:
        assert conn.conversation_id is not None  # noqa: S101 - programmer error, not input
        self.visitors.setdefault(conn.conversation_id, set()).add(conn)

    def remove_visitor(self, conn: VisitorConn) -> int:
        """Forget the socket; returns how many visitor sockets the conversation still has here."""
        if conn.conversation_id is None:
            return 0
        conns = self.visitors.get(conn.conversation_id, set())
        conns.discard(conn)
        if not conns:
            self.visitors.pop(conn.conversation_id, None)
        return len(conns)

    def add_adviser(self, conn: StaffConn) -> int:
        conns = self.advisers.setdefault(conn.user_id, set())
        conns.add(conn)
        return len(conns)

    def remove_adviser(self, conn: StaffConn) -> int:
        conns = self.advisers.get(conn.user_id, set())
        conns.discard(conn)
        if not conns:
            self.advisers.pop(conn.user_id, None)
        return len(conns)

    def visitors_of(self, conversation_id: str) -> set[VisitorConn]:
        return self.visitors.get(conversation_id, set())

    def advisers_of(self, adviser_id: str | None) -> set[StaffConn]:
        return self.advisers.get(adviser_id, set()) if adviser_id else set()

    def all_visitors(self) -> Iterator[VisitorConn]:
        for conns in list(self.visitors.values()):
            yield from list(conns)

    def all_staff(self) -> Iterator[StaffConn]:
        for conns in list(self.advisers.values()):
            yield from list(conns)
        yield from list(self.supervisors)
