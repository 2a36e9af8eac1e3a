"""Logging that never holds a client address, a URL query, a token or message text.

uvicorn logs ``<client address> - "WebSocket <path?query>" [accepted]`` at INFO on ``uvicorn.error``
even with the access log off (docs/reliability.md 3). Those records are dropped here, the access log is
off, and as a last line of defence anything shaped like an IP address or a query string in a
uvicorn record is masked.

A websocket handshake the service refuses (403 ``origin_not_allowed``, ``unauthenticated``,
``forbidden``, sent with ``send_denial_response``) is the service working, not an error of it. uvicorn's
``websockets-sansio`` protocol nevertheless logs ``ASGI callable returned without completing
handshake.`` at ERROR after every such refusal: it writes the denial response but never marks the
handshake as done (uvicorn 0.54; upstream pull request Kludex/uvicorn#3138). ``nora.security`` marks
the connection's context when the app sends a denial response (``mark_refused``), and that one record
is dropped for a marked connection only, so an app that really returns without answering a handshake
is still logged at ERROR. What stays is the websockets library's own INFO line, ``connection rejected
(403 Forbidden)``, which names no address, token or cookie.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import re
from typing import Any

IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b")
IPV6 = re.compile(r"\[?\b(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}\]?(?::\d+)?")
QUERY = re.compile(r"\?[^\s\"]*")
INCOMPLETE_HANDSHAKE = "ASGI callable returned without completing handshake."

# Set in the task that runs one websocket connection's ASGI app, which is also the task in which
# uvicorn logs after the app returns: the mark is seen by that record and by no other connection's.
_refused: contextvars.ContextVar[bool] = contextvars.ContextVar("nora_ws_refused", default=False)


def mark_refused() -> None:
    """The websocket handshake being handled in this context was refused with a denial response."""
    _refused.set(True)


class PrivacyFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        template = str(record.msg)
        if '"WebSocket ' in template or "%s - " in template:
            return False  # per-connection lines: address and full URL
        if template == INCOMPLETE_HANDSHAKE and _refused.get():
            return False  # a refusal we answered ourselves, not an app that forgot to (see above)
        if record.name.startswith("uvicorn") and not template.startswith("Uvicorn running on"):
            message = record.getMessage()
            masked = QUERY.sub("?…", IPV6.sub("<addr>", IPV4.sub("<addr>", message)))
            if masked != message:
                record.msg, record.args = masked, ()
        return True


# The websockets library, which uvicorn hands its ``uvicorn.error`` logger, says at INFO that each socket
# opened and closed: two lines per visitor, tens of thousands a day, naming nobody and saying nothing the
# connection gauges (``/metrics``) do not. In a burst of 1,100 sockets they were most of the log.
CONNECTION_CHATTER = frozenset({"connection open", "connection closed"})


class ConnectionChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and record.msg in CONNECTION_CHATTER)


def log_config(level: str = "INFO") -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"privacy": {"()": PrivacyFilter}, "chatter": {"()": ConnectionChatter}},
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["chatter", "privacy"]},
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "nora": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


def configure(level: str = "INFO") -> None:
    logging.config.dictConfig(log_config(level))
