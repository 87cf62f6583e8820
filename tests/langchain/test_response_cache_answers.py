"""What `with_cache_points(model, response_cache=...)` answers from its cache is what the model answered: a stream
cut before the last thing its provider sends is not kept (it would be replayed without its usage), and a call
answered with several choices is replayed with all of them.

Real LangChain chat models against the emulator (behind the stream-cutting proxy where a cut is the point)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage
from langchain_core.outputs import ChatGeneration

from cachepoint.core.emulator import Emulator
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import MemoryStore
from cachepoint.langchain import with_cache_points
from cutting_proxy import CuttingProxy
from langchain_support import ANTHROPIC_MODEL, BEDROCK_MODEL, anthropic

QUESTION = [HumanMessage("How do I reset my router?")]


def _anthropic(url: str) -> Any:
    from langchain_anthropic import ChatAnthropic

    return ChatAnthropic(model=ANTHROPIC_MODEL, base_url=url, api_key="k", max_retries=0, temperature=0)


def _openai(url: str) -> Any:
    from langchain_openai import ChatOpenAI

    # `stream_usage`: what ChatOpenAI does by itself at OpenAI's own URL (another URL turns it off)
    return ChatOpenAI(
        model="gpt-4.1", base_url=url + "/v1", api_key="k", max_retries=0, temperature=0, stream_usage=True
    )


def _bedrock(url: str) -> Any:
    from langchain_aws import ChatBedrockConverse

    return ChatBedrockConverse(
        model=BEDROCK_MODEL,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        temperature=0,
    )


STREAMING: dict[str, Callable[[str], Any]] = {"anthropic": _anthropic, "bedrock": _bedrock, "openai": _openai}


def merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk  # type: ignore[assignment]
    return total


@pytest.fixture
def cut_at_last(emulator: Emulator) -> Iterator[CuttingProxy]:
    with CuttingProxy(emulator, at="last") as proxy:
        yield proxy


def streamed(model: Any, call: str) -> list[AIMessageChunk]:
    if call == "stream":
        return list(model.stream(QUESTION))

    async def chunks() -> list[AIMessageChunk]:
        return [chunk async for chunk in model.astream(QUESTION)]

    return asyncio.run(chunks())


@pytest.mark.parametrize("call", ["stream", "astream"])
@pytest.mark.parametrize("provider", sorted(STREAMING))
def test_a_stream_cut_before_its_providers_last_event_is_never_replayed_without_its_usage(
    emulator: Emulator, cut_at_last: CuttingProxy, provider: str, call: str
) -> None:
    model = with_cache_points(
        STREAMING[provider](cut_at_last.url),
        response_cache=ResponseCache(MemoryStore(max_entries=10), CachePolicy("t")),
    )
    streamed(model, call)  # cut after its stop reason, before what its provider sends last
    for _ in range(2):
        usage = merged(streamed(model, call)).usage_metadata
        assert usage is not None
        sent = emulator.requests[-1].usage
        assert (usage["input_tokens"], usage["output_tokens"]) == (sent.input_tokens, sent.output_tokens)
    assert len(emulator.requests) <= 2  # the last one was replayed


@pytest.mark.parametrize("call", ["generate", "agenerate"])
def test_a_call_answered_with_several_choices_is_replayed_with_all_of_them(emulator: Emulator, call: str) -> None:
    from langchain_openai import ChatOpenAI

    several = ChatOpenAI(
        model="gpt-4.1", base_url=emulator.openai_base_url, api_key="k", max_retries=0, temperature=0, n=2
    )
    model = with_cache_points(several, response_cache=ResponseCache(MemoryStore(max_entries=10), CachePolicy("t")))

    def answer() -> list[ChatGeneration]:
        result = model.generate([QUESTION]) if call == "generate" else asyncio.run(model.agenerate([QUESTION]))
        return [generation for generation in result.generations[0] if isinstance(generation, ChatGeneration)]

    live, replayed = answer(), answer()
    assert len(emulator.requests) == 1
    assert len(live) == 2
    assert [g.text for g in replayed] == [g.text for g in live]
    assert [g.generation_info for g in replayed] == [g.generation_info for g in live]
    assert all(g.message.response_metadata["cachepoint_cache"] == "hit" for g in replayed)
    assert model.ledger.stats().replayed_calls == 1


def test_a_streamed_call_in_a_chain_is_traced_as_the_wrapped_models_call_under_the_wrapper(emulator: Emulator) -> None:
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.tracers.context import collect_runs

    model = with_cache_points(anthropic(emulator, temperature=0))
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | model
    with collect_runs() as runs:
        assert "".join(chunk.text for chunk in chain.stream({"question": "How do I reset my router?"}))
    (root,) = runs.traced_runs
    wrapper = next(run for run in root.child_runs if run.name == "CachePointsChatModel")
    assert [run.name for run in wrapper.child_runs] == ["ChatAnthropic"]


@pytest.mark.parametrize("name", ["anthropic", "bedrock", "anthropic_vertex"])
def test_a_handler_counts_the_wrappers_hits_under_the_wrapped_models_provider(
    emulator: Emulator, name: str, recwarn: pytest.WarningsRecorder
) -> None:
    # A handler with a ledger of its own counts with_cache_points' hits from the wrapper's run: under the provider
    # and model of the model it wraps (what the misses are counted under), with their prices, not under the
    # wrapper's class name with an "unknown model" warning.
    from cachepoint.core.usage import UsageLedger
    from cachepoint.langchain import CachepointCallbackHandler
    from langchain_support import MANUAL, MODELS, RULES

    ledger = UsageLedger()
    model = with_cache_points(
        MODELS[name](emulator),
        response_cache=ResponseCache(
            MemoryStore(max_entries=100), CachePolicy("lc-labels", cache_nondeterministic=True)
        ),
    )
    config: Any = {"callbacks": [CachepointCallbackHandler(ledger=ledger)]}
    for _ in range(2):
        model.invoke([("system", MANUAL), ("human", "How do I reset my router?")], config=config)
        list(model.stream([("system", MANUAL), ("human", "How do I reset my router?")], config=config))

    assert len(emulator.requests) == 2
    assert set(ledger.group_by("provider")) == {(RULES[name],)}
    hits = ledger.stats(response_cache="hit", provider=RULES[name])
    assert (hits.calls, hits.priced_calls) == (2, 2)
    assert not [w for w in recwarn if "not in cachepoint's provider table" in str(w.message)]
