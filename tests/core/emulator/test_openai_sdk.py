"""The real ``openai`` SDK (sync and async, JSON and streaming) against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.prompt import apply_cache_points
from cachepoint.core.usage import normalize_usage


def _messages(manual: str, question: str) -> list[dict[str, Any]]:
    return [{"role": "developer", "content": manual}, {"role": "user", "content": question}]


def test_automatic_caching_reads_whole_128_token_increments(
    openai_client: Any, manual: str, simulate: Callable[..., Any]
) -> None:
    payload = {"model": "gpt-4o", "messages": _messages(manual, "How do I reset it?")}
    first = openai_client.chat.completions.create(**payload)
    second = openai_client.chat.completions.create(**payload)
    expected = simulate("openai", [(payload, 0.0), (payload, 0.0)], tenant="key-o")
    total = first.usage.prompt_tokens
    assert total == expected[0].total_tokens > 1024
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    # The whole prompt is cached, counted in whole 128-token blocks.
    assert second.usage.prompt_tokens_details.cached_tokens == total - total % 128 == expected[1].read_tokens
    assert second.usage.prompt_tokens_details.cache_write_tokens is None  # not reported before GPT-5.6
    assert normalize_usage(second, provider="openai").cache_read_tokens == expected[1].read_tokens


def test_stream_usage_only_with_include_usage(cachepoint_emulator: Emulator, openai_client: Any, manual: str) -> None:
    payload = {"model": "gpt-4o", "messages": _messages(manual, "Stream.")}
    openai_client.chat.completions.create(**payload)
    chunks = list(openai_client.chat.completions.create(**payload, stream=True, stream_options={"include_usage": True}))
    assert [c.usage is None for c in chunks[:-1]] == [True] * (len(chunks) - 1)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.prompt_tokens_details.cached_tokens > 1024
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Stream."
    assert (
        normalize_usage(chunks, provider="openai").cache_read_tokens == last.usage.prompt_tokens_details.cached_tokens
    )
    plain = list(openai_client.chat.completions.create(**payload, stream=True))
    assert all(getattr(c, "usage", None) is None for c in plain)
    # The emulator still knows what it would have reported.
    assert cachepoint_emulator.requests[-1].usage.cache_read_tokens == last.usage.prompt_tokens_details.cached_tokens


async def test_async_client_and_stream_helper(async_openai_client: Any, manual: str) -> None:
    payload = {"model": "gpt-4o-mini", "messages": _messages(manual, "Async?")}
    first = await async_openai_client.chat.completions.create(**payload)
    async with async_openai_client.chat.completions.stream(**payload, stream_options={"include_usage": True}) as stream:
        final = await stream.get_final_completion()
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert (
        final.usage.prompt_tokens_details.cached_tokens == first.usage.prompt_tokens - first.usage.prompt_tokens % 128
    )
    assert final.choices[0].message.content == "Async?"


def test_prompt_cache_key_routes_to_its_own_cache(openai_client: Any, manual: str) -> None:
    payload = {"model": "gpt-4o", "messages": _messages(manual, "Which machine?")}
    openai_client.chat.completions.create(**payload, prompt_cache_key="agent-a")
    other = openai_client.chat.completions.create(**payload, prompt_cache_key="agent-b")
    same = openai_client.chat.completions.create(**payload, prompt_cache_key="agent-a")
    assert other.usage.prompt_tokens_details.cached_tokens == 0
    assert same.usage.prompt_tokens_details.cached_tokens > 1024


def test_gpt_5_6_explicit_breakpoints_from_apply_cache_points(openai_client: Any, manual: str) -> None:
    def ask(question: str, *, placed: bool) -> Any:
        raw = {"model": "gpt-5.6", "messages": _messages(manual, question)}
        payload = apply_cache_points(raw, provider="openai")[0] if placed else raw
        return openai_client.chat.completions.create(**payload).usage

    # Only the implicit breakpoint (on the latest user message): a new question shares nothing cached.
    ask("First question?", placed=False)
    assert ask("Second question?", placed=False).prompt_tokens_details.cached_tokens == 0
    # With an explicit breakpoint after the developer message, the next question reads the manual.
    first = ask("First question?", placed=True)
    assert first.prompt_tokens_details.cache_write_tokens == first.prompt_tokens
    second = ask("Second question?", placed=True)
    details = second.prompt_tokens_details
    assert details.cached_tokens > 1024
    assert details.cached_tokens + details.cache_write_tokens == second.prompt_tokens


@pytest.mark.cachepoint_emulator(
    reply=Reply("Checking.", tool_calls=(ToolCall("lookup", {"q": "reset"}, id="call_1"),))
)
def test_scripted_tool_calls(openai_client: Any, manual: str) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    payload = {"model": "gpt-4o", "messages": _messages(manual, "reset?"), "tools": tools}
    message = openai_client.chat.completions.create(**payload).choices[0].message
    [call] = message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == ("call_1", "lookup", '{"q":"reset"}')
    with openai_client.chat.completions.stream(**payload) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.choices[0].message.tool_calls[0].function.arguments == '{"q":"reset"}'
    assert final.choices[0].message.content == "Checking."


def test_markers_on_a_model_without_explicit_caching_are_noted(
    cachepoint_emulator: Emulator, openai_client: Any, manual: str
) -> None:
    content = [{"type": "text", "text": manual, "prompt_cache_breakpoint": {"mode": "explicit"}}]
    openai_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])
    assert "ignores prompt_cache_breakpoint" in cachepoint_emulator.requests[0].notes[0]


def test_errors_have_the_openai_shape(cachepoint_emulator: Emulator, openai_client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as excinfo:
        openai_client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream_options={"include_usage": True}
        )
    assert excinfo.value.body == {
        "message": "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        "type": "invalid_request_error",
        "param": "stream_options",
        "code": None,
    }
    with pytest.raises(openai.BadRequestError, match="empty array"):
        openai_client.chat.completions.create(model="gpt-4o", messages=[])
    url = f"{cachepoint_emulator.openai_base_url}/chat/completions"
    bad = httpx.post(url, content=b"{nope", headers={"authorization": "Bearer k", "content-type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"].startswith("We could not parse the JSON body of your request.")
    missing = httpx.post(url, json={"model": "gpt-4o"}, headers={"authorization": "Bearer k"})
    assert missing.json()["error"] == {
        "message": "Missing required parameter: 'messages'.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "missing_required_parameter",
    }
    anonymous = httpx.post(url, json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["message"].startswith("You didn't provide an API key.")


def test_unsupported_ttl_for_chat(openai_client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as excinfo:
        openai_client.chat.completions.create(
            model="gpt-5.6",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"prompt_cache_options": {"ttl": "12h"}},
        )
    assert excinfo.value.body["param"] == "prompt_cache_options.ttl"


def test_n_choices_each_carry_the_reply_and_add_up_in_the_usage(openai_client: Any) -> None:
    payload = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]}
    one = openai_client.chat.completions.create(**payload)
    two = openai_client.chat.completions.create(**payload, n=2)
    assert [choice.index for choice in two.choices] == [0, 1]
    assert {choice.message.content for choice in two.choices} == {one.choices[0].message.content}
    assert two.usage.completion_tokens == 2 * one.usage.completion_tokens
    streamed = list(openai_client.chat.completions.create(**payload, n=2, stream=True))
    assert {choice.index for chunk in streamed for choice in chunk.choices} == {0, 1}
    with pytest.raises(openai.BadRequestError, match="'n'"):
        openai_client.chat.completions.create(**payload, n=0)
