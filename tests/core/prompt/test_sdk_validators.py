"""The strict SDK validators the property tests rely on do reject what the providers reject."""

from __future__ import annotations

from typing import Any

import pytest


def _anthropic(block: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [block]}]}


@pytest.mark.parametrize(
    "block",
    [
        {"type": "thinking", "thinking": "x", "signature": "s", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "2h"}},
        {"type": "text", "text": "x", "cache_control": {"type": "persistent"}},
        {"type": "text", "text": "x", "cache_contrl": {"type": "ephemeral"}},
        {"type": "foo", "text": "x"},
    ],
)
def test_anthropic_validator_rejects_bad_blocks(sdk: Any, block: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        sdk.anthropic(_anthropic(block))


def test_anthropic_validator_accepts_a_marked_text_block(sdk: Any) -> None:
    sdk.anthropic(_anthropic({"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "1h"}}))


def test_bedrock_validator_rejects_a_cache_point_inside_a_tool_result(sdk: Any) -> None:
    result = {"toolResult": {"toolUseId": "t", "content": [{"text": "x"}, {"cachePoint": {"type": "default"}}]}}
    with pytest.raises(AssertionError, match="cachePoint"):
        sdk.bedrock({"modelId": "m", "messages": [{"role": "user", "content": [result]}]})


def test_bedrock_validator_rejects_an_unknown_ttl(sdk: Any) -> None:
    content = [{"text": "x"}, {"cachePoint": {"type": "default", "ttl": "2h"}}]
    with pytest.raises(AssertionError):
        sdk.bedrock({"modelId": "m", "messages": [{"role": "user", "content": content}]})


def test_openai_validators_reject_breakpoints_where_the_sdk_has_none(sdk: Any) -> None:
    refusal = {"type": "refusal", "refusal": "no", "prompt_cache_breakpoint": {"mode": "explicit"}}
    with pytest.raises(AssertionError):
        sdk.openai_chat({"model": "gpt-5.6", "messages": [{"role": "assistant", "content": [refusal]}]})
    with pytest.raises(AssertionError):
        sdk.openai_chat(
            {
                "model": "gpt-5.6",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "x", "prompt_cache_breakpoint": {"mode": "implicit"}}],
                    }
                ],
            }
        )
    with pytest.raises(AssertionError):
        sdk.openai_responses(
            {
                "model": "gpt-5.6",
                "input": [
                    {
                        "type": "function_call_output",
                        "call_id": "c",
                        "output": "x",
                        "prompt_cache_breakpoint": {"mode": "explicit"},
                    }
                ],
            }
        )
