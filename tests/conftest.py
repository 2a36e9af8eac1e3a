"""Shared fixtures: real uvicorn processes on a fresh database, logged-in staff, visitor sockets."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from admin.accounts import Accounts, NewUser
from admin.passwords import Passwords, use_fast_hashing
from core.db import Database
from core.reference import load_reference
from tests import services
from tests.client import WS, Staff

PASSWORD = "test-password-1"
USERS = (
    NewUser(
        "amina",
        "Amina",
        frozenset({"adviser"}),
        PASSWORD,
        "MR",
        frozenset({"03", "32"}),
        frozenset({"ar", "nb", "en"}),
        2,
    ),
    NewUser("omar", "Omar", frozenset({"adviser"}), PASSWORD, "MR", frozenset({"46"}), frozenset({"ar", "so"}), 2),
    NewUser(
        "jonas",
        "Jonas",
        frozenset({"adviser"}),
        PASSWORD,
        "AT",
        frozenset(),
        frozenset({"nb", "en", "so", "ti", "uk"}),
        3,
    ),
    NewUser("sara", "Sara", frozenset({"supervisor"}), PASSWORD),
    NewUser("admin", "Admin", frozenset({"admin", "supervisor"}), PASSWORD),
)
ROOT = Path(__file__).resolve().parent.parent


def closed_hours() -> str:
    """``NORA_OPENING_HOURS`` open one minute a day, twelve hours from now in Oslo: closed while a test
    runs whatever the time (a fixed ``00:00-00:01`` was open for a run that began at midnight)."""
    hour = (datetime.now(ZoneInfo("Europe/Oslo")) + timedelta(hours=12)).hour
    return f"mon-sun {hour:02}:00-{hour:02}:01"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _seed(url: str) -> None:
    """The USERS in a new database, their passwords hashed as the test servers hash them (fast)."""
    db = Database.from_url(url)
    use_fast_hashing(True)
    try:
        await db.migrate()
        async with db.session() as session:
            ref = await load_reference(session)
        accounts = Accounts(db, Passwords())
        for user in USERS:
            await accounts.create(user, regions=ref.codes("regions"), languages=ref.codes("languages"))
    finally:
        use_fast_hashing(False)
        await db.dispose()


def _pg_admin_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


class Databases:
    """Template databases made once per test session, copied for every server."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sqlite_template: Path | None = None
        self.pg_template: str | None = None
        self.pg_created: list[str] = []

    def sqlite(self) -> str:
        if self.sqlite_template is None:
            self.sqlite_template = self.tmp / "template.db"
            asyncio.run(_seed(f"sqlite+aiosqlite:///{self.sqlite_template}"))
        target = self.tmp / f"nora-{uuid.uuid4().hex[:8]}.db"
        shutil.copy(self.sqlite_template, target)
        return f"sqlite+aiosqlite:///{target}"

    def postgres(self) -> str:
        url = services.need("PostgreSQL", services.POSTGRES_URL)
        if self.pg_template is None:
            name = f"nora_tpl_{uuid.uuid4().hex[:10]}"
            asyncio.run(self._exec(url, f'CREATE DATABASE "{name}"'))
            self.pg_created.append(name)
            asyncio.run(_seed(_with_db(url, name)))
            self.pg_template = name
        name = f"nora_t_{uuid.uuid4().hex[:10]}"
        asyncio.run(self._exec(url, f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_template}"'))
        self.pg_created.append(name)
        return _with_db(url, name)

    @staticmethod
    async def _exec(url: str, sql: str) -> None:
        conn = await asyncpg.connect(_pg_admin_dsn(url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def drop_all(self) -> None:
        if not self.pg_created:
            return
        url = services.POSTGRES_URL
        for name in reversed(self.pg_created):
            try:
                asyncio.run(self._exec(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception:  # noqa: BLE001 - best effort clean-up
                pass


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("db"))
    yield dbs
    dbs.drop_all()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    base: str
    database_url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    staff: list[Staff] = field(default_factory=list)
    sockets: list[WS] = field(default_factory=list)

    @property
    def ws_base(self) -> str:
        return self.base.replace("http://", "ws://")

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    async def login(self, username: str) -> Staff:
        staff = await Staff.login(self.base, username, PASSWORD)
        self.staff.append(staff)
        return staff

    async def visitor(self, *, origin: str | None = None) -> WS:
        ws = await WS.open(self.ws_base + "/ws/visitor", origin=origin)
        self.sockets.append(ws)
        return ws

    async def adviser(self, username: str, *, available: bool = True) -> tuple[Staff, WS]:
        staff = await self.login(username)
        ws = await staff.socket()
        self.sockets.append(ws)
        await ws.expect("state")
        if available:
            await ws.send({"type": "status", "status": "available"})
            await ws.expect("status", status="available")
        return staff, ws

    async def aclose(self) -> None:
        for ws in self.sockets:
            try:
                await ws.close()
            except Exception:  # noqa: BLE001
                pass
        for staff in self.staff:
            await staff.aclose()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_server(database_url: str, log_path: Path, port: int | None = None, **env: str) -> LiveServer:
    """Start ``nora-chat serve`` and wait for ``/readyz``; ``port`` to start one again where it was (behind
    a load balancer that knows the instance by its port)."""
    port = port or free_port()
    full_env = {
        **os.environ,
        "NORA_ENV": "development",
        "NORA_DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
        # Every test client comes from 127.0.0.1: the per-address caps are raised unless a test sets them.
        "NORA_MAX_SOCKETS_PER_ADDRESS": "100000",
        "NORA_STARTS_PER_ADDRESS": "100000",
        **env,
    }
    full_env.pop("NORA_REDIS_URL", None) if "NORA_REDIS_URL" not in env else None
    if full_env["NORA_ENV"] == "development":
        # Staff log in at every other test: cheap hashes (the login-hardening tests ask for "standard").
        full_env.setdefault("NORA_PASSWORD_HASHING", "fast")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "nora.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return LiveServer(base, database_url, log_path, process, full_env)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not become ready:\n{log_path.read_text()}")


ServerFactory = Callable[..., Awaitable[LiveServer]]


@pytest.fixture
async def make_server(databases: Databases, tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Start a real ``nora-chat serve`` process: ``await make_server(backend="sqlite", **env)``."""
    started: list[LiveServer] = []

    async def factory(backend: str = "sqlite", **env: str) -> LiveServer:
        url = await asyncio.to_thread(databases.sqlite if backend == "sqlite" else databases.postgres)
        server = await asyncio.to_thread(start_server, url, tmp_path / f"server-{len(started)}.log", None, **env)
        started.append(server)
        return server

    yield factory
    for server in started:
        await server.aclose()
        server.stop()


@pytest.fixture
async def server(make_server: ServerFactory) -> LiveServer:
    return await make_server()


def frames_of(ws: WS, kind: str) -> list[dict[str, Any]]:
    return [f for f in ws.seen if f.get("type") == kind]
