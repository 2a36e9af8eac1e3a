"""The retention periods in force, as the admin page shows them (``GET /api/v1/retention``, role admin).

They are settings (``NORA_*``, ``core/settings.py``), not data: changing one is a deployment decision,
so the page shows them and says where they are set, and nothing here changes them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.auth import require
from admin.context import context
from chat.retention import audit_kept_from, registrations_kept_from
from core.clock import iso, to_datetime
from core.http import NO_STORE
from core.settings import Settings


def retention_body(settings: Settings, now: float) -> dict[str, Any]:
    """The periods, their settings, and what they mean today: the oldest registration day and audit
    time still kept (older ones go at the next purge)."""
    at = to_datetime(now)
    return {
        "transcript_hours": settings.transcript_retention_hours,
        "transcript_setting": "NORA_TRANSCRIPT_RETENTION_HOURS",
        "registration_years": settings.registration_retention_years,
        "registration_setting": "NORA_REGISTRATION_RETENTION_YEARS",
        "registrations_kept_from": registrations_kept_from(at, settings.registration_retention_years).isoformat(),
        "audit_years": settings.audit_retention_years,
        "audit_setting": "NORA_AUDIT_RETENTION_YEARS",
        "audit_kept_from": iso(audit_kept_from(at, settings.audit_retention_years)),
    }


async def retention(request: Request) -> Response:
    ctx = context(request)
    await require(request, "admin")
    return JSONResponse(retention_body(ctx.settings, ctx.clock()), headers=NO_STORE)
