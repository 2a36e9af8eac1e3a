"""The visitor message catalogue: every key in every chat language, with the same placeholders, each file
marked draft or reviewed; a missing key shows up marked, never silently in another language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chat.catalogue import MISSING_MARK, SOURCE, CatalogueError, catalogue, placeholders, read_catalogue, read_po
from chat.texts import EVENTS, notice

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = json.loads((ROOT / "core" / "reference.json").read_text("utf-8"))
CHAT_LANGUAGES = [entry["code"] for entry in REFERENCE["languages"]]
WIDGET = (ROOT / "chat" / "web" / "static" / "widget.js").read_text("utf-8")
RETURN_CODES = (ROOT / "chat" / "web" / "static" / "return_code.js").read_text("utf-8")
PAGE = (ROOT / "chat" / "web" / "index.html").read_text("utf-8")


def test_every_chat_language_has_a_catalogue_with_every_key_and_the_same_placeholders() -> None:
    texts = catalogue()
    assert len(CHAT_LANGUAGES) == 17
    assert sorted(texts.languages) == sorted(CHAT_LANGUAGES)
    source = texts.languages[SOURCE].texts
    problems = []
    for code in CHAT_LANGUAGES:
        language = texts.languages[code]
        assert language.review in {"draft", "reviewed"}, code
        problems += [f"{code}: {key} missing" for key in texts.missing(code)]
        problems += [f"{code}: {key} is not a key of the source" for key in set(language.texts) - set(source)]
        for key, text in language.texts.items():
            wanted = placeholders(source.get(key, ""))
            if key in source and placeholders(text) != wanted:
                problems.append(f"{code}: {key} has {sorted(placeholders(text))}, the source {sorted(wanted)}")
            if not text.strip():
                problems.append(f"{code}: {key} is blank")
    assert problems == []


def test_texts_are_really_translated_not_copied_from_english() -> None:
    """A draft that is mostly the English text is a missing translation in disguise."""
    texts = catalogue()
    source = texts.languages[SOURCE].texts
    for code in CHAT_LANGUAGES:
        if code == SOURCE:
            continue
        same = [key for key, text in texts.languages[code].texts.items() if text == source[key] and len(text) > 12]
        assert same == [], code


def test_every_key_the_widget_uses_is_in_the_catalogue() -> None:
    keys = catalogue().keys
    used = set(re.findall(r'\bt\("([\w.]+)"', WIDGET)) | set(re.findall(r'data-i18n(?:-placeholder)?="([\w.]+)"', PAGE))
    # return_code.js passes its keys around as strings ("return.wrong", "leave_message.sent", "error.busy")
    used |= set(re.findall(r'"((?:return|leave_message|error)\.\w+)"', RETURN_CODES))
    # Keys built at run time from codes: every code the widget can meet has its text.
    used |= {f"weekday.{n}" for n in range(1, 8)}
    used |= {f"closed.{r}" for r in ("adviser_closed", "visitor_left", "visitor_timeout", "closed_hours", "other")}
    used |= {f"service.{s['code']}" for s in REFERENCE["services"] if s.get("chats")}
    used |= {f"audience.{a['code']}" for a in REFERENCE["audiences"]}
    used |= {f"help.{h['code']}" for h in REFERENCE["help_lines"]}
    used |= {f"error.{e}" for e in ("generic", "unavailable", "busy", "ended")}
    assert sorted(used - keys) == []


def test_every_system_notice_exists_and_the_urgent_one_names_the_numbers() -> None:
    for code in CHAT_LANGUAGES:
        for event in EVENTS:
            assert not notice(event, code, name="Amina").startswith(MISSING_MARK), (code, event)
        urgent = notice("urgent_help", code)
        assert "112" in urgent and "116 111" in urgent, code
        assert "Amina" in notice("assigned", code, name="Amina"), code


def test_notices_speak_the_language_asked_for() -> None:
    assert notice("assigned", "nb", name="Amina") == "Nå chatter du med Amina."
    assert notice("assigned", "en", name="Amina") == "You are now chatting with Amina."
    assert notice("visitor_left", "so") == "Adiga ayaa dhammeeyay wada-hadalka."
    assert notice("assigned", "xx", name="Amina") == "Nå chatter du med Amina."  # no catalogue: Norwegian


def _write(root: Path, code: str, review: str, entries: dict[str, str]) -> None:
    body = "\n".join(f'msgid "{k}"\nmsgstr "{v}"\n' for k, v in entries.items())
    header = f'msgid ""\nmsgstr ""\n"Language: {code}\\n"\n"X-Review-State: {review}\\n"\n\n'
    (root / code).mkdir()
    (root / code / "visitor.po").write_text(header + body, "utf-8")


def test_a_missing_key_is_marked_and_listed_never_silently_filled(tmp_path: Path) -> None:
    _write(tmp_path, "en", "reviewed", {"start": "Start chat", "hello": "Hello {name}"})
    _write(tmp_path, "nb", "draft", {"start": "Start chatten", "hello": "Hei {name}"})
    _write(tmp_path, "so", "draft", {"start": "Bilow sheekada"})
    texts = read_catalogue(tmp_path)
    assert texts.missing("so") == ["hello"]
    assert texts.text("so", "hello", name="Amina") == "[en] Hello Amina"
    assert texts.table("so") == {"start": "Bilow sheekada", "hello": "[en] Hello {name}"}
    assert texts.missing("nb") == [] and texts.languages["so"].review == "draft"


def test_the_reader_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="twice"):
        read_po('msgid "a"\nmsgstr "x"\nmsgid "a"\nmsgstr "y"\n')
    with pytest.raises(CatalogueError, match="plural"):
        read_po('msgid "a"\nmsgid_plural "as"\nmsgstr[0] "x"\n')
    header, entries = read_po('msgid ""\nmsgstr ""\n"Language: en\\n"\n\nmsgid "k"\nmsgstr "a \\"b\\" "\n"c\\nd"\n')
    assert header == {"Language": "en"} and entries == {"k": 'a "b" c\nd'}
    _write(tmp_path, "en", "maybe", {"start": "Start"})
    with pytest.raises(CatalogueError, match="X-Review-State"):
        read_catalogue(tmp_path)
