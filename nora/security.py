"""Security headers on every HTTP response, and the Origin check on state-changing requests.

Framing (clickjacking): only the visitor widget (``/``) is meant to be embedded, by the portal pages
listed in ``NORA_ALLOWED_ORIGINS``. Every other response (the agent console, the supervisor dashboard,
the API) says ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``. The widget says
``frame-ancestors 'self' <allowed origins>`` when origins are configured, and then sends no
``X-Frame-Options``: that header has no allow-list (``ALLOW-FROM`` is obsolete and ignored), so
``DENY`` or ``SAMEORIGIN`` would forbid the embedding in browsers that know only it, while browsers that
know CSP ignore it next to ``frame-ancestors``. Without configured origins the widget is treated like
the other pages (``'none'``, ``DENY``).

``connect-src`` is ``'self'`` (which covers ``ws:``/``wss:`` to the page's own host in CSP Level 3) plus
each allowed origin and its websocket equivalent (``https://x`` -> ``wss://x``), never any ``ws:`` or
``wss:`` host. ``Strict-Transport-Security`` (two years, sub-domains) is sent outside development, where
the service is reached over HTTPS; development runs on plain ``http://`` and gets none.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat.origin import origin_allowed
from core.http import error_response
from core.settings import Settings
from nora.logs import mark_refused

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WIDGET_PAGES = frozenset({"/"})
HSTS = b"max-age=63072000; includeSubDomains"
WS_SCHEME = {"https": "wss", "http": "ws"}


def websocket_equivalent(origin: str) -> str | None:
    scheme, sep, rest = origin.partition("://")
    ws = WS_SCHEME.get(scheme.lower())
    return f"{ws}://{rest}" if sep and ws else None


def content_security_policy(settings: Settings, *, widget: bool) -> bytes:
    connect = ["'self'"]
    for origin in settings.allowed_origins:
        connect += [origin, *filter(None, [websocket_equivalent(origin)])]
    ancestors = " ".join(("'self'", *settings.allowed_origins)) if widget and settings.allowed_origins else "'none'"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {' '.join(dict.fromkeys(connect))}; font-src 'self'; object-src 'none'; base-uri 'none'; "
        f"form-action 'self'; frame-ancestors {ancestors}"
    ).encode()


class SecurityHeaders:
    """Strict CSP and no caching on every page and API; Origin check on state-changing requests."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if not settings.development:
            common.append((b"strict-transport-security", HSTS))
        self.headers = [
            (b"content-security-policy", content_security_policy(settings, widget=False)),
            (b"x-frame-options", b"DENY"),
            *common,
        ]
        embeddable = bool(settings.allowed_origins)
        self.widget_headers = [
            (b"content-security-policy", content_security_policy(settings, widget=True)),
            *([] if embeddable else [(b"x-frame-options", b"DENY")]),
            *common,
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.app(scope, receive, self._watch_refusal(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        own = self.widget_headers if scope["path"] in WIDGET_PAGES else self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                extra = list(own)
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = headers + [h for h in extra if h[0] not in names]
            await send(message)

        request = Request(scope)
        if request.method in UNSAFE and not origin_allowed(request, self.settings.allowed_origins, required=False):
            response = error_response("origin_not_allowed", "Requests from this origin are not allowed.")
            await response(scope, receive, send_with_headers)
            return
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
