"""Reaching the real PostgreSQL and Redis of the machine, or skipping with a clear notice.

With ``NORA_REQUIRE_SERVICES=1`` (which ``.ci/run`` sets) a missing service fails the test instead.
"""

from __future__ import annotations

import os
import socket
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
