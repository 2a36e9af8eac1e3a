"""Errors that become typed error frames on a websocket (docs/protocol.md §1.8)."""

from __future__ import annotations

from typing import Any

from chat import wire


class ChatError(Exception):
    """Base of the chat package's errors."""


class FrameError(ChatError):
    """A frame was refused: nothing changed, and the client is told why with a typed error frame."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        ref: str | None = None,
        fields: dict[str, str] | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.fields = fields
        self.retry_after_ms = retry_after_ms

    def frame(self) -> dict[str, Any]:
        return wire.error(self.code, self.message, ref=self.ref, fields=self.fields, retry_after_ms=self.retry_after_ms)


def not_found(ref: str | None) -> FrameError:
    # A conversation that does not exist and one that belongs to someone else answer alike.
    return FrameError("not_found", "No such conversation.", ref=ref)


def invalid(ref: str | None, fields: dict[str, str]) -> FrameError:
    return FrameError("invalid", "Some fields are not valid: see fields.", ref=ref, fields=fields)
