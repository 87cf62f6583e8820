"""CachePolicy validation names the field; sampling_reason / is_deterministic read what a request samples."""

from __future__ import annotations

from typing import Any

import pytest

from cachepoint.core.response_cache import CachePolicy, is_deterministic, sampling_reason


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"namespace": "a:b"}, ValueError, r"^CachePolicy\.namespace: 'a:b' is not a valid namespace"),
        ({"namespace": "chat", "ttl": 0}, ValueError, r"^CachePolicy\.ttl: expected a positive number"),
        ({"namespace": "chat", "ttl": float("inf")}, ValueError, r"^CachePolicy\.ttl"),
        ({"namespace": "chat", "tenant": ""}, ValueError, r"^CachePolicy\.tenant: empty string"),
        ({"namespace": "chat", "tenant": 7}, TypeError, r"^CachePolicy\.tenant: expected str or None"),
        ({"namespace": "chat", "version": 1.5}, TypeError, r"^CachePolicy\.version: expected int or str"),
        ({"namespace": "chat", "tags": ["ok", ""]}, ValueError, r"^CachePolicy\.tags\[1\]: expected a non-empty str"),
        ({"namespace": "chat", "lock_wait": -1}, ValueError, r"^CachePolicy\.lock_wait"),
        ({"namespace": "chat", "lock_ttl": True}, ValueError, r"^CachePolicy\.lock_ttl"),
        ({"namespace": "chat", "max_entry_bytes": 0}, ValueError, r"^CachePolicy\.max_entry_bytes"),
        ({"namespace": "chat", "single_flight": "yes"}, TypeError, r"^CachePolicy\.single_flight: expected bool"),
        (
            {"namespace": "chat", "unset_temperature": "greedy"},
            ValueError,
            r"^CachePolicy\.unset_temperature: expected 'sampled' or 'deterministic', got 'greedy'",
        ),
        ({"namespace": "chat", "unset_temperature": None}, ValueError, r"^CachePolicy\.unset_temperature: .* None"),
    ],
)
def test_invalid_fields_are_named(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        CachePolicy(**kwargs)


def test_tags_and_ignored_params_are_normalized() -> None:
    policy = CachePolicy("chat", tags="faq", ignore_params=["trace_id"])
    assert policy.tags == ("faq",)
    assert policy.ignore_params == frozenset({"trace_id"})
    assert policy.ttl == 3600.0
    assert policy.version == 1


UNSET = "sampled: temperature unset"
HOT = "sampled: temperature > 0"
SEVERAL = "sampled: several candidates"


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        # Not LLM requests (nothing to answer, or no model): no temperature concept, nothing samples.
        ({"model": "m"}, None),
        ({"query": "paris", "k": 5}, None),
        ({"messages": [{"role": "user", "content": "hi"}]}, None),
        ({"prompt": "p", "temperature": 0.0}, None),
        # Explicit temperatures, top level.
        ({"model": "m", "messages": [], "temperature": 0}, None),
        ({"model": "m", "messages": [], "temperature": 0.0, "top_p": 0.3}, None),
        ({"model": "m", "messages": [], "temperature": 0.01}, HOT),
        ({"model": "m", "temperature": 1}, HOT),
        # Unset on an LLM request: every provider samples at 1.0 (Anthropic, OpenAI Chat and Responses, Bedrock
        # Converse, Gemini REST and google-genai, legacy completions, Ollama).
        ({"model": "claude-sonnet-5", "messages": [{"role": "user", "content": "hi"}]}, UNSET),
        ({"model": "gpt-5", "input": "hi"}, UNSET),
        ({"model": "gpt-5", "input": "hi", "temperature": None}, UNSET),
        ({"modelId": "anthropic.claude", "messages": [], "inferenceConfig": {"maxTokens": 100}}, UNSET),
        ({"model": "gemini-2.5-pro", "contents": [], "generationConfig": {"maxOutputTokens": 10}}, UNSET),
        ({"model_name": "gpt-3.5-turbo-instruct", "prompt": "Once"}, UNSET),
        ({"model": "llama3", "messages": [], "options": {"num_ctx": 4096}}, UNSET),
        # Bedrock InvokeModel bodies carry the model in the URL, and their format's version in the body.
        ({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": []}, UNSET),
        ({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [], "temperature": 0}, None),
        ({"schemaVersion": "messages-v1", "messages": [], "inferenceConfig": {"maxTokens": 50}}, UNSET),
        ({"schemaVersion": "messages-v1", "messages": [], "inferenceConfig": {"temperature": 0}}, None),
        # Nested configs (the top level wins when both are set).
        ({"modelId": "m", "messages": [], "inferenceConfig": {"temperature": 0.5}}, HOT),
        ({"modelId": "m", "messages": [], "inferenceConfig": {"temperature": 0}}, None),
        ({"model": "gemini", "contents": [], "generationConfig": {"temperature": 0.9}}, HOT),
        ({"model": "gemini", "contents": [], "generationConfig": {"temperature": 0}}, None),
        ({"model": "gemini", "contents": [], "config": {"temperature": 0, "max_output_tokens": 5}}, None),
        ({"model": "llama3", "messages": [], "options": {"temperature": 0}}, None),
        ({"model": "m", "messages": [], "temperature": 0, "inferenceConfig": {"temperature": 0.7}}, None),
        # SDK request options: anthropic 1.0+ takes sampling parameters only through extra_body.
        ({"model": "claude-sonnet-5", "messages": [], "max_tokens": 64, "extra_body": {"temperature": 0}}, None),
        ({"model": "claude-sonnet-5", "messages": [], "extra_body": {"temperature": 1.0}}, HOT),
        ({"model": "claude-sonnet-5", "messages": [], "extra_body": {"top_k": 5}}, UNSET),
        # The SDKs send extra_body over the top level: what it sets wins.
        ({"model": "m", "messages": [], "temperature": 0.5, "extra_body": {"temperature": 0}}, None),
        ({"model": "m", "messages": [], "temperature": 0, "extra_body": {"temperature": 0.7}}, HOT),
        ({"model": "m", "messages": [], "extra_body": {"temperature": 0, "n": 3}}, None),
        ({"model": "m", "messages": [], "temperature": 0.2, "extra_body": {"n": 3}}, HOT),
        ({"model": "m", "messages": [], "temperature": None, "extra_body": {"temperature": 0.0}}, None),
        # Several candidates.
        ({"model": "m", "n": 2}, SEVERAL),
        ({"model": "m", "messages": [], "n": 2, "temperature": 0}, None),
        ({"model": "m", "messages": [], "n": 2, "temperature": 0.4}, HOT),
        ({"model": "gemini", "contents": [], "generationConfig": {"candidateCount": 4, "temperature": 0.0}}, None),
        ({"model": "gemini", "generationConfig": {"candidateCount": 4}}, SEVERAL),
        ({"model": "m", "n": 1}, None),
        ({"search": "x", "options": {"n": 10}}, None),  # a function's own "n" inside options is not a candidate count
        # Embeddings share the model + input shape but never sample.
        ({"model": "text-embedding-3-small", "input": "hello"}, None),
        ({"model": "gemini-embedding-001", "contents": ["hello"]}, None),
        ({"model": "voyage-3", "input": ["a"], "input_type": "document"}, None),
        ({"model": "m", "input": "hello", "dimensions": 256}, None),
    ],
)
def test_sampling_reason(request_: dict[str, Any], expected: str | None) -> None:
    assert sampling_reason(request_) == expected
    assert is_deterministic(request_) is (expected is None)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"model": "m", "messages": []}, None),
        ({"model": "m", "messages": [], "n": 3}, SEVERAL),
        ({"model": "m", "messages": [], "temperature": 0.2}, HOT),
    ],
)
def test_unset_temperature_deterministic_only_changes_the_unset_case(
    request_: dict[str, Any], expected: str | None
) -> None:
    assert sampling_reason(request_, unset_temperature="deterministic") == expected
    policy = CachePolicy("chat", unset_temperature="deterministic")
    assert policy.bypass_reason(request_) == expected
    assert (
        CachePolicy("chat", unset_temperature="deterministic", cache_nondeterministic=True).bypass_reason(request_)
        is None
    )
