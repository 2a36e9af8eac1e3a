"""Starting an instance either brings everything up or leaves nothing behind: a step that fails while
starting closes what the steps before it opened (``nora/lifespan.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.broker import MemoryBroker
from core.settings import Settings
from nora.app import create_app

pytestmark = pytest.mark.anyio


class WatchedBroker(MemoryBroker):
    def __init__(self) -> None:
        super().__init__()
        self.connected = False

    async def connect(self) -> None:
        self.connected = True

    async def disconnect(self) -> None:
        self.connected = False


async def test_a_failure_while_starting_closes_what_already_started(tmp_path: Path) -> None:
    # A database that was never migrated: the broker connects, then loading the reference data fails.
    settings = Settings(env="development", database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    broker = WatchedBroker()
    app = create_app(settings, broker=broker)
    with pytest.raises(Exception, match="reference_item"):
        async with app.router.lifespan_context(app):
            pass
    assert not broker.connected  # disconnected again although the start failed after it
