"""What the staff handlers share, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from admin.accounts import Accounts, Directory, Sessions
from chat.service import ChatService
from core.clock import Clock, system_clock
from core.db import Database
from core.limits import Limits
from core.reference import ReferenceBox
from core.settings import Settings


@dataclass
class AdminContext:
    settings: Settings
    db: Database
    accounts: Accounts
    sessions: Sessions
    directory: Directory
    chat: ChatService
    reference: ReferenceBox
    limits: Limits
    clock: Clock = system_clock


def context(conn: HTTPConnection) -> AdminContext:
    ctx: AdminContext = conn.app.state.admin
    return ctx
