"""Exact-match Origin allowlist (OWASP WebSocket cheat sheet: no wildcards, no substring matching)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection


def own_origins(conn: HTTPConnection) -> set[str]:
    host = conn.headers.get("host", "")
    return {f"http://{host}", f"https://{host}"} if host else set()


def origin_allowed(conn: HTTPConnection, allowed: tuple[str, ...], *, required: bool) -> bool:
    """``allowed`` empty means the service's own origin only; a missing Origin passes unless required."""
    origin = conn.headers.get("origin")
    if origin is None:
        return not required
    origin = origin.rstrip("/")
    if origin in allowed:
        return True
    if not allowed:
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and origin in own_origins(conn)
    return False
