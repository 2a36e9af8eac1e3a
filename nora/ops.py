"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat import metrics as chat_metrics
from chat.service import ChatService
from core.db import Database

log = logging.getLogger("nora.ops")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    db: Database = request.app.state.db
    chat: ChatService = request.app.state.chat
    checks: dict[str, str] = {}
    for name, probe in (("database", db.ping), ("broker", chat.broker.ping)):
        try:
            await asyncio.wait_for(probe(), timeout=2)
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            checks[name] = f"failed: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    chat: ChatService = request.app.state.chat
    snap = await chat.routing.snapshot()
    chat_metrics.QUEUE_LENGTH.set(len(snap.waiting))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
