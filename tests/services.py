"""Reaching the real PostgreSQL and Redis of the machine, or skipping with a clear notice.

With ``NORA_REQUIRE_SERVICES=1`` (which ``.ci/run`` sets) a missing service fails the test instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get("NORA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("NORA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def required() -> bool:
    return os.environ.get("NORA_REQUIRE_SERVICES") == "1"


def reachable(url: str) -> bool:
    parts = urlsplit(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


def need(name: str, url: str) -> str:
    if reachable(url):
        return url
    message = f"{name} is not answering at {urlsplit(url).netloc}"
    if required():
        pytest.fail(f"{message} and NORA_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(f"{message}: start it (see README, 'Tests') or run .ci/run")


class PrivateRedis:
    """A redis-server of the test's own on a free port, so a test may kill and restart it freely."""

    def __init__(self, port: int, workdir: str) -> None:
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if required():
                pytest.fail("redis-server is not installed and NORA_REQUIRE_SERVICES=1", pytrace=False)
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not reachable(self.url):
            if time.monotonic() > deadline:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None
