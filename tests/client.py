"""Small clients for the wire contract, used against a real uvicorn process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


class WS:
    """A websocket that speaks JSON frames and waits for a given frame type."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, url: str, *, origin: str | None = None, cookie: str | None = None) -> WS:
        headers: dict[str, str] = {}
        if cookie:
            headers["Cookie"] = cookie
        conn = await connect(
            url,
            origin=origin,
            additional_headers=headers,
            compression=None,
            open_timeout=5,
            max_size=2**20,  # type: ignore[arg-type]
            # Keep reading whatever the test reads: an adviser's older tabs get every frame of her chats
            # and a test reads few of them. With a bounded queue the client would stop reading, not see
            # the server's close frame, and wait 10 s for it at every close.
            max_queue=None,
        )
        return cls(conn)

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.conn.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.conn.recv(), timeout)
        frame: dict[str, Any] = json.loads(raw)
        self.seen.append(frame)
        return frame

    async def expect(self, kind: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The next frame of ``kind`` (matching ``match``), skipping others; fails after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {kind!r} frame matching {match} within {timeout}s; saw {self.seen[-8:]}")
            try:
                frame = await self.recv(remaining)
            except TimeoutError:
                continue
            if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """Every frame that arrives within ``seconds``."""
        out = []
        try:
            while True:
                out.append(await self.recv(seconds))
        except (TimeoutError, ConnectionClosed):
            return out

    async def closed_code(self, timeout: float = 5.0) -> int | None:
        try:
            while True:
                await asyncio.wait_for(self.conn.recv(), timeout)
        except ConnectionClosed:
            return self.conn.close_code
        except TimeoutError:
            return None

    async def close(self) -> None:
        await self.conn.close()


class Staff:
    """A logged-in staff member: HTTP client with cookie and CSRF token."""

    def __init__(self, base: str, http: httpx.AsyncClient, csrf: str, user: dict[str, Any]) -> None:
        self.base = base
        self.http = http
        self.csrf = csrf
        self.user = user

    @classmethod
    async def login(cls, base: str, username: str, password: str) -> Staff:
        http = httpx.AsyncClient(base_url=base, timeout=10)
        response = await http.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        body = response.json()
        return cls(base, http, body["csrf_token"], body["user"])

    @property
    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    @property
    def origin(self) -> str:
        return self.base

    async def socket(self, path: str = "/ws/adviser") -> WS:
        return await WS.open(self.base.replace("http", "ws", 1) + path, origin=self.origin, cookie=self.cookie)

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.http.post(path, json=body, headers={"X-CSRF-Token": self.csrf, "Origin": self.origin})

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params)

    async def aclose(self) -> None:
        await self.http.aclose()
