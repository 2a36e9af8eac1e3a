"""The ``nora-chat`` command line, run for a test.

``run`` calls ``nora.cli.main`` in this process, in a thread of its own (so that its ``asyncio.run``
works from an async test too), with the environment, standard input and output it is given: the same
parsing and the same code as the installed command, without a new interpreter, which costs seconds on
slow shared cores. ``run_process`` starts the real entry point, for the tests of the entry point itself.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

from nora.cli import main

ROOT = Path(__file__).resolve().parent.parent


def environment(database_url: str, **env: str) -> dict[str, str]:
    """This process's environment with the database and ``env``; ``NORA_ENV`` only if ``env`` sets it."""
    full = {**os.environ, "NORA_DATABASE_URL": database_url}
    full.pop("NORA_ENV", None)
    full.pop("NORA_REDIS_URL", None)
    return {**full, **env}


def _exit_code(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as exit_:  # argparse refuses a command line with exit code 2
        return exit_.code if isinstance(exit_.code, int) else 1


def run(*args: str, env: Mapping[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, env, clear=True),
        mock.patch("sys.stdin", io.StringIO(stdin)),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        ThreadPoolExecutor(1, thread_name_prefix="nora-cli") as thread,
    ):
        code = thread.submit(_exit_code, list(args)).result()
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def run_process(
    *args: str, env: Mapping[str, str], stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nora.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(env),
        timeout=timeout,
    )
