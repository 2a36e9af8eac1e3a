"""Who gets which conversation: the pure routing core of nora-chat.

Nothing here does I/O or knows about sockets, HTTP or SQL. ``policy`` holds the decisions as plain
functions; ``state.RoutingState`` is the small interface to the live state, implemented in memory
(``backends.memory``) and later in Redis (``backends.redis``).

Error tree::

    RoutingError
     ├── UnknownAdviser
     └── StateBusy (the Redis state's ``RoutingContention``)
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
