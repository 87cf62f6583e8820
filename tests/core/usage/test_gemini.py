"""Gemini usage metadata, REST (camelCase, zero counters left out) and SDK (snake_case) shapes.

``promptTokenCount`` includes the cached content; thinking tokens are output but are not in
``candidatesTokenCount``; tool-use prompt tokens are input outside ``promptTokenCount``.
"""

from __future__ import annotations

from typing import Any

import pytest

from cachepoint.core.usage import CacheUsage, UsageFormatError, from_gemini, normalize_stream, normalize_usage

REST_RESPONSE: dict[str, Any] = {
    "candidates": [
        {"content": {"parts": [{"text": "The report says..."}], "role": "model"}, "finishReason": "STOP", "index": 0}
    ],
    "usageMetadata": {
        "promptTokenCount": 12100,
        "candidatesTokenCount": 231,
        "totalTokenCount": 12818,
        "cachedContentTokenCount": 8192,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12100}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 8192}],
        "thoughtsTokenCount": 487,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "mK1xaKz3Lp6Wz7IP3vCC6Ag",
}


def test_rest_response() -> None:
    usage = normalize_usage(REST_RESPONSE)
    assert usage == CacheUsage(
        provider="gemini",
        model="gemini-2.5-flash",
        input_tokens=12100,
        cache_read_tokens=8192,
        cache_write_tokens=None,  # Gemini has no write counter
        output_tokens=231 + 487,  # totalTokenCount 12818 = 12100 + 231 + 487
        reasoning_tokens=487,
    )
    assert usage.total_tokens == REST_RESPONSE["usageMetadata"]["totalTokenCount"]


def test_sdk_snake_case_dump_with_nulls() -> None:
    # google-genai's GenerateContentResponse.model_dump(): snake_case, unset counters are None.
    sdk_dump = {
        "candidates": [{"content": {"parts": [{"text": "ok"}], "role": "model"}, "finish_reason": "STOP"}],
        "model_version": "gemini-2.5-pro",
        "usage_metadata": {
            "prompt_token_count": 900,
            "cached_content_token_count": None,
            "candidates_token_count": 50,
            "thoughts_token_count": None,
            "tool_use_prompt_token_count": 300,
            "total_token_count": 1250,
            "prompt_tokens_details": [{"modality": "TEXT", "token_count": 900}],
        },
    }
    usage = from_gemini(sdk_dump)
    assert usage.model == "gemini-2.5-pro"
    assert usage.input_tokens == 900 + 300  # total 1250 = 1200 + 50
    assert usage.cache_read_tokens == 0  # protobuf leaves a zero counter out: absent is zero here
    assert usage.output_tokens == 50
    assert usage.reasoning_tokens == 0


def test_rest_response_without_a_cache_hit_omits_the_counter() -> None:
    usage = normalize_usage(
        {"usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 10, "totalTokenCount": 18}}
    )
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (8, 0, 10)
    assert usage.cache_hit is False


def test_stream_last_chunk_wins() -> None:
    def chunk(text: str, candidates: int, finish: str | None = None) -> dict[str, Any]:
        return {
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": finish}],
            "usageMetadata": {
                "promptTokenCount": 5000,
                "cachedContentTokenCount": 4096,
                "candidatesTokenCount": candidates,
                "totalTokenCount": 5000 + candidates,
            },
            "modelVersion": "gemini-2.5-flash",
        }

    usage = normalize_stream([chunk("The", 1), chunk(" answer", 3), chunk(" is 4.", 40, "STOP")])
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (5000, 4096, 40)


def test_cached_more_than_prompt_is_an_error() -> None:
    with pytest.raises(UsageFormatError) as err:
        normalize_usage({"usageMetadata": {"promptTokenCount": 10, "cachedContentTokenCount": 64}})
    assert err.value.path == "usageMetadata.cached_content_token_count"


def test_gemini_payload_labelled_another_provider_is_an_error() -> None:
    with pytest.raises(UsageFormatError, match="Gemini usage, but provider='anthropic'"):
        normalize_usage(REST_RESPONSE, provider="anthropic")


def test_from_gemini_on_something_else_is_an_error() -> None:
    with pytest.raises(UsageFormatError, match="no Gemini usage metadata"):
        from_gemini({"usage": {"prompt_tokens": 1, "completion_tokens": 1}})
