"""Every start migrates the database. Alembic is loaded only when there is something to do: the
newest revision is read from the scripts' text, and a database already there is left alone."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from core.db import Database, alembic_config, script_head, upgrade
from tests.conftest import ROOT, Databases


def test_the_newest_revision_read_from_the_scripts_is_alembics() -> None:
    assert [script_head()] == ScriptDirectory.from_config(alembic_config()).get_heads()


def test_a_database_at_the_newest_revision_is_migrated_without_loading_alembic(databases: Databases) -> None:
    url = databases.sqlite()  # migrated to the newest revision
    code = (
        "import asyncio, sys\n"
        "from core.db import Database\n"
        f"db = Database.from_url({url!r})\n"
        "asyncio.run(db.migrate())\n"
        "print('alembic' in sys.modules, asyncio.run(db.revisions()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.split(maxsplit=1) == ["False", f"[{script_head()!r}]\n"], done.stdout + done.stderr


def test_a_database_a_revision_behind_or_new_is_brought_to_the_newest(tmp_path: Path) -> None:
    head = script_head()
    script = ScriptDirectory.from_config(alembic_config())
    previous = script.get_revision(head).down_revision
    behind = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"

    async def run() -> tuple[list[str], list[str], list[str]]:
        old, new = Database.from_url(behind), Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
        try:
            async with old.engine.begin() as conn:
                await conn.run_sync(upgrade, str(previous))
            before = await old.revisions()
            await old.migrate()
            await new.migrate()
            return before, await old.revisions(), await new.revisions()
        finally:
            await old.dispose()
            await new.dispose()

    assert asyncio.run(run()) == ([previous], [head], [head])
