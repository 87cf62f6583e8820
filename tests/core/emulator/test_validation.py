"""The cache-marker rules the emulator enforces, checked directly on parsed requests."""

from __future__ import annotations

from typing import Any

import pytest

from cachepoint.core.emulator.anthropic import problem_message
from cachepoint.core.emulator.validation import cache_marker_problem
from cachepoint.core.prompt import Request
from cachepoint.core.providers import model_info

EPHEMERAL = {"type": "ephemeral"}


def _problem(payload: dict[str, Any], provider: str = "anthropic", model: str = "claude-sonnet-4-6") -> Any:
    info = model_info(provider, model)
    return cache_marker_problem(Request.parse(payload, provider=provider).positions(info=info), info)


def _text(text: str, marker: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if marker is not None:
        block["cache_control"] = marker
    return block


def _anthropic(content: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": [{"role": "user", "content": content}], **extra}


def test_four_markers_are_fine() -> None:
    assert _problem(_anthropic([_text(f"p{i}", EPHEMERAL) for i in range(4)])) is None


def test_automatic_caching_on_an_already_marked_block_with_the_same_ttl_is_a_no_op() -> None:
    content = [_text(f"p{i}", EPHEMERAL) for i in range(4)]  # the last block is marked 5m already
    assert _problem(_anthropic(content, cache_control=EPHEMERAL)) is None


def test_automatic_caching_with_a_different_ttl_on_a_marked_block_is_rejected() -> None:
    content = [_text("a"), _text("b", {"type": "ephemeral", "ttl": "1h"})]
    problem = _problem(_anthropic(content, cache_control=EPHEMERAL))
    assert (problem.kind, problem.ttl, problem.other_ttl) == ("automatic_conflict", "5m", "1h")


def test_markers_nested_in_a_tool_result_count_too() -> None:
    nested = {"type": "tool_result", "tool_use_id": "t", "content": [_text("x", EPHEMERAL), _text("y", EPHEMERAL)]}
    messages = [
        {"role": "user", "content": [_text("q", EPHEMERAL)]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        {"role": "user", "content": [nested, _text("z", EPHEMERAL)]},
    ]
    problem = _problem(
        {"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": messages, "cache_control": EPHEMERAL}
    )
    # q (1) + two nested in the tool result (2) + z (1) = 4; the automatic breakpoint lands on z, which already has
    # a 5m marker: a no-op, still 4. Allowed. One more marker (on the tool_use) makes five.
    assert problem is None
    messages[1]["content"][0]["cache_control"] = EPHEMERAL
    problem = _problem({"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": messages})
    assert problem_message(problem) == "A maximum of 4 blocks with cache_control may be provided. Found 5."


def test_unknown_ttl_labels_are_rejected() -> None:
    problem = _problem(_anthropic([_text("a", {"type": "ephemeral", "ttl": "2h"})]))
    assert problem_message(problem) == "messages.0.content.0.cache_control.ttl: Input should be '5m' or '1h'"


def test_ttl_order_spans_tools_system_and_messages() -> None:
    payload = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 8,
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}, "cache_control": EPHEMERAL}],
        "system": [_text("rules", {"type": "ephemeral", "ttl": "1h"})],
        "messages": [{"role": "user", "content": "hi"}],
    }
    message = problem_message(_problem(payload))
    assert message.startswith(
        "system.0.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m'"
    )
    assert message.endswith("Note that blocks are processed in the following order: `tools`, `system`, `messages`.")


@pytest.mark.parametrize(
    ("model", "kind"),
    [("amazon.nova-pro-v1:0", "ineligible_marker"), ("anthropic.claude-sonnet-4-5-20250929-v1:0", None)],
)
def test_bedrock_nova_does_not_cache_tools(model: str, kind: str | None) -> None:
    payload = {
        "modelId": model,
        "toolConfig": {
            "tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {}}}}, {"cachePoint": {"type": "default"}}]
        },
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
    }
    problem = _problem(payload, provider="bedrock", model=model)
    assert (problem.kind if problem else None) == kind
