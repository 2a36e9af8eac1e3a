"""The processes under test: nora-chat (one or more instances, SQLite or PostgreSQL, optional Redis) and
the bare relay, each a subprocess whose CPU and RSS are read from ``/proc``.

A fresh database per scenario: a template is migrated and seeded once per invocation (advisers share
one precomputed argon2 hash, so seeding takes no time), then copied (a file copy for SQLite,
``CREATE DATABASE ... TEMPLATE`` for PostgreSQL). Adviser sessions are created with the project's own
``Sessions.create``; one adviser per scenario also logs in through ``POST /api/v1/auth/login`` so
the real login path is exercised. Every database made here is dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.checks import Transcript
from bench.scenarios import Scenario

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
PASSWORD = "bench-password-1"
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0


def machine_cpu_s() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine summed over its cores, from /proc/stat: everything
    that ran, whoever ran it (servers, database, Redis, load balancer, generator, the kernel), and idle."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    idle = sum(ticks[3:5])  # idle, iowait
    total = sum(ticks[:8])  # guest time is counted in user already
    return (total - idle) / CLK_TCK, total / CLK_TCK


def proc_rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


@dataclass
class Proc:
    """One server process on one port."""

    argv: list[str]
    env: dict[str, str]
    port: int
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.popen = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        out.close()

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                if self.popen is not None and self.popen.poll() is not None:
                    raise RuntimeError(f"server exited with {self.popen.returncode}; see {self.log}")
                try:
                    if (await http.get(self.base + "/healthz", timeout=1)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server on {self.port} not ready in {timeout}s; see {self.log}")

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except FileNotFoundError:
            return 0

    def log_problems(self, start: int = 0, end: int | None = None) -> list[str]:
        """ERROR/CRITICAL records and tracebacks in the server's log (nora logs ``date time LEVEL name: ...``)."""
        try:
            lines = self.log.read_bytes()[start:end].decode(errors="replace").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            words = line.split(" ", 3)
            if line.startswith("Traceback") or (len(words) > 2 and words[2] in ("ERROR", "CRITICAL")):
                out.append(line[:300])
        return out


@dataclass
class Deployment:
    """What a scenario runs against; subclasses start it, read its transcript and tear it down."""

    name: str
    workdir: Path
    procs: list[Proc] = field(default_factory=list)
    cookies: list[str] = field(default_factory=list)
    retired_cpu_s: float = 0.0  # CPU of processes restarted during the run (their last reading)

    @property
    def bases(self) -> list[str]:
        """Where clients connect: each process, or the load balancer in front of them."""
        return [p.base for p in self.procs]

    def cpu_each(self) -> list[float]:
        return [proc_cpu_s(pid) for pid in self.pids]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def cpu_s(self) -> float:
        return self.retired_cpu_s + sum(proc_cpu_s(pid) for pid in self.pids)

    def rss_kib(self) -> int:
        return sum(proc_rss_kib(pid) for pid in self.pids)

    async def db_cpu_snapshot(self) -> dict[int, float]:
        return {}

    async def setup(self, scenario: Scenario) -> None:
        raise NotImplementedError

    async def transcript(self, ids: list[str]) -> dict[str, Transcript | None]:
        raise NotImplementedError

    async def teardown(self) -> None:
        for p in self.procs:
            p.stop()

    def env(self, scenario: Scenario) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NORA_", "BENCH_RELAY_"))}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def log_marks(self) -> list[int]:
        return [p.log_size() for p in self.procs]

    def problems(self, start: list[int] | None = None, end: list[int] | None = None) -> list[str]:
        out = []
        for i, p in enumerate(self.procs):
            a = start[i] if start else 0
            b = end[i] if end else None
            out += [f"{p.log.name}: {line}" for line in p.log_problems(a, b)]
        return out


def nora_env_override() -> dict[str, str]:
    """``BENCH_NORA_ENV="NORA_X=1,NORA_Y=2"``: settings for nora's processes in this run (an A/B of one
    setting); the bench otherwise keeps the caller's ``NORA_*`` variables away from every server."""
    pairs = [part.partition("=") for part in os.environ.get("BENCH_NORA_ENV", "").split(",") if part.strip()]
    return {name.strip(): value.strip() for name, _, value in pairs}


class BareRelay(Deployment):
    """The bare relay; with ``postgres``, the same relay committing one INSERT per message to PostgreSQL
    before its ack and forward (``relay-postgres``): what a durable ack costs on this machine when done
    plainly, one transaction per message, without nora's group commit or anything else of nora's."""

    def __init__(self, workdir: Path, fault: str = "", *, postgres: bool = False, lb: bool = False) -> None:
        super().__init__("relay-postgres" if postgres else "relay-lb" if lb else "bare", workdir)
        self.fault = fault
        self.postgres = postgres
        self.lb = lb  # behind the same HAProxy as nora's instances (``--relay-lb``): the floor of that hop
        self.balancer: Any = None

    @property
    def bases(self) -> list[str]:
        return [self.balancer.base] if self.balancer is not None else [p.base for p in self.procs]

    async def setup(self, scenario: Scenario) -> None:
        port = free_port()
        env = self.env(scenario)
        env["BENCH_RELAY_CAPACITY"] = str(scenario.capacity)
        env["BENCH_RELAY_FAULT"] = self.fault
        if self.postgres:
            env["BENCH_RELAY_POSTGRES"] = PG_ADMIN
        log = self.workdir / f"{scenario.name}-{self.name}.log"
        self.procs = [Proc([sys.executable, "-m", "bench.relay", "--port", str(port)], env, port, log)]
        self.procs[0].start()
        await self.procs[0].wait_ready()
        if self.lb:
            from tests.services import HAProxy

            self.balancer = HAProxy(free_port(), [port], str(self.workdir), inter_ms=500)
            self.balancer.start()
            await asyncio.to_thread(self.balancer.wait_state, 0, "UP", 30)
        self.cookies = [f"nora_session=adv{i:04d}" for i in range(scenario.advisers)]

    async def teardown(self) -> None:
        await super().teardown()
        if self.balancer is not None:
            self.balancer.stop()
            self.balancer = None

    async def transcript(self, ids: list[str]) -> dict[str, Transcript | None]:
        async with httpx.AsyncClient(timeout=60) as http:
            body = (await http.post(self.bases[0] + "/transcript", json={"ids": ids})).json()
        return {
            cid: Transcript(v["next_seq"], [tuple(m) for m in v["messages"]]) if v else None for cid, v in body.items()
        }


class FixedHash:
    """Stands in for ``admin.passwords.Passwords`` when seeding: one real argon2 hash for everybody."""

    def __init__(self, digest: str) -> None:
        self.digest = digest

    async def hash(self, password: str) -> str:
        return self.digest


class Nora(Deployment):
    """``nora-chat serve`` on a fresh copy of the template database; ``instances`` processes."""

    def __init__(self, workdir: Path, db: str, advisers_needed: int) -> None:
        super().__init__(f"nora-{db}", workdir)
        self.db = db
        self.advisers_needed = advisers_needed
        self.template: str | None = None
        self.url: str | None = None
        self.sqlite_path: Path | None = None
        self.pg_name: str | None = None
        self.created_pg: list[str] = []
        # Each deployment's own Redis keys: a repeated round must not find the last one's advisers
        # (full, in the routing state) and waiting chats there.
        self.redis_prefix: str | None = None
        self.balancer: Any = None  # tests.services.HAProxy, when the scenario puts one in front

    @property
    def bases(self) -> list[str]:
        if self.balancer is not None:
            return [self.balancer.base]
        return super().bases

    # ------------------------------------------------------------------ databases

    async def _pg(self, sql: str, *args: Any, database: str | None = None) -> list[Any]:
        import asyncpg

        dsn = PG_ADMIN if database is None else PG_ADMIN.rsplit("/", 1)[0] + "/" + database
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    def _url(self, name: str) -> str:
        if self.db == "sqlite":
            return f"sqlite+aiosqlite:///{name}"
        return PG_ADMIN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + "/" + name

    async def _make_template(self) -> None:
        from admin.accounts import Accounts, NewUser
        from admin.passwords import hash_password_sync
        from core.db import Database
        from core.reference import load_reference

        tag = uuid.uuid4().hex[:8]
        if self.db == "sqlite":
            name = str(self.workdir / f"template-{tag}.db")
        else:
            name = f"nora_bench_tpl_{tag}"
            await self._pg(f'CREATE DATABASE "{name}"')
            self.created_pg.append(name)
        db = Database.from_url(self._url(name))
        try:
            await db.migrate()
            async with db.session() as session:
                ref = await load_reference(session)
            accounts = Accounts(db, FixedHash(hash_password_sync(PASSWORD)))  # type: ignore[arg-type]
            for i in range(self.advisers_needed):
                await accounts.create(
                    NewUser(
                        f"adv{i:04d}",
                        f"Adviser {i}",
                        frozenset({"adviser"}),
                        PASSWORD,
                        "MR",
                        frozenset({"03"}),
                        frozenset({"nb", "ar"}),
                        20,
                    ),
                    regions=ref.codes("regions"),
                    languages=ref.codes("languages"),
                )
        finally:
            await db.dispose()
        self.template = name

    async def _fresh_database(self, scenario: Scenario) -> str:
        if self.template is None:
            await self._make_template()
        assert self.template is not None
        tag = uuid.uuid4().hex[:8]
        if self.db == "sqlite":
            self.sqlite_path = self.workdir / f"{scenario.name}-{tag}.db"
            shutil.copy(self.template, self.sqlite_path)
            return self._url(str(self.sqlite_path))
        self.pg_name = f"nora_bench_{tag}"
        await self._pg(f'CREATE DATABASE "{self.pg_name}" TEMPLATE "{self.template}"')
        self.created_pg.append(self.pg_name)
        return self._url(self.pg_name)

    async def _sessions(self, url: str, count: int, capacity: int) -> list[str]:
        from sqlalchemy import update

        from admin.accounts import Sessions
        from core.db import Database
        from core.models import StaffUser

        db = Database.from_url(url)
        try:
            async with db.writing() as session:
                await session.execute(update(StaffUser).values(capacity=capacity))
            sessions = Sessions(db, idle_s=8 * 3600, absolute_s=8 * 3600)
            tokens = []
            for i in range(count):
                async with db.session() as session:
                    from sqlmodel import select

                    user = (await session.exec(select(StaffUser).where(StaffUser.username == f"adv{i:04d}"))).one()
                token, _ = await sessions.create(user.id)
                tokens.append(f"nora_session={token}")
            return tokens
        finally:
            await db.dispose()

    # ------------------------------------------------------------------ lifecycle

    async def setup(self, scenario: Scenario) -> None:
        if scenario.advisers > self.advisers_needed:
            raise RuntimeError(
                f"{scenario.name} needs {scenario.advisers} advisers, template has {self.advisers_needed}"
            )
        self.retired_cpu_s = 0.0
        self.url = await self._fresh_database(scenario)
        self.cookies = await self._sessions(self.url, scenario.advisers, scenario.capacity)
        ports = [free_port() for _ in range(scenario.instances)]
        if scenario.lb:
            from tests.services import HAProxy

            self.balancer = HAProxy(free_port(), ports, str(self.workdir), inter_ms=500)
        origins = ",".join(f"http://127.0.0.1:{p}" for p in ports + ([self.balancer.port] if self.balancer else []))
        self.procs = []
        for i, port in enumerate(ports):
            env = self.env(scenario)
            env.update(NORA_ENV="development", NORA_DATABASE_URL=self.url, NORA_ALLOWED_ORIGINS=origins)
            # The generator plays thousands of clients from one address, and idle sockets that never start:
            # the per-address caps and the start deadline (chat/admission.py) would refuse it by design.
            env.update(
                NORA_MAX_CONNECTIONS="1000000",
                NORA_MAX_SOCKETS_PER_ADDRESS="1000000",
                NORA_STARTS_PER_ADDRESS="1000000",
                NORA_VISITOR_HELLO_S="86400",
            )
            if scenario.redis:
                if self.redis_prefix is None:
                    self.redis_prefix = f"nora-bench-{uuid.uuid4().hex[:8]}"
                env.update(NORA_REDIS_URL=REDIS_URL, NORA_REDIS_PREFIX=self.redis_prefix)
            env.update(scenario.server_env)
            env.update(nora_env_override())
            log = self.workdir / f"{scenario.name}-{self.name}-{i}.log"
            argv = [str(VENV_BIN / "nora-chat"), "serve", "--host", "127.0.0.1", "--port", str(port)]
            self.procs.append(Proc(argv, env, port, log))
        for p in self.procs:
            p.start()
        for p in self.procs:
            await p.wait_ready()
        if self.balancer is not None:
            self.balancer.start()
            for i in range(len(self.procs)):
                await asyncio.to_thread(self.balancer.wait_state, i, "UP", 30)
        if self.cookies:
            self.cookies[0] = await self._login(self.bases[0], "adv0000")

    async def restart(self, index: int) -> float:
        """A rolling restart of one instance: SIGTERM, wait for it to drain and exit, start it again on
        its port, wait until the load balancer has it back; returns the seconds it was gone."""
        proc = self.procs[index]
        assert proc.popen is not None
        t0 = time.monotonic()
        proc.popen.send_signal(signal.SIGTERM)
        last = proc_cpu_s(proc.pid)
        while proc.popen.poll() is None and time.monotonic() - t0 < 60:
            last = proc_cpu_s(proc.pid) or last  # read until it is gone: its CPU counts for the run
            await asyncio.sleep(0.05)
        await asyncio.to_thread(proc.popen.wait, 10)
        self.retired_cpu_s += last
        proc.start()
        await proc.wait_ready()
        if self.balancer is not None:
            await asyncio.to_thread(self.balancer.wait_state, index, "UP", 30)
        return time.monotonic() - t0

    async def _login(self, base: str, username: str) -> str:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            r = await http.post(
                "/api/v1/auth/login", json={"username": username, "password": PASSWORD}, headers={"Origin": base}
            )
            if r.status_code != 200:
                raise RuntimeError(f"login failed: {r.status_code} {r.text[:200]}")
            return "; ".join(f"{k}={v}" for k, v in http.cookies.items())

    async def db_cpu_snapshot(self) -> dict[int, float]:
        """CPU seconds of the PostgreSQL backends serving this scenario's database (same machine)."""
        if self.db != "postgres" or self.pg_name is None:
            return {}
        rows = await self._pg("SELECT pid FROM pg_stat_activity WHERE datname = $1", self.pg_name)
        return {r["pid"]: proc_cpu_s(r["pid"]) for r in rows}

    async def transcript(self, ids: list[str]) -> dict[str, Transcript | None]:
        rows: list[Any]
        convs: list[Any]
        if self.db == "sqlite":
            assert self.sqlite_path is not None
            con = sqlite3.connect(self.sqlite_path, isolation_level=None)
            try:  # one read transaction: one snapshot of both tables while the server may still write
                con.execute("BEGIN")
                rows = con.execute("SELECT conversation_id, seq, sender, client_id, text FROM message").fetchall()
                convs = con.execute("SELECT id, next_seq FROM conversation").fetchall()
                con.execute("COMMIT")
            finally:
                con.close()
        else:
            import asyncpg

            assert self.pg_name is not None
            conn = await asyncpg.connect(PG_ADMIN.rsplit("/", 1)[0] + "/" + self.pg_name)
            try:  # one snapshot of both tables while the server may still write
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    rows = [
                        tuple(r)
                        for r in await conn.fetch("SELECT conversation_id, seq, sender, client_id, text FROM message")
                    ]
                    convs = [tuple(r) for r in await conn.fetch("SELECT id, next_seq FROM conversation")]
            finally:
                await conn.close()
        by_conv: dict[str, list[Any]] = {}
        for cid, seq, sender, client_id, text in rows:
            by_conv.setdefault(cid, []).append((seq, sender, client_id, text))
        next_seq = dict(convs)
        return {
            cid: Transcript(next_seq[cid], sorted(by_conv.get(cid, []))) if cid in next_seq else None for cid in ids
        }

    async def teardown(self) -> None:
        await super().teardown()
        if self.balancer is not None:
            self.balancer.stop()
            self.balancer = None
        if self.redis_prefix is not None:
            await _delete_redis_keys(f"{self.redis_prefix}:*")
            self.redis_prefix = None
        if self.pg_name is not None:
            await self.drop(self.pg_name)
            self.pg_name = None
        if self.sqlite_path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.sqlite_path) + suffix).unlink(missing_ok=True)
            self.sqlite_path = None

    async def drop(self, name: str) -> None:
        try:
            await self._pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            if name in self.created_pg:
                self.created_pg.remove(name)

    async def close(self) -> None:
        """Drop the template and anything left behind."""
        for name in list(self.created_pg):
            try:
                await self.drop(name)
            except Exception as exc:  # noqa: BLE001 - best effort, reported
                print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)  # noqa: T201


async def _delete_redis_keys(pattern: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=pattern)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
