"""Health, readiness and Prometheus metrics.

``/metrics`` shows counts of people (open sockets, conversations, the queue), so it is not public: it
answers only a request with ``Authorization: Bearer <NORA_METRICS_TOKEN>`` (compared in constant time),
401 to any other, and 404 when no token is configured, as if it did not exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat import metrics as chat_metrics
from chat.service import ChatService
from core.db import Database
from core.http import HTTPError
from core.settings import Settings

log = logging.getLogger("nora.ops")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    db: Database = request.app.state.db
    chat: ChatService = request.app.state.chat
    if chat.admission.draining:  # stopping for a restart: the load balancer takes this instance out
        return JSONResponse({"ready": False, "draining": True, "checks": {}}, status_code=503)
    checks: dict[str, str] = {}
    for name, probe in (("database", db.ping), ("broker", chat.broker.ping)):
        try:
            await asyncio.wait_for(probe(), timeout=2)
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            checks[name] = f"failed: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def metrics_allowed(authorization: str | None, token: str) -> bool:
    """Whether ``authorization`` is ``Bearer <token>``; the comparison takes the same time whatever it
    holds (digests of equal length, ``hmac.compare_digest``)."""
    scheme, _, given = (authorization or "").partition(" ")
    same = hmac.compare_digest(_digest(given.strip()), _digest(token))
    return same and scheme.lower() == "bearer"


async def metrics(request: Request) -> Response:
    settings: Settings = request.app.state.nora.settings
    if settings.metrics_token is None:
        raise HTTPError("not_found", "No such resource.")
    if not metrics_allowed(request.headers.get("authorization"), settings.metrics_token):
        response = HTTPError("unauthenticated", "Send Authorization: Bearer <NORA_METRICS_TOKEN>.").response()
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    chat: ChatService = request.app.state.chat
    snap = await chat.routing.snapshot()
    chat_metrics.QUEUE_LENGTH.set(len(snap.waiting))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
