"""Database engine and migrations.

Everything goes through SQLAlchemy's asyncio engine (aiosqlite or asyncpg) so that no query blocks
the event loop. SQLite runs in WAL mode with a busy timeout, and its writers are serialised in
process by ``Database.write_lock`` because SQLite allows one writer at a time anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


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
        from sqlalchemy import text

        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def migrate_url(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (the ``nora-chat migrate`` command)."""

    async def run() -> None:
        db = Database.from_url(url)
        try:
            await db.migrate()
        finally:
            await db.dispose()

    asyncio.run(run())
