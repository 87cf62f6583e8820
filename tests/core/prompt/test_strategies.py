"""The built-in strategies other than auto (auto is covered in the apply_* scenarios), and custom ones."""

from __future__ import annotations

from typing import Any

import pytest

from cachepoint.core.prompt import (
    At,
    Breakpoint,
    Locator,
    PlacementContext,
    Request,
    Strategy,
    apply_cache_points,
    cache_at,
    cache_until,
    rolling,
    stable_prefix,
)


def _conversation(turns: int, words_per_turn: int = 300) -> dict[str, Any]:
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": " ".join(["w"] * words_per_turn)}
        for i in range(turns)
    ]
    return {"model": "claude-sonnet-4-5", "max_tokens": 10, "system": " ".join(["s"] * 100), "messages": messages}


def test_cache_until_a_message(words: Any) -> None:
    # system 100; each message 300 + 3: message 3 ends at 100 + 4 * 303 = 1312.
    out, report = apply_cache_points(_conversation(6), strategy=cache_until(3), counter=words)
    assert [(d.path, d.tokens) for d in report.placed] == [("messages[3].content[0]", 1312)]
    assert out["messages"][3]["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_cache_until_the_last_message_with_a_ttl(words: Any) -> None:
    _, report = apply_cache_points(_conversation(6), strategy=cache_until(-1, ttl="1h"), counter=words)
    assert [(d.path, d.ttl) for d in report.placed] == [("messages[5].content[0]", "1h")]


def test_cache_until_out_of_range_is_reported(words: Any) -> None:
    _, report = apply_cache_points(_conversation(2), strategy=cache_until(7), counter=words)
    assert [(d.code, d.breakpoint.id) for d in report.dropped] == [("out_of_range", "until")]


def test_cache_at_keeps_the_given_order_as_priority(words: Any) -> None:
    payload = _conversation(10)
    payload["system"] = [{"type": "text", "text": " ".join(["s"] * 2000), "cache_control": {"type": "ephemeral"}}]
    payload["messages"][0]["content"] = [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]
    # 2 markers already: 2 slots for 3 targets; the first two given win.
    _, report = apply_cache_points(payload, strategy=cache_at(-1, 5, 3), counter=words)
    assert [d.path for d in report.placed] == ["messages[9].content[0]", "messages[5].content[0]"]
    assert [(d.path, d.code) for d in report.dropped] == [("messages[3].content", "over_budget")]


def test_cache_at_excluding(words: Any) -> None:
    _, report = apply_cache_points(_conversation(6), strategy=cache_at(5, 3).excluding(3), counter=words)
    assert [d.path for d in report.placed] == ["messages[5].content[0]"]
    assert [(d.code, d.path) for d in report.dropped] == [("excluded", "messages[3].content")]


def test_cache_at_a_locator_and_a_position(words: Any) -> None:
    strategy = cache_at(Locator("messages", 4, 0), At(-1))
    _, report = apply_cache_points(_conversation(6), strategy=strategy, counter=words)
    assert sorted(d.path for d in report.placed) == ["messages[4].content[0]", "messages[5].content[0]"]


def test_rolling_places_points_on_a_grid_from_the_start(words: Any) -> None:
    # every=3: messages 2, 5, 8, 11; newest first; max_points=2 keeps messages 11 and 8.
    _, report = apply_cache_points(_conversation(12), strategy=rolling(3, max_points=2), counter=words)
    assert [d.path for d in report.placed] == ["messages[11].content[0]", "messages[8].content[0]"]
    assert sorted(d.path for d in report.dropped) == ["messages[2].content", "messages[5].content"]


def test_rolling_points_stay_put_as_the_conversation_grows(words: Any) -> None:
    _, short = apply_cache_points(_conversation(9), strategy=rolling(3), counter=words)
    _, longer = apply_cache_points(_conversation(11), strategy=rolling(3), counter=words)
    assert {d.path for d in short.placed} <= {d.path for d in longer.placed}


def test_rolling_min_tokens(words: Any) -> None:
    # message 1 ends at 100 + 2*303 = 706 < 1000: skipped by the strategy itself.
    _, report = apply_cache_points(_conversation(4), strategy=rolling(2, min_tokens=1000), counter=words)
    assert [d.path for d in report.placed] == ["messages[3].content[0]"]
    assert [(d.code, d.path) for d in report.dropped] == [("below_minimum", "messages[1].content")]


def test_stable_prefix_ends_where_stable_blocks_end(words: Any) -> None:
    request = Request.parse(_conversation(6)).mark_stable(through=1)
    _, report = apply_cache_points(request, strategy=stable_prefix(), counter=words)
    # system 100 + 2 * 303 = 706 < 1024: below the model minimum.
    assert [d.code for d in report.dropped] == ["below_minimum"]
    request = Request.parse(_conversation(6)).mark_stable(through=3)
    _, report = apply_cache_points(request, strategy=stable_prefix(), counter=words)
    assert [(d.path, d.ttl, d.tokens) for d in report.placed] == [("messages[3].content[0]", "1h", 1312)]


def test_stable_prefix_with_its_own_minimum(words: Any) -> None:
    request = Request.parse(_conversation(6)).mark_stable(through=3)
    _, report = apply_cache_points(request, strategy=stable_prefix(min_tokens=2000), counter=words)
    assert [(d.code, d.breakpoint.id) for d in report.dropped] == [("below_minimum", "stable-prefix")]


def test_a_plain_function_is_a_strategy(words: Any) -> None:
    def every_user_turn(ctx: PlacementContext) -> list[Breakpoint]:
        found = []
        for p in ctx.view:
            if p.role == "user" and p.cumulative_tokens >= ctx.min_tokens:
                found.append(Breakpoint(p.index, ctx.short_ttl, f"user-{p.locator.message}", "a user turn"))
        return found[::-1]

    assert isinstance(every_user_turn, Strategy)
    _, report = apply_cache_points(_conversation(10), strategy=every_user_turn, counter=words)
    # User turn n ends at 100 + (n + 1) * 303 tokens: turns 0 (403) and 2 (1009) are under 1024 and never proposed.
    assert [d.breakpoint.id for d in report.placed] == ["user-8", "user-6", "user-4"]


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="every"):
        rolling(0)
    with pytest.raises(ValueError, match="at least one target"):
        cache_at()
    with pytest.raises(ValueError, match="'tools', 'system'"):
        apply_cache_points(_conversation(2), strategy=cache_at("tail"))
