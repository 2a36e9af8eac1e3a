"""The password policy (issue 18, finding 4): at least 12 characters, not common or breached (the list
shipped in ``admin/common_passwords.txt``), not repetitive or sequential, not built from the username;
wherever an account is created, the command line included."""

from __future__ import annotations

from pathlib import Path

import pytest

from admin.accounts import AccountError, Accounts, NewUser
from admin.passwords import Passwords, common_passwords
from core.db import Database
from core.reference import load_reference
from nora.demo import DEMO_USERS
from tests.conftest import PASSWORD, USERS
from tests.test_cli import nora

REFUSED = [
    ("aaaaaaaaaa", "at least 12 characters"),
    ("password12", "at least 12 characters"),
    ("password1234", "too common"),
    ("Password2024!", "too common"),  # a listed password with digits and punctuation around it
    ("qwertyuiop12", "too common"),
    ("iloveyou1234", "too common"),
    ("aaaaaaaaaaaa", "too easy to guess"),
    ("abcabcabcabc", "too easy to guess"),
    ("123456789012", "too easy to guess"),
    ("abcdefghijklm", "too easy to guess"),
    ("lina.berg", "at least 12 characters"),
    ("lina.berg-2026", "must not contain the username"),
    ("LINA.BERG.LINA.BERG", "must not contain the username"),
]


def supervisor(password: str, username: str = "lina.berg") -> NewUser:
    return NewUser(username, "Lina", frozenset({"supervisor"}), password)


@pytest.mark.parametrize(("password", "reason"), REFUSED)
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    with pytest.raises(AccountError) as refused:
        supervisor(password).check(regions=frozenset(), languages=frozenset())
    assert str(refused.value).startswith("password: ") and reason in str(refused.value)


@pytest.mark.parametrize(
    "password", ["test-password-1", "correct horse battery staple", "Kveldssol over Mjøsa", "7f#Kq2!mZx9@"]
)
def test_long_uncommon_passwords_are_accepted(password: str) -> None:
    supervisor(password).check(regions=frozenset(), languages=frozenset())


def test_the_shipped_list_is_there_and_large() -> None:
    common = common_passwords()
    assert len(common) > 15_000
    assert {"password", "123456", "qwertyuiop", "passord", "iloveyou"} <= common
    assert PASSWORD not in common


def test_demo_and_test_accounts_meet_the_policy() -> None:
    for user in [u for u, _ in DEMO_USERS] + list(USERS):
        user.check(regions=user.regions, languages=user.languages)


@pytest.mark.anyio
async def test_no_account_is_created_with_a_weak_password(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'policy.db'}")
    try:
        await db.migrate()
        async with db.session() as session:
            ref = await load_reference(session)
        accounts = Accounts(db, Passwords())
        with pytest.raises(AccountError, match="too common"):
            await accounts.create(
                supervisor("password1234"), regions=ref.codes("regions"), languages=ref.codes("languages")
            )
        assert await accounts.by_username("lina.berg") is None
    finally:
        await db.dispose()


def test_user_add_on_the_command_line_refuses_a_common_password(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    args = ("user", "add", "lina", "--name", "Lina", "--role", "supervisor", "--password-stdin")
    refused = nora(*args, db=db, stdin="Password2024!\n")
    assert refused.returncode == 1 and "password: too common" in refused.stderr
    assert "Password2024!" not in refused.stdout + refused.stderr
    refused = nora(*args, db=db, stdin="lina-is-my-name\n")
    assert refused.returncode == 1 and "must not contain the username" in refused.stderr
    assert nora(*args, db=db, stdin="a-long-uncommon-phrase\n").returncode == 0
