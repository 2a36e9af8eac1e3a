"""Database engine and migrations.

Everything goes through SQLAlchemy's asyncio engine (aiosqlite or asyncpg) so that no query blocks
the event loop. SQLite runs in WAL mode with a busy timeout, and its writers are serialised in
process by ``Database.write_lock`` because SQLite allows one writer at a time anyway.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"""^revision\s*=\s*["']([^"']+)["']\s*$""", re.MULTILINE)
_DOWN_REVISION = re.compile(r"""^down_revision\s*=\s*(?:None|["']([^"']+)["'])\s*$""", re.MULTILINE)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, pool: int = 20) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # Pre-ping: after a PostgreSQL restart a pooled connection is dead; the ping (one round trip per
    # checkout) finds it and the pool replaces it, instead of the request failing. The message path has
    # its own asyncpg pool (``chat.postgres_direct``), so this one serves listings, staff and the
    # register: ``pool`` at most (NORA_DB_POOL_SIZE, 20), half of them kept open.
    return create_async_engine(
        url,
        pool_size=max(1, pool // 2),
        max_overflow=pool - max(1, pool // 2),
        pool_timeout=60,
        pool_recycle=1800,
        pool_pre_ping=True,
    )


class Database:
    """The engine plus what every caller needs around it."""

    def __init__(self, engine: AsyncEngine, pool: int = 20) -> None:
        self.engine = engine
        self.pool = pool  # connections of each pool to PostgreSQL: this engine's and the message path's
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.write_lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, *, pool: int = 20) -> Database:
        return cls(make_engine(url, pool), pool)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session for a read-modify-write; commits on success, rolls back on error."""
        if self.is_sqlite:
            async with self.write_lock, self.session() as session:
                yield session
                await session.commit()
        else:
            async with self.session() as session:
                yield session
                await session.commit()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def migrate(self) -> None:
        """Bring the schema to the newest revision. Every start does this; when the database is there
        already (nearly always) alembic is not even loaded, a tenth of an instance's start-up."""
        head = script_head()
        if head is not None and await self.revisions() == [head]:
            return
        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)

    async def revisions(self) -> list[str]:
        """The revisions the database is at (none before its first migration)."""
        try:
            async with self.engine.connect() as conn:
                return list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
        except DBAPIError:
            return []  # no alembic_version table yet

    async def dispose(self) -> None:
        await self.engine.dispose()


def script_head() -> str | None:
    """The newest revision among the migration scripts, read from their text: ``None`` unless exactly
    one script is no other's ``down_revision`` and every script says both plainly (a merge, whose
    ``down_revision`` is a tuple, leaves the answer to alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        if script.name == "__init__.py":
            continue
        source = script.read_text("utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        if down.group(1) is not None:
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Alembic's upgrade to ``revision`` on an open connection (``conn.run_sync``)."""
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def migrate_url(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (the ``nora-chat migrate`` command)."""

    async def run() -> None:
        db = Database.from_url(url)
        try:
            await db.migrate()
        finally:
            await db.dispose()

    asyncio.run(run())
