"""Staff login, logout and ``/me`` (PROTOCOL.md, Staff authentication), and the guard every staff
route goes through: a live session, the right role, and the CSRF header on state changes."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.accounts import failures_expired, public_user, token_hash
from admin.context import AdminContext, context
from admin.passwords import needs_rehash
from core.clock import to_datetime
from core.http import NO_STORE, HTTPError, read_json_object
from core.models import StaffSession, StaffUser

UNKNOWN_TRACKED = 10_000


@dataclass(frozen=True)
class Staff:
    session: StaffSession
    user: StaffUser

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(r for r in self.user.roles.split(",") if r)


async def require(request: Request, *roles: str, csrf: bool = False) -> Staff:
    """The staff member behind the request, holding one of ``roles``; 401/403 otherwise."""
    ctx = context(request)
    found = await ctx.sessions.lookup(request.cookies.get(ctx.settings.session_cookie_name))
    if found is None:
        raise HTTPError("unauthenticated", "Log in first.")
    staff = Staff(*found)
    if csrf:
        sent = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(sent.encode(), staff.session.csrf_token.encode()):
            raise HTTPError("csrf_failed", "Missing or wrong X-CSRF-Token header.")
    if roles and not staff.roles & set(roles):
        raise HTTPError("forbidden", f"This needs the role {' or '.join(roles)}.")
    return staff


def _set_cookie(response: Response, ctx: AdminContext, token: str) -> None:
    response.set_cookie(
        ctx.settings.session_cookie_name,
        token,
        max_age=ctx.settings.session_absolute_s,
        path="/",
        secure=ctx.settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )


def _throttled(ctx: AdminContext, user: StaffUser | None, username: str, now: float) -> int | None:
    """Seconds to wait if this account has failed too often in the window, else ``None``."""
    window = ctx.settings.login_window_s
    if user is not None:
        if user.failed_logins >= ctx.settings.login_max_failures and not failures_expired(user, now, window):
            since = user.failed_since.timestamp() if user.failed_since else now
            return max(1, int(window - (now - since)))
        return None
    count, since = ctx.unknown_failures.get(username, (0, now))
    if count >= ctx.settings.login_max_failures and now - since <= window:
        return max(1, int(window - (now - since)))
    return None


async def _record_failure(ctx: AdminContext, user: StaffUser | None, username: str, now: float) -> None:
    if user is None:
        count, since = ctx.unknown_failures.get(username, (0, now))
        if now - since > ctx.settings.login_window_s:
            count, since = 0, now
        if len(ctx.unknown_failures) > UNKNOWN_TRACKED:
            ctx.unknown_failures.clear()
        ctx.unknown_failures[username] = (count + 1, since)
        return
    if failures_expired(user, now, ctx.settings.login_window_s):
        await ctx.accounts.save(user.id, failed_logins=1, failed_since=to_datetime(now))
    else:
        await ctx.accounts.save(user.id, failed_logins=user.failed_logins + 1)


async def login(request: Request) -> Response:
    ctx = context(request)
    data = await read_json_object(request)
    username, password = data.get("username"), data.get("password")
    fields = {}
    if not isinstance(username, str) or not 1 <= len(username) <= 64:
        fields["username"] = "required, 1-64 characters"
    if not isinstance(password, str) or not 1 <= len(password) <= 1024:
        fields["password"] = "required, 1-1024 characters"
    if fields:
        raise HTTPError("invalid", "Username and password are required.", fields=fields)
    assert isinstance(username, str) and isinstance(password, str)  # noqa: S101 - checked above
    username = username.strip().lower()
    now = ctx.clock()
    user = await ctx.accounts.by_username(username)
    wait = _throttled(ctx, user, username, now)
    if wait is not None:
        raise HTTPError("too_many_attempts", "Too many failed attempts; try again later.", retry_after=wait)
    ok = await ctx.accounts.passwords.verify(user.password_hash if user else None, password)
    if not ok or user is None or user.disabled:
        await _record_failure(ctx, user, username, now)
        raise HTTPError("invalid_credentials", "Wrong username or password.")
    changes: dict[str, object] = {"failed_logins": 0, "failed_since": None}
    if needs_rehash(user.password_hash):
        changes["password_hash"] = await ctx.accounts.passwords.hash(password)
    await ctx.accounts.save(user.id, **changes)
    # A new session at every login; any session the browser brought along ends (session fixation).
    previous = request.cookies.get(ctx.settings.session_cookie_name)
    if previous:
        await ctx.sessions.revoke(token_hash(previous))
    token, csrf = await ctx.sessions.create(user.id)
    response = JSONResponse({"user": public_user(user), "csrf_token": csrf}, headers=NO_STORE)
    _set_cookie(response, ctx, token)
    return response


async def logout(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, csrf=True)
    await ctx.sessions.revoke(staff.session.token_hash)
    await ctx.chat.publish({"t": "revoke", "session": staff.session.token_hash})
    response = Response(status_code=204, headers=NO_STORE)
    response.delete_cookie(
        ctx.settings.session_cookie_name,
        path="/",
        secure=ctx.settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return response


async def me(request: Request) -> Response:
    staff = await require(request)
    return JSONResponse({"user": public_user(staff.user), "csrf_token": staff.session.csrf_token}, headers=NO_STORE)
