"""LangChain ``usage_metadata`` and CrewAI usage metrics, read without importing either framework.

The payloads are the shapes those frameworks produce (``AIMessage.model_dump()``, ``UsageMetrics``, the
``LLMCallCompletedEvent.usage`` dict), including the ones recorded in shared/research (langchain.md, crewai.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pydantic
import pytest

from cachepoint.core.usage import (
    CacheUsage,
    UsageFormatError,
    from_crewai,
    from_langchain,
    normalize_stream,
    normalize_usage,
)


def ai_message(usage_metadata: dict[str, Any] | None, **response_metadata: Any) -> dict[str, Any]:
    """What ``AIMessage(...).model_dump()`` looks like."""
    return {
        "content": "Hello!",
        "additional_kwargs": {},
        "response_metadata": response_metadata,
        "type": "ai",
        "name": None,
        "id": "lc_run--3f0c8b1e-6a8e-4a59-9f59-2b1e1c1e5d10-0",
        "tool_calls": [],
        "invalid_tool_calls": [],
        "usage_metadata": usage_metadata,
    }


# ChatAnthropic.invoke, raw usage: input 10, cache_creation 100 (60 at 5m, 40 at 1h), cache_read 200.
CHAT_ANTHROPIC_USAGE = {
    "input_tokens": 310,
    "output_tokens": 5,
    "total_tokens": 315,
    "input_token_details": {
        "cache_read": 200,
        "cache_creation": 0,
        "ephemeral_5m_input_tokens": 60,
        "ephemeral_1h_input_tokens": 40,
    },
}


def test_chat_anthropic_zeroed_cache_creation_is_not_an_undercount() -> None:
    message = ai_message(CHAT_ANTHROPIC_USAGE, model_name="claude-sonnet-4-6", model_provider="anthropic")
    usage = normalize_usage(message)
    assert usage == CacheUsage(
        provider="anthropic",
        model="claude-sonnet-4-6",
        input_tokens=310,
        cache_read_tokens=200,
        cache_write_tokens=100,  # 0 + 60 + 40: LangChain moved the writes into the TTL keys
        cache_write_by_ttl={"5m": 60, "1h": 40},
        output_tokens=5,
    )
    assert usage.uncached_input_tokens == 10  # Anthropic's own input_tokens


def test_chat_anthropic_streamed_message_has_no_ttl_split() -> None:
    streamed = {
        "input_tokens": 310,
        "output_tokens": 5,
        "total_tokens": 315,
        "input_token_details": {"cache_read": 200, "cache_creation": 100},
    }
    usage = from_langchain(streamed, provider="anthropic", model="claude-sonnet-4-6")
    assert usage.cache_write_tokens == 100
    assert dict(usage.cache_write_by_ttl) == {}
    assert usage.cache_write_unknown_ttl_tokens == 100


def test_chat_bedrock_converse_message() -> None:
    message = ai_message(
        {
            "input_tokens": 3158,
            "output_tokens": 143,
            "total_tokens": 3301,
            "input_token_details": {
                "cache_read": 0,
                "cache_creation": 0,
                "ephemeral_5m_input_tokens": 151,
                "ephemeral_1h_input_tokens": 3000,
            },
        },
        model_name="us.anthropic.claude-opus-4-5-20251101-v1:0",
        model_provider="bedrock_converse",
        stopReason="end_turn",
        metrics={"latencyMs": [2154]},
    )
    usage = normalize_usage(message)
    assert usage.provider == "bedrock"
    assert usage.model == "us.anthropic.claude-opus-4-5-20251101-v1:0"
    assert (usage.input_tokens, usage.cache_write_tokens, usage.uncached_input_tokens) == (3158, 3151, 7)


def test_chat_openai_message_has_no_write_counter() -> None:
    message = ai_message(
        {
            "input_tokens": 2006,
            "output_tokens": 300,
            "total_tokens": 2306,
            "input_token_details": {"audio": 0, "cache_read": 1920},
            "output_token_details": {"audio": 0, "reasoning": 128},
        },
        model_name="gpt-4o-2024-08-06",
        model_provider="openai",
    )
    usage = normalize_usage(message)
    assert (usage.provider, usage.input_tokens, usage.cache_read_tokens) == ("openai", 2006, 1920)
    assert usage.cache_write_tokens is None
    assert usage.reasoning_tokens == 128


def test_pydantic_message_object_is_read_through_model_dump() -> None:
    class FakeAIMessage(pydantic.BaseModel):  # the fields LangChain's AIMessage dumps
        content: str
        type: str = "ai"
        response_metadata: dict[str, Any] = {}
        usage_metadata: dict[str, Any] | None = None

    message = FakeAIMessage(
        content="hi", usage_metadata=CHAT_ANTHROPIC_USAGE, response_metadata={"model_name": "claude-opus-4-5"}
    )
    usage = from_langchain(message, provider="anthropic")
    assert (usage.model, usage.cache_write_tokens) == ("claude-opus-4-5", 100)


def test_llm_cache_hit_replay_keeps_its_counts() -> None:
    # LangChain's LLM cache replays usage_metadata with total_cost=0 added.
    usage = from_langchain({**CHAT_ANTHROPIC_USAGE, "total_cost": 0}, provider="anthropic")
    assert usage.input_tokens == 310


def test_message_without_usage_is_a_clear_error() -> None:
    with pytest.raises(UsageFormatError, match="carries no usage") as err:
        normalize_usage(ai_message(None, model_name="fake"))
    assert err.value.path == "usage_metadata"


def test_cache_counts_larger_than_the_prompt_are_an_error() -> None:
    bad = {"input_tokens": 100, "output_tokens": 1, "total_tokens": 101, "input_token_details": {"cache_read": 200}}
    with pytest.raises(UsageFormatError) as err:
        from_langchain(bad)
    assert err.value.path == "input_tokens"


def test_message_chunks_add_up_like_langchain() -> None:
    meta = {"model_name": "claude-sonnet-4-6", "model_provider": "anthropic"}
    chunks = [
        {
            "type": "AIMessageChunk",
            "content": "",
            "response_metadata": meta,
            "usage_metadata": {
                "input_tokens": 310,
                "output_tokens": 0,
                "total_tokens": 310,
                "input_token_details": {"cache_read": 200, "cache_creation": 100},
            },
        },
        {"type": "AIMessageChunk", "content": "Hel", "response_metadata": {}, "usage_metadata": None},
        {
            "type": "AIMessageChunk",
            "content": "lo",
            "response_metadata": {"stop_reason": "end_turn"},
            "usage_metadata": {"input_tokens": 0, "output_tokens": 5, "total_tokens": 5},
        },
    ]
    usage = normalize_stream(chunks)
    assert usage == CacheUsage(
        provider="anthropic",
        model="claude-sonnet-4-6",
        input_tokens=310,
        cache_read_tokens=200,
        cache_write_tokens=100,
        output_tokens=5,
    )


# -- CrewAI ---------------------------------------------------------------------------------------------


def test_crewai_anthropic_usage_metrics() -> None:
    # Observed: prompt_tokens=1510 cached_prompt_tokens=1200 cache_creation_tokens=300 for server usage 10/1200/300.
    metrics = {
        "total_tokens": 1515,
        "prompt_tokens": 1510,
        "cached_prompt_tokens": 1200,
        "completion_tokens": 5,
        "reasoning_tokens": 0,
        "cache_creation_tokens": 300,
        "successful_requests": 1,
    }
    usage = from_crewai(metrics, provider="anthropic", model="claude-sonnet-4-6")
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (1510, 1200, 300)
    assert usage.uncached_input_tokens == 10
    assert normalize_usage(metrics, provider="anthropic") == dataclasses.replace(usage, model=None)


def test_crewai_completed_event_usage_from_anthropic() -> None:
    event_usage = {
        "input_tokens": 1510,
        "output_tokens": 5,
        "total_tokens": 1515,
        "cached_prompt_tokens": 1200,
        "cache_creation_tokens": 300,
    }
    usage = normalize_usage(event_usage, provider="anthropic")
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (1510, 1200, 300)


def test_crewai_bedrock_metrics_lost_the_writes() -> None:
    # Native Bedrock: prompt_tokens is Bedrock's inputTokens (no cache), writes dropped.
    metrics = {
        "total_tokens": 1515,
        "prompt_tokens": 10,
        "cached_prompt_tokens": 1200,
        "completion_tokens": 5,
        "reasoning_tokens": 0,
        "cache_creation_tokens": 0,
        "successful_requests": 1,
    }
    usage = from_crewai(metrics, provider="bedrock", model="us.anthropic.claude-opus-4-5-20251101-v1:0")
    assert usage.cache_read_tokens == 1200
    assert usage.cache_write_tokens is None  # lost by CrewAI: unknown, never 0
    assert usage.input_tokens is None  # the prompt total depends on the lost writes
    assert usage.output_tokens == 5
    # Without the provider the numbers are impossible for an inclusive prompt count: a pointed error.
    with pytest.raises(UsageFormatError, match="provider='bedrock'"):
        from_crewai(metrics)


def test_crewai_bedrock_completed_event_carries_the_raw_usage() -> None:
    event_usage = {
        "inputTokens": 10,
        "outputTokens": 5,
        "totalTokens": 1515,
        "cacheReadInputTokens": 1200,
        "cacheWriteInputTokens": 300,
    }
    usage = from_crewai(event_usage, provider="bedrock", model="anthropic.claude-opus-4-5")
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (1510, 1200, 300)


def test_crewai_litellm_event_usage() -> None:
    event_usage = {
        "prompt_tokens": 1510,
        "completion_tokens": 5,
        "total_tokens": 1515,
        "prompt_tokens_details": {"cached_tokens": 1200},
        "cache_read_input_tokens": 1200,
        "cache_creation_input_tokens": 300,
    }
    usage = from_crewai(event_usage, provider="anthropic")
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (1510, 1200, 300)


def test_crewai_usage_metrics_object() -> None:
    class UsageMetrics(pydantic.BaseModel):  # crewai.types.usage_metrics.UsageMetrics's fields
        total_tokens: int = 0
        prompt_tokens: int = 0
        cached_prompt_tokens: int = 0
        completion_tokens: int = 0
        reasoning_tokens: int = 0
        cache_creation_tokens: int = 0
        successful_requests: int = 0

    usage = from_crewai(
        UsageMetrics(prompt_tokens=4000, cached_prompt_tokens=3000, completion_tokens=90, successful_requests=3),
        provider="openai",
    )
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (4000, 3000, 90)
