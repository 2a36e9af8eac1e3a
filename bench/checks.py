"""Correctness checks: nothing lost, nothing duplicated, every participant's seq list gapless.

Pure functions over what the generator saw (``View``, ``Outgoing``) and what the server stored
(``Transcript``), so they can be unit-tested with made-up data (``bench/test_checks.py``).

Rules (docs/protocol.md §1, Conventions; docs/design.md §4):
- the stored transcript of a conversation has seqs exactly 1..n, and ``next_seq == n``;
- every message a client sent was acked, is stored exactly once under its ``client_id``, with the acked
  seq and the same text; nothing is stored that no client sent (apart from ``system`` notices);
- every participant (the visitor, the adviser) saw every seq 1..n, each with the stored sender and text;
- on the wire: a seq seen twice must carry the same content (a conflict always fails); a plain
  repeat or an out-of-order arrival fails too unless the run dropped connections on purpose (the
  contract is at-least-once on the wire, exactly-once in the transcript).
"""

from __future__ import annotations

from dataclasses import dataclass, field

Row = tuple[int, str, str | None, str | None]  # seq, sender, client_id, text


@dataclass
class View:
    """The seqs one participant saw for one conversation (message frames, acks, replays)."""

    role: str
    seen: dict[int, tuple[str, str | None, str | None]] = field(default_factory=dict)
    max_seen: int = 0
    wire_dups: int = 0
    out_of_order: int = 0
    conflicts: list[str] = field(default_factory=list)

    def record(self, seq: int, sender: str, client_id: str | None, text: str | None, *, replay: bool = False) -> bool:
        """Note one seq; returns whether it is new to this participant."""
        known = self.seen.get(seq)
        if known is not None:
            same_sender = known[0] == sender
            same_text = known[2] is None or text is None or known[2] == text
            same_client = known[1] is None or client_id is None or known[1] == client_id
            if not (same_sender and same_text and same_client):
                self.conflicts.append(f"seq {seq} seen as {known[:2]} and as {(sender, client_id)}")
            elif not replay:
                self.wire_dups += 1
            if known[1] is None and client_id is not None:
                self.seen[seq] = (sender, client_id, known[2] if text is None else text)
            return False
        if seq < self.max_seen and not replay:
            self.out_of_order += 1
        self.seen[seq] = (sender, client_id, text)
        self.max_seen = max(self.max_seen, seq)
        return True

    def contiguous(self) -> int:
        """The highest n such that 1..n were all seen (what a client resumes from)."""
        n = 0
        while n + 1 in self.seen:
            n += 1
        return n


@dataclass
class Sent:
    client_id: str
    text: str
    t_sent: float
    seq: int | None = None  # from the ack
    resent: int = 0


@dataclass
class Outgoing:
    """What one side of one conversation sent, by client_id."""

    sender: str
    by_client: dict[str, Sent] = field(default_factory=dict)
    unacked: int = 0

    def acked(self) -> bool:
        return self.unacked == 0


@dataclass
class Transcript:
    next_seq: int
    rows: list[Row]


def check_conversation(
    cid: str,
    transcript: Transcript | None,
    views: list[View],
    outgoing: list[Outgoing],
    *,
    allow_wire_repeats: bool,
    settled: bool = True,
) -> list[str]:
    """Every way this conversation's record disagrees with the rules above; empty when it is right.

    With ``settled=False`` (the server had not caught up when the drain time ran out) what may simply
    still be queued (an unacked message not stored yet, seqs past the last one a participant saw) is
    reported with the prefix ``PENDING``; everything else (an acked message missing from the
    transcript, a hole below what was seen, a duplicate) is a failure either way.
    """
    tag = cid[:8]
    pending = "PENDING " if not settled else ""
    if transcript is None:
        return [f"{tag}: no stored conversation"]
    failures: list[str] = []
    seqs = [r[0] for r in transcript.rows]
    n = len(seqs)
    if sorted(seqs) != list(range(1, n + 1)):
        dup = sorted({s for s in seqs if seqs.count(s) > 1})
        missing = sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs))
        failures.append(f"{tag}: stored seqs not gapless 1..n (missing {missing[:10]}, duplicated {dup[:10]})")
    if transcript.next_seq != max(seqs, default=0):
        failures.append(f"{tag}: next_seq {transcript.next_seq} but highest stored seq {max(seqs, default=0)}")
    by_seq = {r[0]: r for r in transcript.rows}
    stored: dict[tuple[str, str], list[Row]] = {}
    for r in transcript.rows:
        if r[1] != "system":
            if r[2] is None:
                failures.append(f"{tag}: stored {r[1]} message seq {r[0]} has no client_id")
                continue
            stored.setdefault((r[1], r[2]), []).append(r)
    sent_keys: set[tuple[str, str]] = set()
    for out in outgoing:
        for s in out.by_client.values():
            key = (out.sender, s.client_id)
            sent_keys.add(key)
            rows = stored.get(key, [])
            if s.seq is None:
                failures.append(f"{pending}{tag}: {out.sender} {s.client_id} never acked")
            if len(rows) != 1:
                queued = s.seq is None and not rows
                failures.append(
                    f"{pending if queued else ''}{tag}: {out.sender} {s.client_id} stored {len(rows)} times"
                )
                continue
            row = rows[0]
            if s.seq is not None and row[0] != s.seq:
                failures.append(f"{tag}: {out.sender} {s.client_id} acked as seq {s.seq} but stored as {row[0]}")
            if row[3] != s.text:
                failures.append(f"{tag}: {out.sender} {s.client_id} stored with other text")
    for key in stored.keys() - sent_keys:
        failures.append(f"{tag}: stored {key[0]} message {key[1]} that no client sent")
    for view in views:
        who = f"{tag} {view.role}"
        failures += [f"{who}: conflicting content: {c}" for c in view.conflicts[:3]]
        missing = sorted(set(range(1, n + 1)) - view.seen.keys())
        holes = [m for m in missing if m < view.max_seen]
        tail = [m for m in missing if m > view.max_seen]
        if holes:
            failures.append(f"{who}: never saw seqs {holes[:10]}{' ...' if len(holes) > 10 else ''} of 1..{n}")
        if tail:
            failures.append(f"{pending}{who}: never saw seqs {tail[:10]}{' ...' if len(tail) > 10 else ''} of 1..{n}")
        extra = sorted(view.seen.keys() - by_seq.keys())
        if extra:
            failures.append(f"{who}: saw seqs {extra[:10]} that are not stored")
        for seq, (sender, client_id, text) in view.seen.items():
            stored_row = by_seq.get(seq)
            if stored_row is None:
                continue
            if (
                stored_row[1] != sender
                or (client_id is not None and stored_row[2] != client_id)
                or (text is not None and stored_row[3] != text)
            ):
                failures.append(
                    f"{who}: seq {seq} seen as {sender}/{client_id} but stored as {stored_row[1]}/{stored_row[2]}"
                )
                break
        if not allow_wire_repeats:
            if view.wire_dups:
                failures.append(f"{who}: {view.wire_dups} seq(s) delivered twice")
            if view.out_of_order:
                failures.append(f"{who}: {view.out_of_order} seq(s) delivered out of order")
    return failures
