"""Public, anonymous HTTP: ``/api/v1/reference`` and ``/api/v1/status`` (CORS for allowed origins)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat.service import ChatService
from core.http import HTTPError
from routing import AdviserStatus, ChatRequest
from routing.policy import MAX_TIER, estimates, reaches


def cors_headers(request: Request, service: ChatService) -> dict[str, str]:
    origin = request.headers.get("origin")
    if origin and origin.rstrip("/") in service.settings.allowed_origins:
        return {"Access-Control-Allow-Origin": origin.rstrip("/"), "Vary": "Origin"}
    return {"Vary": "Origin"}


async def reference(request: Request) -> Response:
    service: ChatService = request.app.state.chat
    headers = {**cors_headers(request, service), "Cache-Control": "public, max-age=300"}
    return JSONResponse(service.reference().public(), headers=headers)


async def status(request: Request) -> Response:
    service: ChatService = request.app.state.chat
    ref = service.reference()
    params = request.query_params
    fields = {name[:60]: "unknown parameter" for name in params if name not in ("region", "language")}
    region = params.get("region") or None
    language = params.get("language") or None
    if region is not None and region not in ref.codes("regions"):
        fields["region"] = "unknown code"
    if language is not None and language not in ref.codes("languages"):
        fields["language"] = "unknown code"
    if fields:
        raise HTTPError("invalid", "Some parameters are not valid.", fields=fields)
    now = service.now()
    snap = await service.routing.snapshot()
    probe = ChatRequest(id="~probe", language=language or "nb", region=region, audience="youth", enqueued_at=now + 1e-6)
    online = [a for a in snap.advisers if a.status is AdviserStatus.AVAILABLE]
    available = any(reaches(a, probe, MAX_TIER) for a in online) if language else bool(online)
    wait: int | None = None
    if language:
        guess = estimates([*snap.waiting, probe], snap.advisers, snap.releases, now, service.delays)[probe.id]
        wait = 0 if any(a.has_room and reaches(a, probe, MAX_TIER) for a in online) else guess.estimated_wait_s
    hours = service.hours.current()
    is_open = hours.is_open(now) if hours else True
    return JSONResponse(
        {
            "open": is_open,
            "advisers_available": available,
            "estimated_wait_s": wait,
            "next_opening": None if is_open or hours is None else hours.next_opening_iso(now),
        },
        headers={**cors_headers(request, service), "Cache-Control": "no-store"},
    )
