"""What the command line's commands share: output, comma lists, a migrated database for a job."""

from __future__ import annotations

import sys

from core.db import Database
from core.settings import Settings

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


def _http_error(exc: Exception) -> int:
    from core.http import HTTPError

    if not isinstance(exc, HTTPError):
        raise exc
    _print(f"error: {exc.message}", err=True)
    for name, why in (exc.fields or {}).items():
        _print(f"  {name}: {why}", err=True)
    return 1
