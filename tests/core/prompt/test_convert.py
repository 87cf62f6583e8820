"""Converting requests between formats keeps content and markers, and gives payloads the SDKs accept."""

from __future__ import annotations

from typing import Any

import pytest

from cachepoint.core.prompt import Block, CacheMarker, Message, Request, Tool, text

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def _neutral() -> Request:
    return Request(
        tools=(Tool.define("lookup", "Find a record.", {"type": "object", "properties": {"id": {"type": "string"}}}),),
        system=(text("You are a support agent.").with_cache(CacheMarker("1h")),),
        messages=(
            Message.user("Hi", Block.image(PNG)),
            Message.assistant(Block.tool_use("call_1", "lookup", {"id": "42"})),
            Message("user", (Block.tool_result("call_1", "found"),)),
            Message.user(text("Thanks").with_cache(CacheMarker())),
        ),
        params={"model": "claude-sonnet-4-5", "max_tokens": 100},
    )


@pytest.mark.parametrize("fmt", ["anthropic", "bedrock", "openai-chat", "openai-responses"])
def test_a_neutral_request_renders_valid_payloads_everywhere(fmt: str, sdk: Any) -> None:
    sdk.validate(fmt, _neutral().render(fmt))


def test_markers_travel_with_their_blocks() -> None:
    bedrock = _neutral().render("bedrock")
    assert bedrock["system"] == [{"text": "You are a support agent."}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
    assert bedrock["messages"][-1]["content"] == [{"text": "Thanks"}, {"cachePoint": {"type": "default"}}]
    chat = _neutral().render("openai-chat")
    assert chat["messages"][0] == {
        "role": "system",
        # OpenAI Chat takes no 1h and nothing longer than 30m: the marker gets 30m; Responses takes 12h (>= 1h).
        "content": [
            {
                "type": "text",
                "text": "You are a support agent.",
                "prompt_cache_breakpoint": {"mode": "explicit", "ttl": "30m"},
            }
        ],
    }
    responses = _neutral().render("openai-responses")
    assert responses["input"][0]["content"][0]["prompt_cache_breakpoint"] == {"mode": "explicit", "ttl": "12h"}


def test_chat_tool_calls_and_results_map_both_ways(sdk: Any) -> None:
    chat = _neutral().render("openai-chat")
    assert chat["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"id": "42"}'}}
        ],
    }
    assert chat["messages"][3] == {
        "role": "tool",
        "content": [{"type": "text", "text": "found"}],
        "tool_call_id": "call_1",
    }
    back = Request.parse(chat).convert("anthropic")
    assert back.messages[1].blocks[0].data == {
        "type": "tool_use",
        "id": "call_1",
        "name": "lookup",
        "input": {"id": "42"},
    }
    assert back.system[0].data == {"type": "text", "text": "You are a support agent."}


@pytest.mark.parametrize("fmt", ["bedrock", "openai-chat", "openai-responses"])
def test_there_and_back_keeps_the_text(fmt: str) -> None:
    original = _neutral()
    back = Request.parse(original.render(fmt), format=fmt).convert("anthropic")
    texts = [b.text for m in back.messages for b in m.blocks if b.kind == "text"]
    assert texts == ["Hi", "Thanks"]
    assert back.system[0].text == "You are a support agent."
    assert back.params["model"] == "claude-sonnet-4-5"
