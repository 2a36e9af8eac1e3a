"""Frame parsing never crashes: any input is either a valid frame or a typed ``FrameError``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.errors import FrameError
from chat.frames import (
    ADVISER_TYPES,
    VISITOR_TYPES,
    check_type,
    parse,
    parse_resume,
    parse_start,
    parse_status,
    parse_sync,
    parse_text,
    parse_transfer,
)
from core.reference import Reference

REF = Reference(
    {
        "regions": [{"code": "03"}, {"code": "46"}],
        "languages": [{"code": "nb"}, {"code": "ar", "rtl": True}],
    }
)
LANGS, REGIONS = REF.codes("languages"), REF.codes("regions")
CODES = ("bad_frame", "unknown_type", "invalid", "not_found", "forbidden")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
frames = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(VISITOR_TYPES | ADVISER_TYPES) + ["x", ""])},
    optional={
        k: json_values
        for k in (
            "language",
            "region",
            "audience",
            "urgent",
            "also_languages",
            "token",
            "last_seq",
            "client_id",
            "text",
            "conversation_id",
            "status",
            "conversations",
            "to",
            "note",
        )
    },
)


def validate(data: dict[str, Any]) -> None:
    kind = check_type(data, VISITOR_TYPES | ADVISER_TYPES)
    {
        "start": lambda: parse_start(data, LANGS, REGIONS),
        "resume": lambda: parse_resume(data),
        "message": lambda: parse_text(data, 4000, with_conversation=True),
        "status": lambda: parse_status(data),
        "sync": lambda: parse_sync(data),
        "transfer": lambda: parse_transfer(data, REF),
    }.get(kind, lambda: None)()


@settings(max_examples=400)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), frames.map(json.dumps)))
def test_any_input_is_a_frame_or_a_typed_error(raw: str | bytes) -> None:
    try:
        validate(parse(raw, 16 * 1024))
    except FrameError as exc:
        assert exc.code in CODES and exc.message
        if exc.code == "invalid":
            assert exc.fields
        json.dumps(exc.frame())


def test_deeply_nested_json_is_a_bad_frame_not_a_crash() -> None:
    with pytest.raises(FrameError) as caught:
        parse("[" * 100_000 + "]" * 100_000, 1_000_000)
    assert caught.value.code == "bad_frame"


def test_start_normalises_also_languages() -> None:
    start = parse_start({"language": "nb", "audience": "staff", "also_languages": ["ar", "nb", "ar"]}, LANGS, REGIONS)
    assert start.also_languages == ("ar",) and start.region is None and start.urgent is False


def test_transfer_targets() -> None:
    assert parse_transfer({"to": {"service": "AT"}, "note": " ring skolen "}, REF).note == "ring skolen"
    for bad in (
        {"to": {"service": "KT"}},
        {"to": {"region": "03", "language": "nb"}},
        {"to": "AT"},
        {"to": {"adviser_id": "nope"}},
        {"to": {"region": "03"}, "note": "x" * 501},
    ):
        with pytest.raises(FrameError) as caught:
            parse_transfer(bad, REF)
        assert caught.value.code == "invalid"


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "message", "text": "hei", "client_id": "c1", "x": NaN}',
        '{"type": "resume", "token": "t", "last_seq": Infinity}',
        '{"type": "message", "text": "\\ud800", "client_id": "c1"}',
    ],
)
def test_what_strict_json_refuses_is_a_bad_frame(raw: str) -> None:
    with pytest.raises(FrameError) as caught:
        parse(raw, 16384)
    assert caught.value.code == "bad_frame"
