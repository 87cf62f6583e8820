"""`CacheUsage` itself: validation, derived counts, addition with unknowns, serialization; format detection
and the errors a payload that fits no format gets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cachepoint.core.usage import CacheUsage, UsageFormatError, detect_format, normalize_stream, normalize_usage


def test_derived_counts() -> None:
    u = CacheUsage(input_tokens=1000, cache_read_tokens=700, cache_write_tokens=200, output_tokens=50)
    assert u.uncached_input_tokens == 100
    assert u.total_tokens == 1050
    assert u.cache_hit is True
    assert u.cache_read_ratio == 0.7


def test_unknown_is_none_not_zero() -> None:
    u = CacheUsage(provider="vllm", input_tokens=1000, output_tokens=50)
    assert u.cache_read_tokens is None
    assert u.uncached_input_tokens is None
    assert u.cache_hit is None
    assert u.cache_read_ratio is None
    assert u.cache_write_unknown_ttl_tokens is None


def test_provider_names_are_canonical() -> None:
    assert CacheUsage(provider="aws.bedrock").provider == "bedrock"
    assert CacheUsage(provider="amazon_bedrock").provider == "bedrock"
    assert CacheUsage(provider="gcp.gemini").provider == "gemini"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_tokens": -1}, "non-negative"),
        ({"cache_read_tokens": 1.5}, "expected an int"),
        ({"output_tokens": True}, "expected an int"),
        ({"input_tokens": 100, "cache_read_tokens": 80, "cache_write_tokens": 30}, "exceed input_tokens"),
        ({"output_tokens": 10, "reasoning_tokens": 11}, "must include reasoning"),
        ({"cache_write_tokens": 10, "cache_write_by_ttl": {"5m": 11}}, "adds up to 11"),
        ({"cache_write_by_ttl": {"5m": 11}}, "needs cache_write_tokens"),
        ({"cache_write_tokens": 10, "cache_write_by_ttl": {"": 1}}, "TTL labels"),
    ],
)
def test_impossible_usage_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        CacheUsage(**kwargs)


def test_ttl_split_zeros_are_dropped_and_the_split_is_read_only() -> None:
    u = CacheUsage(input_tokens=10, cache_write_tokens=10, cache_write_by_ttl={"1h": 0, "5m": 10})
    assert dict(u.cache_write_by_ttl) == {"5m": 10}
    assert u == CacheUsage(input_tokens=10, cache_write_tokens=10, cache_write_by_ttl={"5m": 10})
    with pytest.raises(TypeError):
        u.cache_write_by_ttl["5m"] = 1  # type: ignore[index]
    assert hash(u) == hash(CacheUsage(input_tokens=10, cache_write_tokens=10, cache_write_by_ttl={"5m": 10}))


def test_addition_sums_and_keeps_unknowns_unknown() -> None:
    a = CacheUsage(
        provider="anthropic",
        model="m",
        input_tokens=310,
        cache_read_tokens=200,
        cache_write_tokens=100,
        cache_write_by_ttl={"5m": 60, "1h": 40},
        output_tokens=5,
        reasoning_tokens=None,
    )
    b = CacheUsage(
        provider="anthropic",
        model="m",
        input_tokens=500,
        cache_read_tokens=300,
        cache_write_tokens=150,
        cache_write_by_ttl={"5m": 100},
        output_tokens=7,
        reasoning_tokens=3,
    )
    total = a + b
    assert (total.input_tokens, total.cache_read_tokens, total.cache_write_tokens) == (810, 500, 250)
    assert dict(total.cache_write_by_ttl) == {"5m": 160, "1h": 40}
    assert total.cache_write_unknown_ttl_tokens == 50  # b's 50 tokens with no reported TTL
    assert total.output_tokens == 12
    assert total.reasoning_tokens is None  # unknown + 3 is unknown
    assert (total.provider, total.model) == ("anthropic", "m")
    mixed = a + CacheUsage(provider="openai", model="gpt-4o", input_tokens=1, cache_write_tokens=None)
    assert (mixed.provider, mixed.model) == (None, None)
    assert mixed.cache_write_tokens is None
    assert dict(mixed.cache_write_by_ttl) == {}  # a split of an unknown total means nothing
    assert sum([a, b]) == total


def test_dict_round_trip_through_json() -> None:
    u = CacheUsage(
        provider="openai",
        model="gpt-5.6",
        input_tokens=40000,
        cache_read_tokens=30720,
        cache_write_tokens=8192,
        cache_write_by_ttl={"30m": 2048, "12h": 6144},
        output_tokens=1200,
        reasoning_tokens=900,
    )
    assert CacheUsage.from_dict(json.loads(json.dumps(u.to_dict()))) == u
    with pytest.raises(ValueError, match="unknown field 'cached'"):
        CacheUsage.from_dict({"cached": 3})


def test_repr_shows_the_split_as_a_dict() -> None:
    u = CacheUsage(input_tokens=5, cache_write_tokens=5, cache_write_by_ttl={"1h": 5})
    assert repr(u).endswith("cache_write_by_ttl={'1h': 5})")


@pytest.mark.parametrize(
    ("payload", "fmt"),
    [
        ({"usage": {"input_tokens": 1, "cache_read_input_tokens": 0, "output_tokens": 1}}, "anthropic"),
        ({"type": "message_start", "message": {"usage": {"input_tokens": 1, "output_tokens": 1}}}, "anthropic"),
        ({"usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}, "bedrock"),
        ({"metadata": {"usage": {"inputTokens": 1, "outputTokens": 1}, "metrics": {}}}, "bedrock"),
        ({"usage": {"prompt_tokens": 1, "completion_tokens": 1}}, "openai_chat"),
        ({"object": "response", "usage": {"input_tokens": 1, "output_tokens": 1}}, "openai_responses"),
        ({"input_tokens": 1, "output_tokens": 1, "input_tokens_details": {"cached_tokens": 0}}, "openai_responses"),
        ({"usageMetadata": {"promptTokenCount": 1}}, "gemini"),
        ({"usage_metadata": {"prompt_token_count": 1}}, "gemini"),
        ({"type": "ai", "usage_metadata": {"input_tokens": 1, "output_tokens": 1}}, "langchain"),
        ({"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}, "langchain"),
        ({"prompt_tokens": 1, "completion_tokens": 1, "cached_prompt_tokens": 0}, "crewai"),
    ],
)
def test_detect_format(payload: dict[str, Any], fmt: str) -> None:
    assert detect_format(payload) == fmt


def test_a_payload_without_usage_is_an_error_listing_what_was_found() -> None:
    with pytest.raises(UsageFormatError, match=r"no token usage found.*found keys \['choices', 'id'\]"):
        normalize_usage({"id": "x", "choices": []})


def test_a_row_of_nothing_is_never_zeros() -> None:
    for payload in ({}, {"usage": {}}, {"usage": {"foo": 1}}):
        with pytest.raises(UsageFormatError):
            normalize_usage(payload)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (None, "expected an object"),
        (42, "expected an object"),
        ("not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (object(), "expected a dict or an SDK response object"),
    ],
)
def test_payloads_of_the_wrong_kind(payload: Any, fragment: str) -> None:
    with pytest.raises(UsageFormatError, match=fragment):
        normalize_usage(payload)


def test_json_text_is_accepted() -> None:
    text = json.dumps(
        {"usage": {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 0}}}
    )
    assert normalize_usage(text).input_tokens == 10


def test_stream_events_must_be_objects() -> None:
    with pytest.raises(UsageFormatError, match=r"events\[1\]: expected an event object"):
        normalize_stream([{"type": "ping"}, [1, 2]])
