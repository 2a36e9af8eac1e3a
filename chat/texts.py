"""System notices in the visitor's page language, from the visitor message catalogue.

The texts live in ``chat/locale/<code>/visitor.po`` under ``notice.<event>`` (``chat/catalogue.py``),
next to everything else the visitor reads, so a translator finds them all in one file.
"""

from __future__ import annotations

from chat.catalogue import catalogue

EVENTS = frozenset(
    {
        "assigned",
        "transferred",
        "requeued",
        "adviser_away",
        "adviser_back",
        "visitor_away",
        "visitor_back",
        "visitor_left",
        "urgent_help",
        "closed",
        "visitor_timeout",
    }
)


# Notices whose text is another entry of the catalogue. A visitor who left by quick exit sees nothing
# more (the page is gone), so the notice is the quick-exit button's own label, which every language has;
# the adviser reads the event, "the visitor left with quick exit", never "you ended the conversation".
KEYS = {"visitor_quick_exit": "quick_exit"}


def notice(event: str, language: str, **values: str) -> str:
    """The notice ``event`` in ``language`` (Norwegian for a language without a catalogue)."""
    return catalogue().text(language, KEYS.get(event, f"notice.{event}"), **values)
