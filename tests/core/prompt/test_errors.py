"""Bad input raises a ValueError naming the path in the payload and what was expected there."""

from __future__ import annotations

from typing import Any

import pytest

from cachepoint.core.prompt import Message, Request, RequestFormatError, apply_cache_points
from cachepoint.core.prompt.errors import RenderError


@pytest.mark.parametrize(
    ("fmt", "payload", "message"),
    [
        (
            "anthropic",
            {"messages": [{"role": "user", "content": "a"}] * 3 + [{"role": "user", "content": [{"type": "foo"}]}]},
            "messages[3].content[0]: unknown block type 'foo'",
        ),
        (
            "anthropic",
            {"messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]},
            "messages[1]: role must be one of 'user', 'assistant', 'system', got 'robot'",
        ),
        ("anthropic", {"model": "m"}, "messages: required"),
        ("anthropic", {"messages": "hello"}, "messages: expected a list, got a string ('hello')"),
        ("anthropic", {"messages": [{"role": "user"}]}, "messages[0].content: required"),
        (
            "anthropic",
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
            "messages[0].content[0].text: expected a string, got a number (5)",
        ),
        (
            "anthropic",
            {
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "a", "cache_control": {"type": "forever"}}]}
                ]
            },
            "messages[0].content[0].cache_control.type: expected 'ephemeral', got 'forever'",
        ),
        (
            "anthropic",
            {"system": [{"type": "image"}], "messages": []},
            "system[0].type: system blocks must be 'text', got 'image'",
        ),
        (
            "bedrock",
            {"modelId": "m", "messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]},
            "messages[0].content[0]: expected exactly one of",
        ),
        (
            "bedrock",
            {"modelId": "m", "messages": [{"role": "user", "content": [{"cachePoint": {"type": "default"}}]}]},
            "messages[0].content[0]: a cachePoint must follow the content it caches",
        ),
        (
            "bedrock",
            {"modelId": "m", "messages": [{"role": "user", "content": [{"banana": {}}]}]},
            "messages[0].content[0]: unknown block type 'banana'",
        ),
        (
            "openai-chat",
            {"messages": [{"role": "user", "content": [{"type": "video_url"}]}]},
            "messages[0].content[0]: unknown content part type 'video_url'",
        ),
        (
            "openai-chat",
            {"messages": [{"role": "critic", "content": "x"}]},
            "messages[0]: role must be one of 'system', 'developer', 'user', 'assistant', 'tool', 'function'",
        ),
        ("openai-responses", {"input": [{"type": "teleport"}]}, "input[0]: unknown item type 'teleport'"),
        ("anthropic", ["not", "an", "object"], "expected a JSON object"),
    ],
)
def test_bad_payloads_name_the_path(fmt: str, payload: Any, message: str) -> None:
    with pytest.raises(RequestFormatError) as caught:
        Request.parse(payload, format=fmt)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


def test_lenient_parsing_carries_unknown_blocks_as_is() -> None:
    payload = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "hologram", "x": 1}]}]}
    request = Request.parse(payload, lenient=True)
    assert request.messages[0].blocks[0].kind == "other"
    assert request.render() == payload
    out, report = apply_cache_points(payload, lenient=True, model="claude-sonnet-4-5")
    assert out == payload
    assert report.placed == []


def test_converting_a_provider_specific_block_says_which_and_where() -> None:
    request = Request.parse(
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [
                {"role": "user", "content": [{"type": "search_result", "source": "s", "title": "t", "content": []}]}
            ],
        }
    )
    with pytest.raises(
        RenderError, match=r"messages\[0\]\.content\[0\]: block type 'search_result' has no bedrock form"
    ):
        request.render("bedrock")


def test_unknown_format_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: anthropic, bedrock"):
        Request(messages=(Message.user("x"),)).render("cohere")
