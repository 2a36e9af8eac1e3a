"""Several instances on PostgreSQL and Redis behind HAProxy, each on a fixed port so a test can kill,
stop (SIGTERM) and start it again where the load balancer expects it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from tests import services
from tests.conftest import Databases, LiveServer, free_port, start_server

FAST = {
    # Every client comes from 127.0.0.1 and writes faster than a person: raise the per-sender limits.
    "NORA_RATE_PER_S": "100",
    "NORA_RATE_BURST": "100",
    # HAProxy checks every 200 ms and takes an instance out after two failures.
    "NORA_DRAIN_NOTICE_MS": "800",
}


class Cluster:
    def __init__(self, database_url: str, workdir: Path, size: int, env: dict[str, str]) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.ports = [free_port() for _ in range(size)]
        self.env = env
        self.servers: list[LiveServer | None] = [None] * size
        self.starts = 0
        self.lb = services.HAProxy(free_port(), self.ports, str(workdir))

    @property
    def base(self) -> str:
        return self.lb.base

    async def start(self, index: int) -> LiveServer:
        self.starts += 1
        log = self.workdir / f"instance-{index}-{self.starts}.log"
        server = await asyncio.to_thread(start_server, self.database_url, log, self.ports[index], **self.env)
        self.servers[index] = server
        await asyncio.to_thread(self.lb.wait_state, index, "UP")
        return server

    def process(self, index: int) -> subprocess.Popen[bytes]:
        server = self.servers[index]
        assert server is not None
        return server.process

    async def kill(self, index: int) -> None:
        self.process(index).send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process(index).wait, 10)

    async def terminate(self, index: int, timeout: float = 30.0) -> int:
        """SIGTERM, and the exit status once the instance has drained and stopped."""
        self.process(index).send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.process(index).wait, timeout)

    def logs(self) -> str:
        return "\n".join(p.read_text("utf-8", "replace") for p in sorted(self.workdir.glob("instance-*.log")))

    def stop(self) -> None:
        for server in self.servers:
            if server is not None:
                server.stop()
        self.lb.stop()


async def cluster_of(databases: Databases, workdir: Path, size: int) -> AsyncIterator[Cluster]:
    """``size`` instances behind HAProxy; stopped at the end."""
    redis_url = services.need("Redis", services.REDIS_URL)
    database_url = await asyncio.to_thread(databases.postgres)
    env = {**FAST, "NORA_REDIS_URL": redis_url, "NORA_REDIS_PREFIX": f"nora-test-{uuid.uuid4().hex[:8]}"}
    cluster = Cluster(database_url, workdir, size, env)
    cluster.lb.start()
    try:
        for index in range(size):
            await cluster.start(index)
        yield cluster
    finally:
        cluster.stop()


def no_errors_logged(text: str) -> list[str]:
    return [line for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback")]
