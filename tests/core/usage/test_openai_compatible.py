"""OpenAI Chat Completions and Responses, and the servers that copy their usage shape (OpenRouter, vLLM,
SGLang, DeepSeek, LiteLLM). Their prompt counts include cached and written tokens; every expected number below
is the payload's own total split by hand.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import openai
import pytest

from cachepoint.core.usage import (
    CacheUsage,
    StreamUsage,
    UsageFormatError,
    from_openai,
    from_openrouter,
    from_sglang,
    from_vllm,
    normalize_stream,
    normalize_usage,
)

CHAT_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "The image shows...", "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}


def test_chat_completion_sdk_object() -> None:
    usage = normalize_usage(openai.types.chat.ChatCompletion.model_validate(CHAT_RESPONSE))
    assert usage == CacheUsage(
        provider="openai",
        model="gpt-4o-2024-08-06",
        input_tokens=2006,
        cache_read_tokens=1920,
        cache_write_tokens=None,  # classic Chat Completions report no writes: unknown, not 0
        output_tokens=300,
        reasoning_tokens=0,
    )
    assert usage.uncached_input_tokens is None
    assert usage.cache_read_ratio == pytest.approx(1920 / 2006)


def test_gpt_5_6_chat_reports_writes() -> None:
    body = copy.deepcopy(CHAT_RESPONSE)
    body["model"] = "gpt-5.6"
    body["usage"] = {
        "prompt_tokens": 6000,
        "completion_tokens": 812,
        "total_tokens": 6812,
        "prompt_tokens_details": {"cached_tokens": 4096, "cache_write_tokens": 1536, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 640},
    }
    usage = from_openai(openai.types.chat.ChatCompletion.model_validate(body))
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (6000, 4096, 1536)
    assert usage.uncached_input_tokens == 6000 - 4096 - 1536  # 368
    assert (usage.output_tokens, usage.reasoning_tokens) == (812, 640)


RESPONSE_OBJECT: dict[str, Any] = {
    "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
    "object": "response",
    "created_at": 1741476542,
    "status": "completed",
    "model": "gpt-5.6-2026-09-01",
    "output": [
        {
            "type": "message",
            "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e6",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Sure.", "annotations": []}],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {
        "input_tokens": 40000,
        "input_tokens_details": {
            "cached_tokens": 30720,
            "cache_write_tokens": 8192,
            "cache_write_tokens_details": {"ttl_30m_tokens": 2048, "ttl_12h_tokens": 6144},
        },
        "output_tokens": 1200,
        "output_tokens_details": {"reasoning_tokens": 900},
        "total_tokens": 41200,
    },
}
RESPONSE_EXPECTED = CacheUsage(
    provider="openai",
    model="gpt-5.6-2026-09-01",
    input_tokens=40000,
    cache_read_tokens=30720,
    cache_write_tokens=8192,
    cache_write_by_ttl={"30m": 2048, "12h": 6144},
    output_tokens=1200,
    reasoning_tokens=900,
)


def test_responses_api_object() -> None:
    response = openai.types.responses.Response.model_validate(RESPONSE_OBJECT)
    usage = normalize_usage(response)
    assert usage == RESPONSE_EXPECTED
    assert usage.uncached_input_tokens == 40000 - 30720 - 8192  # 1088
    assert from_openai(RESPONSE_OBJECT["usage"], model="gpt-5.6-2026-09-01") == RESPONSE_EXPECTED


def test_classic_responses_usage_reports_zero_writes() -> None:
    usage = normalize_usage(
        {
            "object": "response",
            "model": "gpt-5",
            "usage": {
                "input_tokens": 3000,
                "input_tokens_details": {"cached_tokens": 2944, "cache_write_tokens": 0},
                "output_tokens": 10,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 3010,
            },
        }
    )
    assert usage.cache_write_tokens == 0
    assert usage.uncached_input_tokens == 56


def test_chat_stream_through_the_sdk(canned_server: Any, sse: Any) -> None:
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06"}
    events = [
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**chunk, "choices": [], "usage": CHAT_RESPONSE["usage"]},
    ]
    canned_server.respond("/v1/chat/completions", sse(events, done=True), "text/event-stream")
    client = openai.OpenAI(base_url=f"{canned_server.base_url}/v1", api_key="test", max_retries=0)
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = normalize_stream(stream)
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (2006, 1920, 300)
    assert usage.model == "gpt-4o-2024-08-06"


def test_chat_stream_without_include_usage_is_a_clear_error() -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "usage": None}
    with pytest.raises(UsageFormatError, match="include_usage"):
        normalize_stream([{**chunk, "choices": [{"index": 0, "delta": {"content": "x"}}]}])
    with pytest.raises(UsageFormatError, match="include_usage"):
        normalize_usage({**chunk, "choices": []})


def test_responses_stream_through_the_sdk(canned_server: Any, sse: Any) -> None:
    in_progress = {**RESPONSE_OBJECT, "status": "in_progress", "output": [], "usage": None}
    events = [
        {"type": "response.created", "sequence_number": 0, "response": in_progress},
        {"type": "response.in_progress", "sequence_number": 1, "response": in_progress},
        {
            "type": "response.output_text.delta",
            "sequence_number": 2,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Sure.",
            "logprobs": [],
        },
        {"type": "response.completed", "sequence_number": 3, "response": RESPONSE_OBJECT},
    ]
    canned_server.respond("/v1/responses", sse(events), "text/event-stream")
    client = openai.OpenAI(base_url=f"{canned_server.base_url}/v1", api_key="test", max_retries=0)
    collector = StreamUsage()
    for event in client.responses.create(model="gpt-5.6", input="Hi", stream=True):
        collector.feed(event)
    assert collector.usage() == RESPONSE_EXPECTED
    # A single response.completed event is also a payload on its own.
    assert normalize_usage(events[-1]) == RESPONSE_EXPECTED


# -- OpenAI-compatible servers ---------------------------------------------------------------------------

OPENROUTER_RESPONSE: dict[str, Any] = {
    "id": "gen-1762805773-abcdef",
    "provider": "Anthropic",
    "model": "anthropic/claude-sonnet-4.5",
    "object": "chat.completion",
    "created": 1762805773,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 13559,
        "completion_tokens": 122,
        "total_tokens": 13681,
        "prompt_tokens_details": {"cached_tokens": 10240, "cache_write_tokens": 3200, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": 0},
        "cost": 0.017558,
        "is_byok": False,
        "cost_details": {"upstream_inference_cost": None},
    },
}


def test_openrouter_is_detected_and_split() -> None:
    usage = normalize_usage(OPENROUTER_RESPONSE)
    assert usage.provider == "openrouter"
    assert usage.model == "anthropic/claude-sonnet-4.5"
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (13559, 10240, 3200)
    assert usage.uncached_input_tokens == 119
    assert from_openrouter(OPENROUTER_RESPONSE) == usage


VLLM_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-9d3e2a7c1f",
    "object": "chat.completion",
    "created": 1755000000,
    "model": "Qwen/Qwen3-8B",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "ok", "tool_calls": [], "reasoning_content": None},
            "logprobs": None,
            "finish_reason": "stop",
            "stop_reason": None,
        }
    ],
    "usage": {"prompt_tokens": 1543, "total_tokens": 1563, "completion_tokens": 20, "prompt_tokens_details": None},
    "prompt_logprobs": None,
    "kv_transfer_params": None,
}


def test_vllm_without_prompt_tokens_details_leaves_reads_unknown() -> None:
    usage = from_vllm(openai.types.chat.ChatCompletion.model_validate(VLLM_RESPONSE))
    assert usage.provider == "vllm"
    assert usage.input_tokens == 1543
    assert usage.cache_read_tokens is None  # not zero: the server did not say
    assert usage.cache_hit is None


def test_vllm_with_prompt_tokens_details() -> None:
    body = copy.deepcopy(VLLM_RESPONSE)
    body["usage"]["prompt_tokens_details"] = {"cached_tokens": 1536}
    usage = normalize_usage(body, provider="vllm")
    assert (usage.provider, usage.cache_read_tokens, usage.cache_hit) == ("vllm", 1536, True)


def test_sglang_cache_report() -> None:
    body = copy.deepcopy(VLLM_RESPONSE)
    body["model"] = "meta-llama/Llama-3.1-8B-Instruct"
    body["usage"] = {
        "prompt_tokens": 4100,
        "completion_tokens": 64,
        "total_tokens": 4164,
        "prompt_tokens_details": {"cached_tokens": 4032},
    }
    usage = from_sglang(body)
    assert (usage.provider, usage.input_tokens, usage.cache_read_tokens) == ("sglang", 4100, 4032)


def test_deepseek_cache_hit_fields() -> None:
    usage = normalize_usage(
        {
            "model": "deepseek-chat",
            "usage": {
                "prompt_tokens": 1300,
                "completion_tokens": 20,
                "total_tokens": 1320,
                "prompt_cache_hit_tokens": 1280,
                "prompt_cache_miss_tokens": 20,
            },
        },
        provider="deepseek",
    )
    assert (usage.input_tokens, usage.cache_read_tokens) == (1300, 1280)


def test_litellm_anthropic_usage_counts_each_token_once() -> None:
    # LiteLLM's usage for an Anthropic call (litellm issue #11364): prompt_tokens already includes the cache;
    # the cache counts appear twice (details and top level) and must not be added twice.
    usage = normalize_usage(
        {
            "total_tokens": 103925,
            "prompt_tokens": 98805,
            "completion_tokens": 5120,
            "prompt_tokens_details": {"cached_tokens": 66360, "cache_creation_tokens": 32435},
            "cache_read_input_tokens": 66360,
            "completion_tokens_details": {"reasoning_tokens": 1710},
            "cache_creation_input_tokens": 32435,
        },
        provider="anthropic",
        model="claude-opus-4-5-20251101",
    )
    assert usage.input_tokens == 98805
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (66360, 32435)
    assert usage.uncached_input_tokens == 10  # 98805 - 66360 - 32435
    assert usage.reasoning_tokens == 1710


def test_duplicate_fields_that_disagree_are_an_error() -> None:
    payload = {
        "prompt_tokens": 100,
        "completion_tokens": 1,
        "prompt_tokens_details": {"cached_tokens": 64},
        "cache_read_input_tokens": 32,
    }
    with pytest.raises(UsageFormatError, match="cache_read_input_tokens is 32") as err:
        normalize_usage(payload)
    assert err.value.path == "prompt_tokens_details.cached_tokens"


def test_cached_more_than_prompt_is_an_error() -> None:
    with pytest.raises(UsageFormatError) as err:
        normalize_usage({"prompt_tokens": 100, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 128}})
    assert err.value.path == "prompt_tokens"


def test_responses_ttl_split_larger_than_writes_is_an_error() -> None:
    body = json.loads(json.dumps(RESPONSE_OBJECT))
    body["usage"]["input_tokens_details"]["cache_write_tokens"] = 100
    with pytest.raises(UsageFormatError) as err:
        normalize_usage(body)
    assert err.value.path == "usage.input_tokens_details.cache_write_tokens_details"


def test_reasoning_above_output_is_an_error_not_a_crash() -> None:
    body = copy.deepcopy(CHAT_RESPONSE)
    body["usage"]["completion_tokens_details"]["reasoning_tokens"] = 301
    with pytest.raises(UsageFormatError, match="reasoning_tokens"):
        normalize_usage(body)
