"""`auto` places nothing at or after a stable block holding a timestamp to the second.

Such a system prompt is rendered anew on every request: an entry written through it is paid for (1h: twice the
input price) and never read. The shipped ``timestamp_prompt`` trace cost 1.92x no caching under auto before.
"""

from __future__ import annotations

from typing import Any

from cachepoint.core.prompt import apply_cache_points, auto

POLICY = "Refunds within thirty days with a receipt. " * 300


def _payload(system: str | list[dict[str, Any]], question: str = "Can I return it?") -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "tools": [{"name": "lookup", "description": "Find an order. " * 200, "input_schema": {"type": "object"}}],
        "system": system,
        "messages": [{"role": "user", "content": question}],
    }


def test_a_timestamp_to_the_second_in_the_system_prompt_keeps_breakpoints_before_it() -> None:
    payload, report = apply_cache_points(_payload(f"Now: 2026-11-23T10:15:03Z.\n{POLICY}"), strategy=auto())
    # The tools come before the timestamp: their entry is shared by every request and stays.
    assert [d.breakpoint.id for d in report.placed] == ["tools"]
    assert "cache_control" in payload["tools"][0]
    volatile = {d.breakpoint.id: d.detail for d in report.dropped if d.code == "volatile"}
    assert set(volatile) == {"tail", "system"}
    assert "system" in volatile["tail"]
    assert "timestamp to the second" in volatile["tail"]


def test_a_date_or_a_time_to_the_minute_is_cached_as_usual() -> None:
    for stamp in ("Today is 2026-11-23.", "Now: 2026-11-23 10:15."):
        _, report = apply_cache_points(_payload(f"{stamp}\n{POLICY}"), strategy=auto())
        assert [d.breakpoint.id for d in report.placed] == ["tail", "system", "tools"], stamp
        assert not [d for d in report.dropped if d.code == "volatile"]


def test_a_timestamp_in_the_conversation_does_not_stop_the_tail() -> None:
    _, report = apply_cache_points(_payload(POLICY, "At 2026-11-23T10:15:03Z my order broke."), strategy=auto())
    assert [d.breakpoint.id for d in report.placed] == ["tail", "system", "tools"]


def test_a_timestamp_in_a_later_system_block_moves_the_system_breakpoint_before_it() -> None:
    system = [{"type": "text", "text": POLICY}, {"type": "text", "text": "Now: 2026-11-23T10:15:03Z."}]
    payload, report = apply_cache_points(_payload(system), strategy=auto())
    # The policy before the time repeats on every request: its entry is read by the next one.
    assert "cache_control" in payload["system"][0]
    assert "cache_control" not in payload["system"][1]
    placed = {d.breakpoint.id: d for d in report.placed}
    assert set(placed) == {"system", "tools"}
    assert "system[1]" in placed["system"].breakpoint.reason
    assert "timestamp to the second" in placed["system"].breakpoint.reason
    assert {d.breakpoint.id for d in report.dropped if d.code == "volatile"} == {"tail"}
