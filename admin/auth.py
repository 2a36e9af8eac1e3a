"""Staff login, logout and ``/me`` (docs/protocol.md §4, Staff authentication), and the guard every
staff route goes through: a live session, the right role, and the CSRF header on state changes.

Login attempts are counted before the password hash runs, atomically, in ``ctx.limits`` (shared by
every instance through Redis when there is one), following OWASP's device cookies: a browser that has
logged in before carries a signed cookie naming (by HMAC) the user it logged in as; its attempts are
counted against that device alone, so guesses from elsewhere, which count against the account's
untrusted-client limit, cannot lock the user out of the browser she uses. In front of the hashes the
waiting list is bounded (``Passwords.admitted``): past it a login is refused at once with 429.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.accounts import public_user, token_hash
from admin.context import AdminContext, context
from admin.passwords import Busy, needs_rehash
from chat.events import SessionRevoked
from core.clock import to_datetime
from core.http import NO_STORE, HTTPError, read_json_object
from core.models import StaffSession, StaffUser

DEVICE_COOKIE_S = 180 * 86400
NONCE = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
BUSY_RETRY_S = 1


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


def _device_mac(secret: str, username: str, issued: int, nonce: str) -> str:
    message = f"nora-device-cookie|{username}|{issued}|{nonce}".encode()
    digest = hmac.new(secret.encode("utf-8", "surrogatepass"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def device_cookie(secret: str, username: str, now: float) -> str:
    """``v1.<issued>.<nonce>.<mac>``: the username is only inside the MAC, so the cookie names nobody."""
    issued, nonce = int(now), secrets.token_urlsafe(16)
    return f"v1.{issued}.{nonce}.{_device_mac(secret, username, issued, nonce)}"


def device_of(cookie: str | None, secret: str, username: str, now: float) -> str | None:
    """The device (its nonce) if ``cookie`` is a valid device cookie for ``username``, else ``None``."""
    if not cookie or len(cookie) > 200:
        return None
    parts = cookie.split(".")
    if len(parts) != 4 or parts[0] != "v1" or not parts[1].isdigit():
        return None
    issued, nonce, mac = int(parts[1]), parts[2], parts[3]
    if not NONCE.fullmatch(nonce):
        return None
    if not -60 <= now - issued <= DEVICE_COOKIE_S:  # a minute's grace for clocks a little apart
        return None
    if not hmac.compare_digest(mac.encode(), _device_mac(secret, username, issued, nonce).encode()):
        return None
    return nonce


def _set_device_cookie(response: Response, ctx: AdminContext, username: str, now: float) -> None:
    response.set_cookie(
        ctx.settings.device_cookie_name,
        device_cookie(ctx.settings.secret_key, username, now),
        max_age=DEVICE_COOKIE_S,
        path="/",
        secure=ctx.settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )


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
    settings, now = ctx.settings, ctx.clock()
    device = device_of(request.cookies.get(settings.device_cookie_name), settings.secret_key, username, now)
    # A known device's attempts count against that device; every other attempt, for a known username
    # or not (the same key and answer either way), against the account's untrusted-client counter.
    if device is not None:
        key, limit = f"login:device:{username}:{device}", settings.login_device_max_failures
    else:
        key, limit = f"login:user:{username}", settings.login_max_failures
    passwords = ctx.accounts.passwords
    try:
        with passwords.admitted(priority=device is not None):
            wait = await ctx.limits.hit(key, limit=limit, window_s=settings.login_window_s)
            if wait:
                raise HTTPError("too_many_attempts", "Too many failed attempts; try again later.", retry_after=wait)
            user = await ctx.accounts.by_username(username)
            ok = await passwords.verify(user.password_hash if user else None, password)
            if not ok or user is None or user.disabled:
                raise HTTPError("invalid_credentials", "Wrong username or password.")
            await ctx.limits.clear(key)
            login_values: dict[str, object] = {"last_login_at": to_datetime(now)}  # the account list shows it
            if needs_rehash(user.password_hash):
                login_values["password_hash"] = await passwords.hash(password)
            await ctx.accounts.save(user.id, **login_values)
    except Busy:
        raise HTTPError(
            "too_many_attempts", "Too many logins at once; try again in a moment.", retry_after=BUSY_RETRY_S
        ) from None
    # A new session at every login; any session the browser brought along ends (session fixation).
    previous = request.cookies.get(settings.session_cookie_name)
    if previous:
        await ctx.sessions.revoke(token_hash(previous))
    token, csrf = await ctx.sessions.create(user.id)
    response = JSONResponse({"user": public_user(user), "csrf_token": csrf}, headers=NO_STORE)
    _set_cookie(response, ctx, token)
    _set_device_cookie(response, ctx, username, now)
    return response


async def logout(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, csrf=True)
    await ctx.sessions.revoke(staff.session.token_hash)
    await ctx.chat.publish(SessionRevoked(session_key=staff.session.token_hash))
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
