"""``nora-chat``: serve, migrate, user add, purge, demo (PROTOCOL.md, Operations)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from admin.accounts import AccountError, Accounts, NewUser
from admin.passwords import Passwords
from chat.retention import purge_transcripts
from core.clock import system_clock, to_datetime
from core.db import Database
from core.reference import load_reference
from core.settings import Settings, SettingsError
from nora import demo

EXIT_USAGE = 2


def _print(text: str, *, err: bool = False) -> None:
    (sys.stderr if err else sys.stdout).write(text + "\n")


def _csv(value: str | None) -> frozenset[str]:
    return frozenset(v.strip() for v in (value or "").split(",") if v.strip())


async def _with_db(settings: Settings, job: object) -> int:
    db = Database.from_url(settings.database_url)
    try:
        await db.migrate()
        return await job(db)  # type: ignore[operator, no-any-return]
    finally:
        await db.dispose()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def job(db: Database) -> int:
        _print("database is at the newest schema")
        return 0

    return asyncio.run(_with_db(settings, job))


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    if not args.password_stdin:
        _print("refusing to take a password on the command line: use --password-stdin", err=True)
        return EXIT_USAGE
    password = sys.stdin.readline()
    password = password[:-1] if password.endswith("\n") else password
    new = NewUser(
        username=args.username,
        name=args.name,
        roles=_csv(args.role),
        password=password,
        service=args.service,
        regions=_csv(args.regions),
        languages=_csv(args.languages),
        capacity=args.capacity,
    )

    async def job(db: Database) -> int:
        async with db.session() as session:
            ref = await load_reference(session)
        try:
            user = await Accounts(db, Passwords()).create(
                new, regions=ref.codes("regions"), languages=ref.codes("languages")
            )
        except AccountError as exc:
            _print(f"error: {exc}", err=True)
            return 1
        _print(f"created {user.username} ({user.roles})")
        return 0

    return asyncio.run(_with_db(settings, job))


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    async def job(db: Database) -> int:
        from datetime import timedelta

        now = to_datetime(system_clock())
        cutoff = now - timedelta(hours=settings.transcript_retention_hours)
        count = await purge_transcripts(db, cutoff, now)
        _print(f"purged {count} transcript(s) closed before {cutoff.isoformat(timespec='seconds')}")
        return 0

    return asyncio.run(_with_db(settings, job))


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from nora.app import create_app
    from nora.logs import configure, log_config

    configure()
    asyncio.run(_with_db(settings, lambda db: _noop()))
    if args.demo:
        accounts = asyncio.run(demo.ensure_demo_accounts(settings))
        _print("\nDemo accounts (development only):")
        for username, password, what in accounts:
            _print(f"  {username:<12} {password:<22} {what}")
        _print(f"\nVisitor chat:   http://{args.host}:{args.port}/")
        _print(f"Agent console:  http://{args.host}:{args.port}/console")
        _print(f"Supervisor:     http://{args.host}:{args.port}/supervisor\n")
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        ws_max_size=settings.max_frame_bytes,
        ws_per_message_deflate=False,
        proxy_headers=settings.trust_proxy_headers,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1") if settings.trust_proxy_headers else "",
        access_log=False,
        server_header=False,
        log_config=log_config(),
        timeout_graceful_shutdown=5,
    )
    return 0


async def _noop() -> int:
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nora-chat", description="Anonymous chat service of the nora portal.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--demo", action="store_true", help="development mode with demo accounts")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="bring the database to the newest schema").set_defaults(func=cmd_migrate)
    sub.add_parser("purge", help="erase transcripts past the retention period").set_defaults(func=cmd_purge)
    user = sub.add_parser("user", help="staff accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a staff account")
    add.add_argument("username")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, help="adviser, supervisor, admin (comma-separated)")
    add.add_argument("--service", choices=["MR", "AT"])
    add.add_argument("--regions", default="")
    add.add_argument("--languages", default="")
    add.add_argument("--capacity", type=int, default=3)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_user_add)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    env = dict(os.environ)
    if getattr(args, "demo", False):
        env.setdefault("NORA_ENV", "development")
    try:
        settings = Settings.from_env(env, require_secret=args.command == "serve")
    except SettingsError as exc:
        _print(f"configuration error: {exc}", err=True)
        return EXIT_USAGE
    code: int = args.func(settings, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
