"""Security headers on every HTTP response, and the Origin check on state-changing requests."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat.origin import origin_allowed
from core.http import error_response
from core.settings import Settings
from nora.logs import mark_refused

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SecurityHeaders:
    """Strict CSP and no caching on every page and API; Origin check on state-changing requests."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        ancestors = " ".join(("'self'", *settings.allowed_origins))
        self.csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'none'; "
            f"form-action 'self'; frame-ancestors {ancestors}"
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.app(scope, receive, self._watch_refusal(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if request.method in UNSAFE and not origin_allowed(request, self.settings.allowed_origins, required=False):
            response = error_response("origin_not_allowed", "Requests from this origin are not allowed.")
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                extra = [
                    (b"content-security-policy", self.csp),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = headers + [h for h in extra if h[0] not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _watch_refusal(send: Send) -> Send:
        """``send`` for a websocket, marking a denial response so that uvicorn's spurious ERROR about it
        is dropped (``nora.logs``). The chat frames do not pass here: the outbox writes them with the
        server's own ``send`` (``chat.outbox.KeepRawSend``), so the hot path pays nothing for it."""

        async def watched(message: Message) -> None:
            if message["type"] == "websocket.http.response.start":
                mark_refused()
            await send(message)

        return watched
