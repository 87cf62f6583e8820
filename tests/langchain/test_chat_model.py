"""with_cache_points: an LCEL chat model that marks requests (tools included) and replays repeated calls and
streams from a response cache."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from typing_extensions import TypedDict

from cachepoint.core.emulator import Emulator
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import MemoryStore
from cachepoint.langchain import CachepointCallbackHandler, with_cache_points
from cutting_proxy import CuttingProxy
from langchain_support import MANUAL, MODELS, markers, openai, release, support_tools
from responses_server import ResponsesServer


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_an_lcel_chain_sends_marked_requests_and_leaves_its_input_alone(emulator: Emulator, provider: str) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", MANUAL), ("human", "{question}")])
    model = with_cache_points(MODELS[provider](emulator))
    chain = prompt | model.bind_tools(support_tools())
    for question in ("My router blinks red.", "It is an AX-1."):
        chain.invoke({"question": question})
    first, second = emulator.requests
    tools = first.body.get("tools") or first.body["toolConfig"]["tools"]
    assert "cache_control" in repr(tools[-1]) or "cachePoint" in repr(tools[-1])
    assert 3 <= markers(first.body) <= 4  # tools, system, tail
    assert second.usage.cache_read_tokens > 0
    assert model.ledger.stats().calls == 2
    assert model.ledger.stats().cache_read_tokens == second.usage.cache_read_tokens


def test_caller_messages_are_never_changed(emulator: Emulator) -> None:
    messages = [SystemMessage(MANUAL), HumanMessage("Hi")]
    with_cache_points(MODELS["anthropic"](emulator)).invoke(messages)
    assert messages[0].content == MANUAL
    assert messages[1].content == "Hi"
    assert markers(emulator.requests[0].body) == 2


def test_openai_gets_a_prompt_cache_key_from_the_static_layers(emulator: Emulator) -> None:
    model = with_cache_points(openai(emulator))
    model.invoke([SystemMessage(MANUAL), HumanMessage("Hi")])
    model.invoke([SystemMessage(MANUAL), HumanMessage("Something else entirely")])
    keys = [r.body.get("prompt_cache_key") for r in emulator.requests]
    assert keys[0]
    assert keys[0] == keys[1]


def test_a_handler_on_the_chain_does_not_count_a_call_twice(emulator: Emulator) -> None:
    handler = CachepointCallbackHandler()
    model = with_cache_points(MODELS["anthropic"](emulator))
    model.invoke([SystemMessage(MANUAL), HumanMessage("Hi")], config={"callbacks": [handler]})
    assert handler.ledger.stats().calls == 1
    assert model.ledger.stats().calls == 1
    assert markers(emulator.requests[0].body) == 2  # the handler merged with the wrapper's markers


def cached_model(emulator: Emulator, provider: str) -> Any:
    if provider == "anthropic_vertex":
        # ChatAnthropicVertex passes temperature to the anthropic SDK's create(), which no longer takes it
        # (anthropic 1.0+: extra_body only); without one, the policy is told to cache unset temperatures.
        policy = CachePolicy("lc-test", unset_temperature="deterministic")
        return with_cache_points(MODELS[provider](emulator), response_cache=ResponseCache(MemoryStore(), policy))
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("lc-test"))
    return with_cache_points(MODELS[provider](emulator, temperature=0), response_cache=cache)


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_repeated_calls_are_answered_from_the_response_cache(emulator: Emulator, provider: str) -> None:
    model = cached_model(emulator, provider)
    messages = [SystemMessage(MANUAL), HumanMessage("My router blinks red.")]
    first = model.invoke(messages)
    paid = model.ledger.stats().cost_usd or 0.0
    second = model.invoke(messages)
    assert len(emulator.requests) == 1
    assert second.text == first.text
    assert second.response_metadata["cachepoint_cache"] == "hit"
    stats, hits = model.ledger.stats(), model.ledger.stats(response_cache="hit")
    assert (stats.calls, stats.hit_calls, stats.replayed_calls) == (2, 1, 1)  # the replay counts as a hit
    assert stats.input_tokens == emulator.requests[0].usage.input_tokens  # ...that sent no tokens
    assert (hits.calls, hits.cost_usd) == (1, 0.0)
    assert hits.replay_savings_usd == pytest.approx(paid)  # it saved what the first call cost


def test_each_replayed_answer_is_its_own_copy(emulator: Emulator) -> None:
    # A caller (or an agent appending to history) that changes one replayed answer must not change the next.
    model = cached_model(emulator, "anthropic")
    messages = [SystemMessage(MANUAL), HumanMessage("My router blinks red.")]
    stored = model.invoke(messages)
    first = model.invoke(messages)
    first.response_metadata["usage"]["input_tokens"] = -1
    first.usage_metadata["input_token_details"]["cache_read"] = -1  # type: ignore[index,typeddict-item]
    first.additional_kwargs["mine"] = True
    second = model.invoke(messages)
    assert len(emulator.requests) == 1
    assert second.response_metadata["cachepoint_cache"] == "hit"
    assert second.response_metadata["usage"] == stored.response_metadata["usage"]
    details = second.usage_metadata["input_token_details"]  # type: ignore[index]
    assert details == stored.usage_metadata["input_token_details"]  # type: ignore[index]
    assert "mine" not in second.additional_kwargs


def merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk  # type: ignore[assignment]
    return total


def dumped(chunks: list[AIMessageChunk]) -> list[dict[str, Any]]:
    return [c.model_dump(exclude={"id"}) for c in chunks]


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_a_replayed_stream_yields_the_same_chunks_and_final_usage(emulator: Emulator, provider: str) -> None:
    model = cached_model(emulator, provider)
    messages = [SystemMessage(MANUAL), HumanMessage("How do I reset it?")]
    live = list(model.stream(messages))
    paid = model.ledger.stats().cost_usd or 0.0
    replayed = list(model.stream(messages))
    assert len(emulator.requests) == 1
    hits = model.ledger.stats(response_cache="hit")
    assert (model.ledger.stats().calls, hits.calls, hits.replayed_calls, hits.input_tokens) == (2, 1, 1, 0)
    assert hits.replay_savings_usd == pytest.approx(paid)
    assert emulator.requests[0].stream
    assert dumped(replayed) == dumped(live)
    assert len(live) > 1
    assert merged(replayed).usage_metadata == merged(live).usage_metadata
    details = merged(live).usage_metadata["input_token_details"]
    assert sum(v for k, v in details.items() if k != "cache_read") > 0  # the first stream wrote the cache


@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_a_replayed_async_stream_yields_the_same_chunks_and_final_usage(
    emulator: Emulator, provider: str
) -> None:
    model = cached_model(emulator, provider)
    messages = [SystemMessage(MANUAL), HumanMessage("How do I reset it?")]
    live = [c async for c in model.astream(messages)]
    replayed = [c async for c in model.astream(messages)]
    assert len(emulator.requests) == 1
    assert model.ledger.stats(response_cache="hit").replayed_calls == 1
    assert dumped(replayed) == dumped(live)
    assert merged(replayed).usage_metadata == merged(live).usage_metadata
    again = await model.ainvoke(messages)  # a plain call is keyed apart from the stream
    assert len(emulator.requests) == 2
    assert again.text


def test_a_sampled_call_is_not_replayed_under_the_default_policy(emulator: Emulator) -> None:
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("lc-test"))
    model = with_cache_points(MODELS["anthropic"](emulator), response_cache=cache)  # temperature unset
    model.invoke("Hi")
    model.invoke("Hi")
    assert len(emulator.requests) == 2


# The wrapped model's own settings answer as much as the call's: two models set up differently must never be
# served each other's answers (the policy here replays any call, so only the key tells them apart).
DIFFERENT_SETUPS = {
    "bedrock system prompt": ("bedrock", {"system": ["Answer in French."]}, {"system": ["Answer in German."]}),
    "bedrock request fields": ("bedrock", {}, {"additional_model_request_fields": {"top_k": 5}}),
    "anthropic thinking": (
        "anthropic",
        {"max_tokens": 4000},
        {"max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 2000}},
    ),
    "openai json mode": ("openai", {}, {"model_kwargs": {"response_format": {"type": "json_object"}}}),
}


def replaying_cache() -> ResponseCache:
    return ResponseCache(MemoryStore(max_entries=100), CachePolicy("lc-test", cache_nondeterministic=True))


@pytest.mark.parametrize("setup", sorted(DIFFERENT_SETUPS))
def test_models_set_up_to_answer_differently_never_share_an_answer(emulator: Emulator, setup: str) -> None:
    provider, one, other = DIFFERENT_SETUPS[setup]
    make = {"openai": openai, **MODELS}[provider]
    cache = replaying_cache()
    messages = [HumanMessage("Reply in json: how do I reset my router?")]
    with_cache_points(make(emulator, **one), response_cache=cache).invoke(messages)
    answer = with_cache_points(make(emulator, **other), response_cache=cache).invoke(messages)
    assert len(emulator.requests) == 2
    assert "cachepoint_cache" not in answer.response_metadata


def test_a_failed_tool_result_is_not_answered_like_a_successful_one(emulator: Emulator) -> None:
    # ChatAnthropic sends a ToolMessage(status="error") as a tool_result with is_error: the model answers that.
    def history(status: str) -> list[Any]:
        return [
            HumanMessage("Reset my router."),
            AIMessage("", tool_calls=[{"name": "reset", "args": {}, "id": "toolu_1"}]),
            ToolMessage("The router did not answer.", tool_call_id="toolu_1", status=status),
        ]

    model = with_cache_points(MODELS["anthropic"](emulator), response_cache=replaying_cache())
    model.invoke(history("success"))
    answer = model.invoke(history("error"))
    assert len(emulator.requests) == 2
    assert emulator.requests[1].body["messages"][-1]["content"][0]["is_error"] is True
    assert "cachepoint_cache" not in answer.response_metadata


def test_the_same_model_built_twice_shares_answers_whatever_its_callbacks(emulator: Emulator) -> None:
    cache = replaying_cache()
    messages = [HumanMessage("How do I reset my router?")]
    with_cache_points(MODELS["anthropic"](emulator, temperature=0), response_cache=cache).invoke(messages)
    rebuilt = MODELS["anthropic"](
        emulator, temperature=0, callbacks=[CachepointCallbackHandler()], default_request_timeout=30.0
    )
    answer = with_cache_points(rebuilt, response_cache=cache).invoke(messages)
    assert len(emulator.requests) == 1
    assert answer.response_metadata["cachepoint_cache"] == "hit"


class Steps(TypedDict):
    """How to fix it."""

    steps: list[str]


def test_structured_output_to_a_typed_dict_is_answered_and_replayed(emulator: Emulator) -> None:
    # LangChain binds the schema class itself for its tracing (`ls_structured_output_format`): that class is no
    # part of the request (the tool built from it is), and must not fail the call.
    model = with_cache_points(MODELS["anthropic"](emulator, temperature=0), response_cache=replaying_cache())
    structured = model.with_structured_output(Steps)
    structured.invoke("How do I reset my router?")
    structured.invoke("How do I reset my router?")
    assert len(emulator.requests) == 1
    assert emulator.requests[0].body["tools"][0]["name"] == "Steps"


def test_a_model_chosen_per_call_is_never_served_the_default_models_answer(emulator: Emulator) -> None:
    model = with_cache_points(MODELS["anthropic"](emulator, temperature=0), response_cache=replaying_cache())
    model.invoke("Hi")
    model.bind(model="claude-haiku-4-5").invoke("Hi")
    model.invoke("Hi", model="claude-haiku-4-5")
    assert [r.body["model"] for r in emulator.requests] == ["claude-sonnet-4-6", "claude-haiku-4-5"]


@pytest.fixture
def cutting_proxy(emulator: Emulator) -> Iterator[CuttingProxy]:
    with CuttingProxy(emulator) as proxy:
        yield proxy


def test_a_stream_that_ends_before_its_stop_reason_is_not_replayed(emulator: Emulator, cutting_proxy: Any) -> None:
    from langchain_anthropic import ChatAnthropic

    base = ChatAnthropic(model="claude-sonnet-4-6", base_url=cutting_proxy.url, api_key="k", temperature=0)
    model = with_cache_points(base, response_cache=replaying_cache())
    messages = [HumanMessage("How do I reset my router?")]
    cut = list(model.stream(messages))  # no error: the stream just ended
    assert "stop_reason" not in merged(cut).response_metadata
    whole = list(model.stream(messages))
    assert len(emulator.requests) == 2  # the cut stream was not stored: called again
    assert merged(whole).response_metadata["stop_reason"] == "end_turn"
    again = list(model.stream(messages))
    assert len(emulator.requests) == 2  # the whole one was
    assert dumped(again) == dumped(whole)


async def test_an_async_stream_that_ends_before_its_stop_reason_is_not_replayed(
    emulator: Emulator, cutting_proxy: Any
) -> None:
    from langchain_anthropic import ChatAnthropic

    base = ChatAnthropic(model="claude-sonnet-4-6", base_url=cutting_proxy.url, api_key="k", temperature=0)
    model = with_cache_points(base, response_cache=replaying_cache())
    messages = [HumanMessage("How do I reset my router?")]
    cut = [chunk async for chunk in model.astream(messages)]
    assert "stop_reason" not in merged(cut).response_metadata
    [chunk async for chunk in model.astream(messages)]
    [chunk async for chunk in model.astream(messages)]
    assert len(emulator.requests) == 2


def test_identical_calls_at_once_make_one_request_and_are_all_counted(make_emulator: Any) -> None:
    # Single-flight: the second call waits for the first one's answer. It made no request of its own, so it is a
    # replay like a hit from the store: marked as one and counted in the ledger (not left out of it).
    emulator = make_emulator(reply="Restart the router.", first_byte_delay=0.5)
    model = with_cache_points(MODELS["anthropic"](emulator, temperature=0), response_cache=replaying_cache())
    messages = [HumanMessage("How do I reset my router?")]
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(model.invoke(messages))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(emulator.requests) == 1
    assert sorted(a.response_metadata.get("cachepoint_cache", "-") for a in answers) == ["-", "hit"]
    stats = model.ledger.stats()
    assert (stats.calls, stats.replayed_calls) == (2, 1)


def test_a_responses_api_stream_is_replayed() -> None:
    # ChatOpenAI on the Responses API says a stream is complete with its response's `status`, not a finish_reason.
    from langchain_openai import ChatOpenAI

    with ResponsesServer() as server:
        base = ChatOpenAI(model="gpt-5", base_url=server.base_url, api_key="k", use_responses_api=True)
        model = with_cache_points(base, response_cache=replaying_cache())
        live = list(model.stream("Capital of France?"))
        replayed = list(model.stream("Capital of France?"))
        assert server.requests == 1
        assert dumped(replayed) == dumped(live)


@pytest.mark.parametrize("stream", [False, True])
def test_each_tenant_in_the_run_metadata_gets_answers_of_its_own(emulator: Emulator, stream: bool) -> None:
    """A multi-tenant server passes its tenant as run metadata (``config={"metadata": {"tenant": ...}}``, the
    label the handler reads too): with a policy that requires one, each tenant's calls are answered from its own
    entries only; without a tenant such a policy refuses the call, as it says."""
    policy = CachePolicy("lc-test", require_tenant=True)
    model = with_cache_points(
        MODELS["anthropic"](emulator, temperature=0), response_cache=ResponseCache(MemoryStore(), policy)
    )
    messages = [SystemMessage(MANUAL), HumanMessage("My router blinks red.")]

    def call(tenant: str | None) -> Any:
        config: Any = {"metadata": {"tenant": tenant}} if tenant else {}
        if stream:
            return "".join(str(chunk.text) for chunk in model.stream(messages, config=config))
        return model.invoke(messages, config=config).text

    for tenant in ("acme", "acme", "globex", "globex"):
        assert call(tenant) == "Restart the router."
    assert len(emulator.requests) == 2  # one per tenant: globex was not answered from acme's entry
    assert model.ledger.stats().replayed_calls == 2
    with pytest.raises(ValueError, match="require_tenant"):
        call(None)


#: A 1x1 PNG.
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.mark.parametrize("provider", ["anthropic", "anthropic_bedrock"])
@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/status.png",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
    ],
)
def test_a_screenshot_in_openais_image_url_form_carries_the_tail_marker_to_claude(
    emulator: Emulator, provider: str, url: str
) -> None:
    """ChatAnthropic rebuilds an ``image_url`` block as an Anthropic image and keeps no ``cache_control`` of it: a
    marker written on the block itself never reached the model (the turn was never written to the cache)."""
    question = HumanMessage(
        [{"type": "text", "text": "What does the status page say?"}, {"type": "image_url", "image_url": {"url": url}}]
    )
    with_cache_points(MODELS[provider](emulator)).invoke([SystemMessage(MANUAL), question])
    body = emulator.requests[0].body
    assert body["messages"][-1]["content"][-1]["type"] == "image"
    assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert markers(body) == 2  # the system prompt and the screenshot


@pytest.mark.skipif(
    release("langchain-google-vertexai") < (3, 2, 3),
    reason="langchain-google-vertexai before 3.2.3 rebuilds every image block, keeping no marker (and before 3.2.2 "
    "raises KeyError 'source_type' on a standard one, cachepoint or not): "
    "test_a_screenshot_to_claude_on_vertex_is_sent_with_the_marker_cachepoint_claims covers it",
)
def test_a_screenshot_in_langchains_standard_form_carries_the_tail_marker_to_claude_on_vertex(
    emulator: Emulator,
) -> None:
    """ChatAnthropicVertex rebuilds a standard image block (``{"type": "image", "base64": ...}``) as an Anthropic
    image and keeps no ``cache_control`` of it: a marker written on the block itself never reached the model."""
    screenshot = {"type": "image", "base64": PIXEL, "mime_type": "image/png"}
    question = HumanMessage([{"type": "text", "text": "What does the status page say?"}, screenshot])
    with_cache_points(MODELS["anthropic_vertex"](emulator)).invoke([SystemMessage(MANUAL), question])
    call = emulator.requests[0]
    assert call.status == 200, call.error
    assert call.body["messages"][-1]["content"][-1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
        "cache_control": {"type": "ephemeral"},
    }
    assert markers(call.body) == 2  # the system prompt and the screenshot


def test_a_screenshot_to_claude_on_vertex_is_sent_with_the_marker_cachepoint_claims(emulator: Emulator) -> None:
    """A screenshot in OpenAI's ``image_url`` form at the end of a question to ChatAnthropicVertex: with_cache_points
    wrote the tail marker on the Anthropic image block the newest ChatAnthropicVertex sends as it is, and an older
    one (langchain-google-vertexai before 3.2.3, which rebuilds every image block) failed on it with KeyError
    'source_type'. There the marker goes on the question before the screenshot, which it does send."""
    screenshot = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}
    question = HumanMessage([{"type": "text", "text": "What does the status page say?"}, screenshot])
    model = with_cache_points(MODELS["anthropic_vertex"](emulator))
    model.invoke([SystemMessage(MANUAL), question])
    call = emulator.requests[0]
    assert call.status == 200, call.error
    text, image = call.body["messages"][-1]["content"]
    marked = image if release("langchain-google-vertexai") >= (3, 2, 3) else text
    assert marked["cache_control"] == {"type": "ephemeral"}
    assert markers(call.body) == 2  # the system prompt and the end of the question
