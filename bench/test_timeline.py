"""The latency timeline puts a stall where it happened."""

from bench.timeline import buckets, line


def test_a_stall_shows_in_its_own_interval_only() -> None:
    sent = [100.0 + i * 0.01 for i in range(300)]  # 3 s of sends
    lat = [2.0] * 300
    for i in range(150, 160):  # a 100 ms stall in the middle second
        lat[i] = 80.0
    rows = buckets(sent, lat, 1.0)
    assert [offset for offset, _ in rows] == [0.0, 1.0, 2.0]
    assert [max(v) for _, v in rows] == [2.0, 80.0, 2.0]
    assert "max=   80.0" in line(*rows[1])


def test_no_sends_no_rows() -> None:
    assert buckets([], [], 1.0) == []
