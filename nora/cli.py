"""``nora-chat``: serve, migrate, user add|list|set (``nora.cli_users``), purge, demo (docs/protocol.md §9,
Operations); and for the case register: demo-data, import-registrations, stats-summary, reference,
guideline (docs/register.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from chat.retention import audit_kept_from, purge, registrations_kept_from
from core.clock import system_clock, to_datetime
from core.db import Database
from core.reference import load_reference
from core.settings import Settings, SettingsError
from nora import demo
from nora.cli_common import EXIT_USAGE, _http_error, _print, _with_db
from nora.cli_users import cmd_user_add, cmd_user_list, cmd_user_set
from nora.gc_tuning import tune_gc


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def job(db: Database) -> int:
        _print("database is at the newest schema")
        return 0

    return asyncio.run(_with_db(settings, job))


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    async def job(db: Database) -> int:
        from datetime import timedelta

        now = to_datetime(system_clock())
        cutoff = now - timedelta(hours=settings.transcript_retention_hours)
        years, audit_years = settings.registration_retention_years, settings.audit_retention_years
        done = await purge(
            db,
            now,
            transcript_hours=settings.transcript_retention_hours,
            registration_years=years,
            audit_years=audit_years,
            return_code_days=settings.return_code_days,
        )
        _print(f"purged {done.transcripts} transcript(s) closed before {cutoff.isoformat(timespec='seconds')}")
        _print(
            f"purged {done.registrations} registration(s) counted before {registrations_kept_from(now, years)}"
            f" ({done.cases} case(s), {done.conversations} conversation(s) with them)"
        )
        kept = audit_kept_from(now, audit_years).isoformat(timespec="seconds")
        _print(f"purged {done.audit_entries} audit entr(ies) from before {kept}")
        _print(f"purged {done.threads} return-code thread(s) whose code is older than {settings.return_code_days} days")
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
        _print(f"Supervisor:     http://{args.host}:{args.port}/supervisor")
        _print(f"Administration: http://{args.host}:{args.port}/admin\n")
    app = create_app(settings)
    tune_gc()
    uvicorn.run(
        app,
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


# ------------------------------------------------------------------------ case register (admin/)


def cmd_demo_data(settings: Settings, args: argparse.Namespace) -> int:
    from admin import demo_data

    async def job(db: Database) -> int:
        if args.remove:
            _print(f"removed {await demo_data.remove_demo_data(db)} demo registration(s)")
            return 0
        async with db.session() as session:
            ref = await load_reference(session)
        year = args.year or to_datetime(system_clock()).year
        rows = demo_data.generate(args.registrations, year, ref, seed=args.seed)
        await demo_data.insert(db, rows)
        _print(f"added {len(rows)} demo registration(s) closed in {year} (source 'demo'; remove with --remove)")
        return 0

    return asyncio.run(_with_db(settings, job))


def cmd_import_registrations(settings: Settings, args: argparse.Namespace) -> int:
    from admin.importer import import_csv

    async def job(db: Database) -> int:
        async with db.session() as session:
            ref = await load_reference(session)
        try:
            with open(args.file, "rb") as handle:
                raw = handle.read()
            count, batch = await import_csv(db, raw, args.service, ref, None, system_clock())
        except OSError as exc:
            _print(f"error: cannot read {args.file}: {exc.strerror}", err=True)
            return 1
        except Exception as exc:  # noqa: BLE001 - HTTPError carries the report
            return _http_error(exc)
        _print(f"imported {count} registration(s) for {args.service} (batch {batch})")
        return 0

    return asyncio.run(_with_db(settings, job))


def cmd_stats_summary(settings: Settings, args: argparse.Namespace) -> int:
    import json
    from datetime import date

    from admin.counting import counted_cases, registrations_between
    from admin.summary import summary_markdown, yearly_summary

    async def job(db: Database) -> int:
        async with db.session() as session:
            ref = await load_reference(session)
        year = args.year or to_datetime(system_clock()).year
        rows = await registrations_between(db, date(year, 1, 1), date(year, 12, 31))
        summary = yearly_summary(rows, year, ref, settings.stats_min_count, await counted_cases(db, rows))
        if args.format == "json":
            _print(json.dumps(summary, ensure_ascii=False, indent=1))
        else:
            _print(summary_markdown(summary, args.lang))
        return 0

    return asyncio.run(_with_db(settings, job))


def cmd_reference(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from admin import reference_admin

    async def job(db: Database) -> int:
        try:
            if args.reference_command == "list":
                for item in await reference_admin.list_items(db, args.kind):
                    _print(json.dumps(item, ensure_ascii=False))
                return 0
            data: dict[str, object] = {}
            name = {k: v for k, v in (("nb", args.nb), ("en", args.en)) if v is not None}
            if name:
                data["name"] = name
            for key in ("number", "hours", "native", "sami"):
                if getattr(args, key, None) is not None:
                    data[key] = getattr(args, key)
            if args.reference_command == "add":
                item = await reference_admin.add_item(db, args.kind, {"code": args.code, **data}, None, system_clock())
            else:
                if args.retire or args.unretire:
                    data["retired"] = bool(args.retire)
                item = await reference_admin.update_item(db, args.kind, args.code, data, None, system_clock())
        except Exception as exc:  # noqa: BLE001 - HTTPError carries the report
            return _http_error(exc)
        _print(json.dumps(item, ensure_ascii=False))
        _print("running instances take it up for registrations at once, for the visitor widget on restart")
        return 0

    return asyncio.run(_with_db(settings, job))


def cmd_guideline(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from admin import guideline

    async def job(db: Database) -> int:
        if args.guideline_command == "show":
            _print(json.dumps(await guideline.current(db), ensure_ascii=False, indent=1))
            return 0
        try:
            with open(args.file, encoding="utf-8") as handle:
                data = json.load(handle)
            async with db.session() as session:
                ref = await load_reference(session)
            if not isinstance(data, dict):
                raise ValueError("the file must hold a JSON object")
            for key in ("version", "updated_at", "updated_by", "note_max"):
                data.pop(key, None)
            version = await guideline.replace(db, guideline.validate(data, ref), None, system_clock())
        except (OSError, ValueError) as exc:
            _print(f"error: {exc}", err=True)
            return 1
        except Exception as exc:  # noqa: BLE001 - HTTPError carries the report
            return _http_error(exc)
        _print(f"guideline version {version} is in force")
        return 0

    return asyncio.run(_with_db(settings, job))


def _register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo_cmd = sub.add_parser("demo-data", help="add made-up registrations for demonstrations")
    demo_cmd.add_argument("--registrations", type=int, default=5000)
    demo_cmd.add_argument("--year", type=int, default=None, help="close year (default: this year)")
    demo_cmd.add_argument("--seed", type=int, default=2026)
    demo_cmd.add_argument("--remove", action="store_true", help="delete every demo registration instead")
    demo_cmd.set_defaults(func=cmd_demo_data)
    imp = sub.add_parser("import-registrations", help="import a CSV of IR or KT registrations (all or nothing)")
    imp.add_argument("file")
    imp.add_argument("--service", required=True, choices=["IR", "KT"])
    imp.set_defaults(func=cmd_import_registrations)
    summ = sub.add_parser("stats-summary", help="the yearly summary: cases per main category per service")
    summ.add_argument("--year", type=int, default=None)
    summ.add_argument("--format", choices=["markdown", "json"], default="markdown")
    summ.add_argument("--lang", choices=["nb", "en"], default="en")
    summ.set_defaults(func=cmd_stats_summary)
    ref = sub.add_parser("reference", help="reference data: list, add a code, change labels, retire")
    ref_sub = ref.add_subparsers(dest="reference_command", required=True)
    kinds = ["categories", "actions", "help_lines", "regions", "languages"]
    ref_list = ref_sub.add_parser("list")
    ref_list.add_argument("kind", choices=kinds)
    for name in ("add", "set"):
        cmd = ref_sub.add_parser(name)
        cmd.add_argument("kind", choices=kinds)
        cmd.add_argument("code")
        cmd.add_argument("--nb")
        cmd.add_argument("--en")
        cmd.add_argument("--number")
        cmd.add_argument("--hours")
        cmd.add_argument("--native")
        cmd.add_argument("--sami")
        if name == "set":
            cmd.add_argument("--retire", action="store_true")
            cmd.add_argument("--unretire", action="store_true")
    ref.set_defaults(func=cmd_reference)
    guide = sub.add_parser("guideline", help="the registration guideline: show, or replace from a JSON file")
    guide_sub = guide.add_subparsers(dest="guideline_command", required=True)
    guide_sub.add_parser("show")
    guide_set = guide_sub.add_parser("set")
    guide_set.add_argument("file")
    guide.set_defaults(func=cmd_guideline)


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
    add.add_argument("--roles", "--role", dest="roles", required=True, help="adviser, supervisor, admin (comma list)")
    add.add_argument("--service", choices=["MR", "AT", "IR", "KT"], help="an adviser's; MR and IR need --regions")
    add.add_argument("--regions", default="")
    add.add_argument("--languages", default="")
    add.add_argument("--capacity", type=int, default=3)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_user_add)
    listing = user_sub.add_parser("list", help="every staff account (never a password hash)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line, as the API shows them")
    listing.set_defaults(func=cmd_user_list)
    change = user_sub.add_parser("set", help="change a staff account, disable or enable it")
    change.add_argument("username")
    onoff = change.add_mutually_exclusive_group()
    onoff.add_argument("--disable", action="store_true", help="end their sessions; no login until enabled")
    onoff.add_argument("--enable", action="store_true")
    change.add_argument("--name")
    change.add_argument("--roles", "--role", dest="roles", help="adviser, supervisor, admin (comma list)")
    change.add_argument("--service", help="MR, AT, IR or KT for an adviser (IR and KT never receive chats)")
    change.add_argument("--regions", help="comma list of region codes (empty: none)")
    change.add_argument("--languages", help="comma list of language codes")
    change.add_argument("--capacity", type=int)
    change.add_argument("--password-stdin", action="store_true", help="a new password from standard input")
    change.set_defaults(func=cmd_user_set)
    _register_commands(sub)
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
