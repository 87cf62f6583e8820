"""Per-session totals of the report: bounded in memory, ranked on disk as they were ranked in memory.

The report counts the trace's sessions and shows the ones that sent the most prompt tokens. A day of traffic has
one session per conversation (hundreds of thousands); `SessionTotals` keeps the recent ones in memory and the
rest in a temporary database. The reference here is what the report did with every session in a dict.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cachepoint.core.analyze.spill import SessionKey, SessionTotals


def _in_memory(
    requests: list[tuple[SessionKey, int, int]], n: int
) -> tuple[int, list[tuple[SessionKey, tuple[int, int, int]]]]:
    """The report's ranking with every session in a dict (the code `SessionTotals` replaced)."""
    totals: dict[SessionKey, list[int]] = {}
    for key, tokens, shared in requests:
        row = totals.setdefault(key, [0, 0, 0])
        row[0] += 1
        row[1] += tokens
        row[2] += shared
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1][1], kv[0][3]))[:n]
    return len(totals), [(k, (v[0], v[1], v[2])) for k, v in ranked]


def _bounded(
    requests: list[tuple[SessionKey, int, int]], n: int, limit: int
) -> tuple[int, list[tuple[SessionKey, tuple[int, int, int]]]]:
    totals = SessionTotals(limit=limit)
    try:
        most = 0
        for key, tokens, shared in requests:
            totals.add(key, tokens, shared)
            most = max(most, totals.in_memory)
        assert most <= limit
        top = totals.top(n)
        return len(totals), top
    finally:
        totals.close()


def test_sessions_on_disk_are_ranked_as_sessions_in_memory() -> None:
    # 5,000 sessions of 1 to 4 turns, interleaved as a day of traffic is; ties on tokens on purpose (every
    # session's turns are 1,000 tokens), across two tenants whose session ids repeat each other's.
    requests: list[tuple[SessionKey, int, int]] = []
    for n in range(5000):
        for turn in range(1 + n % 4):
            key = ("anthropic", f"tenant-{n % 2}", "claude-sonnet-4-5", f"s{n // 2}")
            requests.append((key, 1000, 600 * turn))
    requests.sort(key=lambda r: (int(r[0][3][1:]) + 3 * r[2] // 600, r[0][1]))  # turns a few sessions apart
    assert _bounded(requests, 20, limit=100) == _in_memory(requests, 20)
    count, top = _bounded(requests, 20, limit=100)
    assert count == 5000
    assert [t[1][1] for t in top] == [4000] * 20


def test_a_session_that_comes_back_from_disk_adds_up() -> None:
    key = ("openai", "default", "gpt-4o", "ticket-7")
    totals = SessionTotals(limit=2)
    totals.add(key, 500, 0)
    for n in range(10):  # ten other sessions push ticket-7 to disk
        totals.add(("openai", "default", "gpt-4o", f"other-{n}"), 10, 0)
    totals.add(key, 700, 500)
    assert totals.top(1) == [(key, (2, 1200, 500))]
    assert len(totals) == 11
    totals.close()


keys = st.tuples(
    st.sampled_from(["anthropic", "openai"]),
    st.sampled_from(["default", "t1"]),
    st.just("m"),
    st.text(max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(
    requests=st.lists(st.tuples(keys, st.integers(0, 5), st.integers(0, 5)), max_size=80),
    n=st.integers(0, 12),
    limit=st.integers(1, 8),
)
def test_any_traffic_ranks_the_same_on_disk_and_in_memory(
    requests: list[tuple[SessionKey, int, int]], n: int, limit: int
) -> None:
    assert _bounded(requests, n, limit) == _in_memory(requests, n)
