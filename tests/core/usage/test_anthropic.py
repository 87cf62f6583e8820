"""Anthropic Messages usage: JSON responses, SDK objects, and real SDK streams.

Expected numbers are worked out by hand from Anthropic's convention: the prompt total is
``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``.
"""

from __future__ import annotations

import copy
from typing import Any

import anthropic
import pytest

from cachepoint.core.usage import (
    CacheUsage,
    StreamUsage,
    UsageFormatError,
    from_anthropic,
    normalize_stream,
    normalize_usage,
)

# A first call that writes a long system prompt to the 5-minute cache (numbers from Anthropic's docs example).
WRITE_RESPONSE: dict[str, Any] = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [{"type": "text", "text": "The themes of Pride and Prejudice are..."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 21,
        "cache_creation_input_tokens": 188086,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 188086, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 393,
        "service_tier": "standard",
    },
}

# A later call: tools + system read from the cache, a 1h and a 5m breakpoint written further down.
MIXED_RESPONSE: dict[str, Any] = {
    "id": "msg_01Mixed",
    "type": "message",
    "role": "assistant",
    "model": "claude-opus-4-5-20251101",
    "content": [
        {"type": "thinking", "thinking": "Let me look...", "signature": "EqQBCkgIARABGAIiQL"},
        {"type": "text", "text": "Done."},
    ],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 50,
        "cache_creation_input_tokens": 2500,
        "cache_read_input_tokens": 40000,
        "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 2000},
        "output_tokens": 700,
        "output_tokens_details": {"thinking_tokens": 600},
        "service_tier": "standard",
        "inference_geo": "us",
    },
}


def test_cache_write_response_from_sdk_object() -> None:
    message = anthropic.types.Message.model_validate(WRITE_RESPONSE)
    usage = normalize_usage(message)
    assert usage == CacheUsage(
        provider="anthropic",
        model="claude-sonnet-4-6",
        input_tokens=21 + 188086,  # 188107
        cache_read_tokens=0,
        cache_write_tokens=188086,
        cache_write_by_ttl={"5m": 188086},
        output_tokens=393,
    )
    assert usage.uncached_input_tokens == 21
    assert usage.cache_hit is False


def test_mixed_ttl_read_and_thinking() -> None:
    usage = normalize_usage(anthropic.types.Message.model_validate(MIXED_RESPONSE))
    assert usage.input_tokens == 50 + 2500 + 40000
    assert usage.cache_read_tokens == 40000
    assert usage.cache_write_tokens == 2500
    assert dict(usage.cache_write_by_ttl) == {"5m": 500, "1h": 2000}
    assert usage.cache_write_unknown_ttl_tokens == 0
    assert usage.output_tokens == 700
    assert usage.reasoning_tokens == 600
    assert usage.cache_hit is True
    assert usage.cache_read_ratio == pytest.approx(40000 / 42550)


def test_plain_dict_and_sdk_object_agree() -> None:
    as_dict = normalize_usage(WRITE_RESPONSE)
    as_sdk = normalize_usage(anthropic.types.Message.model_validate(WRITE_RESPONSE))
    as_usage_only = from_anthropic(WRITE_RESPONSE["usage"], model="claude-sonnet-4-6")
    assert as_dict == as_sdk == as_usage_only


def test_response_without_cache_fields_had_no_caching() -> None:
    body = {**WRITE_RESPONSE, "usage": {"input_tokens": 1200, "output_tokens": 30}}
    usage = normalize_usage(body)
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (1200, 0, 0)


def test_invoke_model_body_is_labelled_bedrock() -> None:
    body = copy.deepcopy(WRITE_RESPONSE)
    body["model"] = "claude-sonnet-4-6"
    usage = normalize_usage(body, provider="bedrock", model="us.anthropic.claude-sonnet-4-6")
    assert usage.provider == "bedrock"
    assert usage.model == "us.anthropic.claude-sonnet-4-6"
    assert usage.input_tokens == 188107


def test_breakdown_larger_than_total_is_an_error_naming_the_field() -> None:
    body = copy.deepcopy(WRITE_RESPONSE)
    body["usage"]["cache_creation"]["ephemeral_1h_input_tokens"] = 5
    with pytest.raises(UsageFormatError) as err:
        normalize_usage(body)
    assert err.value.path == "usage.cache_creation"
    assert "188091" in str(err.value)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("input_tokens", -3, "non-negative"),
        ("cache_read_input_tokens", "900", "integer"),
        ("output_tokens", True, "boolean"),
    ],
)
def test_bad_counts_are_errors_naming_the_field(field: str, value: object, fragment: str) -> None:
    body = copy.deepcopy(WRITE_RESPONSE)
    body["usage"][field] = value
    with pytest.raises(UsageFormatError, match=fragment) as err:
        normalize_usage(body)
    assert err.value.path == f"usage.{field}"


def test_missing_output_tokens_is_an_error_not_zero() -> None:
    with pytest.raises(UsageFormatError) as err:
        from_anthropic({"input_tokens": 10, "cache_read_input_tokens": 5})
    assert err.value.path == "output_tokens"


# -- streaming ------------------------------------------------------------------------------------------

STREAM_START = {
    "type": "message_start",
    "message": {
        "id": "msg_01Stream",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 2051,
            "cache_read_input_tokens": 18432,
            "cache_creation": {"ephemeral_5m_input_tokens": 11, "ephemeral_1h_input_tokens": 2040},
            "output_tokens": 1,
            "service_tier": "standard",
        },
    },
}
STREAM_BODY = [
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there"}},
    {"type": "content_block_stop", "index": 0},
]
STREAM_DELTA = {
    "type": "message_delta",
    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
    "usage": {
        "input_tokens": 12,
        "cache_creation_input_tokens": 2051,
        "cache_read_input_tokens": 18432,
        "output_tokens": 87,
    },
}
STREAM_EVENTS = [STREAM_START, *STREAM_BODY, STREAM_DELTA, {"type": "message_stop"}]
STREAM_EXPECTED = CacheUsage(
    provider="anthropic",
    model="claude-sonnet-4-6",
    input_tokens=12 + 2051 + 18432,  # 20495
    cache_read_tokens=18432,
    cache_write_tokens=2051,
    cache_write_by_ttl={"5m": 11, "1h": 2040},
    output_tokens=87,
)


def test_stream_from_dict_events() -> None:
    assert normalize_stream(STREAM_EVENTS) == STREAM_EXPECTED
    assert normalize_usage(STREAM_EVENTS) == STREAM_EXPECTED  # a list of events is a stream


def test_stream_of_real_sdk_events(canned_server: Any, sse: Any) -> None:
    canned_server.respond("/v1/messages", sse(STREAM_EVENTS), "text/event-stream")
    client = anthropic.Anthropic(base_url=canned_server.base_url, api_key="test", max_retries=0)
    collector = StreamUsage()
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        for event in stream:
            collector.feed(event)  # SDK event objects, including the SDK's own text/content events
        final = stream.get_final_message()
    assert collector.usage() == STREAM_EXPECTED
    # The SDK's accumulated message keeps message_start's breakdown and the delta's cumulative counts.
    assert normalize_usage(final) == STREAM_EXPECTED


def test_raw_sdk_stream_events(canned_server: Any, sse: Any) -> None:
    canned_server.respond("/v1/messages", sse(STREAM_EVENTS), "text/event-stream")
    client = anthropic.Anthropic(base_url=canned_server.base_url, api_key="test", max_retries=0)
    events = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    assert normalize_stream(events) == STREAM_EXPECTED


def test_stream_whose_writes_grow_after_message_start() -> None:
    # Server tools can add sampling iterations: the final cumulative write count exceeds the first breakdown.
    start = copy.deepcopy(STREAM_START)
    delta = copy.deepcopy(STREAM_DELTA)
    delta["usage"]["cache_creation_input_tokens"] = 2051 + 300
    delta["usage"]["input_tokens"] = 40
    usage = normalize_stream([start, delta])
    assert usage.input_tokens == 40 + 2351 + 18432
    assert usage.cache_write_tokens == 2351
    assert dict(usage.cache_write_by_ttl) == {"5m": 11, "1h": 2040}
    assert usage.cache_write_unknown_ttl_tokens == 300


def test_old_style_delta_with_output_only_keeps_start_counts() -> None:
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 87}}
    assert normalize_stream([STREAM_START, delta]) == STREAM_EXPECTED


def test_lone_message_delta_leaves_unknowns_unknown() -> None:
    usage = normalize_usage({"type": "message_delta", "delta": {}, "usage": {"output_tokens": 9}})
    assert usage.output_tokens == 9
    assert usage.input_tokens is None
    assert usage.cache_read_tokens is None


def test_interrupted_stream_reports_message_start() -> None:
    usage = normalize_stream([STREAM_START, *STREAM_BODY[:3]])
    assert usage.input_tokens == 20495
    assert usage.output_tokens == 1


def test_stream_without_usage_is_a_clear_error() -> None:
    with pytest.raises(UsageFormatError, match="no usage in 5 events"):
        normalize_stream(STREAM_BODY)
