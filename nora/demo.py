"""Demo staff accounts for ``nora-chat serve --demo`` (development only; passwords are printed)."""

from __future__ import annotations

from admin.accounts import Accounts, NewUser
from admin.passwords import Passwords
from core.db import Database
from core.reference import load_reference
from core.settings import Settings

DEMO_USERS = (
    (
        NewUser(
            "amina",
            "Amina",
            frozenset({"adviser"}),
            "radgiver-demo-mr",
            "MR",
            frozenset({"03", "32"}),
            frozenset({"ar", "nb", "en"}),
            3,
        ),
        "minority adviser (MR), Oslo + Akershus, ar/nb/en",
    ),
    (
        NewUser(
            "jonas",
            "Jonas",
            frozenset({"adviser"}),
            "radgiver-demo-at",
            "AT",
            frozenset(),
            frozenset({"nb", "en", "so", "ti", "uk"}),
            4,
        ),
        "ambulating team (AT), national, nb/en/so/ti/uk",
    ),
    (NewUser("sara", "Sara", frozenset({"supervisor"}), "veileder-demo-1"), "supervisor"),
    (NewUser("admin", "Admin", frozenset({"admin", "supervisor"}), "forvalter-demo-1"), "administrator + supervisor"),
)


async def ensure_demo_accounts(settings: Settings) -> list[tuple[str, str, str]]:
    if not settings.development:
        raise RuntimeError("demo accounts exist only with NORA_ENV=development")
    db = Database.from_url(settings.database_url)
    try:
        async with db.session() as session:
            ref = await load_reference(session)
        accounts = Accounts(db, Passwords())
        for user, _ in DEMO_USERS:
            if await accounts.by_username(user.username) is None:
                await accounts.create(user, regions=ref.codes("regions"), languages=ref.codes("languages"))
    finally:
        await db.dispose()
    return [(u.username, u.password, what) for u, what in DEMO_USERS]
