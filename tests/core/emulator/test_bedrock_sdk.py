"""A real boto3 ``bedrock-runtime`` client (Converse and ConverseStream) against the emulator.

boto3 is synchronous only; an async Bedrock client would need aiobotocore, which is not in the sdk group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.prompt import apply_cache_points
from cachepoint.core.usage import normalize_usage

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"  # Bedrock minimum 1024, TTLs 5m and 1h


def _request(manual: str, question: str, *, ttl: str | None = None) -> dict[str, Any]:
    point: dict[str, Any] = {"type": "default"} if ttl is None else {"type": "default", "ttl": ttl}
    return {
        "modelId": MODEL,
        "system": [{"text": manual}, {"cachePoint": point}],
        "messages": [{"role": "user", "content": [{"text": question}]}],
    }


def test_converse_writes_then_reads_with_the_simulators_numbers(
    bedrock_factory: Callable[..., Any], cachepoint_emulator: Emulator, manual: str, simulate: Callable[..., Any]
) -> None:
    client = bedrock_factory()
    request = _request(manual, "How do I reset it?", ttl="1h")
    first = client.converse(**request)
    second = client.converse(**request)
    body = {k: v for k, v in request.items() if k != "modelId"}
    expected = simulate("bedrock", [(body, 0.0), (body, 0.0)], tenant="AKIDEMULATOR", model=MODEL)
    assert first["usage"]["cacheWriteInputTokens"] == expected[0].write_tokens > 1024
    assert first["usage"]["cacheDetails"] == [{"ttl": "1h", "inputTokens": expected[0].write_tokens}]
    assert second["usage"]["cacheReadInputTokens"] == first["usage"]["cacheWriteInputTokens"]
    assert second["usage"]["cacheWriteInputTokens"] == 0
    # inputTokens is only the uncached part; the total adds every part and the output.
    usage = second["usage"]
    assert usage["inputTokens"] == expected[1].uncached_tokens
    assert usage["totalTokens"] == usage["inputTokens"] + usage["cacheReadInputTokens"] + usage["outputTokens"]
    for response, result in zip((first, second), expected, strict=True):
        got = normalize_usage(response, provider="bedrock", model=MODEL)
        assert (got.input_tokens, got.cache_read_tokens, got.cache_write_tokens, dict(got.cache_write_by_ttl)) == (
            result.usage.input_tokens,
            result.usage.cache_read_tokens,
            result.usage.cache_write_tokens,
            dict(result.usage.cache_write_by_ttl),
        )
    recorded = cachepoint_emulator.requests[0]
    assert (recorded.protocol, recorded.operation, recorded.model, recorded.tenant) == (
        "bedrock",
        "converse",
        MODEL,
        "AKIDEMULATOR",
    )


def test_converse_stream_carries_usage_in_the_metadata_event(bedrock_factory: Callable[..., Any], manual: str) -> None:
    client = bedrock_factory()
    request = _request(manual, "Stream it.")
    written = client.converse(**request)["usage"]["cacheWriteInputTokens"]
    events = list(client.converse_stream(**request)["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart"
    assert kinds[-2:] == ["messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "Stream it."
    metadata = events[-1]["metadata"]
    assert metadata["usage"]["cacheReadInputTokens"] == written
    assert normalize_usage(events, provider="bedrock", model=MODEL).cache_read_tokens == written


@pytest.mark.cachepoint_emulator(reply=Reply(tool_calls=(ToolCall("lookup", {"section": "reset"}, id="tu-1"),)))
def test_tool_use_streams_as_block_start_and_input_delta(bedrock_factory: Callable[..., Any], manual: str) -> None:
    events = list(bedrock_factory().converse_stream(**_request(manual, "reset?"))["stream"])
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"] == {"toolUseId": "tu-1", "name": "lookup"}
    delta = next(e["contentBlockDelta"] for e in events if "contentBlockDelta" in e)
    assert delta["delta"]["toolUse"]["input"] == '{"section":"reset"}'
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"


def test_each_access_key_has_its_own_cache(bedrock_factory: Callable[..., Any], manual: str) -> None:
    request = _request(manual, "Whose?")
    bedrock_factory("AKIDONE").converse(**request)
    assert bedrock_factory("AKIDTWO").converse(**request)["usage"]["cacheReadInputTokens"] == 0
    assert bedrock_factory("AKIDONE").converse(**request)["usage"]["cacheReadInputTokens"] > 0


def test_apply_cache_points_on_a_converse_request(bedrock_factory: Callable[..., Any], manual: str) -> None:
    raw = {
        "modelId": MODEL,
        "system": [{"text": manual}],
        "messages": [{"role": "user", "content": [{"text": "What is the default password?"}]}],
    }
    client = bedrock_factory()
    assert "cacheWriteInputTokens" not in client.converse(**raw)["usage"]  # no cachePoint: no cache fields at all
    placed, _ = apply_cache_points(raw, provider="bedrock")
    first = client.converse(**placed)["usage"]
    second = client.converse(**placed)["usage"]
    assert first["cacheWriteInputTokens"] > 1024
    assert second["cacheReadInputTokens"] == first["cacheWriteInputTokens"]


def test_five_cache_points_raise_the_modeled_validation_exception(bedrock_factory: Callable[..., Any]) -> None:
    client = bedrock_factory()
    content = []
    for i in range(5):
        content += [{"text": f"part {i}"}, {"cachePoint": {"type": "default"}}]
    with pytest.raises(client.exceptions.ValidationException) as excinfo:
        client.converse(modelId=MODEL, messages=[{"role": "user", "content": content}])
    error = excinfo.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "The model returned the following errors: A maximum of 4 blocks with cache_control may be provided. Found 5."
    )
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_cache_point_after_a_reasoning_block_is_rejected(bedrock_factory: Callable[..., Any]) -> None:
    client = bedrock_factory()
    reasoning = {"reasoningContent": {"reasoningText": {"text": "thinking...", "signature": "sig"}}}
    messages = [
        {"role": "user", "content": [{"text": "Hi"}]},
        {"role": "assistant", "content": [reasoning, {"cachePoint": {"type": "default"}}, {"text": "Hello"}]},
        {"role": "user", "content": [{"text": "Again"}]},
    ]
    with pytest.raises(
        client.exceptions.ValidationException, match="Cache point cannot be inserted after reasoning block"
    ):
        client.converse(modelId=MODEL, messages=messages)


def test_a_1h_ttl_on_a_5m_only_model_is_rejected(bedrock_factory: Callable[..., Any], manual: str) -> None:
    client = bedrock_factory()
    request = {**_request(manual, "q", ttl="1h"), "modelId": "anthropic.claude-3-7-sonnet-20250219-v1:0"}
    with pytest.raises(client.exceptions.ValidationException, match="ttl '1h' is not supported"):
        client.converse(**request)


@pytest.mark.parametrize("model", ["meta.llama3-1-70b-instruct-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"])
def test_a_cache_point_on_a_model_without_prompt_caching_is_rejected(
    bedrock_factory: Callable[..., Any], manual: str, model: str
) -> None:
    # What Bedrock answers (reported by users of LiteLLM, Positron, ZeroClaw...), so that an adapter placing
    # markers on such a model fails here as it would in production; the same request without the marker passes.
    client = bedrock_factory()
    with (
        pytest.warns(UserWarning, match="Claude 3.5\\+ and Nova"),
        pytest.raises(client.exceptions.ValidationException) as excinfo,
    ):
        client.converse(**{**_request(manual, "q"), "modelId": model})
    assert excinfo.value.response["Error"]["Message"] == (
        "You invoked an unsupported model, or your request did not allow prompt caching. See the documentation "
        "for more information."
    )
    plain = {**_request(manual, "q"), "modelId": model, "system": [{"text": manual}]}
    assert client.converse(**plain)["usage"]["inputTokens"] > 0


def test_conversation_role_rules(bedrock_factory: Callable[..., Any]) -> None:
    client = bedrock_factory()
    with pytest.raises(client.exceptions.ValidationException, match="must start with a user message"):
        client.converse(modelId=MODEL, messages=[{"role": "assistant", "content": [{"text": "x"}]}])
    twice = [{"role": "user", "content": [{"text": "a"}]}, {"role": "user", "content": [{"text": "b"}]}]
    with pytest.raises(client.exceptions.ValidationException, match="must alternate between user and assistant"):
        client.converse(modelId=MODEL, messages=twice)
    with pytest.raises(client.exceptions.ValidationException, match="must start with a user message"):
        client.converse_stream(modelId=MODEL, messages=[{"role": "assistant", "content": [{"text": "x"}]}])


def test_max_tokens_truncates_and_says_so(bedrock_factory: Callable[..., Any], manual: str) -> None:
    request = {**_request(manual, "one two three four five six"), "inferenceConfig": {"maxTokens": 2}}
    response = bedrock_factory().converse(**request)
    assert response["stopReason"] == "max_tokens"
    assert response["output"]["message"]["content"] == [{"text": "one two"}]
    assert response["usage"]["outputTokens"] == 2


def test_count_tokens_counts_what_the_call_is_billed_and_answers_nothing(
    bedrock_factory: Callable[..., Any], cachepoint_emulator: Emulator, manual: str
) -> None:
    # CrewAI asks Bedrock's CountTokens before each task: boto3's `count_tokens`, a Converse or InvokeModel body.
    import json

    client = bedrock_factory()
    request = _request(manual, "How do I reset it?")
    converse = {k: v for k, v in request.items() if k != "modelId"}
    counted = client.count_tokens(modelId=MODEL, input={"converse": converse})["inputTokens"]
    invoke_body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "system": manual,
        "messages": [{"role": "user", "content": "How do I reset it?"}],
    }
    as_invoke = client.count_tokens(modelId=MODEL, input={"invokeModel": {"body": json.dumps(invoke_body).encode()}})
    billed = client.converse(**request)["usage"]
    assert counted == billed["inputTokens"] + billed["cacheWriteInputTokens"] + billed["cacheReadInputTokens"] > 1024
    assert abs(as_invoke["inputTokens"] - counted) < 50  # the same words in the other body
    operations = [r.operation for r in cachepoint_emulator.requests]
    assert operations == ["count_tokens", "count_tokens", "converse"]
    assert billed["cacheWriteInputTokens"] > 0  # counting cached nothing
