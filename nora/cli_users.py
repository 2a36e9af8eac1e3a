"""``nora-chat user add|list|set``: the account rules of ``admin.users``, from the shell."""

from __future__ import annotations

import argparse
import asyncio
import sys

from admin.accounts import Accounts, NewUser
from admin.passwords import Passwords
from core.clock import system_clock
from core.db import Database
from core.settings import Settings
from nora.cli_common import EXIT_USAGE, _csv, _http_error, _print, _with_db


def _read_password() -> str:
    password = sys.stdin.readline()
    return password[:-1] if password.endswith("\n") else password


def _roles(args: argparse.Namespace) -> frozenset[str] | None:
    return None if args.roles is None else _csv(args.roles)


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    from admin import users

    if not args.password_stdin:
        _print("refusing to take a password on the command line: use --password-stdin", err=True)
        return EXIT_USAGE
    new = NewUser(
        username=args.username,
        name=args.name,
        roles=_roles(args) or frozenset(),
        password=_read_password(),
        service=args.service,
        regions=_csv(args.regions),
        languages=_csv(args.languages),
        capacity=args.capacity,
    )

    async def job(db: Database) -> int:
        try:
            user = await users.create_user(Accounts(db, Passwords()), new, actor_id=None, now=system_clock())
        except Exception as exc:  # noqa: BLE001 - HTTPError carries the report
            return _http_error(exc)
        _print(f"created {user.username} ({user.roles})")
        return 0

    return asyncio.run(_with_db(settings, job))


def cmd_user_list(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from admin import users

    async def job(db: Database) -> int:
        bodies = [users.user_body(u) for u in await users.list_users(db)]
        if args.json:
            for body in bodies:
                _print(json.dumps(body, ensure_ascii=False))
            return 0
        rows = [["USERNAME", "NAME", "ROLES", "SERVICE", "REGIONS", "LANGUAGES", "CAP", "DISABLED", "LAST LOGIN"]]
        for b in bodies:
            rows.append(
                [
                    b["username"],
                    b["name"],
                    ",".join(b["roles"]),
                    b["service"] or "-",
                    ",".join(b["regions"]) or "-",
                    ",".join(b["languages"]) or "-",
                    str(b["capacity"]),
                    "yes" if b["disabled"] else "no",
                    b["last_login_at"] or "never",
                ]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            _print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        return 0

    return asyncio.run(_with_db(settings, job))


def cmd_user_set(settings: Settings, args: argparse.Namespace) -> int:
    from admin import users

    disabled = True if args.disable else False if args.enable else None
    change = users.UserChange(
        name=args.name,
        roles=_roles(args),
        service=args.service,
        regions=None if args.regions is None else _csv(args.regions),
        languages=None if args.languages is None else _csv(args.languages),
        capacity=args.capacity,
        disabled=disabled,
        password=_read_password() if args.password_stdin else None,
    )
    if not change.named():
        _print("nothing to change: name at least one option (see --help)", err=True)
        return EXIT_USAGE

    async def job(db: Database) -> int:
        try:
            changed = await users.change_user(
                Accounts(db, Passwords()), args.username, change, actor_id=None, now=system_clock()
            )
        except Exception as exc:  # noqa: BLE001 - HTTPError carries the report
            return _http_error(exc)
        _print(f"changed {changed.user.username}: {', '.join(change.named())}")
        if changed.disabled_now:
            _print(await _sockets_closed(settings, changed.user.id))
        return 0

    return asyncio.run(_with_db(settings, job))


async def _sockets_closed(settings: Settings, user_id: str) -> str:
    """Tell the running instances, through Redis when there is one, to close the user's sockets now
    (the sessions are revoked already; without the broker each socket closes at its next session check)."""
    how_soon = "their open sockets close within 30 s; an adviser's conversations go back to the queue"
    how_soon += f" when the grace period ends ({settings.adviser_grace_s} s later)"
    if settings.redis_url is None:
        return f"sessions ended; {how_soon}"
    from chat import events
    from chat.broker import create_broker
    from nora.lifespan import open_redis

    try:
        async with open_redis(settings.redis_url) as redis:
            broker = create_broker(settings.redis_url, prefix=settings.redis_prefix, redis=redis)
            await broker.publish(events.encode(events.SessionRevoked(user_id=user_id), "cli"))
    except Exception as exc:  # noqa: BLE001 - the database change stands; the sockets close later
        return f"sessions ended; Redis could not be reached ({type(exc).__name__}): {how_soon}"
    how_soon = how_soon.replace("within 30 s", "at once")
    return f"sessions ended; {how_soon}"
