"""Format detection when the shape alone does not decide: the model id counts as evidence (a plain-string
``{"model": "gpt-4o", "messages": [...]}`` is valid Anthropic and valid OpenAI Chat, and is OpenAI's), the
shape still wins where it is clear, and a provider the caller names wins over the model id."""

from __future__ import annotations

from typing import Any

import pytest

from cachepoint.core.prompt import Request, ViewBuilder, detect_format

PLAIN = [{"role": "user", "content": "How do I reset the router?"}]


def body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": PLAIN, **extra}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", "openai-chat"),
        ("gpt-5.6-terra", "openai-chat"),
        ("o3-mini", "openai-chat"),
        ("o4-mini-2025-04-16", "openai-chat"),
        ("chatgpt-4o-latest", "openai-chat"),
        ("anthropic/claude-sonnet-4-5", "openai-chat"),  # OpenRouter / LiteLLM ids take OpenAI Chat bodies
        ("meta-llama/Llama-3.1-8B-Instruct", "openai-chat"),  # vLLM's OpenAI-compatible server
        ("claude-sonnet-4-5", "anthropic"),
        ("claude-3-5-haiku-20241022", "anthropic"),
        ("us.anthropic.claude-opus-4-5-20251101-v1:0", "anthropic"),  # an InvokeModel body: Anthropic's format
        ("my-finetune", "anthropic"),  # nothing to go on: the documented default
    ],
)
def test_the_model_id_settles_a_plain_body(model: str, expected: str) -> None:
    assert detect_format(body(model)) == expected
    assert Request.parse(body(model)).format == expected
    assert ViewBuilder().parse(body(model)).format == expected


def test_max_tokens_alone_does_not_make_an_openai_body_anthropic() -> None:
    # max_tokens is required by Anthropic and accepted by OpenAI Chat: weaker evidence than the model id.
    assert detect_format(body("gpt-4o", max_tokens=200, temperature=0)) == "openai-chat"
    assert detect_format(body("claude-sonnet-4-5", max_tokens=200)) == "anthropic"


def test_a_clear_shape_wins_over_the_model_id() -> None:
    # A top-level system prompt is Anthropic's; a system-role message and tool_calls are OpenAI's.
    assert detect_format(body("gpt-4o", system="Be brief.", max_tokens=10)) == "anthropic"
    openai_shaped = {"model": "claude-sonnet-4-5", "messages": [{"role": "system", "content": "Be brief."}, *PLAIN]}
    assert detect_format(openai_shaped) == "openai-chat"
    responses = {"model": "gpt-5.6", "input": "Hi", "prompt_cache_key": "k", "prompt_cache_options": {"mode": "x"}}
    assert detect_format(responses) == "openai-responses"
    assert detect_format(responses, provider="openai") == "openai-responses"


def test_the_callers_provider_wins_over_the_model_id() -> None:
    assert detect_format(body("gpt-4o"), provider="anthropic") == "anthropic"
    assert detect_format(body("claude-sonnet-4-5"), provider="openai") == "openai-chat"
