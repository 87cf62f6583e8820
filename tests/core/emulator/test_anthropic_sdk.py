"""The real ``anthropic`` SDK (sync and async, JSON and streaming) against the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import pytest

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.prompt import apply_cache_points
from cachepoint.core.tokens import DEFAULT_COUNTER
from cachepoint.core.usage import CacheUsage, normalize_usage

MODEL = "claude-sonnet-4-6"  # minimum 1024 tokens, TTLs 5m and 1h


def _payload(manual: str, question: str, *, ttl: str | None = None) -> dict[str, Any]:
    marker: dict[str, Any] = {"type": "ephemeral"} if ttl is None else {"type": "ephemeral", "ttl": ttl}
    return {
        "model": MODEL,
        "max_tokens": 64,
        "system": [{"type": "text", "text": manual, "cache_control": marker}],
        "messages": [{"role": "user", "content": question}],
    }


def _cache_parts(usage: CacheUsage) -> tuple[Any, ...]:
    return usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens, dict(usage.cache_write_by_ttl)


def test_first_call_writes_second_reads_and_the_numbers_are_the_simulators(
    cachepoint_emulator: Emulator, anthropic_client: Any, manual: str, simulate: Callable[..., Any]
) -> None:
    payload = _payload(manual, "How do I reset it?")
    first = anthropic_client.messages.create(**payload)
    second = anthropic_client.messages.create(**payload)
    expected = simulate("anthropic", [(payload, 0.0), (payload, 0.0)], tenant="key-a")

    assert first.usage.cache_creation_input_tokens == expected[0].write_tokens > 1024
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == expected[0].write_tokens
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    # input_tokens is only what follows the last breakpoint: the user message.
    assert first.usage.input_tokens == second.usage.input_tokens == expected[0].uncached_tokens
    for response, result in zip((first, second), expected, strict=True):
        assert _cache_parts(normalize_usage(response, provider="anthropic")) == _cache_parts(result.usage)
    # What the emulator recorded is what it sent.
    recorded = cachepoint_emulator.requests
    assert [r.usage for r in recorded] == [normalize_usage(first), normalize_usage(second)]
    # (anthropic 2.x sends the key as a bearer token; older versions and curl use x-api-key: both count)
    assert recorded[0].tenant == "key-a"
    assert recorded[0].headers.get("x-api-key", recorded[0].headers.get("authorization", "")).endswith("key-a")
    assert recorded[0].body["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_output_tokens_are_the_reply_counted(cachepoint_emulator: Emulator, anthropic_client: Any, manual: str) -> None:
    response = anthropic_client.messages.create(**_payload(manual, "Say something."))
    text = response.content[0].text
    assert text == "Say something."  # the default reply echoes the last user text
    assert response.usage.output_tokens == DEFAULT_COUNTER.count(text)


def test_streaming_reports_usage_where_the_api_does(
    anthropic_client: Any, manual: str, simulate: Callable[..., Any]
) -> None:
    payload = _payload(manual, "Stream please.")
    events = list(anthropic_client.messages.create(**payload, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert {"content_block_start", "content_block_delta", "content_block_stop"} <= set(kinds)
    start = events[0].message.usage
    expected = simulate("anthropic", [(payload, 0.0)], tenant="key-a")[0]
    assert start.cache_creation_input_tokens == expected.write_tokens
    assert start.cache_creation.ephemeral_5m_input_tokens == expected.write_tokens
    assert _cache_parts(normalize_usage(events, provider="anthropic")) == _cache_parts(expected.usage)
    # The SDK's stream helper assembles the same message: the second call reads what the first wrote.
    with anthropic_client.messages.stream(**payload) as stream:
        final = stream.get_final_message()
    assert final.usage.cache_read_input_tokens == expected.write_tokens
    assert final.content[0].text == "Stream please."


async def test_async_client_json_and_stream(
    async_anthropic_client: Any, manual: str, simulate: Callable[..., Any]
) -> None:
    payload = _payload(manual, "Async?", ttl="1h")
    first = await async_anthropic_client.messages.create(**payload)
    async with async_anthropic_client.messages.stream(**payload) as stream:
        second = await stream.get_final_message()
    expected = simulate("anthropic", [(payload, 0.0), (payload, 0.0)], tenant="key-a")
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == expected[0].write_tokens
    assert second.usage.cache_read_input_tokens == expected[1].read_tokens == expected[0].write_tokens


def test_apply_cache_points_makes_the_provider_hit(anthropic_client: Any, manual: str) -> None:
    conversation = [
        {"role": "user", "content": "What does the blinking amber light mean?"},
        {"role": "assistant", "content": "It means the firmware is updating."},
        {"role": "user", "content": "How long does that take?"},
    ]
    raw = {"model": MODEL, "max_tokens": 64, "system": manual, "messages": conversation}
    # Without breakpoints Anthropic caches nothing, however often the prompt repeats.
    for _ in range(2):
        plain = anthropic_client.messages.create(**raw)
        assert (plain.usage.cache_read_input_tokens, plain.usage.cache_creation_input_tokens) == (0, 0)
    placed, report = apply_cache_points(raw, provider="anthropic")
    assert report.placed
    first = anthropic_client.messages.create(**placed)
    assert first.usage.cache_creation_input_tokens > 1024
    # The next turn, with the strategy re-applied to the longer conversation, reads the earlier prefix.
    longer = {
        **raw,
        "messages": [
            *conversation,
            {"role": "assistant", "content": "About two minutes."},
            {"role": "user", "content": "And then?"},
        ],
    }
    next_turn, _ = apply_cache_points(longer, provider="anthropic")
    second = anthropic_client.messages.create(**next_turn)
    assert second.usage.cache_read_input_tokens >= first.usage.cache_creation_input_tokens
    assert second.usage.input_tokens < 50


def test_count_tokens_matches_the_usage_total(anthropic_client: Any, manual: str) -> None:
    payload = _payload(manual, "Count me.")
    counted = anthropic_client.messages.count_tokens(
        model=MODEL, system=payload["system"], messages=payload["messages"]
    )
    usage = anthropic_client.messages.create(**payload).usage
    assert (
        counted.input_tokens == usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
    )


def test_ttl_expiry_follows_the_emulator_clock(
    cachepoint_emulator: Emulator, anthropic_client: Any, manual: str
) -> None:
    payload = _payload(manual, "Again?")
    written = anthropic_client.messages.create(**payload).usage.cache_creation_input_tokens
    [entry] = cachepoint_emulator.cache_entries()
    assert (entry.tokens, entry.ttl, entry.expires_at, entry.path) == (written, "5m", 300.0, "system[0]")
    cachepoint_emulator.advance(299)
    assert anthropic_client.messages.create(**payload).usage.cache_read_input_tokens == written  # refreshed to 599
    cachepoint_emulator.advance(300)  # now 599: exactly five minutes after the last use
    assert cachepoint_emulator.cache_entries() == []
    again = anthropic_client.messages.create(**payload).usage
    assert (again.cache_read_input_tokens, again.cache_creation_input_tokens) == (0, written)


@pytest.mark.cachepoint_emulator(first_byte_delay=1.0)  # generous: both must start before either answers
async def test_concurrent_cold_requests_both_write(async_anthropic_client: Any, manual: str) -> None:
    payload = _payload(manual, "Concurrently?")
    # Both start before either sends its first byte: neither can read the other's entry.
    a, b = await asyncio.gather(
        async_anthropic_client.messages.create(**payload), async_anthropic_client.messages.create(**payload)
    )
    assert a.usage.cache_creation_input_tokens == b.usage.cache_creation_input_tokens > 1024
    c = await async_anthropic_client.messages.create(**payload)
    assert c.usage.cache_read_input_tokens == a.usage.cache_creation_input_tokens


@pytest.mark.cachepoint_emulator(tenants={"key-b": "workspace-1", "key-c": "workspace-1"})
def test_caches_are_per_tenant(cachepoint_emulator: Emulator, manual: str) -> None:
    def client(key: str) -> Any:
        return anthropic.Anthropic(base_url=cachepoint_emulator.url, api_key=key, max_retries=0)

    payload = _payload(manual, "Whose cache?")
    client("key-a").messages.create(**payload)
    assert client("key-b").messages.create(**payload).usage.cache_read_input_tokens == 0  # another workspace
    # key-c shares key-b's workspace (tenants=): it reads what key-b wrote.
    assert client("key-c").messages.create(**payload).usage.cache_read_input_tokens > 0
    assert [r.tenant for r in cachepoint_emulator.requests] == ["key-a", "workspace-1", "workspace-1"]


@pytest.mark.cachepoint_emulator(
    reply=[Reply(tool_calls=(ToolCall("lookup", {"section": "reset"}, id="toolu_1"),)), "Hold the button for 10 s."]
)
def test_scripted_tool_calls_drive_an_agent_loop(anthropic_client: Any, manual: str) -> None:
    tools = [{"name": "lookup", "description": "Look up a manual section.", "input_schema": {"type": "object"}}]
    payload = {**_payload(manual, "How do I reset it?"), "tools": tools}
    with anthropic_client.messages.stream(**payload) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    [call] = first.content
    assert (call.type, call.name, call.input, call.id) == ("tool_use", "lookup", {"section": "reset"}, "toolu_1")
    follow_up = {
        **payload,
        "messages": [
            *payload["messages"],
            {"role": "assistant", "content": [call.model_dump(exclude={"caller"}, exclude_none=True)]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Hold 10 s."}]},
        ],
    }
    second = anthropic_client.messages.create(**follow_up)
    assert (second.stop_reason, second.content[0].text) == ("end_turn", "Hold the button for 10 s.")
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


def test_max_tokens_zero_prewarms_the_cache(anthropic_client: Any, manual: str) -> None:
    payload = {**_payload(manual, "warm up"), "max_tokens": 0}
    warm = anthropic_client.messages.create(**payload)
    assert (warm.content, warm.stop_reason, warm.usage.output_tokens) == ([], "max_tokens", 0)
    real = anthropic_client.messages.create(**_payload(manual, "warm up"))
    assert real.usage.cache_read_input_tokens == warm.usage.cache_creation_input_tokens > 0


# --- what the real API rejects ---------------------------------------------------------------------------------


def _error(excinfo: pytest.ExceptionInfo[anthropic.APIStatusError]) -> dict[str, Any]:
    body = excinfo.value.body
    assert isinstance(body, dict)
    return body


def test_five_breakpoints_are_rejected(anthropic_client: Any, cachepoint_emulator: Emulator) -> None:
    block = {"type": "text", "text": "part", "cache_control": {"type": "ephemeral"}}
    with pytest.raises(anthropic.BadRequestError) as excinfo:
        anthropic_client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": [block] * 5}])
    assert excinfo.value.status_code == 400
    assert _error(excinfo) == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        },
    }
    assert cachepoint_emulator.requests[0].status == 400


def test_four_markers_plus_automatic_caching_are_five(anthropic_client: Any) -> None:
    blocks = [{"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}} for i in range(4)]
    messages = [{"role": "user", "content": [*blocks, {"type": "text", "text": "tail"}]}]
    with pytest.raises(anthropic.BadRequestError, match="Found 5"):
        anthropic_client.messages.create(
            model=MODEL, max_tokens=8, messages=messages, cache_control={"type": "ephemeral"}
        )


def test_cache_control_on_a_thinking_block_is_rejected(anthropic_client: Any) -> None:
    thinking = {
        "type": "thinking",
        "thinking": "Let me think.",
        "signature": "sig",
        "cache_control": {"type": "ephemeral"},
    }
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [thinking, {"type": "text", "text": "Hello"}]},
        {"role": "user", "content": "Again"},
    ]
    with pytest.raises(anthropic.BadRequestError) as excinfo:
        anthropic_client.messages.create(model=MODEL, max_tokens=8, messages=messages)
    assert (
        _error(excinfo)["error"]["message"]
        == "messages.1.content.0.thinking.cache_control: Extra inputs are not permitted"
    )


def test_a_1h_breakpoint_after_a_5m_one_is_rejected(anthropic_client: Any, manual: str) -> None:
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        }
    ]
    with pytest.raises(anthropic.BadRequestError) as excinfo:
        anthropic_client.messages.create(
            model=MODEL,
            max_tokens=8,
            system=[{"type": "text", "text": manual, "cache_control": {"type": "ephemeral"}}],
            messages=messages,
        )
    assert _error(excinfo)["error"]["message"].startswith(
        "messages.0.content.0.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' "
        "cache_control block."
    )


def test_empty_text_with_cache_control_is_rejected(anthropic_client: Any) -> None:
    content = [{"type": "text", "text": "", "cache_control": {"type": "ephemeral"}}]
    with pytest.raises(anthropic.BadRequestError, match="cache_control cannot be set for empty text blocks"):
        anthropic_client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": content}])


def test_malformed_bodies_and_missing_keys_get_the_api_error_shape(cachepoint_emulator: Emulator) -> None:
    url = f"{cachepoint_emulator.url}/v1/messages"
    bad_json = httpx.post(url, content=b'{"model": ', headers={"x-api-key": "k", "content-type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["type"] == "invalid_request_error"
    missing = httpx.post(url, json={"model": MODEL, "messages": []}, headers={"x-api-key": "k"})
    assert missing.json()["error"]["message"] == "max_tokens: Field required"
    no_key = httpx.post(url, json={"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]})
    assert (no_key.status_code, no_key.json()["error"]["type"]) == (401, "authentication_error")
    unknown = httpx.post(
        url,
        json={"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "foo"}]}]},
        headers={"x-api-key": "k"},
    )
    assert unknown.json()["error"]["message"] == "messages.0.content.0: unknown block type 'foo'"


def test_an_error_is_never_cached(anthropic_client: Any, cachepoint_emulator: Emulator, manual: str) -> None:
    payload = _payload(manual, "x")
    payload["messages"] = [
        {"role": "user", "content": [{"type": "text", "text": "", "cache_control": {"type": "ephemeral"}}]}
    ]
    with pytest.raises(anthropic.BadRequestError):
        anthropic_client.messages.create(**payload)
    assert cachepoint_emulator.cache_entries() == []
