"""CrewAI's native OpenAI provider with cache_points, against the emulator: a ``prompt_cache_key`` from the
static layers (the same for every call of one agent), usage recorded, nothing else added to the request; the
response cache serving plain calls (which CrewAI reads through ``with_raw_response``) and streams."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from crewai.llms.providers.openai.completion import OpenAICompletion
from pydantic import BaseModel

from cachepoint.core.emulator import Emulator
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import MemoryStore, RedisStore
from cachepoint.core.traces import TraceWriter, read_trace
from cachepoint.core.usage import UsageLedger
from cachepoint.crewai import LLM, CachePoints
from crewai_streams import chunk_events

SYSTEM = "You are a travel agent. Recommend trains from the timetable below.\n" + ("Timetable row. " * 400)


def messages(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def openai_llm(emu: Emulator, cache_points: Any = None, **kwargs: Any) -> Any:
    return LLM(
        model="openai/gpt-4o", base_url=emu.openai_base_url, api_key="test-key", cache_points=cache_points, **kwargs
    )


def test_calls_get_one_prompt_cache_key_per_static_prefix_and_usage_is_recorded(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = openai_llm(emulator, CachePoints(ledger=ledger))
    assert isinstance(llm, OpenAICompletion)

    llm.call(messages("Paris to Lyon?"))
    asyncio.run(llm.acall(messages("Lyon to Nice?")))

    first, second = wire.completions(emulator)
    key = first.body["prompt_cache_key"]
    assert key.startswith("cp-")
    assert second.body["prompt_cache_key"] == key  # different questions, same agent prompt: same key
    assert second.usage.cache_read_tokens > 0
    stats = ledger.stats(provider="openai", model="gpt-4o")
    assert stats.calls == 2
    assert stats.cache_read_tokens == second.usage.cache_read_tokens


def test_streamed_calls_are_keyed_and_recorded(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = openai_llm(emulator, CachePoints(ledger=ledger), stream=True)

    assert llm.call(messages("Paris to Lyon?")) == "Done."

    (call,) = wire.completions(emulator)
    assert call.stream
    assert call.body["prompt_cache_key"].startswith("cp-")
    assert ledger.stats().calls == 1
    assert ledger.stats().input_tokens == call.usage.input_tokens


def test_without_cache_points_no_key_is_sent(emulator: Emulator, wire: Any) -> None:
    llm = openai_llm(emulator)
    assert type(llm) is OpenAICompletion
    llm.call(messages("Paris to Lyon?"))
    (call,) = wire.completions(emulator)
    assert "prompt_cache_key" not in call.body


# -- the response cache ---------------------------------------------------------------------------------------------


def _tokens(llm: Any) -> tuple[int, int]:
    summary = llm.get_token_usage_summary()
    return summary.successful_requests, summary.total_tokens


def test_response_cache_serves_plain_calls(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = openai_llm(emulator, CachePoints(ledger=ledger, response_cache=cache), temperature=0)

    assert llm.call(messages("Paris to Lyon?")) == "Done."
    requests, tokens = _tokens(llm)
    assert tokens > 0
    assert llm.call(messages("Paris to Lyon?")) == "Done."
    assert asyncio.run(llm.acall(messages("Paris to Lyon?"))) == "Done."

    (call,) = wire.completions(emulator)
    assert call.body["prompt_cache_key"].startswith("cp-")
    assert cache.stats().hits == 2
    hits = ledger.stats(response_cache="hit")
    assert (ledger.stats().calls, hits.calls, hits.replayed_calls, hits.input_tokens) == (3, 2, 2, 0)
    assert hits.cost_usd == 0.0  # replays reached no model
    first = ledger.stats().cost_usd
    assert first
    assert hits.replay_savings_usd == pytest.approx(2 * first)
    assert _tokens(llm) == (requests + 2, tokens)  # and report zero tokens to CrewAI


@pytest.mark.redis
def test_response_cache_over_redis_serves_streamed_calls(
    emulator: Emulator, wire: Any, redis_url: str, redis_prefix: str
) -> None:
    ledger = UsageLedger()

    async def run() -> list[str]:
        store = RedisStore(redis_url, prefix=redis_prefix)
        try:
            cache = ResponseCache(store, CachePolicy("crew"))
            llm = openai_llm(emulator, CachePoints(ledger=ledger, response_cache=cache), temperature=0, stream=True)
            answers = [await llm.acall(messages("Lyon to Nice?")) for _ in range(2)]
            return [*answers, llm.call(messages("Lyon to Nice?"))]
        finally:
            await store.close()

    assert asyncio.run(run()) == ["Done."] * 3
    (call,) = wire.completions(emulator)
    assert call.stream
    hits = ledger.stats(response_cache="hit")
    assert (ledger.stats().calls, hits.calls, hits.replayed_calls, hits.input_tokens) == (3, 2, 2, 0)


def test_response_cache_leaves_sampled_calls_to_the_model(emulator: Emulator, wire: Any) -> None:
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = openai_llm(emulator, CachePoints(response_cache=cache))  # temperature unset: sampled

    llm.call(messages("Paris to Lyon?"))
    llm.call(messages("Paris to Lyon?"))

    assert len(wire.completions(emulator)) == 2
    assert cache.stats().bypassed == 2


def test_a_replayed_raw_response_reads_as_the_sdks(emulator: Emulator, wire: Any) -> None:
    # What CrewAI reads of `chat.completions.with_raw_response.create(...)`: text, http_response, parse().
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = openai_llm(emulator, CachePoints(response_cache=cache), temperature=0)
    raw = llm._get_sync_client().chat.completions.with_raw_response
    params = {"model": "gpt-4o", "messages": messages("Nice to Paris?"), "temperature": 0}

    live, replay = raw.create(**params), raw.create(**params)

    assert len(wire.completions(emulator)) == 1
    assert type(live).__name__ == "LegacyAPIResponse"
    assert type(replay.parse()) is type(live.parse()) is openai.types.chat.ChatCompletion
    assert replay.parse().choices == live.parse().choices
    assert replay.parse().usage.total_tokens == 0
    assert replay.status_code == live.status_code == 200
    assert openai.types.chat.ChatCompletion.model_validate_json(replay.text).choices == live.parse().choices
    assert type(replay.http_response) is type(live.http_response)
    assert replay.http_response.request.url == live.http_response.request.url
    assert replay.headers["content-type"] == "application/json"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_requests_differing_only_in_timeout_share_an_answer(emulator: Emulator, wire: Any, is_async: bool) -> None:
    # The SDK client CrewAI's provider holds, called with a per-request timeout (CrewAI itself sets it on the
    # client): how long the caller waits does not change the answer, so it must not split the response cache.
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = openai_llm(emulator, CachePoints(response_cache=cache), temperature=0)
    params = {"model": "gpt-4o", "messages": messages("Nice to Paris?"), "temperature": 0}

    if is_async:
        client = llm._get_async_client().chat.completions

        async def both() -> list[Any]:
            return [await client.create(**params, timeout=timeout) for timeout in (30, 60)]

        answers = asyncio.run(both())
    else:
        answers = [llm._get_sync_client().chat.completions.create(**params, timeout=t) for t in (30, 60)]

    assert len(wire.completions(emulator)) == 1
    assert cache.stats().hits == 1
    assert answers[0].choices == answers[1].choices


def test_response_cache_serves_the_responses_api_plain_and_streamed() -> None:
    # The emulator does not speak the Responses API: a local server answers with its shapes.
    from responses_server import ResponsesServer

    with ResponsesServer() as server:
        cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
        for stream in (False, True):
            llm = LLM(
                model="openai/gpt-4o",
                api="responses",
                base_url=server.base_url,
                api_key="test-key",
                temperature=0,
                stream=stream,
                cache_points=CachePoints(response_cache=cache),
            )
            answers = [llm.call(messages("Capital of France?")), asyncio.run(llm.acall(messages("Capital of France?")))]
            assert answers == ["Paris.", "Paris."]
        assert server.requests == 2  # one plain, one streamed; each asked again from the cache
        assert cache.stats().hits == 2


@pytest.mark.emulator_reply("Hold the reset button for ten seconds.")
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_replayed_stream_reaches_crewai_chunk_by_chunk(emulator: Emulator, wire: Any, is_async: bool) -> None:
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = openai_llm(emulator, CachePoints(response_cache=cache), temperature=0, stream=True)
    (answer, live), (again, replayed) = chunk_events(llm, messages("Paris to Lyon?"), runs=2, is_async=is_async)
    assert answer == again == "Hold the reset button for ten seconds."
    assert len(wire.completions(emulator)) == 1
    assert len(live) > 1  # the emulator streams its answer in pieces
    assert replayed == live  # the replay streams too, piece by piece: not one blob


class Route(BaseModel):
    trains: list[str]


@pytest.mark.emulator_reply(json.dumps({"trains": ["TGV 6601", "TER 17501"]}))
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_structured_output_calls_are_keyed_and_recorded(
    emulator: Emulator, wire: Any, tmp_path: Any, stream: bool
) -> None:
    # response_model= (a task's structured output) sends CrewAI through beta.chat.completions' parse helpers: they
    # reached the model unkeyed, and the ledger and the trace never saw them.
    ledger = UsageLedger()
    trace = tmp_path / "trace.jsonl"
    config = CachePoints(ledger=ledger, recorder=TraceWriter(trace))
    llm = openai_llm(emulator, config, stream=stream, temperature=0)

    async def acall() -> Any:
        return await llm.acall(messages("Paris to Lyon?"), response_model=Route)

    assert llm.call(messages("Paris to Lyon?"), response_model=Route) == Route(trains=["TGV 6601", "TER 17501"])
    assert asyncio.run(acall()) == Route(trains=["TGV 6601", "TER 17501"])

    calls = wire.completions(emulator)
    assert len(calls) == 2
    assert calls[0].body["response_format"]["type"] == "json_schema"  # call() went through a parse helper
    assert {call.body.get("prompt_cache_key") for call in calls} == {calls[0].body["prompt_cache_key"]}
    assert calls[0].body["prompt_cache_key"].startswith("cp-")
    stats = ledger.stats(provider="openai", model="gpt-4o")
    assert stats.calls == 2
    assert stats.input_tokens == sum(call.usage.input_tokens for call in calls)
    assert stats.cache_read_tokens == calls[1].usage.cache_read_tokens > 0
    assert stats.output_tokens == sum(call.usage.output_tokens for call in calls)
    config.recorder.close()
    lines = list(read_trace(trace))
    assert len(lines) == 2
    assert lines[0].request["response_format"] == calls[0].body["response_format"]


class Fare(BaseModel):
    trains: list[str]
    price_eur: float = 0.0


@pytest.mark.emulator_reply(json.dumps({"trains": ["TGV 6601", "TER 17501"]}))
def test_structured_output_is_served_from_the_cache_through_the_callers_class(emulator: Emulator, wire: Any) -> None:
    # A task with output_pydantic= asks the same thing again: CrewAI's structured call (beta.chat.completions'
    # parse, raw) reached the model every time. A hit re-validates the stored answer through the caller's own class.
    ledger = UsageLedger()
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("trips"))
    llm = openai_llm(emulator, CachePoints(ledger=ledger, response_cache=cache), temperature=0)
    question = messages("Paris to Lyon?")

    first = llm.call(question, response_model=Route)
    requests, tokens = _tokens(llm)
    again = [llm.call(question, response_model=Route), asyncio.run(llm.acall(question, response_model=Route))]

    assert [first, *again] == [Route(trains=["TGV 6601", "TER 17501"])] * 3
    assert all(type(answer) is Route for answer in again)
    assert len(wire.completions(emulator)) == 1
    assert cache.stats().hits == 2
    hits = ledger.stats(response_cache="hit")
    assert (ledger.stats().calls, hits.calls, hits.replayed_calls, hits.input_tokens) == (3, 2, 2, 0)
    assert _tokens(llm) == (requests + 2, tokens)  # replays report zero tokens to CrewAI

    # Another output model is another request (its schema is in the key): never the stored Route.
    fare = llm.call(question, response_model=Fare)
    assert type(fare) is Fare
    assert len(wire.completions(emulator)) == 2
