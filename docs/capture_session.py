"""Capture the example session of docs/protocol.md from a real nora-chat server.

Start a fresh demo server first, then run this script; it prints the transcript on stdout:

    rm -rf /tmp/docs-var && mkdir /tmp/docs-var
    NORA_DATABASE_URL=sqlite+aiosqlite:////tmp/docs-var/nora.db .venv/bin/nora-chat serve --demo --port 8790 &
    .venv/bin/python docs/capture_session.py http://127.0.0.1:8790 > /tmp/docs-var/transcript.txt

Every HTTP request/response and every websocket frame in both directions is recorded, in the order
this client saw it, with the time since the start. Secrets (resume token, session cookie, CSRF token)
are shortened to their first three characters and an ellipsis. Frames longer than one line are
pretty-printed; on the wire they are compact JSON.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8790"
WS_BASE = BASE.replace("http", "ws", 1)
ORIGIN = BASE
T0 = time.monotonic()
SECRET_KEYS = re.compile(r'"(token|csrf_token)":(\s*)"([^"]{3})[^"]*"')
CSRF_HEADER = re.compile(r"(x-csrf-token: )(\S{3})\S*", re.IGNORECASE)
COOKIE = re.compile(r"((?:__Host-)?nora_session=)([^;\s\"]{3})[^;\s\"]*")
REQUEST_HEADERS = ("origin", "cookie", "x-csrf-token", "content-type")
RESPONSE_HEADERS = (
    "content-type",
    "cache-control",
    "set-cookie",
    "retry-after",
    "content-disposition",
    "access-control-allow-origin",
)
lines: list[str] = []


def shorten(text: str) -> str:
    text = SECRET_KEYS.sub(lambda m: f'"{m[1]}":{m[2]}"{m[3]}…"', text)
    text = CSRF_HEADER.sub(lambda m: f"{m[1]}{m[2]}…", text)
    return COOKIE.sub(lambda m: f"{m[1]}{m[2]}…", text)


def stamp() -> str:
    return f"+{time.monotonic() - T0:6.2f}s"


def emit(head: str, body: str | None = None) -> None:
    lines.append(f"{stamp()}  {shorten(head)}")
    if body:
        for line in shorten(body).splitlines():
            lines.append(f"           {line}")


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def show_json(value: Any, width: int = 100, level: int = 0) -> str:
    """Compact JSON where it fits on a line, else one member per line (recursively)."""
    flat = compact(value)
    if len(flat) + 2 * level <= width or not isinstance(value, dict | list) or not value:
        return flat
    pad, end = "  " * (level + 1), "  " * level
    if isinstance(value, dict):
        items = [f"{pad}{compact(k)}: {show_json(v, width, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    items = [f"{pad}{show_json(v, width, level + 1)}" for v in value]
    return "[\n" + ",\n".join(items) + "\n" + end + "]"


def emit_frame(head: str, frame: Any) -> None:
    text = show_json(frame)
    if "\n" in text:
        emit(head, text)
    else:
        emit(f"{head} {text}")


def section(title: str) -> None:
    lines.append("")
    lines.append(f"# {title}")


def trim_reference(body: dict[str, Any]) -> dict[str, Any]:
    """Keep two entries per list so the transcript stays readable."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        out[key] = [*value[:2], f"… {len(value) - 2} more"] if isinstance(value, list) and len(value) > 2 else value
    return out


async def http(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    trim: bool = False,
) -> httpx.Response:
    response = await client.request(method, path, json=body, headers=headers, params=params)
    request = response.request
    target = request.url.raw_path.decode()
    sent = [f"{name}: {request.headers[name]}" for name in REQUEST_HEADERS if name in request.headers]
    text = "\n".join(sent + ([show_json(body)] if body is not None else []))
    emit(f"HTTP >> {method} {target}", text or None)
    got = [f"{name}: {response.headers[name]}" for name in RESPONSE_HEADERS if name in response.headers]
    if response.headers.get("content-type", "").startswith("application/json"):
        data = response.json()
        payload = show_json(trim_reference(data) if trim else data)
    else:
        payload = response.text.rstrip("\r\n").replace("\r\n", "\\r\\n\n") if response.text else ""
    emit(f"HTTP << {response.status_code} {response.reason_phrase}", "\n".join(got + ([payload] if payload else [])))
    return response


class Socket:
    """A websocket whose frames are logged the moment they arrive."""

    def __init__(self, name: str, conn: ClientConnection) -> None:
        self.name = name
        self.conn = conn
        self.inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.close_code: int | None = None
        self.closing = False
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, name: str, path: str, *, origin: str | None = ORIGIN, cookie: str | None = None) -> Socket:
        headers = {"Cookie": cookie} if cookie else {}
        sent = [f"Origin: {origin}"] if origin else []
        sent += [f"Cookie: {cookie}"] if cookie else []
        emit(f"{name} >> GET {path} (websocket upgrade)", "\n".join(sent) or None)
        conn = await connect(WS_BASE + path, origin=origin, additional_headers=headers, compression=None)  # type: ignore[arg-type]
        status = conn.response.status_code if conn.response is not None else "?"
        emit(f"{name} << {status} Switching Protocols")
        return cls(name, conn)

    async def _read(self) -> None:
        try:
            async for raw in self.conn:
                frame = json.loads(raw)
                emit_frame(f"{self.name} <<", frame)
                await self.inbox.put(frame)
        except ConnectionClosed:
            pass
        self.close_code = self.conn.close_code
        if not self.closing:
            reason = f', reason "{self.conn.close_reason}"' if self.conn.close_reason else ""
            emit(f"{self.name} << (the server closes the socket: code {self.close_code}{reason})")
        await self.inbox.put(None)

    async def send(self, frame: dict[str, Any]) -> None:
        emit_frame(f"{self.name} >>", frame)
        await self.conn.send(json.dumps(frame, ensure_ascii=False, separators=(",", ":")))

    async def expect(self, kind: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = await asyncio.wait_for(self.inbox.get(), max(0.01, deadline - time.monotonic()))
            if frame is None:
                raise AssertionError(f"{self.name}: closed while waiting for {kind}")
            if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def settle(self, seconds: float = 0.4) -> None:
        """Let frames in flight arrive (and be logged) before the next step."""
        await asyncio.sleep(seconds)
        while not self.inbox.empty():
            self.inbox.get_nowait()

    async def closed(self, timeout: float = 5.0) -> int | None:
        await asyncio.wait_for(self.reader, timeout)
        return self.close_code

    async def close(self) -> None:
        emit(f"{self.name} >> (the client closes the socket: code 1000)")
        self.closing = True
        await self.conn.close()
        await self.reader


def cookie_of(client: httpx.AsyncClient) -> str:
    return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


async def main() -> None:
    async with (
        httpx.AsyncClient(base_url=BASE) as anon,
        httpx.AsyncClient(base_url=BASE) as amina_http,
        httpx.AsyncClient(base_url=BASE) as sara_http,
    ):
        section("1. Public endpoints")
        await http(anon, "GET", "/healthz")
        await http(anon, "GET", "/readyz")
        await http(anon, "GET", "/api/v1/reference", trim=True)
        await http(anon, "GET", "/api/v1/status", params={"region": "03", "language": "ar"})

        section("2. Amina logs in and opens the agent console")
        await http(
            amina_http,
            "POST",
            "/api/v1/auth/login",
            body={"username": "amina", "password": "wrong-password"},
            headers={"Origin": ORIGIN},
        )
        login = await http(
            amina_http,
            "POST",
            "/api/v1/auth/login",
            body={"username": "amina", "password": "amina-demo-passord"},
            headers={"Origin": ORIGIN},
        )
        csrf = login.json()["csrf_token"]
        await http(amina_http, "GET", "/api/v1/me")
        console = await Socket.open("adviser", "/ws/adviser", cookie=cookie_of(amina_http))
        await console.expect("state")
        await console.settle()
        await console.send({"type": "status", "status": "available"})
        await console.expect("status", status="available")
        await console.send({"type": "capacity", "capacity": 2})
        await console.expect("capacity")
        await console.settle()
        await http(anon, "GET", "/api/v1/status", params={"region": "03", "language": "ar"})

        section("3. A visitor starts a conversation and is assigned at once")
        visitor = await Socket.open("visitor", "/ws/visitor")
        await visitor.send({"type": "start", "language": "ar", "region": "03", "audience": "youth"})
        started = await visitor.expect("started")
        cid = started["conversation_id"]
        await visitor.expect("assigned")
        await console.expect("assigned")
        await console.settle()

        section("4. Messages, acks, typing, an idempotent resend, two refused frames")
        await visitor.send({"type": "message", "client_id": "v1", "text": "  مرحبا، أحتاج إلى مساعدة  "})
        await visitor.expect("ack", client_id="v1")
        await console.expect("message", sender="visitor")
        await console.send({"type": "typing", "conversation_id": cid})
        await visitor.expect("typing")
        await console.send(
            {
                "type": "message",
                "conversation_id": cid,
                "client_id": "a1",
                "text": "مرحبا! أنا أمينة. كيف يمكنني مساعدتك؟",
            }
        )
        await console.expect("ack", client_id="a1")
        await visitor.expect("message", sender="adviser")
        await visitor.send({"type": "typing"})
        await console.expect("typing")
        await visitor.send({"type": "message", "client_id": "v2", "text": "Kan vi skrive på norsk?"})
        await visitor.expect("ack", client_id="v2")
        await console.expect("message", sender="visitor")
        await visitor.send({"type": "message", "client_id": "v2", "text": "Kan vi skrive på norsk?"})
        await visitor.expect("ack", client_id="v2")
        await visitor.send({"type": "message", "client_id": "v3", "text": "   "})
        await visitor.expect("error")
        await visitor.send({"type": "close", "conversation_id": cid})
        await visitor.expect("error")
        await console.send({"type": "message", "conversation_id": cid, "client_id": "a2", "text": "Ja, selvfølgelig."})
        await console.expect("ack", client_id="a2")
        last = (await visitor.expect("message", sender="adviser"))["seq"]
        await visitor.settle()
        await console.settle()

        section("5. The visitor's connection drops; the adviser writes; the visitor resumes with last_seq")
        await visitor.close()
        await console.expect("visitor", presence="away")
        await console.send(
            {"type": "message", "conversation_id": cid, "client_id": "a3", "text": "Er du der fortsatt?"}
        )
        await console.expect("ack", client_id="a3")
        await console.send({"type": "message", "conversation_id": cid, "client_id": "a4", "text": "Jeg venter her."})
        await console.expect("ack", client_id="a4")
        await console.settle()
        visitor = await Socket.open("visitor", "/ws/visitor")
        await visitor.send({"type": "resume", "token": started["token"], "last_seq": last})
        await visitor.expect("assigned")
        await console.expect("visitor", presence="back")
        await visitor.send({"type": "message", "client_id": "v4", "text": "Ja, jeg er her. Takk for hjelpen!"})
        await visitor.expect("ack", client_id="v4")
        await console.expect("message", sender="visitor")
        await visitor.settle()

        section("6. The adviser closes the conversation")
        await console.send({"type": "close", "conversation_id": cid})
        await console.expect("conversation_closed")
        assert await visitor.closed() == 1000
        await console.settle()

        section("7. Registration")
        await http(amina_http, "GET", "/api/v1/registrations/pending")
        form = {
            "is_case": True,
            "main_category": "fear_of_forced_marriage",
            "other_categories": ["negative_social_control"],
            "violence_forms": [],
            "contact": "self",
            "age_group": "16_17",
            "gender": "girl_woman",
            "actions": ["advice_given", "referred_child_welfare"],
            "note": "Oppfølging neste uke.",
        }
        path = f"/api/v1/conversations/{cid}/registration"
        await http(amina_http, "POST", path, body=form, headers={"Origin": ORIGIN})
        await http(
            amina_http,
            "POST",
            path,
            body={**form, "main_category": "aliens", "violence_forms": ["physical"]},
            headers={"Origin": ORIGIN, "X-CSRF-Token": csrf},
        )
        await http(amina_http, "POST", path, body=form, headers={"Origin": ORIGIN, "X-CSRF-Token": csrf})
        await http(amina_http, "POST", path, body=form, headers={"Origin": ORIGIN, "X-CSRF-Token": csrf})
        await http(amina_http, "GET", "/api/v1/registrations/pending")

        section("8. Statistics, read by the supervisor Sara")
        sara_login = await http(
            sara_http,
            "POST",
            "/api/v1/auth/login",
            body={"username": "sara", "password": "sara-demo-passord"},
            headers={"Origin": ORIGIN},
        )
        assert sara_login.status_code == 200
        await http(amina_http, "GET", "/api/v1/stats/cases", params={"by": "category"})
        await http(sara_http, "GET", "/api/v1/stats/cases", params={"by": "category,service,region"})
        await http(sara_http, "GET", "/api/v1/stats/cases", params={"by": "category,month", "format": "csv"})

        section("9. A second, urgent visitor: queue, supervisor view, adviser reconnect and sync, transfer")
        await console.send({"type": "status", "status": "away"})
        await console.expect("status", status="away")
        second = await Socket.open("visitor2", "/ws/visitor")
        await second.send(
            {
                "type": "start",
                "language": "nb",
                "region": "32",
                "audience": "youth",
                "urgent": True,
                "also_languages": ["en"],
            }
        )
        started2 = await second.expect("started")
        cid2 = started2["conversation_id"]
        await second.expect("queue")
        await second.settle()
        await http(sara_http, "GET", "/api/v1/queue")
        feed = await Socket.open("supervisor", "/ws/supervisor", cookie=cookie_of(sara_http))
        await feed.expect("queue")
        await feed.close()
        await console.send({"type": "status", "status": "available"})
        await console.expect("assigned")
        await second.expect("assigned")
        await console.settle()
        await second.settle()
        await console.close()
        await second.expect("message", event="adviser_away")
        await second.settle()
        console = await Socket.open("adviser", "/ws/adviser", cookie=cookie_of(amina_http))
        await console.expect("state")
        await second.expect("message", event="adviser_back")
        await console.settle()
        await second.settle()
        await console.send({"type": "sync", "conversations": {cid2: 2}})
        await console.settle()
        await console.send(
            {
                "type": "transfer",
                "conversation_id": cid2,
                "to": {"service": "AT"},
                "note": "Trenger noen fra ambulerende team.",
            }
        )
        await console.expect("unassigned")
        await second.expect("queue")
        await second.settle()
        await console.settle()
        await second.send({"type": "leave"})
        assert await second.closed() == 1000

        section("10. Amina logs out; her console socket is closed")
        await http(amina_http, "POST", "/api/v1/auth/logout", headers={"Origin": ORIGIN, "X-CSRF-Token": csrf})
        await console.closed()
        await http(amina_http, "GET", "/api/v1/me")

    sys.stdout.write("\n".join(lines).lstrip("\n") + "\n")


if __name__ == "__main__":
    asyncio.run(main())
