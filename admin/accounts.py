"""Staff accounts and server-side sessions.

A session token is 256 random bits, sent only in an HttpOnly cookie and stored only as its SHA-256.
Sessions end on logout, after ``session_idle_s`` without use, or ``session_absolute_s`` after login.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from admin.passwords import Passwords, password_problem
from chat.staff import StaffIdentity, StaffProfile
from core.clock import Clock, as_utc, system_clock, to_datetime
from core.db import Database
from core.models import StaffSession, StaffUser

ROLES = frozenset({"adviser", "supervisor", "admin"})
# An adviser's service: MR and AT chat and register; IR and KT register their inquiries only (never chat).
SERVICES = ("MR", "AT", "IR", "KT")
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
TOUCH_EVERY_S = 60.0

log = logging.getLogger("nora.admin")


class AccountError(ValueError):
    """A staff account could not be created or changed; the message says which value is wrong."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def split(value: str) -> frozenset[str]:
    return frozenset(v for v in value.split(",") if v)


def profile_of(user: StaffUser) -> StaffProfile:
    return StaffProfile(
        user_id=user.id,
        name=user.name,
        roles=split(user.roles),
        service=user.service,
        regions=split(user.regions),
        languages=split(user.languages),
        capacity=user.capacity,
        max_capacity=max(user.capacity, user.max_capacity),
    )


def profile_fields(user: StaffUser) -> dict[str, Any]:
    """What both views of an account show of its work profile, in the order they show it."""
    return {
        "name": user.name,
        "roles": sorted(split(user.roles)),
        "service": user.service,
        "regions": sorted(split(user.regions)),
        "languages": sorted(split(user.languages)),
        "capacity": user.capacity,
    }


def public_user(user: StaffUser) -> dict[str, Any]:
    """The signed-in account as its own pages see it (``/api/v1/me``, login)."""
    return {"id": user.id, **profile_fields(user)}


@dataclass(frozen=True)
class NewUser:
    username: str
    name: str
    roles: frozenset[str]
    password: str
    service: str | None = None
    regions: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    capacity: int = 3

    def check(self, *, regions: frozenset[str], languages: frozenset[str]) -> None:
        """``AccountError`` naming the first problem (``problems``), if there is one."""
        for name, why in self.problems(regions=regions, languages=languages).items():
            raise AccountError(f"{name}: {why}")

    def problems(self, *, regions: frozenset[str], languages: frozenset[str], password: bool = True) -> dict[str, str]:
        """Every field that is wrong, by name, with why; ``password=False`` for a change that keeps the
        password (the API and ``user set`` check a changed account as a whole with it)."""
        out: dict[str, str] = {}
        if not USERNAME.fullmatch(self.username):
            out["username"] = "2-64 characters of a-z 0-9 . _ - starting with a letter or digit"
        if not self.name.strip() or len(self.name) > 100:
            out["name"] = "1-100 characters"
        if not self.roles or not self.roles <= ROLES:
            out["roles"] = f"one or more of {', '.join(sorted(ROLES))}"
        problem = password_problem(self.password, self.username) if password else None
        if problem is not None:
            out["password"] = problem
        if "adviser" in self.roles:
            if self.service not in SERVICES:
                out["service"] = "MR, AT, IR or KT for an adviser"
            if not self.languages:
                out["languages"] = "an adviser needs at least one language"
            if self.service in ("MR", "IR") and not self.regions:
                out["regions"] = f"an adviser of {self.service} covers at least one region"
        if not 1 <= self.capacity <= 20:
            out["capacity"] = "1-20"
        if not self.regions <= regions:
            out.setdefault("regions", f"unknown code(s) {', '.join(sorted(self.regions - regions))}")
        if not self.languages <= languages:
            out.setdefault("languages", f"unknown code(s) {', '.join(sorted(self.languages - languages))}")
        return out

    def row(self, password_hash: str, created_at: datetime) -> StaffUser:
        """The account as stored (a service only for an adviser); checked already."""
        return StaffUser(
            username=self.username,
            name=self.name.strip(),
            password_hash=password_hash,
            roles=",".join(sorted(self.roles)),
            service=self.service if "adviser" in self.roles else None,
            regions=",".join(sorted(self.regions)),
            languages=",".join(sorted(self.languages)),
            capacity=self.capacity,
            max_capacity=max(self.capacity, 6),
            created_at=created_at,
        )


class Accounts:
    def __init__(self, db: Database, passwords: Passwords, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.passwords = passwords
        self.clock = clock

    async def create(self, new: NewUser, *, regions: frozenset[str], languages: frozenset[str]) -> StaffUser:
        new.check(regions=regions, languages=languages)
        if await self.by_username(new.username) is not None:
            raise AccountError(f"username: {new.username!r} exists already")
        user = new.row(await self.passwords.hash(new.password), to_datetime(self.clock()))
        async with self.db.writing() as session:
            session.add(user)
        return user

    async def by_username(self, username: str) -> StaffUser | None:
        async with self.db.session() as session:
            return (await session.exec(select(StaffUser).where(StaffUser.username == username))).first()

    async def get(self, user_id: str) -> StaffUser | None:
        async with self.db.session() as session:
            return await session.get(StaffUser, user_id)

    async def get_many(self, user_ids: list[str]) -> list[StaffUser]:
        async with self.db.session() as session:
            return list((await session.exec(select(StaffUser).where(col(StaffUser.id).in_(user_ids)))).all())

    async def save(self, user_id: str, **values: object) -> None:
        async with self.db.writing() as session:
            await session.exec(update(StaffUser).where(col(StaffUser.id) == user_id).values(**values))


class Sessions:
    def __init__(self, db: Database, *, idle_s: int, absolute_s: int, clock: Clock = system_clock) -> None:
        self.db = db
        self.idle_s = idle_s
        self.absolute_s = absolute_s
        self.clock = clock
        # Every use is remembered here (``_seen``) and written to the database at most every
        # ``write_every`` seconds (``_written``): a session in use never looks idle to this instance,
        # and looks idle to another instance at most ``write_every`` early. A quarter of the idle
        # timeout keeps that error small whatever the timeout (it used to be a flat minute, so a session
        # used every 20 s with a 60 s timeout expired).
        self.write_every = min(TOUCH_EVERY_S, idle_s / 4)
        self._seen: dict[str, float] = {}
        self._written: dict[str, float] = {}

    async def create(self, user_id: str) -> tuple[str, str]:
        """A fresh session; returns the token (for the cookie only) and its CSRF token."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = to_datetime(self.clock())
        async with self.db.writing() as session:
            session.add(
                StaffSession(
                    token_hash=token_hash(token), user_id=user_id, csrf_token=csrf, created_at=now, last_seen_at=now
                )
            )
        return token, csrf

    async def lookup_hash(self, key: str, *, activity: bool = True) -> tuple[StaffSession, StaffUser] | None:
        """The live session and its user, or ``None``; ``activity``: this use counts as the staff
        member's activity (a request, a frame), not merely a check that the session still holds."""
        async with self.db.session() as session:
            row = await session.get(StaffSession, key)
            user = await session.get(StaffUser, row.user_id) if row is not None else None
        now = self.clock()
        if (
            row is None
            or user is None
            or row.revoked
            or user.disabled
            or now - as_utc(row.created_at).timestamp() > self.absolute_s
            or now - self._last_seen(row) > self.idle_s
        ):
            self._seen.pop(key, None)
            self._written.pop(key, None)
            return None
        if activity:
            self._seen[key] = now
        if activity and now - self._written.get(key, 0.0) >= self.write_every:
            self._written[key] = now
            async with self.db.writing() as session:
                await session.exec(
                    update(StaffSession)
                    .where(col(StaffSession.token_hash) == key)
                    .values(last_seen_at=to_datetime(now))
                )
        return row, user

    def _last_seen(self, row: StaffSession) -> float:
        return max(as_utc(row.last_seen_at).timestamp(), self._seen.get(row.token_hash, 0.0))

    async def lookup(self, token: str | None) -> tuple[StaffSession, StaffUser] | None:
        if not token or len(token) > 200:
            return None
        return await self.lookup_hash(token_hash(token))

    async def revoke(self, key: str) -> None:
        self._seen.pop(key, None)
        self._written.pop(key, None)
        async with self.db.writing() as session:
            await session.exec(update(StaffSession).where(col(StaffSession.token_hash) == key).values(revoked=True))


class Directory:
    """``chat.staff.StaffDirectory`` for the chat package, backed by accounts and sessions."""

    # An administrator's change reaches every instance at once (``StaffChanged``, ``forget``), where it
    # took up to 20 s; the periodic read is a backstop for a change made in the database by hand. At
    # 10 s, every adviser's profile was read again about every 15 s (some 200 ORM reads in a 20 s
    # burst50 run, each in the middle of assignments); the effect on burst latency was within the noise
    # of 3 paired rounds (bench/README.md).
    PROFILE_TTL_S = 300.0
    PROFILE_STALE_S = 1200.0

    def __init__(self, accounts: Accounts, sessions: Sessions, cookie_name: str) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.cookie_name = cookie_name
        self._profiles: dict[str, tuple[float, float, StaffProfile]] = {}  # fresh until, read at, profile
        self._refreshing: dict[str, asyncio.Task[StaffProfile | None]] = {}
        # When an account was last changed (``forget``): a read that began before is not kept.
        self._forgotten: dict[str, float] = {}
        self._all_forgotten = 0.0

    async def identify(self, cookies: object) -> StaffIdentity | None:
        get = getattr(cookies, "get", None)
        token = get(self.cookie_name) if get is not None else None
        started = time.monotonic()
        found = await self.sessions.lookup(token if isinstance(token, str) else None)
        if found is None:
            return None
        row, user = found
        profile = profile_of(user)
        self._remember(profile, read_since=started)  # fresh: the assignments of their chats need it
        return StaffIdentity(profile, row.token_hash)

    async def session_valid(self, session_key: str, *, activity: bool) -> bool:
        return await self.sessions.lookup_hash(session_key, activity=activity) is not None

    async def profile(self, user_id: str) -> StaffProfile | None:
        """A staff member's profile, read again after ``PROFILE_TTL_S`` to twice that (spread, so that
        the profiles read together do not all lapse in the same second). A lapsed profile younger than
        ``PROFILE_STALE_S`` is used as it is while one read refreshes it in the background: a burst of
        chats being assigned must not wait for a hundred reads."""
        cached = self._profiles.get(user_id)
        now = time.monotonic()
        if cached is not None:
            fresh_until, read_at, profile = cached
            if now < fresh_until:
                return profile
            if now - read_at < self.PROFILE_STALE_S:
                if user_id not in self._refreshing:
                    task = asyncio.ensure_future(self._read_profile(user_id))
                    self._refreshing[user_id] = task
                    task.add_done_callback(lambda t: self._refreshed(user_id, t))
                return profile
        return await self._read_profile(user_id)

    async def warm(self, user_ids: Iterable[str]) -> None:
        """Read the profiles not cached here in one query. A routing step's decisions name advisers
        connected to other instances too, whose profiles this one has never read: each was a read of
        its own in the middle of the assignments (the first bursts of ``burst50-1000-2x-lb`` took two to
        three times as long as the later ones)."""
        missing = sorted({user_id for user_id in user_ids if user_id not in self._profiles})
        if not missing:
            return
        started = time.monotonic()
        for user in await self.accounts.get_many(missing):
            self._remember(profile_of(user), read_since=started)

    def forget(self, user_id: str | None) -> None:
        """An account changed: read it again at its next use. ``None`` (change events may have been lost
        with the broker): every profile is read again at its next use, in the background while young."""
        now = time.monotonic()
        if user_id is not None:
            self._profiles.pop(user_id, None)
            self._forgotten[user_id] = now
            return
        self._all_forgotten = now
        self._forgotten.clear()
        for known, (_, read_at, profile) in list(self._profiles.items()):
            self._profiles[known] = (0.0, read_at, profile)

    def _remember(self, profile: StaffProfile, *, read_since: float) -> None:
        """Keep a profile read since ``read_since``, unless the account changed after that (``forget``)."""
        if self._forgotten.get(profile.user_id, self._all_forgotten) > read_since:
            return
        now = time.monotonic()
        self._profiles[profile.user_id] = (now + self.PROFILE_TTL_S * (1 + random.random()), now, profile)

    def _refreshed(self, user_id: str, task: asyncio.Task[StaffProfile | None]) -> None:
        self._refreshing.pop(user_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("reading a staff profile failed; the cached one stays in use")

    async def _read_profile(self, user_id: str) -> StaffProfile | None:
        started = time.monotonic()
        user = await self.accounts.get(user_id)
        if user is None:
            self._profiles.pop(user_id, None)
            return None
        profile = profile_of(user)
        self._remember(profile, read_since=started)
        return profile
