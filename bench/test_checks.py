"""The correctness checks fail on every way of losing or duplicating a message.

Run: ``.venv/bin/python -m pytest bench/test_checks.py`` (and ``python -m bench selfcheck`` for the
same against a real relay process with injected faults).
"""

from __future__ import annotations

from bench.checks import Outgoing, Row, Sent, Transcript, View, check_conversation

CID = "c" * 32


def good() -> tuple[Transcript, View, View, Outgoing, Outgoing]:
    rows: list[Row] = [
        (1, "system", None, "assigned"),
        (2, "visitor", "v1", "hi"),
        (3, "adviser", "a1", "hello"),
        (4, "visitor", "v2", "bye"),
    ]
    vout = Outgoing("visitor", {"v1": Sent("v1", "hi", 0.0, 2), "v2": Sent("v2", "bye", 0.0, 4)})
    aout = Outgoing("adviser", {"a1": Sent("a1", "hello", 0.0, 3)})
    vview, aview = View("visitor"), View("adviser")
    for seq, sender, client_id, text in rows:
        vview.record(seq, sender, client_id if sender == "visitor" else None, text)
        aview.record(seq, sender, client_id if sender == "adviser" else None, text)
    return Transcript(4, rows), vview, aview, vout, aout


def check(t: Transcript, v: View, a: View, vo: Outgoing, ao: Outgoing, repeats: bool = False) -> list[str]:
    return check_conversation(CID, t, [v, a], [vo, ao], allow_wire_repeats=repeats)


def test_a_clean_conversation_passes() -> None:
    assert check(*good()) == []


def test_a_seq_missing_from_a_view_fails() -> None:
    t, v, a, vo, ao = good()
    del a.seen[3]
    assert any("adviser: never saw seqs [3]" in f for f in check(t, v, a, vo, ao))


def test_a_hole_in_the_stored_transcript_fails() -> None:
    t, v, a, vo, ao = good()
    t.rows.pop(1)
    failures = check(t, v, a, vo, ao)
    assert any("not gapless" in f for f in failures)
    assert any("v1 stored 0 times" in f for f in failures)


def test_a_message_stored_twice_fails() -> None:
    t, v, a, vo, ao = good()
    t.rows.append((5, "visitor", "v2", "bye"))
    t.next_seq = 5
    assert any("v2 stored 2 times" in f for f in check(t, v, a, vo, ao))


def test_a_message_never_acked_fails() -> None:
    t, v, a, vo, ao = good()
    vo.by_client["v2"].seq = None
    assert any("v2 never acked" in f for f in check(t, v, a, vo, ao))


def test_an_ack_with_the_wrong_seq_fails() -> None:
    t, v, a, vo, ao = good()
    vo.by_client["v2"].seq = 3
    assert any("acked as seq 3 but stored as 4" in f for f in check(t, v, a, vo, ao))


def test_a_stored_message_nobody_sent_fails() -> None:
    t, v, a, vo, ao = good()
    t.rows.append((5, "adviser", "a9", "ghost"))
    t.next_seq = 5
    assert any("no client sent" in f for f in check(t, v, a, vo, ao))


def test_next_seq_ahead_of_the_rows_fails() -> None:
    t, v, a, vo, ao = good()
    t.next_seq = 6
    assert any("next_seq 6" in f for f in check(t, v, a, vo, ao))


def test_a_repeat_on_the_wire_fails_unless_connections_were_dropped() -> None:
    t, v, a, vo, ao = good()
    assert not v.record(3, "adviser", None, "hello")
    assert any("delivered twice" in f for f in check(t, v, a, vo, ao))
    assert check(t, v, a, vo, ao, repeats=True) == []


def test_the_same_seq_with_other_content_always_fails() -> None:
    t, v, a, vo, ao = good()
    v.record(3, "visitor", None, "something else")
    assert any("conflicting content" in f for f in check(t, v, a, vo, ao, repeats=True))


def test_out_of_order_delivery_fails() -> None:
    t, v, a, vo, ao = good()
    v2 = View("visitor")
    for seq in (1, 3, 2, 4):
        row = t.rows[seq - 1]
        v2.record(seq, row[1], None, row[3])
    assert any("out of order" in f for f in check(t, v2, a, vo, ao))


def test_a_view_with_a_different_text_fails() -> None:
    t, v, a, vo, ao = good()
    a.seen[2] = ("visitor", None, "tampered")
    assert any("seq 2 seen as" in f for f in check(t, v, a, vo, ao))


def test_contiguous_stops_at_the_first_gap() -> None:
    v = View("visitor")
    for seq in (1, 2, 4):
        v.record(seq, "system", None, "x")
    assert v.contiguous() == 2


def test_an_unsettled_run_marks_only_the_tail_as_pending() -> None:
    t, v, a, vo, ao = good()
    vo.by_client["v3"] = Sent("v3", "later", 0.0, None)  # sent, not acked, not stored: maybe still queued
    del a.seen[4]  # the adviser has not seen the last seq yet
    failures = check_conversation(CID, t, [v, a], [vo, ao], allow_wire_repeats=False, settled=False)
    assert failures and all(f.startswith("PENDING") for f in failures)
    settled = check_conversation(CID, t, [v, a], [vo, ao], allow_wire_repeats=False)
    assert settled and not any(f.startswith("PENDING") for f in settled)


def test_an_acked_message_missing_from_the_transcript_fails_even_unsettled() -> None:
    t, v, a, vo, ao = good()
    t.rows.pop(3)
    t.next_seq = 3
    failures = check_conversation(CID, t, [v, a], [vo, ao], allow_wire_repeats=False, settled=False)
    assert any(f.startswith(CID[:8]) and "v2 stored 0 times" in f for f in failures)
