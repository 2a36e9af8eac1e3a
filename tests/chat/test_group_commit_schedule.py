"""How the group committer schedules batches, whatever the database: with room for two batches at
once, a conversation's appends still reach the writer in arrival order and never in two batches at the
same time, and every caller is answered exactly once. The writer here is a recording stand-in that
finishes its batches in an order hypothesis chooses; the real drivers run in test_group_commit.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from chat.group_commit import ANY, AppendRequest, GroupCommitter, Outcome

NOW = datetime(2027, 1, 1, tzinfo=UTC)


class RecordingWriter:
    """Stores nothing: numbers each conversation's messages as a database would, and records what ran
    alongside what."""

    def __init__(self, concurrent: int, delays: list[int]) -> None:
        self.concurrent_batches = concurrent
        self.delays = delays  # turns of the loop each successive batch takes
        self.flushed: list[list[str]] = []
        self.in_flight: list[set[str]] = []
        self.overlaps: list[set[str]] = []
        self.most_at_once = 0
        self.next_seq: dict[str, int] = {}

    async def flush(self, batch: list[AppendRequest], *, check_resent: bool) -> list[Outcome]:
        mine = {r.conversation_id for r in batch}
        for other in self.in_flight:
            self.overlaps.append(mine & other)
        self.in_flight.append(mine)
        self.most_at_once = max(self.most_at_once, len(self.in_flight))
        delay = self.delays[len(self.flushed) % len(self.delays)]
        self.flushed.append([r.text for r in batch])
        for _ in range(delay):
            await asyncio.sleep(0)
        self.in_flight.remove(mine)
        outcomes: list[Outcome] = []
        for r in batch:
            seq = self.next_seq[r.conversation_id] = self.next_seq.get(r.conversation_id, 0) + 1
            outcomes.append((seq, True, None))
        return outcomes


def request(conversation_id: str, text: str, answers: list[tuple[str, Outcome | BaseException]]) -> AppendRequest:
    return AppendRequest(
        conversation_id=conversation_id,
        sender="visitor",
        text=text,
        at=NOW,
        client_id=None,
        sender_id="visitor",
        event=None,
        guard=ANY,
        future=None,
        on_settle=lambda outcome: answers.append((text, outcome)),
    )


@settings(max_examples=150, deadline=None)
@given(
    arrivals=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3)), min_size=1, max_size=60),
    delays=st.lists(st.integers(0, 4), min_size=1, max_size=6),
    concurrent=st.integers(1, 3),
    max_batch=st.integers(1, 8),
)
def test_batches_keep_each_conversation_in_order_and_never_overlap_on_one(
    arrivals: list[tuple[int, int]], delays: list[int], concurrent: int, max_batch: int
) -> None:
    """``arrivals``: (conversation, turns of the loop to wait before handing it over)."""

    async def play() -> tuple[RecordingWriter, list[tuple[str, Outcome | BaseException]]]:
        writer = RecordingWriter(concurrent, delays)
        committer = GroupCommitter(writer, max_batch=max_batch)
        answers: list[tuple[str, Outcome | BaseException]] = []
        for n, (conversation, pause) in enumerate(arrivals):
            for _ in range(pause):
                await asyncio.sleep(0)
            committer.enqueue(request(f"c{conversation}", f"c{conversation}-{n}", answers))
        for _ in range(1000):
            if len(answers) == len(arrivals):
                break
            await asyncio.sleep(0)
        await committer.close()
        return writer, answers

    writer, answers = asyncio.run(play())
    texts = [f"c{c}-{n}" for n, (c, _) in enumerate(arrivals)]
    assert sorted(text for text, _ in answers) == sorted(texts)  # each answered once
    assert not any(writer.overlaps)  # no conversation in two batches at once
    assert writer.most_at_once <= concurrent
    assert all(len(batch) <= max_batch for batch in writer.flushed)
    for conversation in {c for c, _ in arrivals}:
        arrived = [t for t in texts if t.startswith(f"c{conversation}-")]
        flushed = [t for batch in writer.flushed for t in batch if t.startswith(f"c{conversation}-")]
        answered = [(t, o) for t, o in answers if t.startswith(f"c{conversation}-")]
        assert flushed == arrived
        assert answered == [(t, (seq, True, None)) for seq, t in enumerate(arrived, start=1)]
