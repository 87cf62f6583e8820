"""`apply_cache_points` on Bedrock Converse and OpenAI payloads: hand-worked scenarios (one token per word)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from cachepoint.core.prompt import apply_cache_points, cache_at, derive_cache_key
from cachepoint.core.providers import UnknownModelWarning

SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_bedrock_cache_points_follow_the_cached_blocks(words: Any, text_of: Any, sdk: Any) -> None:
    payload = {
        "modelId": SONNET,
        "toolConfig": {
            "tools": [
                {"toolSpec": {"name": "f", "description": text_of(900), "inputSchema": {"json": {"type": "object"}}}}
            ]
        },
        "system": [{"text": text_of(500)}],
        "messages": [
            {"role": "user", "content": [{"text": "q"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "r"}]}}]},
        ],
    }
    out, report = apply_cache_points(payload, provider="bedrock", counter=words)
    sdk.bedrock(out)
    # tools: JSON of 900 words + 346 preamble = 1246 (>= 1024): 1h. system: +500 = 1746: 1h. Then "q" (1 + 3 for
    # the message) = 1750, the tool call "f {}" (2 + 3) = 1755, and the tail, the tool result "r" (1 + 3) = 1759.
    assert out["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default", "ttl": "1h"}}
    assert out["system"] == [{"text": text_of(500)}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
    assert out["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "r"}]}},
        {"cachePoint": {"type": "default"}},  # after the tool result, never inside it
    ]
    assert [(d.breakpoint.id, d.path, d.tokens) for d in report.placed] == [
        ("tail", "messages[2].content[0]", 1759),
        ("system", "system[0]", 1746),
        ("tools", "toolConfig.tools[0]", 1246),
    ]


def test_bedrock_existing_cache_points_are_counted_and_kept(words: Any, text_of: Any) -> None:
    payload = {
        "modelId": SONNET,
        "system": [{"text": text_of(2000)}, {"cachePoint": {"type": "default"}}],
        "messages": [{"role": "user", "content": [{"text": "q"}]}],
    }
    out, report = apply_cache_points(payload, provider="bedrock", counter=words)
    assert out["system"] == payload["system"]
    assert [(d.breakpoint.id, d.code) for d in report.merged] == [("system", "existing")]
    assert out["messages"][0]["content"] == [{"text": "q"}, {"cachePoint": {"type": "default"}}]


def test_nova_does_not_cache_tool_definitions(words: Any, text_of: Any) -> None:
    payload = {
        "modelId": "amazon.nova-pro-v1:0",
        "toolConfig": {
            "tools": [{"toolSpec": {"name": "f", "description": text_of(2000), "inputSchema": {"json": {}}}}]
        },
        "system": [{"text": text_of(100)}],
        "messages": [{"role": "user", "content": [{"text": "q"}]}],
    }
    out, report = apply_cache_points(payload, provider="bedrock", counter=words)
    assert all("cachePoint" not in t for t in out["toolConfig"]["tools"])
    tools = next(d for d in report.dropped if d.breakpoint.id == "tools")
    assert tools.code == "ineligible"
    assert "does not cache tool definitions" in tools.detail
    # Nova has no 1h TTL: the system breakpoint gets the default 5m (no ttl written).
    assert out["system"][1] == {"cachePoint": {"type": "default"}}


def test_bedrock_reasoning_blocks_take_no_cache_point(words: Any, text_of: Any) -> None:
    payload = {
        "modelId": SONNET,
        "system": [{"text": text_of(2000)}],
        "messages": [
            {"role": "user", "content": [{"text": "q"}]},
            {
                "role": "assistant",
                "content": [{"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s"}}}],
            },
        ],
    }
    out, report = apply_cache_points(payload, provider="bedrock", counter=words)
    assert out["messages"][1]["content"] == payload["messages"][1]["content"]
    assert next(d.path for d in report.placed if d.breakpoint.id == "tail") == "messages[0].content[0]"


def _chat(model: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "x " * 2000},
            {"role": "user", "content": "What changed?"},
        ],
        **extra,
    }


def test_gpt_5_6_gets_explicit_breakpoints_and_a_cache_key(words: Any, sdk: Any) -> None:
    out, report = apply_cache_points(_chat("gpt-5.6"), provider="openai", counter=words)
    sdk.openai_chat(out)
    # Implicit mode: OpenAI puts its own breakpoint on the latest user message, so the tail merges with it.
    assert [(d.breakpoint.id, d.code) for d in report.merged] == [("tail", "implicit")]
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "x " * 2000, "prompt_cache_breakpoint": {"mode": "explicit"}}
    ]
    assert out["messages"][1]["content"] == "What changed?"
    assert out["prompt_cache_key"] == report.cache_key
    assert report.cache_key.startswith("cp-")


def test_the_cache_key_depends_on_the_static_prefix_only(words: Any) -> None:
    first, _ = apply_cache_points(_chat("gpt-5.6"), provider="openai", counter=words)
    other_question = _chat("gpt-5.6")
    other_question["messages"][1]["content"] = "Something else entirely"
    second, _ = apply_cache_points(other_question, provider="openai", counter=words)
    other_system = _chat("gpt-5.6")
    other_system["messages"][0]["content"] = "y " * 2000
    third, _ = apply_cache_points(other_system, provider="openai", counter=words)
    assert first["prompt_cache_key"] == second["prompt_cache_key"]
    assert first["prompt_cache_key"] != third["prompt_cache_key"]


def test_a_prompt_cache_key_already_set_is_kept(words: Any) -> None:
    out, report = apply_cache_points(_chat("gpt-4o", prompt_cache_key="tenant-7"), provider="openai", counter=words)
    assert out["prompt_cache_key"] == "tenant-7"
    assert report.cache_key_source.startswith("kept")


def test_models_before_gpt_5_6_get_only_the_key(words: Any) -> None:
    payload = _chat("gpt-4o")
    out, report = apply_cache_points(payload, provider="openai", counter=words)
    assert {k: v for k, v in out.items() if k != "prompt_cache_key"} == payload
    assert report.placed == []
    assert {d.code for d in report.dropped} == {"no_explicit_markers"}
    assert out["prompt_cache_key"] == derive_cache_key("gpt-4o", report_prefix_hash(payload, words))


def report_prefix_hash(payload: dict[str, Any], words: Any) -> str:
    from cachepoint.core.prompt import Request

    return Request.parse(payload).positions(counter=words)[0].prefix_hash


def test_explicit_mode_gives_all_four_slots_to_markers(words: Any) -> None:
    payload = _chat("gpt-5.6", prompt_cache_options={"mode": "explicit"})
    out, report = apply_cache_points(payload, provider="openai", counter=words)
    assert report.merged == []
    assert out["messages"][1]["content"][0]["prompt_cache_breakpoint"] == {"mode": "explicit"}
    assert len(report.placed) == 2


def test_chat_completions_never_get_12h(words: Any) -> None:
    _, report = apply_cache_points(
        _chat("gpt-5.6", prompt_cache_options={"mode": "explicit"}), provider="openai", counter=words
    )
    assert {d.ttl for d in report.placed} == {"30m"}


def test_responses_use_12h_for_static_layers_and_never_mark_instructions(words: Any, sdk: Any) -> None:
    payload = {
        "model": "gpt-5.6",
        "instructions": "be brief",
        "input": [
            {"role": "developer", "content": [{"type": "input_text", "text": "x " * 2000}]},
            {"role": "user", "content": "question"},
        ],
    }
    out, report = apply_cache_points(payload, provider="openai", counter=words)
    sdk.openai_responses(out)
    assert out["instructions"] == "be brief"
    assert out["input"][0]["content"][0]["prompt_cache_breakpoint"] == {"mode": "explicit", "ttl": "12h"}
    assert next(d.ttl for d in report.placed if d.breakpoint.id == "system") == "12h"


def test_openrouter_takes_cache_control_on_chat_parts(words: Any, sdk: Any) -> None:
    payload = {
        "model": "anthropic/claude-sonnet-4-5",
        "messages": [{"role": "system", "content": "x " * 2000}, {"role": "user", "content": "hi"}],
    }
    out, report = apply_cache_points(payload, provider="openrouter", counter=words)
    assert out["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert out["messages"][1]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert "prompt_cache_key" not in out
    assert report.info.min_cache_tokens == 1024  # Anthropic's rules for an Anthropic model


def test_an_unknown_model_gets_conservative_defaults_and_one_warning(words: Any) -> None:
    payload = {
        "model": "claude-nextgen-9",
        "max_tokens": 5,
        "system": "x " * 3000,
        "messages": [{"role": "user", "content": "q"}],
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, report = apply_cache_points(payload, counter=words)
        apply_cache_points(payload, counter=words)
    assert [w.category for w in caught] == [UnknownModelWarning]
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert report.info.min_cache_tokens == 4096
    assert any("not in the provider table" in w for w in report.warnings)
    # 3000 < 4096 conservative minimum: nothing is promised.
    assert report.placed == []


def test_a_payload_without_a_model_needs_one() -> None:
    with pytest.raises(ValueError, match="model"):
        apply_cache_points({"max_tokens": 5, "messages": [{"role": "user", "content": "q"}]})


def test_bedrock_invoke_model_bodies_keep_the_anthropic_shape_with_bedrock_rules(
    words: Any, text_of: Any, sdk: Any
) -> None:
    # InvokeModel takes the Anthropic body (with anthropic_version, without model): Bedrock's minimums apply.
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "system": text_of(3000),
        "messages": [{"role": "user", "content": "q"}],
    }
    out, report = apply_cache_points(body, provider="bedrock", model="us.anthropic.claude-opus-4-7-v1:0", counter=words)
    assert report.format == "anthropic"
    # Bedrock lists Opus 4.7 at 4096 tokens per checkpoint (the Claude API says 2048): 3000 and 3004 are too short.
    assert report.info.min_cache_tokens == 4096
    assert out == body
    assert {d.code for d in report.dropped} == {"below_minimum"}


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini"])
def test_two_targets_on_one_block_of_a_model_without_duration_ttls_are_merged_not_an_error(
    model: str, words: Any
) -> None:
    # OpenAI's automatic models take the TTL labels "in_memory" and "24h": comparing two breakpoints on one block
    # must not read "in_memory" as a duration (it raised ValueError from apply_cache_points).
    payload = _chat(model)
    out, report = apply_cache_points(payload, cache_at("system", "system"), provider="openai", counter=words)
    assert {k: v for k, v in out.items() if k != "prompt_cache_key"} == payload
    assert [d.code for d in report.merged] == ["duplicate"]
    assert report.placed == []
