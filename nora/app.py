"""The Starlette application: routes, middleware and resources wired in the lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin import audit, auth, guideline, importer, reference_admin, register, stats, supervisor
from admin.accounts import Accounts, Directory, Sessions
from admin.context import AdminContext
from admin.passwords import Passwords
from chat import public_api
from chat.broker import Broker, create_broker
from chat.origin import origin_allowed
from chat.outbox import KeepRawSend
from chat.service import ChatService
from chat.store import ConversationStore
from chat.ws_adviser import adviser_socket
from chat.ws_visitor import visitor_socket
from core.clock import Clock, system_clock
from core.db import Database
from core.http import HTTPError, error_response
from core.reference import ReferenceBox, load_reference
from core.settings import Settings
from nora import ops
from routing import RoutingState
from routing.backends.memory import MemoryRoutingState
from routing.policy import TierDelays

log = logging.getLogger("nora.app")
WEB_ROOT = Path(__file__).resolve().parent.parent
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


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)  # noqa: S101 - registered for HTTPError only
    return exc.response()


async def starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid")
    message = {404: "No such resource.", 405: "Method not allowed here."}.get(exc.status_code, str(exc.detail))
    return JSONResponse({"error": code, "message": message}, status_code=exc.status_code)


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled %s on %s", type(exc).__name__, request.url.path)
    return JSONResponse({"error": "internal", "message": "Something went wrong on our side."}, status_code=500)


def page(path: str, file: Path) -> Route:
    async def serve(request: Request) -> Response:
        return FileResponse(file, headers={"Cache-Control": "no-store"})

    return Route(path, serve)


def web_routes() -> list[BaseRoute]:
    """The visitor widget (``chat/web``), the agent console and supervisor dashboard (``admin/web``)."""
    routes: list[BaseRoute] = []
    for package, pages in (
        ("chat", {"/": "index.html"}),
        ("admin", {"/console": "console.html", "/supervisor": "supervisor.html"}),
    ):
        root = WEB_ROOT / package / "web"
        for path, name in pages.items():
            if (root / name).is_file():
                routes.append(page(path, root / name))
        if (root / "static").is_dir():
            routes.append(Mount(f"/static/{package}", StaticFiles(directory=root / "static"), name=f"{package}-static"))
    return routes


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    broker: Broker | None = None,
    routing: RoutingState | None = None,
) -> Starlette:
    """Build the app; ``broker`` and ``routing`` may be injected (tests, pre-configured clients)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database.from_url(settings.database_url)
        the_broker = broker or create_broker(settings.redis_url, prefix=settings.redis_prefix)
        await the_broker.connect()
        async with db.session() as session:
            reference = ReferenceBox(await load_reference(session))
        delays = TierDelays.of(settings.tier_delays_s)
        redis_client = None
        the_routing = routing
        if the_routing is None and settings.redis_url:
            from redis.asyncio import BlockingConnectionPool, Redis

            from routing.backends.redis import RedisRoutingState

            # A burst of starts wants more connections than a pool allows (redis-py raises
            # MaxConnectionsError past 100); a blocking pool makes them wait their turn instead.
            pool = BlockingConnectionPool.from_url(settings.redis_url, max_connections=64, timeout=30)
            redis_client = Redis(connection_pool=pool)
            the_routing = RedisRoutingState(redis_client, delays, key=f"{settings.redis_prefix}:routing")
        passwords = Passwords()
        accounts = Accounts(db, passwords, clock=clock)
        sessions = Sessions(db, idle_s=settings.session_idle_s, absolute_s=settings.session_absolute_s, clock=clock)
        directory = Directory(accounts, sessions, settings.session_cookie_name)
        chat = ChatService(
            settings=settings,
            store=ConversationStore(db),
            routing=the_routing or MemoryRoutingState(delays),
            broker=the_broker,
            directory=directory,
            reference=reference,
            clock=clock,
        )
        app.state.db = db
        app.state.chat = chat
        app.state.admin = AdminContext(
            settings=settings,
            db=db,
            accounts=accounts,
            sessions=sessions,
            directory=directory,
            chat=chat,
            reference=reference,
            clock=clock,
        )
        await chat.start()
        try:
            yield
        finally:
            await chat.stop()
            await chat.store.close()
            await the_broker.disconnect()
            if redis_client is not None:
                await redis_client.aclose(close_connection_pool=True)
            await db.dispose()

    routes: list[BaseRoute] = [
        Route("/healthz", ops.healthz),
        Route("/readyz", ops.readyz),
        Route("/metrics", ops.metrics),
        Route("/api/v1/reference", public_api.reference),
        Route("/api/v1/status", public_api.status),
        Route("/api/v1/auth/login", auth.login, methods=["POST"]),
        Route("/api/v1/auth/logout", auth.logout, methods=["POST"]),
        Route("/api/v1/me", auth.me),
        Route("/api/v1/registrations/pending", register.pending),
        Route("/api/v1/conversations/{conversation_id:str}/registration", register.register, methods=["POST"]),
        Route("/api/v1/stats/cases", stats.cases),
        Route("/api/v1/stats/summary", stats.summary),
        Route("/api/v1/registrations", register.mine),
        Route("/api/v1/registrations/import", importer.import_registrations, methods=["POST"]),
        Route("/api/v1/registrations/export", importer.export_registrations),
        Route("/api/v1/registrations/{registration_id:str}", register.registration, methods=["GET", "PUT"]),
        Route("/api/v1/conversations/{conversation_id:str}/transcript", audit.transcript),
        Route("/api/v1/audit", audit.audit_log),
        Route("/api/v1/guideline", guideline.guideline, methods=["GET", "PUT"]),
        Route("/api/v1/reference/{kind:str}", reference_admin.kind, methods=["GET", "POST"]),
        Route("/api/v1/reference/{kind:str}/{code:str}", reference_admin.put_code, methods=["PUT"]),
        Route("/api/v1/queue", supervisor.queue),
        WebSocketRoute("/ws/visitor", visitor_socket),
        WebSocketRoute("/ws/adviser", adviser_socket),
        WebSocketRoute("/ws/supervisor", supervisor.supervisor_socket),
    ]
    routes += web_routes()
    return Starlette(
        routes=routes,
        middleware=[Middleware(KeepRawSend), Middleware(SecurityHeaders, settings=settings)],
        exception_handlers={HTTPError: http_error, HTTPException: starlette_error, Exception: server_error},
        lifespan=lifespan,
    )
