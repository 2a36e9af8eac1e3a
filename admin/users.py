"""Staff accounts as an administrator manages them: list, create, change, disable and enable.

The rules live here once, for the HTTP API (role admin) and for ``nora-chat user …``: the fields of an
account and their checks (``admin.accounts.NewUser.problems``, the password policy included), a taken
username (409 ``exists``), and that at least one enabled admin remains (409 ``last_admin``; checked in
the same transaction that changes the account, with the admins' rows locked on PostgreSQL, so two
administrators who disable each other at the same moment cannot both succeed). There is no delete: the
audit trail names users. Every change writes its audit entry in the same transaction.

Disabling revokes every session of the user in that transaction, so any request of theirs is refused at
once. The API then closes their sockets on every instance (the broker's ``SessionRevoked`` by user) and
sends an adviser's conversations back to the queue at their places (``ChatService.withdraw_adviser``);
the command line can only reach the database and, with Redis, the broker (docs/protocol.md §4,
Staff accounts, and §9).

Routes: ``GET``/``POST /api/v1/users``, ``PATCH /api/v1/users/{username}``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.accounts import Accounts, NewUser, profile_fields, split
from admin.audit import entry
from admin.auth import require
from admin.context import context
from chat.events import SessionRevoked, StaffChanged
from core.clock import iso, to_datetime
from core.db import Database
from core.http import NO_STORE, HTTPError, read_json_object
from core.models import StaffSession, StaffUser
from core.reference import load_reference

REQUIRED = ("username", "name", "roles", "password")
LISTS = ("roles", "regions", "languages")
READ_ONLY = frozenset({"last_login_at"})  # in every listed account; sent back, it is ignored
KNOWN = frozenset({*REQUIRED, "service", "regions", "languages", "capacity", "disabled"})


def user_body(user: StaffUser) -> dict[str, Any]:
    """An account as the API and ``user list`` show it; never its password hash."""
    return {
        "username": user.username,
        **profile_fields(user),
        "disabled": user.disabled,
        "last_login_at": iso(user.last_login_at),
    }


@dataclass(frozen=True)
class UserChange:
    """What a ``PATCH`` or ``user set`` changes; ``None`` leaves a field as it is (``service=""`` clears it)."""

    name: str | None = None
    roles: frozenset[str] | None = None
    service: str | None = None
    regions: frozenset[str] | None = None
    languages: frozenset[str] | None = None
    capacity: int | None = None
    disabled: bool | None = None
    password: str | None = None

    def named(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]


@dataclass(frozen=True)
class Changed:
    user: StaffUser
    disabled_now: bool  # this change disabled an enabled account: its sockets and chats are due


def _is_admin(user: StaffUser | NewUser, disabled: bool) -> bool:
    roles = user.roles if isinstance(user, NewUser) else split(user.roles)
    return "admin" in roles and not disabled


def parse(data: dict[str, Any], *, creating: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The body's values by field, typed, and the fields that are wrong (shape only; the account's own
    rules come after, on the whole account)."""
    values: dict[str, Any] = {}
    fields: dict[str, str] = {}
    for name, value in data.items():
        if name in READ_ONLY:
            continue
        if name not in KNOWN:
            fields[name[:60]] = "unknown field"
        elif name in LISTS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > 50:
                fields[name] = "a list of codes"
            else:
                values[name] = frozenset(value)
        elif name == "service":
            if value is not None and not isinstance(value, str):
                fields[name] = "a service code or null"
            else:
                values[name] = value or ""
        elif name == "capacity":
            if not isinstance(value, int) or isinstance(value, bool):
                fields[name] = "a whole number 1-20"
            else:
                values[name] = value
        elif name == "disabled":
            if not isinstance(value, bool):
                fields[name] = "true or false"
            else:
                values[name] = value
        elif not isinstance(value, str) or (name == "password" and len(value) > 1024):
            fields[name] = "text" if name != "password" else "text of at most 1024 characters"
        else:
            values[name] = value
    if creating:
        for name in REQUIRED:
            if name not in data:
                fields[name] = "required"
    return values, fields


async def _codes(db: Database) -> tuple[frozenset[str], frozenset[str]]:
    async with db.session() as session:
        ref = await load_reference(session)
    return ref.codes("regions"), ref.codes("languages")


async def list_users(db: Database) -> list[StaffUser]:
    async with db.session() as session:
        return list((await session.exec(select(StaffUser).order_by(col(StaffUser.username)))).all())


async def create_user(
    accounts: Accounts, new: NewUser, *, disabled: bool = False, actor_id: str | None, now: float
) -> StaffUser:
    """A new account; 422 ``invalid`` with every wrong field, 409 ``exists`` for a taken username."""
    new = replace(new, username=new.username.strip().lower())
    regions, languages = await _codes(accounts.db)
    problems = new.problems(regions=regions, languages=languages)
    if problems:
        raise HTTPError("invalid", "The account has invalid fields.", fields=problems)
    if await accounts.by_username(new.username) is not None:
        raise _exists(new.username)
    user = new.row(await accounts.passwords.hash(new.password), to_datetime(now))
    user.disabled = disabled
    detail = f"username={user.username}; roles={user.roles}" + ("; disabled" if disabled else "")
    try:
        async with accounts.db.writing() as session:
            session.add(user)
            session.add(entry(to_datetime(now), actor_id, "user_created", detail=detail))
    except IntegrityError:  # created meanwhile by another request
        raise _exists(new.username) from None
    return user


def _exists(username: str) -> HTTPError:
    return HTTPError("exists", f"The username {username!r} exists already.", fields={"username": "exists already"})


def _merged(user: StaffUser, change: UserChange) -> NewUser:
    """The account as it would be after ``change``, in the shape the account rules check."""
    return NewUser(
        username=user.username,
        name=user.name if change.name is None else change.name,
        roles=split(user.roles) if change.roles is None else change.roles,
        password=change.password or "",
        service=(user.service if change.service is None else change.service) or None,
        regions=split(user.regions) if change.regions is None else change.regions,
        languages=split(user.languages) if change.languages is None else change.languages,
        capacity=user.capacity if change.capacity is None else change.capacity,
    )


async def _by_username(session: AsyncSession, username: str, *, lock: bool = False) -> StaffUser | None:
    query = select(StaffUser).where(col(StaffUser.username) == username.strip().lower())
    return (await session.exec(query.with_for_update() if lock else query)).first()


async def change_user(
    accounts: Accounts, username: str, change: UserChange, *, actor_id: str | None, now: float
) -> Changed:
    """Apply ``change``: 404 for an unknown user, 422 with every wrong field, 409 ``last_admin``."""
    async with accounts.db.session() as session:
        current = await _by_username(session, username)
    if current is None:
        raise HTTPError("not_found", "No such user.")
    regions, languages = await _codes(accounts.db)
    problems = _merged(current, change).problems(
        regions=regions, languages=languages, password=change.password is not None
    )
    if problems:
        raise HTTPError("invalid", "The change has invalid fields.", fields=problems)
    password_hash = await accounts.passwords.hash(change.password) if change.password is not None else None
    at = to_datetime(now)
    async with accounts.db.writing() as session:
        # The enabled admins are locked first, in one order, whenever the change may take one away:
        # a concurrent change of another admin waits here, then sees this one (and no deadlock).
        admins = await _enabled_admins(session) if change.disabled or change.roles is not None else None
        user = await _by_username(session, username, lock=True)
        if user is None:
            raise HTTPError("not_found", "No such user.")
        after = _merged(user, change)  # the row as it is now, if another change came in between
        problems = after.problems(regions=regions, languages=languages, password=False)
        if problems:
            raise HTTPError("invalid", "The change has invalid fields.", fields=problems)
        was_disabled = user.disabled
        disabled = was_disabled if change.disabled is None else change.disabled
        if admins is not None and _is_admin(user, was_disabled) and not _is_admin(after, disabled):
            if not any(a.id != user.id for a in admins):
                raise HTTPError("last_admin", "This is the last enabled admin: another admin must remain.")
        user.name = after.name.strip()
        user.roles = ",".join(sorted(after.roles))
        user.service = after.service if "adviser" in after.roles else None
        user.regions = ",".join(sorted(after.regions))
        user.languages = ",".join(sorted(after.languages))
        if change.capacity is not None:
            user.capacity, user.max_capacity = change.capacity, max(change.capacity, 6)
        user.disabled = disabled
        if password_hash is not None:
            user.password_hash = password_hash
        session.add(user)
        disabled_now = disabled and not was_disabled
        if disabled_now:
            await session.exec(update(StaffSession).where(col(StaffSession.user_id) == user.id).values(revoked=True))
        action = (
            "user_disabled" if disabled_now else "user_enabled" if was_disabled and not disabled else "user_changed"
        )
        session.add(entry(at, actor_id, action, detail=_detail(user, change)))
    return Changed(user, disabled_now)


async def _enabled_admins(session: AsyncSession) -> list[StaffUser]:
    """The enabled admins, their rows locked until the transaction ends (PostgreSQL; SQLite writes one
    transaction at a time anyway)."""
    query = (
        select(StaffUser)
        .where(col(StaffUser.disabled).is_(False), col(StaffUser.roles).contains("admin"))
        .order_by(col(StaffUser.id))
        .with_for_update()
    )
    return [a for a in (await session.exec(query)).all() if _is_admin(a, a.disabled)]


def _detail(user: StaffUser, change: UserChange) -> str:
    """Which fields the request named (never the password itself)."""
    return f"username={user.username}; fields={','.join(change.named()) or '-'}"


def change_of(values: dict[str, Any]) -> UserChange:
    return UserChange(**{k: v for k, v in values.items() if k != "username"})


# ------------------------------------------------------------------------------------------ HTTP


async def users(request: Request) -> Response:
    """``GET`` lists the accounts, ``POST`` creates one."""
    ctx = context(request)
    if request.method != "POST":
        await require(request, "admin")
        return JSONResponse({"users": [user_body(u) for u in await list_users(ctx.db)]}, headers=NO_STORE)
    staff = await require(request, "admin", csrf=True)
    values, fields = parse(await read_json_object(request), creating=True)
    if fields:
        raise HTTPError("invalid", "The account has invalid fields.", fields=fields)
    disabled = bool(values.pop("disabled", False))
    new = NewUser(**{**values, "service": values.get("service") or None})
    user = await create_user(ctx.accounts, new, disabled=disabled, actor_id=staff.user.id, now=ctx.clock())
    return JSONResponse(user_body(user), status_code=201, headers=NO_STORE)


async def user(request: Request) -> Response:
    """``PATCH /api/v1/users/{username}``: any field but the username; ``disabled`` ends the user's
    sessions and sockets everywhere, and sends an adviser's conversations back to the queue."""
    ctx = context(request)
    staff = await require(request, "admin", csrf=True)
    username = request.path_params["username"]
    values, fields = parse(await read_json_object(request), creating=False)
    if "username" in values and values["username"].strip().lower() != username.strip().lower():
        fields["username"] = "cannot change"
    if fields:
        raise HTTPError("invalid", "The change has invalid fields.", fields=fields)
    changed = await change_user(ctx.accounts, username, change_of(values), actor_id=staff.user.id, now=ctx.clock())
    await ctx.chat.publish(StaffChanged(changed.user.id))  # every instance reads the profile again
    if changed.disabled_now:
        await ctx.chat.publish(SessionRevoked(user_id=changed.user.id))
        await ctx.chat.withdraw_adviser(changed.user.id)
    return JSONResponse(user_body(changed.user), headers=NO_STORE)
