"""`apply_cache_points` on Anthropic payloads: hand-worked scenarios.

Token counts use the `words` counter (one token per word). Fixed overheads, from `cachepoint.core.prompt.positions`:
a message's first block adds 3 tokens (role markers); the first tool adds 346 (Anthropic's tool-use system prompt).
claude-sonnet-4-5: minimum 1024 tokens, 4 breakpoints, TTLs 5m and 1h.
"""

from __future__ import annotations

from typing import Any

import pytest

from cachepoint.core.prompt import Breakpoint, PlacementContext, apply_cache_points, auto, cache_at
from cachepoint.core.providers import ModelInfo

MODEL = "claude-sonnet-4-5"


def _payload(**parts: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 256, **parts}


def test_system_and_tail_get_1h_and_5m(words: Any, text_of: Any) -> None:
    # system: 2000 tokens (>= 1024) -> 1h; tail: 2000 + 5 + 3 = 2008 -> 5m.
    payload = _payload(system=text_of(2000), messages=[{"role": "user", "content": text_of(5)}])
    out, report = apply_cache_points(payload, counter=words)
    assert out == _payload(
        system=[{"type": "text", "text": text_of(2000), "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": text_of(5), "cache_control": {"type": "ephemeral"}}]}
        ],
    )
    assert [(d.breakpoint.id, d.ttl, d.tokens, d.path) for d in report.placed] == [
        ("tail", "5m", 2008, "messages[0].content[0]"),
        ("system", "1h", 2000, "system[0]"),
    ]
    assert report.dropped == []


def test_prefixes_below_the_minimum_are_dropped_with_the_reason(words: Any, text_of: Any) -> None:
    # system 500 and tail 508 are both under claude-sonnet-4-5's 1024 minimum.
    payload = _payload(system=text_of(500), messages=[{"role": "user", "content": text_of(5)}])
    out, report = apply_cache_points(payload, counter=words)
    assert out == payload
    assert sorted((d.breakpoint.id, d.code, d.tokens) for d in report.dropped) == [
        ("system", "below_minimum", 500),
        ("tail", "below_minimum", 508),
    ]
    assert "1024" in report.dropped[0].detail


def test_haiku_4_5_needs_4096_tokens(words: Any, text_of: Any) -> None:
    payload = {
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 5,
        "system": text_of(3000),
        "messages": [{"role": "user", "content": text_of(2000)}],
    }
    _, report = apply_cache_points(payload, counter=words)
    # system 3000 < 4096 is dropped; tail 3000 + 2000 + 3 = 5003 is placed.
    assert [(d.breakpoint.id, d.tokens) for d in report.placed] == [("tail", 5003)]
    assert [(d.breakpoint.id, d.code) for d in report.dropped] == [("system", "below_minimum")]


def test_tools_system_and_a_stable_document_with_the_tail(words: Any, text_of: Any) -> None:
    tools = [{"name": "search", "description": text_of(1000), "input_schema": {"type": "object"}}]
    payload = _payload(
        tools=tools,
        system=text_of(100),
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text_of(3000)}}
                ],
            },
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "question"},
        ],
    )
    from cachepoint.core.prompt import Request

    request = Request.parse(payload).mark_stable(messages=[0])
    out, report = apply_cache_points(request, counter=words)
    assert report.total_breakpoints == 4
    # The tool's JSON is 1000 words long (the first and last words carry the JSON punctuation), plus the 346-token
    # tool-use preamble: 1346. System: +100 = 1446. Document: +3000 +3 = 4449. "ok": +1 +3 = 4453. "question": 4457.
    assert [(d.breakpoint.id, d.ttl, d.tokens) for d in report.placed] == [
        ("tail", "5m", 4457),
        ("stable", "1h", 4449),
        # Earlier static boundaries: the biggest segment first (tools 1346 tokens, system 100).
        ("tools", "1h", 1346),
        ("system", "1h", 1446),
    ]
    assert out["tools"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert out["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert out["messages"][2]["content"] == [
        {"type": "text", "text": "question", "cache_control": {"type": "ephemeral"}}
    ]
    assert out["messages"][1]["content"] == "ok"  # string content stays a string where no marker goes


def test_existing_markers_count_against_the_budget(words: Any, text_of: Any) -> None:
    marked = {"type": "ephemeral"}
    payload = _payload(
        system=[
            {"type": "text", "text": text_of(1500), "cache_control": marked},
            {"type": "text", "text": text_of(100), "cache_control": marked},
        ],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": text_of(10), "cache_control": marked}]},
            {"role": "assistant", "content": "fine"},
            {"role": "user", "content": "next"},
        ],
    )
    out, report = apply_cache_points(payload, counter=words)
    # 3 markers already there: 1 slot left, taken by the tail; the system end merges with the user's marker.
    assert report.total_breakpoints == 4
    assert [(d.breakpoint.id, d.code) for d in report.placed] == [("tail", "")]
    assert [(d.breakpoint.id, d.code) for d in report.merged] == [("system", "existing")]
    assert out["messages"][2]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert out["system"][1]["cache_control"] == marked  # the user's marker, untouched (no ttl added)


def test_over_budget_drops_the_lowest_ranked_with_the_reason(words: Any, text_of: Any) -> None:
    marked = {"type": "ephemeral"}
    payload = _payload(
        system=text_of(2000),
        messages=[
            {"role": "user", "content": [{"type": "text", "text": text_of(10), "cache_control": marked}]},
            {"role": "assistant", "content": [{"type": "text", "text": text_of(10), "cache_control": marked}]},
            {"role": "user", "content": [{"type": "text", "text": text_of(10), "cache_control": marked}]},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "b"},
        ],
    )
    _, report = apply_cache_points(payload, counter=words)
    # 3 existing markers, 1 slot: the tail (ranked first) gets it, the system end is over budget.
    assert [d.breakpoint.id for d in report.placed] == ["tail"]
    assert [(d.breakpoint.id, d.code) for d in report.dropped] == [("system", "over_budget")]
    assert "4 markers allowed, 3 already in the request" in report.dropped[0].detail


def test_thinking_blocks_are_never_marked(words: Any, text_of: Any) -> None:
    payload = _payload(
        system=text_of(2000),
        messages=[
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": text_of(50), "signature": "s"}]},
        ],
    )
    out, report = apply_cache_points(payload, counter=words)
    # The tail walks back past the thinking block to the user's question.
    assert [(d.breakpoint.id, d.path) for d in report.placed] == [
        ("tail", "messages[0].content[0]"),
        ("system", "system[0]"),
    ]
    assert "cache_control" not in out["messages"][1]["content"][0]


def test_a_custom_strategy_pointing_at_thinking_is_dropped_as_ineligible(words: Any, text_of: Any) -> None:
    payload = _payload(
        system=text_of(2000),
        messages=[
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}]},
        ],
    )
    _, report = apply_cache_points(payload, strategy=cache_at(-1), counter=words)
    # cache_at(-1) resolves to the message's last eligible block; the thinking-only message has none.
    assert [(d.code, d.path) for d in report.dropped] == [("ineligible", "messages[1].content[0]")]
    assert "thinking" in report.dropped[0].detail


def test_a_later_1h_raises_an_earlier_5m_for_free(words: Any, text_of: Any) -> None:
    payload = _payload(system=text_of(2000), messages=[{"role": "user", "content": text_of(10)}])

    def strategy(ctx: PlacementContext) -> list[Breakpoint]:
        return [Breakpoint(1, "1h", "tail"), Breakpoint(0, "5m", "system")]

    out, report = apply_cache_points(payload, strategy=strategy, counter=words)
    assert out["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    system = next(d for d in report.placed if d.breakpoint.id == "system")
    assert system.ttl == "1h"
    assert "ttl_order" in system.detail


def test_a_1h_after_the_users_5m_marker_is_lowered(words: Any, text_of: Any) -> None:
    payload = _payload(
        system=[
            {"type": "text", "text": text_of(1500), "cache_control": {"type": "ephemeral", "ttl": "5m"}},
            {"type": "text", "text": text_of(500)},
        ],
        messages=[{"role": "user", "content": "q"}],
    )
    _, report = apply_cache_points(payload, counter=words)
    system = next(d for d in report.placed if d.breakpoint.id == "system")
    assert (system.ttl, system.path) == ("5m", "system[1]")
    assert "lowered 1h to 5m" in system.detail


def test_top_level_automatic_caching_takes_a_slot_and_absorbs_the_tail(words: Any, text_of: Any) -> None:
    payload = _payload(
        system=text_of(2000), messages=[{"role": "user", "content": text_of(10)}], cache_control={"type": "ephemeral"}
    )
    out, report = apply_cache_points(payload, counter=words)
    assert [(d.breakpoint.id, d.code) for d in report.merged] == [("tail", "automatic")]
    assert [d.breakpoint.id for d in report.placed] == ["system"]
    assert out["messages"][0]["content"] == text_of(10)  # no explicit marker next to the automatic one
    assert out["cache_control"] == {"type": "ephemeral"}
    assert report.total_breakpoints == 2


def test_unsupported_ttl_falls_back_to_one_the_model_takes(words: Any, text_of: Any) -> None:
    info = ModelInfo("anthropic", "claude-3-7-sonnet-old", min_cache_tokens=1024, ttls=("5m",))
    payload = _payload(system=text_of(2000), messages=[{"role": "user", "content": "q"}])
    out, report = apply_cache_points(payload, info=info, counter=words)
    assert out["system"][0]["cache_control"] == {"type": "ephemeral"}  # 5m is the default: no ttl written
    system = next(d for d in report.placed if d.breakpoint.id == "system")
    assert system.ttl == "5m"


def test_long_conversations_get_a_lookback_anchor(words: Any, text_of: Any) -> None:
    # 1 system block, then 30 turns (user text / assistant text): messages positions 1..30, lookback index = index.
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(30)]
    payload = _payload(system=text_of(2000), messages=messages)
    out, report = apply_cache_points(payload, counter=words)
    placed = {d.breakpoint.id: d for d in report.placed}
    # tail = position 30 (messages[29]); the anchor sits one 20-position window earlier: position 10 = messages[9].
    assert placed["tail"].path == "messages[29].content[0]"
    assert placed["anchor-1"].path == "messages[9].content[0]"
    assert placed["anchor-1"].ttl == "5m"
    assert out["messages"][9]["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_runs_of_tool_blocks_count_as_one_lookback_position(words: Any, text_of: Any) -> None:
    # An assistant turn with 25 parallel tool calls and their 25 results is 2 lookback positions, not 50,
    # so a conversation of 6 turns needs no anchor.
    calls = [{"type": "tool_use", "id": f"t{i}", "name": "f", "input": {}} for i in range(25)]
    results = [{"type": "tool_result", "tool_use_id": f"t{i}", "content": "r"} for i in range(25)]
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": calls},
        {"role": "user", "content": results},
        {"role": "assistant", "content": "done"},
    ]
    payload = _payload(system=text_of(2000), messages=messages)
    from cachepoint.core.prompt import Request

    view = Request.parse(payload).positions(provider="anthropic", counter=words)
    assert view[-1].lookback_index == 4  # system 0, "go" 1, calls 2, results 3, "done" 4
    _, report = apply_cache_points(payload, counter=words)
    assert not any(d.breakpoint.id.startswith("anchor") for d in report.decisions)


def test_auto_can_be_told_to_keep_off_the_tools(words: Any, text_of: Any) -> None:
    tools = [{"name": "t", "description": text_of(2000), "input_schema": {"type": "object"}}]
    payload = _payload(tools=tools, system=text_of(100), messages=[{"role": "user", "content": "q"}])
    out, report = apply_cache_points(payload, strategy=auto().excluding("tools"), counter=words)
    assert "cache_control" not in out["tools"][0]
    assert [(d.breakpoint.id, d.code) for d in report.dropped] == [("tools", "excluded")]


@pytest.mark.parametrize("ttl", ["5m", "1h"])
def test_static_ttl_can_be_overridden(words: Any, text_of: Any, ttl: str) -> None:
    payload = _payload(system=text_of(2000), messages=[{"role": "user", "content": "q"}])
    _, report = apply_cache_points(payload, strategy=auto(static_ttl=ttl), counter=words)
    assert next(d.ttl for d in report.placed if d.breakpoint.id == "system") == ttl


def test_the_report_explains_itself(words: Any, text_of: Any) -> None:
    payload = _payload(system=text_of(2000), messages=[{"role": "user", "content": "q"}])
    _, report = apply_cache_points(payload, counter=words)
    text = report.explain()
    assert "2 of 4 breakpoints used" in text
    assert "system[0]" in text
    assert "ttl 1h" in text
    data = report.to_dict()
    assert data["decisions"][0]["outcome"] == "placed"
    assert data["min_cache_tokens"] == 1024
