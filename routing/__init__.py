"""Who gets which conversation: the pure routing core of nora-chat.

Nothing here does I/O or knows about sockets, HTTP or SQL. ``policy`` holds the decisions as plain
functions; ``state.RoutingState`` is the small interface to the live state, implemented in memory
(``backends.memory``) and in Redis (``backends.redis``, a log of operations every instance replays).

Error tree::

    RoutingError
     ├── UnknownAdviser
     ├── StateBusy (a state that could not take a change in time; nothing changed, try again)
     └── ReplicaBehind (``backends.redis``: the log moved on too far while an operation was appended)
"""

from routing.errors import RoutingError, StateBusy, UnknownAdviser
from routing.model import (
    Adviser,
    AdviserStatus,
    Assignment,
    ChatRequest,
    QueueEstimate,
    Service,
    Snapshot,
)
from routing.policy import TierDelays
from routing.state import RoutingState

__all__ = [
    "Adviser",
    "AdviserStatus",
    "Assignment",
    "ChatRequest",
    "QueueEstimate",
    "RoutingError",
    "RoutingState",
    "Service",
    "Snapshot",
    "StateBusy",
    "TierDelays",
    "UnknownAdviser",
]
