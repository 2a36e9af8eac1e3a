"""Control characters in free text a client sends on a socket are refused at parsing with ``invalid``;
every other text is taken as it is (after trimming).

Refused: U+0000-U+001F except TAB, LF and CR, U+007F, and the C1 controls U+0080-U+009F. PostgreSQL
cannot store U+0000 at all; the others have no business in a chat line and only hide things from a
reader. Unpaired surrogates never get this far: the JSON parser refuses them (``bad_frame``)."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chat.errors import FrameError
from chat.frames import parse, parse_text, parse_transfer
from core.reference import Reference

REF = Reference({"regions": [{"code": "03"}], "languages": [{"code": "nb"}]})
MAX = 4000
REFUSED = sorted({*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xA0))} - {"\t", "\n", "\r"})
ALLOWED_CONTROLS = ("\t", "\n", "\r")

refused_chars = st.sampled_from(REFUSED)
# Any text without a refused character (surrogates excluded: they cannot reach a parsed frame).
clean_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="".join(REFUSED)),
    max_size=60,
) | st.text(alphabet=st.sampled_from([*ALLOWED_CONTROLS, " ", "a", "å", "ب", "😀", "\u200f", "\u2028"]), max_size=20)


def message(text: object) -> dict[str, object]:
    return {"type": "message", "client_id": "c1", "text": text}


def refusal(call: object) -> FrameError:
    with pytest.raises(FrameError) as caught:
        call()  # type: ignore[operator]
    return caught.value


@settings(max_examples=500)
@given(clean_text, refused_chars, clean_text)
def test_a_text_holding_a_refused_character_is_invalid(before: str, bad: str, after: str) -> None:
    error = refusal(lambda: parse_text(message(before + bad + after), MAX, with_conversation=False))
    assert error.code == "invalid" and error.ref == "message"
    assert error.fields is not None and "control character" in error.fields["text"]
    # Also where trimming would have removed it (Python counts U+001C-U+001F and U+0085 as whitespace).
    error = refusal(lambda: parse_text(message(f"hei{bad}"), MAX, with_conversation=False))
    assert error.fields is not None and "control character" in error.fields["text"]


@settings(max_examples=500)
@given(clean_text)
def test_a_text_without_one_is_accepted_unchanged(text: str) -> None:
    stripped = text.strip()
    assume(stripped and len(stripped) <= MAX)
    assert parse_text(message(text), MAX, with_conversation=False).text == stripped


@settings(max_examples=200)
@given(clean_text, refused_chars)
def test_a_transfer_note_holding_a_refused_character_is_invalid(before: str, bad: str) -> None:
    note = (before + bad)[-500:]
    error = refusal(lambda: parse_transfer({"to": {"service": "AT"}, "note": note}, REF))
    assert error.code == "invalid" and error.fields is not None and "control character" in error.fields["note"]


@settings(max_examples=200)
@given(clean_text)
def test_a_transfer_note_without_one_is_kept_trimmed(note: str) -> None:
    parsed = parse_transfer({"to": {"service": "AT"}, "note": note}, REF)
    assert parsed.note == (note.strip() or None)


def test_nul_over_the_wire_is_invalid_not_bad_frame() -> None:
    """What a socket receives: the JSON escape ``\\u0000`` decodes to U+0000, which parsing refuses."""
    data = parse(json.dumps(message("hei\u0000hei")), 16384)
    error = refusal(lambda: parse_text(data, MAX, with_conversation=False))
    assert error.code == "invalid" and error.frame()["fields"] == {"text": error.fields["text"]}  # type: ignore[index]


def test_tab_newline_and_carriage_return_are_kept_inside_a_text() -> None:
    assert parse_text(message(" a\tb\r\nc "), MAX, with_conversation=False).text == "a\tb\r\nc"


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "a\\ud800b"])
def test_unpaired_surrogates_are_refused_by_the_json_parser(escape: str) -> None:
    with pytest.raises(FrameError) as caught:
        parse('{"type":"message","client_id":"c1","text":"' + escape + '"}', 16384)
    assert caught.value.code == "bad_frame"
