"""The visitor's message catalogue: every text a visitor reads, in every chat language.

One gettext ``.po`` file per language, ``chat/locale/<code>/visitor.po``. The msgid is a stable key
(``start``, ``notice.assigned``); English is the source language and every other file carries the
English text as a comment above each entry, so translators and their tools (Poedit, Weblate, Babel's
``pybabel``) see what to translate. Each file says in its header ``X-Review-State: draft`` or
``reviewed`` so a translator knows which languages still need a check.

The service only reads these files, so a reader of some 60 lines does it instead of a dependency:
no plural forms (the texts are written to need none), no ``.mo`` compilation step.

A key missing from a language is never filled in silently: ``text`` returns the English text marked
``[en]`` and ``missing`` lists it, so the page, the logs and the catalogue test all show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "visitor"
SOURCE = "en"
DEFAULT = "nb"
REVIEW_STATES = frozenset({"draft", "reviewed"})
MISSING_MARK = "[en] "
PLACEHOLDER = re.compile(r"\{(\w+)\}")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


class CatalogueError(ValueError):
    """A .po file this reader cannot read; the message names the file and line."""


def _unquote(token: str, where: str) -> str:
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        raise CatalogueError(f"{where}: expected a quoted string")
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise CatalogueError(f"{where}: unknown escape \\{nxt}")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def read_po(text: str, name: str = "<po>") -> tuple[dict[str, str], dict[str, str]]:
    """(header fields, {msgid: msgstr}) of a .po file without plural forms or contexts."""
    entries: dict[str, str] = {}
    msgid: list[str] | None = None
    msgstr: list[str] | None = None
    current: list[str] | None = None

    def flush() -> None:
        if msgid is None:
            return
        if msgstr is None:
            raise CatalogueError(f"{name}: msgid {''.join(msgid)!r} has no msgstr")
        key = "".join(msgid)
        if key in entries:
            raise CatalogueError(f"{name}: msgid {key!r} appears twice")
        entries[key] = "".join(msgstr)

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{name}:{number}"
        if not line or line.startswith("#"):
            continue
        if line.startswith(("msgctxt", "msgid_plural", "msgstr[")):
            raise CatalogueError(f"{where}: contexts and plural forms are not used in this catalogue")
        if line.startswith("msgid "):
            flush()
            msgid, msgstr = [_unquote(line[6:].strip(), where)], None
            current = msgid
        elif line.startswith("msgstr "):
            if msgid is None or msgstr is not None:
                raise CatalogueError(f"{where}: msgstr without msgid")
            msgstr = [_unquote(line[7:].strip(), where)]
            current = msgstr
        elif line.startswith('"'):
            if current is None:
                raise CatalogueError(f"{where}: string outside an entry")
            current.append(_unquote(line, where))
        else:
            raise CatalogueError(f"{where}: cannot read {line[:40]!r}")
    flush()
    header_text = entries.pop("", "")
    header = {}
    for field in header_text.splitlines():
        if ":" in field:
            key, value = field.split(":", 1)
            header[key.strip()] = value.strip()
    return header, {k: v for k, v in entries.items() if v != ""}


def placeholders(text: str) -> frozenset[str]:
    return frozenset(PLACEHOLDER.findall(text))


@dataclass(frozen=True)
class Language:
    code: str
    review: str
    texts: dict[str, str]
    header: dict[str, str]


@dataclass(frozen=True)
class Catalogue:
    languages: dict[str, Language]

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self.languages[SOURCE].texts)

    def has(self, code: str) -> bool:
        return code in self.languages

    def missing(self, code: str) -> list[str]:
        own = self.languages[code].texts
        return sorted(key for key in self.languages[SOURCE].texts if key not in own)

    def text(self, code: str, key: str, **values: object) -> str:
        """The text of ``key`` in language ``code`` (the default language if unknown), with values put
        in; a key missing from that language comes back in English, visibly marked."""
        language = self.languages.get(code) or self.languages[DEFAULT]
        template = language.texts.get(key)
        if template is None:
            template = MISSING_MARK + self.languages[SOURCE].texts.get(key, key)
        return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), template)

    def table(self, code: str) -> dict[str, str]:
        """Every key of the source language, for the widget: missing ones marked as in ``text``."""
        own = self.languages[code].texts
        return {key: own.get(key, MISSING_MARK + source) for key, source in self.languages[SOURCE].texts.items()}


def read_catalogue(root: Path = LOCALE_DIR) -> Catalogue:
    languages: dict[str, Language] = {}
    for path in sorted(root.glob(f"*/{DOMAIN}.po")):
        code = path.parent.name
        header, texts = read_po(path.read_text("utf-8"), str(path))
        review = header.get("X-Review-State", "")
        if review not in REVIEW_STATES:
            raise CatalogueError(f"{path}: header X-Review-State must be one of {sorted(REVIEW_STATES)}")
        if header.get("Language") != code:
            raise CatalogueError(f"{path}: header Language must be {code!r}")
        languages[code] = Language(code, review, texts, header)
    if SOURCE not in languages or DEFAULT not in languages:
        raise CatalogueError(f"{root}: the catalogue needs at least {SOURCE} and {DEFAULT}")
    return Catalogue(languages)


@cache
def catalogue() -> Catalogue:
    """The catalogue shipped with the package, read once per process."""
    return read_catalogue()
