"""Bedrock usage through a real boto3 client: Converse, ConverseStream, InvokeModel (Anthropic body) and its
stream. Bedrock's ``inputTokens`` excludes the cache: the prompt total is ``inputTokens + cacheReadInputTokens +
cacheWriteInputTokens`` (worked out by hand in each test).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from cachepoint.core.usage import (
    CacheUsage,
    StreamUsage,
    UsageFormatError,
    from_bedrock,
    normalize_stream,
    normalize_usage,
)

MODEL = "us.anthropic.claude-opus-4-5-20251101-v1:0"

CONVERSE_BODY: dict[str, Any] = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Here is the summary..."}]}},
    "stopReason": "end_turn",
    "usage": {
        "inputTokens": 7,
        "outputTokens": 143,
        "totalTokens": 3301,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 3151,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 3000}, {"ttl": "5m", "inputTokens": 151}],
    },
    "metrics": {"latencyMs": 2154},
}
CONVERSE_EXPECTED = CacheUsage(
    provider="bedrock",
    model=MODEL,
    input_tokens=7 + 0 + 3151,  # 3158; totalTokens 3301 = 3158 + 143
    cache_read_tokens=0,
    cache_write_tokens=3151,
    cache_write_by_ttl={"1h": 3000, "5m": 151},
    output_tokens=143,
)


def test_converse_through_boto3(canned_server: Any, bedrock_client: Any) -> None:
    canned_server.respond(f"/model/{MODEL}/converse", CONVERSE_BODY)
    response = bedrock_client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    assert "ResponseMetadata" in response  # really botocore's parsed response
    assert normalize_usage(response, model=MODEL) == CONVERSE_EXPECTED
    assert from_bedrock(response, model=MODEL) == CONVERSE_EXPECTED
    assert from_bedrock(response["usage"], model=MODEL) == CONVERSE_EXPECTED


def test_converse_cache_hit_without_write_fields() -> None:
    # A hit with nothing written: Bedrock may leave cacheWriteInputTokens out altogether.
    body = {"usage": {"inputTokens": 4, "outputTokens": 50, "totalTokens": 1890, "cacheReadInputTokens": 1836}}
    usage = normalize_usage(body, model=MODEL)
    assert usage.input_tokens == 4 + 1836
    assert usage.cache_read_tokens == 1836
    assert usage.cache_write_tokens == 0
    assert usage.uncached_input_tokens == 4


def test_converse_without_cache_fields_had_no_caching() -> None:
    usage = normalize_usage({"usage": {"inputTokens": 900, "outputTokens": 12, "totalTokens": 912}})
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (900, 0, 0)
    assert usage.model is None  # Converse responses do not name the model: pass model=


def test_cache_details_larger_than_writes_is_an_error() -> None:
    body = json.loads(json.dumps(CONVERSE_BODY))
    body["usage"]["cacheWriteInputTokens"] = 3000
    with pytest.raises(UsageFormatError) as err:
        normalize_usage(body)
    assert err.value.path == "usage.cacheDetails"


def test_cache_detail_without_ttl_is_an_error_naming_it() -> None:
    body = json.loads(json.dumps(CONVERSE_BODY))
    del body["usage"]["cacheDetails"][1]["ttl"]
    with pytest.raises(UsageFormatError) as err:
        normalize_usage(body)
    assert err.value.path == "usage.cacheDetails[1].ttl"


STREAM_EVENTS = [
    ("messageStart", {"role": "assistant"}),
    ("contentBlockDelta", {"delta": {"text": "Hel"}, "contentBlockIndex": 0}),
    ("contentBlockDelta", {"delta": {"text": "lo"}, "contentBlockIndex": 0}),
    ("contentBlockStop", {"contentBlockIndex": 0}),
    ("messageStop", {"stopReason": "end_turn"}),
    (
        "metadata",
        {
            "usage": {
                "inputTokens": 25,
                "outputTokens": 310,
                "totalTokens": 5383,
                "cacheReadInputTokens": 4096,
                "cacheWriteInputTokens": 952,
                "cacheDetails": [{"ttl": "5m", "inputTokens": 952}],
            },
            "metrics": {"latencyMs": 1320},
        },
    ),
]


def test_converse_stream_through_boto3(canned_server: Any, bedrock_client: Any, aws_event_stream: Any) -> None:
    canned_server.respond(
        f"/model/{MODEL}/converse-stream", aws_event_stream(STREAM_EVENTS), "application/vnd.amazon.eventstream"
    )
    response = bedrock_client.converse_stream(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    with pytest.raises(UsageFormatError, match=r"stream: a stream of events \(EventStream\); pass its events"):
        normalize_usage(response)  # the whole response, stream unread: pointed at normalize_stream
    collector = StreamUsage(model=MODEL)
    kinds = []
    for event in response["stream"]:
        kinds.append(next(iter(event)))
        collector.feed(event)
    assert kinds == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert collector.usage() == CacheUsage(
        provider="bedrock",
        model=MODEL,
        input_tokens=25 + 4096 + 952,  # 5073; totalTokens 5383 = 5073 + 310
        cache_read_tokens=4096,
        cache_write_tokens=952,
        cache_write_by_ttl={"5m": 952},
        output_tokens=310,
    )


ANTHROPIC_BODY = {
    "id": "msg_bdrk_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-opus-4-5-20251101",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 3,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 8192,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 24,
    },
}


def test_invoke_model_with_anthropic_body(canned_server: Any, bedrock_client: Any) -> None:
    canned_server.respond(f"/model/{MODEL}/invoke", ANTHROPIC_BODY)
    response = bedrock_client.invoke_model(
        modelId=MODEL,
        body=json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": []}),
    )
    with pytest.raises(UsageFormatError, match=r"read it first"):
        normalize_usage(response, provider="bedrock")  # the StreamingBody itself: a clear error, not a guess
    body = response["body"].read()
    expected = CacheUsage(
        provider="bedrock",
        model=MODEL,
        input_tokens=3 + 8192,
        cache_read_tokens=8192,
        cache_write_tokens=0,
        output_tokens=24,
    )
    assert normalize_usage(body, provider="bedrock", model=MODEL) == expected
    assert from_bedrock(body, model=MODEL) == expected


def test_invoke_model_with_response_stream(canned_server: Any, bedrock_client: Any, aws_event_stream: Any) -> None:
    anthropic_events = [
        {
            "type": "message_start",
            "message": {**ANTHROPIC_BODY, "content": [], "usage": {**ANTHROPIC_BODY["usage"], "output_tokens": 1}},
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 24}},
        {
            "type": "message_stop",
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": 3,
                "outputTokenCount": 24,
                "invocationLatency": 812,
                "firstByteLatency": 301,
            },
        },
    ]
    frames = [("chunk", {"bytes": base64.b64encode(json.dumps(e).encode()).decode()}) for e in anthropic_events]
    canned_server.respond(
        f"/model/{MODEL}/invoke-with-response-stream", aws_event_stream(frames), "application/vnd.amazon.eventstream"
    )
    response = bedrock_client.invoke_model_with_response_stream(modelId=MODEL, body=b"{}")
    usage = normalize_stream(response["body"], model=MODEL)
    assert usage == CacheUsage(
        provider="bedrock",
        model=MODEL,
        input_tokens=8195,
        cache_read_tokens=8192,
        cache_write_tokens=0,
        output_tokens=24,
    )


def test_bedrock_shape_with_a_contradicting_provider_is_an_error() -> None:
    with pytest.raises(UsageFormatError, match="Bedrock Converse usage, but provider='openai'"):
        normalize_usage(CONVERSE_BODY, provider="openai")
