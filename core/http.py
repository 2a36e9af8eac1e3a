"""HTTP error bodies of docs/protocol.md §1.10: ``{"error": code, "message": text, "fields": {...}}``."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

STATUS = {
    "unauthenticated": 401,
    "invalid_credentials": 401,
    "forbidden": 403,
    "csrf_failed": 403,
    "origin_not_allowed": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "already_registered": 409,
    "not_closed": 409,
    "conflict": 409,
    "exists": 409,
    "last_admin": 409,
    "not_waiting": 409,
    "adviser_unavailable": 409,
    "visitor_absent": 409,
    "locked": 423,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "invalid": 422,
    "too_many_attempts": 429,
    "rate_limited": 429,
    "unavailable": 503,
}

NO_STORE = {"Cache-Control": "no-store"}


class HTTPError(Exception):
    """Raised by handlers; the app turns it into the contract's error body."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: dict[str, str] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.fields is not None:
            body["fields"] = self.fields
        headers = dict(NO_STORE)
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return JSONResponse(body, status_code=STATUS.get(self.code, 400), headers=headers)


def error_response(code: str, message: str, **kwargs: object) -> JSONResponse:
    return HTTPError(code, message, **kwargs).response()  # type: ignore[arg-type]


MAX_JSON_BYTES = 64 * 1024


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body, or an ``HTTPError`` saying what is wrong with it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_JSON_BYTES:
        raise HTTPError("payload_too_large", f"Body larger than {MAX_JSON_BYTES} bytes.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise HTTPError("payload_too_large", f"Body larger than {MAX_JSON_BYTES} bytes.")
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type:
        raise HTTPError("unsupported_media_type", "Send a JSON body with Content-Type: application/json.")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise HTTPError("invalid", "The body is not valid JSON.", fields={"body": "not valid JSON"}) from None
    if not isinstance(data, dict):
        raise HTTPError("invalid", "The body must be a JSON object.", fields={"body": "must be an object"})
    nul = nul_fields(data)
    if nul:
        raise HTTPError("invalid", "Text must not contain U+0000 (NUL).", fields=nul)
    return data


NO_NUL = "must not contain U+0000 (NUL)"
MAX_NUL_FIELDS = 20


def nul_fields(data: dict[str, Any]) -> dict[str, str]:
    """Each string of a parsed JSON body holding U+0000, by its dotted path (``note``, ``name.nb``,
    ``actions.1``); a key holding it is reported at the object that has it (``body`` at the top).

    PostgreSQL cannot store U+0000 in text: let through, it fails the statement and the request ends in
    a 500. JSON can only carry it as the escape ``\\u0000`` (a raw control character in a string is not
    JSON), but it may come in any string, at any depth, so every one is looked at; iteratively, as a
    body may nest as deep as the JSON parser allows. Bodies are at most 64 KiB."""
    out: dict[str, str] = {}
    stack: list[tuple[str, Any]] = [("", data)]
    while stack and len(out) < MAX_NUL_FIELDS:
        path, value = stack.pop()
        prefix = f"{path}." if path else ""
        if isinstance(value, str):
            if "\x00" in value:
                out[path] = NO_NUL
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                if "\x00" in key:
                    out[path or "body"] = NO_NUL
                else:
                    stack.append((f"{prefix}{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{prefix}{index}", item) for index, item in reversed(list(enumerate(value))))
    return out
