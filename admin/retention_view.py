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
from core.http import NO_STORE
from core.settings import Settings


def retention_body(settings: Settings) -> dict[str, Any]:
    return {
        "transcript_hours": settings.transcript_retention_hours,
        "transcript_setting": "NORA_TRANSCRIPT_RETENTION_HOURS",
    }


async def retention(request: Request) -> Response:
    ctx = context(request)
    await require(request, "admin")
    return JSONResponse(retention_body(ctx.settings), headers=NO_STORE)
