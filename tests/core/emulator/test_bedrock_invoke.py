"""Bedrock InvokeModel with Anthropic Messages bodies: the real ``anthropic`` SDK's ``AnthropicBedrock`` clients and
a real boto3 ``bedrock-runtime`` client against the emulator, with the simulator's numbers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.emulator.bedrock import BEDROCK_ANTHROPIC_VERSION
from cachepoint.core.usage import normalize_usage

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"  # Bedrock minimum 1024, TTLs 5m and 1h


def body(manual: str, question: str, *, ttl: str | None = None) -> dict[str, Any]:
    control: dict[str, Any] = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    return {
        "anthropic_version": BEDROCK_ANTHROPIC_VERSION,
        "max_tokens": 64,
        "system": [{"type": "text", "text": manual, "cache_control": control}],
        "messages": [{"role": "user", "content": question}],
    }


@pytest.fixture
def bedrock_anthropic(cachepoint_emulator: Emulator, aws_env: None) -> Callable[..., Any]:
    import anthropic

    def make(*, asynchronous: bool = False) -> Any:
        cls = anthropic.AsyncAnthropicBedrock if asynchronous else anthropic.AnthropicBedrock
        return cls(
            aws_access_key="AKIDEMULATOR",
            aws_secret_key="secret",
            aws_region="us-east-1",
            base_url=cachepoint_emulator.bedrock_endpoint_url,
            max_retries=0,
        )

    return make


def test_invoke_model_writes_then_reads_with_the_simulators_numbers(
    bedrock_factory: Callable[..., Any], cachepoint_emulator: Emulator, manual: str, simulate: Callable[..., Any]
) -> None:
    client = bedrock_factory()
    request = body(manual, "How do I reset it?", ttl="1h")
    answers = [json.loads(client.invoke_model(modelId=MODEL, body=json.dumps(request))["body"].read()) for _ in "ab"]
    expected = simulate("bedrock", [(request, 0.0), (request, 0.0)], tenant="AKIDEMULATOR", model=MODEL)

    first, second = answers
    assert first["type"] == "message"
    assert first["usage"]["cache_creation_input_tokens"] == expected[0].write_tokens > 1024
    assert first["usage"]["cache_creation"] == {
        "ephemeral_5m_input_tokens": 0,
        "ephemeral_1h_input_tokens": expected[0].write_tokens,
    }
    assert second["usage"]["cache_read_input_tokens"] == first["usage"]["cache_creation_input_tokens"]
    for answer, result in zip(answers, expected, strict=True):
        got = normalize_usage(answer["usage"], provider="bedrock", model=MODEL)
        assert (got.input_tokens, got.cache_read_tokens, got.cache_write_tokens) == (
            result.usage.input_tokens,
            result.usage.cache_read_tokens,
            result.usage.cache_write_tokens,
        )
    recorded = cachepoint_emulator.requests[0]
    assert (recorded.protocol, recorded.operation, recorded.model, recorded.tenant) == (
        "bedrock",
        "invoke_model",
        MODEL,
        "AKIDEMULATOR",
    )


def test_invoke_model_stream_sends_the_messages_events_as_chunks(
    bedrock_factory: Callable[..., Any], manual: str
) -> None:
    client = bedrock_factory()
    response = client.invoke_model_with_response_stream(modelId=MODEL, body=json.dumps(body(manual, "Reset?")))
    events = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]  # botocore decodes the base64
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert events[0]["message"]["usage"]["cache_creation_input_tokens"] > 1024
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["cacheWriteInputTokenCount"] == events[0]["message"]["usage"]["cache_creation_input_tokens"]
    assert metrics["outputTokenCount"] == events[-2]["usage"]["output_tokens"]


@pytest.mark.cachepoint_emulator(reply="Hold reset for ten seconds.")
def test_the_anthropic_sdks_bedrock_client_json_and_stream(
    bedrock_anthropic: Callable[..., Any], cachepoint_emulator: Emulator, manual: str
) -> None:
    client = bedrock_anthropic()
    system = [{"type": "text", "text": manual, "cache_control": {"type": "ephemeral"}}]
    message = client.messages.create(
        model=MODEL, max_tokens=64, system=system, messages=[{"role": "user", "content": "Hi"}]
    )
    with client.messages.stream(
        model=MODEL, max_tokens=64, system=system, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert message.content[0].text == text == "Hold reset for ten seconds."
    assert message.usage.cache_creation_input_tokens > 1024
    assert final.usage.cache_read_input_tokens == message.usage.cache_creation_input_tokens
    assert [r.operation for r in cachepoint_emulator.requests] == ["invoke_model", "invoke_model_stream"]
    assert cachepoint_emulator.requests[0].body["anthropic_version"]  # the SDK's, set by the client


@pytest.mark.cachepoint_emulator(reply=Reply(tool_calls=(ToolCall("reboot", {"now": True}),)))
async def test_the_async_anthropic_bedrock_client_with_a_tool_call(
    bedrock_anthropic: Callable[..., Any], manual: str
) -> None:
    client = bedrock_anthropic(asynchronous=True)
    tools = [{"name": "reboot", "description": "Reboot.", "input_schema": {"type": "object"}}]
    message = await client.messages.create(
        model=MODEL, max_tokens=64, system=manual, tools=tools, messages=[{"role": "user", "content": "Reboot"}]
    )
    assert message.stop_reason == "tool_use"
    assert message.content[-1].name == "reboot"
    assert message.content[-1].input == {"now": True}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"anthropic_version": None}, "required key [anthropic_version] not found"),
        ({"anthropic_version": "v1"}, "unsupported anthropic_version"),
        ({"model": MODEL}, "extraneous key [model]"),
        ({"max_tokens": None}, "required key [max_tokens] not found"),
    ],
)
def test_a_malformed_body_is_a_validation_error(
    bedrock_factory: Callable[..., Any], manual: str, change: dict[str, Any], message: str
) -> None:
    client = bedrock_factory()
    request = {k: v for k, v in {**body(manual, "Hi"), **change}.items() if v is not None}
    with pytest.raises(client.exceptions.ValidationException, match=message.replace("[", r"\[").replace("]", r"\]")):
        client.invoke_model(modelId=MODEL, body=json.dumps(request))


def test_five_markers_are_rejected_like_bedrock_does(bedrock_factory: Callable[..., Any]) -> None:
    client = bedrock_factory()
    block = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    request = {
        "anthropic_version": BEDROCK_ANTHROPIC_VERSION,
        "max_tokens": 8,
        "messages": [{"role": "user", "content": [block] * 5}],
    }
    with pytest.raises(client.exceptions.ValidationException, match="A maximum of 4 blocks with cache_control"):
        client.invoke_model(modelId=MODEL, body=json.dumps(request))


def test_invoke_model_is_emulated_for_anthropic_models_only(bedrock_factory: Callable[..., Any]) -> None:
    client = bedrock_factory()
    with pytest.raises(client.exceptions.ValidationException, match="Anthropic models only"):
        client.invoke_model(modelId="amazon.nova-pro-v1:0", body=json.dumps({"messages": []}))


def test_the_mantle_endpoint_serves_messages_under_bedrocks_rules(cachepoint_emulator: Emulator, manual: str) -> None:
    import anthropic

    request: dict[str, Any] = {
        "model": "anthropic.claude-sonnet-4-6",
        "max_tokens": 32,
        "system": [{"type": "text", "text": manual, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": "Hi"}],
    }
    mantle = anthropic.Anthropic(api_key="bedrock-key", base_url=cachepoint_emulator.bedrock_mantle_url, max_retries=0)
    message = mantle.messages.create(**request)
    assert message.usage.cache_creation.ephemeral_1h_input_tokens > 1024  # Bedrock's rules: 1h on this model
    direct = anthropic.Anthropic(api_key="key", base_url=cachepoint_emulator.anthropic_base_url, max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="ttl"):  # Anthropic's table does not know the Bedrock id
        direct.messages.create(**request)
    assert [(r.protocol, r.path, r.status) for r in cachepoint_emulator.requests] == [
        ("bedrock-mantle", "/anthropic/v1/messages", 200),
        ("anthropic", "/v1/messages", 400),
    ]


def test_a_system_turn_in_place_is_taken_in_messages_bodies_and_refused_by_converse(
    bedrock_factory: Callable[..., Any], manual: str
) -> None:
    """Claude 5 on Bedrock takes a system message in place in the Messages body (langchain-aws's profiles set
    ``mid_conversation_system_messages`` for those models; ChatAnthropicBedrock then sends it so); the turns
    around it still alternate. Converse has no system role in its messages."""
    client = bedrock_factory()
    request = body(manual, "How do I reset it?")
    request["messages"] += [
        {"role": "assistant", "content": "Hold the button."},
        {"role": "user", "content": "Done."},
        {"role": "system", "content": "The customer is on the premium plan."},
    ]
    answer = json.loads(client.invoke_model(modelId=MODEL, body=json.dumps(request))["body"].read())
    assert answer["type"] == "message"
    twice = {**request, "messages": [*request["messages"], {"role": "user", "content": "Hello?"}]}
    with pytest.raises(client.exceptions.ValidationException, match="must alternate between user and assistant"):
        client.invoke_model(modelId=MODEL, body=json.dumps(twice))
    turns = [{"role": "user", "content": [{"text": "Hi"}]}, {"role": "system", "content": [{"text": "Be brief."}]}]
    with pytest.raises(client.exceptions.ValidationException, match="expected 'user' or 'assistant'"):
        client.converse(modelId=MODEL, messages=turns)
