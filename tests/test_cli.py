"""The ``nora-chat`` command line, as a user runs it: its entry point in a new interpreter once, then
``nora.cli.main`` in this process with its own environment, standard input and output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests import cli


def nora(*args: str, db: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return cli.run(*args, env=cli.environment(f"sqlite+aiosqlite:///{db}", **env), stdin=stdin)


def nora_process(*args: str, db: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it: a new interpreter, ``python -m nora.cli``."""
    return cli.run_process(*args, env=cli.environment(f"sqlite+aiosqlite:///{db}"), stdin=stdin)


def test_migrate_then_add_users_from_stdin(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    assert nora_process("migrate", db=db).returncode == 0
    added = nora_process(
        "user",
        "add",
        "lina",
        "--name",
        "Lina",
        "--role",
        "adviser",
        "--service",
        "MR",
        "--regions",
        "03,32",
        "--languages",
        "ar,nb",
        "--capacity",
        "3",
        "--password-stdin",
        db=db,
        stdin="a-long-password\n",
    )
    assert added.returncode == 0, added.stderr
    assert "a-long-password" not in added.stdout + added.stderr
    again = nora(
        "user",
        "add",
        "lina",
        "--name",
        "Lina",
        "--role",
        "supervisor",
        "--password-stdin",
        db=db,
        stdin="another-password\n",
    )
    assert again.returncode == 1 and "exists already" in again.stderr
    both = nora(
        "user",
        "add",
        "boss",
        "--name",
        "Boss",
        "--role",
        "admin,supervisor",
        "--password-stdin",
        db=db,
        stdin="chief-of-staff-1",
    )
    assert both.returncode == 0, both.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "adviser", "--service", "MR", "--languages", "nb"], "regions"),
        (["--role", "adviser", "--service", "MR", "--regions", "99", "--languages", "nb"], "regions"),
        (["--role", "wizard"], "roles"),
    ],
)
def test_user_add_refuses_bad_values(tmp_path: Path, args: list[str], message: str) -> None:
    result = nora(
        "user", "add", "x1", "--name", "X", *args, "--password-stdin", db=tmp_path / "c.db", stdin="a-long-password\n"
    )
    assert result.returncode == 1 and message in result.stderr


def test_password_is_never_taken_from_the_command_line(tmp_path: Path) -> None:
    result = nora("user", "add", "x1", "--name", "X", "--role", "supervisor", db=tmp_path / "c.db")
    assert result.returncode == 2 and "--password-stdin" in result.stderr


def test_serve_refuses_to_start_in_production_without_a_secret(tmp_path: Path) -> None:
    result = nora("serve", "--port", "1", db=tmp_path / "c.db", NORA_SECRET_KEY="")
    assert result.returncode == 2 and "NORA_SECRET_KEY" in result.stderr


def test_purge_command_runs(tmp_path: Path) -> None:
    result = nora("purge", db=tmp_path / "c.db")
    assert result.returncode == 0 and "purged 0 transcript(s)" in result.stdout


def test_user_list_and_set_disable(tmp_path: Path) -> None:
    db = tmp_path / "users.db"
    for username, roles in (("boss", "admin"), ("lina", "adviser")):  # --roles, as a comma list
        extra = ["--service", "AT", "--languages", "nb,so"] if roles == "adviser" else []
        added = nora(
            "user", "add", username, "--name", username.title(), "--roles", roles, *extra, "--password-stdin",
            db=db, stdin="kveldssol-over-fjorden\n",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    listed = nora("user", "list", db=db)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:3] == ["USERNAME", "NAME", "ROLES"]
    assert [line.split()[:3] for line in lines[1:]] == [["boss", "Boss", "admin"], ["lina", "Lina", "adviser"]]
    assert "argon2" not in listed.stdout and "never" in lines[2]

    disabled = nora("user", "set", "lina", "--disable", "--capacity", "4", db=db)
    assert disabled.returncode == 0, disabled.stderr
    as_json = nora("user", "list", "--json", db=db)
    lina = json.loads(as_json.stdout.splitlines()[1])
    assert (lina["username"], lina["disabled"], lina["capacity"]) == ("lina", True, 4)
    assert "password" not in lina and "argon2" not in as_json.stdout

    last = nora("user", "set", "boss", "--disable", db=db)
    assert last.returncode == 1 and "last enabled admin" in last.stderr
    weak = nora("user", "set", "lina", "--password-stdin", db=db, stdin="password1234\n")
    assert weak.returncode == 1 and "password" in weak.stderr
    assert nora("user", "set", "nobody", "--enable", db=db).returncode == 1
    assert nora("user", "set", "lina", db=db).returncode == 2  # nothing to change
    enabled = nora("user", "set", "lina", "--enable", "--role", "adviser,supervisor", db=db)
    assert enabled.returncode == 0, enabled.stderr
    lina = json.loads(nora("user", "list", "--json", db=db).stdout.splitlines()[1])
    assert (lina["disabled"], lina["roles"]) == (False, ["adviser", "supervisor"])
