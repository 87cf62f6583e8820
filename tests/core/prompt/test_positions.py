"""The prefix view: order, hashes, tokens, lookback counting, layers, existing breakpoints."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachepoint.core.prompt import Request, apply_cache_points


def _payload() -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "tools": [
            {"name": "f", "description": "d", "input_schema": {"type": "object", "properties": {"a": {}, "b": {}}}}
        ],
        "system": "You are terse.",
        "messages": [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": [{"type": "text", "text": "three"}, {"type": "text", "text": "four"}]},
        ],
    }


def test_positions_are_in_prefix_order_with_running_totals(words: Any) -> None:
    view = Request.parse(_payload()).positions(provider="anthropic", counter=words)
    assert [p.path for p in view] == [
        "tools[0]",
        "system",
        "messages[0].content",
        "messages[1].content",
        "messages[2].content[0]",
        "messages[2].content[1]",
    ]
    assert [p.layer for p in view] == ["tools", "system", "messages", "messages", "messages", "messages"]
    # tool JSON: {"name":"f","description":"d","input_schema":{...}} has no spaces: 1 word + 346 preamble.
    # "You are terse." 3; "one" 1+3; "two" 1+3; "three" 1+3 (message start); "four" 1.
    assert [p.tokens for p in view] == [347, 3, 4, 4, 4, 1]
    assert [p.cumulative_tokens for p in view] == [347, 350, 354, 358, 362, 363]
    assert view.total_tokens == 363


def test_prefix_hashes_ignore_markers_and_string_form() -> None:
    plain = Request.parse(_payload()).positions()
    marked_payload, _ = apply_cache_points(_payload(), model="claude-sonnet-4-5")
    marked = Request.parse(marked_payload).positions()
    assert [p.prefix_hash for p in plain] == [p.prefix_hash for p in marked]


def test_a_change_changes_that_hash_and_every_later_one_only() -> None:
    before = Request.parse(_payload()).positions()
    changed = _payload()
    changed["messages"][1]["content"] = "TWO"
    after = Request.parse(changed).positions()
    same = [a.prefix_hash == b.prefix_hash for a, b in zip(before, after, strict=True)]
    assert same == [True, True, True, False, False, False]
    assert [a.block_hash == b.block_hash for a, b in zip(before, after, strict=True)] == [
        True,
        True,
        True,
        False,
        True,
        True,
    ]


def test_reordering_tool_schema_keys_changes_the_prefix() -> None:
    reordered = _payload()
    reordered["tools"][0]["input_schema"]["properties"] = {"b": {}, "a": {}}
    assert Request.parse(reordered).positions()[0].prefix_hash != Request.parse(_payload()).positions()[0].prefix_hash


def test_anthropic_tool_choice_invalidates_the_messages_level_only() -> None:
    base = Request.parse(_payload()).positions()
    other = _payload()
    other["tool_choice"] = {"type": "any"}
    changed = Request.parse(other).positions()
    assert [a.prefix_hash == b.prefix_hash for a, b in zip(base, changed, strict=True)] == [True, True] + [False] * 4


def test_message_boundaries_are_part_of_the_prefix() -> None:
    one = {
        "model": "m",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
    }
    two = {
        "model": "m",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    }
    assert Request.parse(one).positions()[-1].prefix_hash != Request.parse(two).positions()[-1].prefix_hash


def test_openai_leading_system_messages_form_the_system_layer() -> None:
    payload = {
        "model": "gpt-5.6",
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "developer", "content": "d"},
            {"role": "user", "content": "u"},
            {"role": "system", "content": "late"},
        ],
    }
    view = Request.parse(payload).positions(provider="openai")
    assert [p.layer for p in view] == ["system", "system", "messages", "messages"]
    assert [p.stable for p in view] == [True, True, False, False]


def test_existing_breakpoints_resolve_to_positions() -> None:
    payload = _payload()
    payload["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    payload["messages"][0]["content"] = [{"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}}]
    payload["messages"].append(
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}]}
    )
    view = Request.parse(payload).positions(provider="anthropic")
    # The automatic breakpoint walks back past the trailing thinking block to "four" (position 5).
    assert [(b.position, b.ttl, b.source) for b in view.breakpoints] == [(2, None, "marker"), (5, "1h", "automatic")]


def test_openai_implicit_breakpoint_sits_on_the_latest_user_or_tool_message() -> None:
    payload = {
        "model": "gpt-5.6",
        "messages": [
            {"role": "user", "content": "u1"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c", "content": "result"},
            {"role": "assistant", "content": "answer"},
        ],
    }
    view = Request.parse(payload).positions(provider="openai")
    assert [(view[b.position].path, b.source) for b in view.breakpoints] == [("messages[2].content", "implicit")]
    payload["prompt_cache_options"] = {"mode": "explicit"}
    assert Request.parse(payload).positions(provider="openai").breakpoints == ()


def test_positions_export_as_dicts_for_the_simulator() -> None:
    rows = Request.parse(_payload()).positions(provider="anthropic").to_dicts()
    assert rows[0]["path"] == "tools[0]"
    assert set(rows[0]) >= {"prefix_hash", "tokens", "cumulative_tokens", "lookback_index", "eligible", "marker_ttl"}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_appending_a_turn_keeps_every_earlier_prefix_hash(data: st.DataObject, gen: Any) -> None:
    payload = data.draw(gen.anthropic(markers=False))
    longer = copy.deepcopy(payload)
    role = "assistant" if longer["messages"][-1]["role"] == "user" else "user"
    longer["messages"].append({"role": role, "content": "next"})
    before = Request.parse(payload).positions()
    after = Request.parse(longer).positions()
    assert [p.prefix_hash for p in before] == [p.prefix_hash for p in after][: len(before)]
    assert after.total_tokens > before.total_tokens
