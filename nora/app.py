"""The Starlette application: routes, middleware and resources wired in the lifespan."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from admin import (
    audit,
    auth,
    canned,
    cases,
    day_page,
    guideline,
    hours_admin,
    importer,
    inquiries,
    notes,
    queue_actions,
    reference_admin,
    register,
    retention_view,
    service_report,
    stats,
    summary,
    supervisor,
    threads,
    users,
)
from chat import feedback, public_api, returning
from chat import page as visitor_page
from chat.broker import Broker
from chat.outbox import KeepRawSend
from chat.ws_adviser import adviser_socket
from chat.ws_visitor import visitor_socket
from core.clock import Clock, system_clock
from core.http import HTTPError
from core.settings import Settings
from nora import ops
from nora.availability import Unavailable
from nora.lifespan import app_resources
from nora.security import SecurityHeaders
from routing import RoutingState

log = logging.getLogger("nora.app")
WEB_ROOT = Path(__file__).resolve().parent.parent


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


INCLUDE = re.compile(r"^[ \t]*<!--#include ([a-z_]+\.html) -->\n", re.MULTILINE)


def rendered(file: Path) -> bytes:
    """A page with the parts every staff page shares (the sign-in form, the language switch) put in
    from ``parts/`` beside it, where it says ``<!--#include NAME -->``; each part's own first line, a
    comment saying what it is, is left out."""

    def part(match: re.Match[str]) -> str:
        text = (file.parent / "parts" / match.group(1)).read_text("utf-8")
        return text.split("\n", 1)[1] if text.startswith("<!--") else text

    return INCLUDE.sub(part, file.read_text("utf-8")).encode()


def page(path: str, file: Path) -> Route:
    body = rendered(file)  # once: the pages change only with a deploy

    async def serve(request: Request) -> Response:
        return Response(body, media_type="text/html", headers={"Cache-Control": "no-store"})

    return Route(path, serve)


def web_routes() -> list[BaseRoute]:
    """The visitor widget (``chat/web``), the agent console and supervisor dashboard (``admin/web``)."""
    routes: list[BaseRoute] = []
    for package, pages in (
        ("chat", {}),  # "/" is chat.page.widget: the page in the visitor's language
        (
            "admin",
            {
                "/console": "console.html",
                "/supervisor": "supervisor.html",
                "/admin": "admin.html",
                "/admin/summary": "summary.html",
                "/replies": "replies.html",  # canned replies (issue 17)
                "/supervisor/day": "day.html",  # the supervisor's day (issue 17)
            },
        ),
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
        async with app_resources(settings, clock=clock, broker=broker, routing=routing) as state:
            app.state.nora = state
            app.state.db, app.state.chat, app.state.admin = state.db, state.chat, state.admin
            yield

    routes: list[BaseRoute] = [
        Route("/healthz", ops.healthz),
        Route("/readyz", ops.readyz),
        Route("/metrics", ops.metrics),
        Route("/api/v1/reference", public_api.reference),
        Route("/api/v1/status", public_api.status),
        Route("/", visitor_page.widget),
        Route("/api/v1/texts", visitor_page.texts),
        Route("/api/v1/feedback", feedback.feedback, methods=["POST"]),
        Route("/api/v1/return-codes", returning.take_code, methods=["POST"]),
        Route("/api/v1/conversations/{conversation_id:str}/thread", threads.thread),
        Route("/api/v1/left-messages", threads.left_messages),
        Route("/api/v1/left-messages/{message_id:str}/answer", threads.answer, methods=["POST"]),
        Route("/api/v1/auth/login", auth.login, methods=["POST"]),
        Route("/api/v1/auth/logout", auth.logout, methods=["POST"]),
        Route("/api/v1/me", auth.me),
        Route("/api/v1/registrations/pending", register.pending),
        Route("/api/v1/conversations/{conversation_id:str}/registration", register.register, methods=["POST"]),
        Route("/api/v1/stats/cases", stats.cases),
        Route("/api/v1/stats/summary", summary.summary),
        Route("/api/v1/stats/service", service_report.service_report),
        Route("/api/v1/service-categories", service_report.own_categories),
        Route("/api/v1/registrations", inquiries.registrations, methods=["GET", "POST"]),
        Route("/api/v1/cases", cases.search),
        Route("/api/v1/cases/{case_id:str}", cases.read),
        Route("/api/v1/cases/{case_id:str}/close", cases.close, methods=["POST"]),
        Route("/api/v1/registrations/import", importer.import_registrations, methods=["POST"]),
        Route("/api/v1/registrations/export", importer.export_registrations),
        Route("/api/v1/registrations/{registration_id:str}", register.registration, methods=["GET", "PUT"]),
        Route("/api/v1/conversations/{conversation_id:str}/transcript", audit.transcript),
        Route("/api/v1/conversations/{conversation_id:str}/notes", notes.notes, methods=["GET", "POST"]),
        Route("/api/v1/canned-replies", canned.replies, methods=["GET", "POST"]),
        Route("/api/v1/supervisor/day", day_page.day),
        Route("/api/v1/canned-replies/{reply_id:str}", canned.reply, methods=["PUT", "DELETE"]),
        Route("/api/v1/audit", audit.audit_log),
        Route("/api/v1/guideline", guideline.guideline, methods=["GET", "PUT"]),
        Route("/api/v1/reference/{kind:str}", reference_admin.kind, methods=["GET", "POST"]),
        Route("/api/v1/reference/{kind:str}/{code:str}", reference_admin.put_code, methods=["PUT"]),
        Route("/api/v1/queue", supervisor.queue),
        Route("/api/v1/conversations/{conversation_id:str}/route", queue_actions.route, methods=["POST"]),
        Route("/api/v1/diversions", queue_actions.diversions, methods=["GET", "POST"]),
        Route("/api/v1/diversions/{diversion_id:str}", queue_actions.end_diversion, methods=["DELETE"]),
        Route("/api/v1/notices", queue_actions.notices, methods=["POST"]),
        Route("/api/v1/users", users.users, methods=["GET", "POST"]),
        Route("/api/v1/users/{username:str}", users.user, methods=["PATCH"]),
        Route("/api/v1/retention", retention_view.retention),
        Route("/api/v1/hours", hours_admin.hours, methods=["GET", "PUT", "DELETE"]),
        WebSocketRoute("/ws/visitor", visitor_socket),
        WebSocketRoute("/ws/adviser", adviser_socket),
        WebSocketRoute("/ws/supervisor", supervisor.supervisor_socket),
    ]
    routes += web_routes()
    return Starlette(
        routes=routes,
        middleware=[Middleware(KeepRawSend), Middleware(SecurityHeaders, settings=settings), Middleware(Unavailable)],
        exception_handlers={HTTPError: http_error, HTTPException: starlette_error, Exception: server_error},
        lifespan=lifespan,
    )
