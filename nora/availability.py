"""While the database or Redis is away, a request gets 503 ``unavailable`` with ``Retry-After`` and the
log gets one line now and then, not a 500 and a traceback per request (docs/protocol.md §1.10)."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.dependencies import RETRY_AFTER_S, OutageLog, dependency_away

HTTP_OUTAGES = OutageLog("HTTP requests answered 503")


class Unavailable:
    """ASGI middleware around the routes: turns a dependency outage into 503 when nothing was sent yet."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started or not dependency_away(exc):
                raise
            HTTP_OUTAGES.note(exc)
            response = JSONResponse(
                {"error": "unavailable", "message": "A service we depend on is briefly unavailable; try again."},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
            await response(scope, receive, send)
