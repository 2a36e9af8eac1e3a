"""Logging that never holds a client address, a URL query, a token or message text.

uvicorn logs ``<client address> - "WebSocket <path?query>" [accepted]`` at INFO on ``uvicorn.error``
even with the access log off (docs/reliability.md 3). Those records are dropped here, the access log is
off, and as a last line of defence anything shaped like an IP address or a query string in a
uvicorn record is masked.
"""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any

IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b")
IPV6 = re.compile(r"\[?\b(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}\]?(?::\d+)?")
QUERY = re.compile(r"\?[^\s\"]*")


class PrivacyFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        template = str(record.msg)
        if '"WebSocket ' in template or "%s - " in template:
            return False  # per-connection lines: address and full URL
        if record.name.startswith("uvicorn") and not template.startswith("Uvicorn running on"):
            message = record.getMessage()
            masked = QUERY.sub("?…", IPV6.sub("<addr>", IPV4.sub("<addr>", message)))
            if masked != message:
                record.msg, record.args = masked, ()
        return True


def log_config(level: str = "INFO") -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"privacy": {"()": PrivacyFilter}},
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["privacy"]},
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
