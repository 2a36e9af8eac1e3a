"""Reaching the real PostgreSQL and Redis of the machine, or skipping with a clear notice.

With ``NORA_REQUIRE_SERVICES=1`` (which ``.ci/run`` sets) a missing service fails the test instead.
"""

from __future__ import annotations

import os
import resource
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


HAPROXY_CONFIG = """\
global
    maxconn {maxconn}
    stats socket {socket} mode 600 level admin

defaults
    mode http
    timeout connect 1s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout client-fin 5s
    timeout server-fin 5s
    # A connection refused (an instance just killed, not yet marked down) or a 503 (an instance
    # draining for a restart) is tried again on another instance: the client never sees it.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response 503

frontend nora
    bind 127.0.0.1:{port}
    default_backend instances

backend instances
    # No stickiness: every connection may land on any instance.
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    default-server check inter {inter_ms}ms fastinter {inter_ms}ms downinter {inter_ms}ms fall {fall} rise {rise}
{servers}
"""


class HAProxy:
    """HAProxy (Debian's ``haproxy``) in front of instances on fixed ports: round robin, no sticky
    sessions, websockets passed through, health checks on ``/readyz``. A test may kill and restart an
    instance on its port; HAProxy takes it out after ``fall`` failed checks and back after ``rise``."""

    def __init__(self, port: int, backends: list[int], workdir: str, *, inter_ms: int = 200) -> None:
        self.port = port
        self.backends = backends
        self.workdir = workdir
        self.inter_ms = inter_ms
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket_path(self) -> str:
        return os.path.join(self.workdir, "haproxy.sock")

    def config(self) -> str:
        servers = "\n".join(f"    server i{n} 127.0.0.1:{port}" for n, port in enumerate(self.backends))
        # Two descriptors per connection, and HAProxy refuses to start if it cannot have them.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        maxconn = 8000 if hard == resource.RLIM_INFINITY else max(100, min(8000, (hard - 200) // 2))
        return HAPROXY_CONFIG.format(
            socket=self.socket_path,
            port=self.port,
            inter_ms=self.inter_ms,
            fall=2,
            rise=1,
            servers=servers,
            maxconn=maxconn,
        )

    def start(self) -> None:
        binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
        if binary is None:
            if required():
                pytest.fail("haproxy is not installed and NORA_REQUIRE_SERVICES=1", pytrace=False)
            pytest.skip("haproxy is not installed (apt-get install haproxy, or run .ci/run)")
        path = os.path.join(self.workdir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(self.config())
        log = open(os.path.join(self.workdir, "haproxy.log"), "wb")  # noqa: SIM115 - the child's
        self.process = subprocess.Popen([binary, "-db", "-f", path], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while not reachable(self.base):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy did not start: {self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        with open(os.path.join(self.workdir, "haproxy.log"), errors="replace") as f:
            return f.read()

    def states(self) -> dict[str, str]:
        """Each instance's state as HAProxy sees it (``UP``, ``DOWN``, ``MAINT`` ...), by server name."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.socket_path)
            s.sendall(b"show stat\n")
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        out: dict[str, str] = {}
        for line in raw.decode().splitlines():
            cols = line.split(",")
            if len(cols) > 17 and cols[0] == "instances" and cols[1] not in ("BACKEND", "FRONTEND"):
                out[cols[1]] = cols[17]
        return out

    def wait_state(self, index: int, state: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            now_state = self.states().get(f"i{index}", "")
            if now_state.startswith(state):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"instance {index} is {now_state!r} in haproxy, not {state} within {timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
