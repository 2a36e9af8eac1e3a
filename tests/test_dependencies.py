"""Which errors mean a dependency is away (a retryable answer, one log line) and which are faults."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import redis.exceptions as redis_errors

from core.dependencies import dependency_away
from tests.conftest import ROOT


def test_redis_and_database_outages_are_away_and_faults_are_not() -> None:
    for away in (
        redis_errors.ConnectionError("refused"),
        redis_errors.TimeoutError("slow"),
        redis_errors.BusyLoadingError("loading"),
        sqlite3.OperationalError("database is locked"),
        ConnectionResetError(),
    ):
        assert dependency_away(away), away
    for fault in (redis_errors.ResponseError("WRONGTYPE"), ValueError("bad"), KeyError("x")):
        assert not dependency_away(fault), fault
    wrapped = RuntimeError("the tick failed")
    wrapped.__cause__ = redis_errors.ConnectionError("reset")
    assert dependency_away(wrapped)


def test_an_instance_without_redis_does_not_load_the_client() -> None:
    """A tenth of an instance's start-up went to importing redis-py, which one without Redis never uses."""
    code = "import sys, nora.app, nora.cli; print('redis' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert loaded.stdout.strip() == "False", loaded.stdout + loaded.stderr
