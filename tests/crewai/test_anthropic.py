"""CrewAI's native Anthropic provider with cache_points, against the emulator: direct calls, acall, streams,
a crew with a tool, the response cache and the trace recorder."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from crewai.llms.providers.anthropic.completion import AnthropicCompletion
from crewai.tools import tool
from pydantic import BaseModel

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.prompt import cache_until
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import MemoryStore, RedisStore
from cachepoint.core.traces import TraceWriter, read_trace
from cachepoint.core.usage import UsageLedger
from cachepoint.crewai import LLM, CachePoints
from crewai import Agent, Crew, Task
from crewai_streams import chunk_events

MODEL = "anthropic/claude-sonnet-4-5"
SYSTEM = "You are a support agent for the Acme router. Answer only from the manual below.\n" + (
    "Manual: hold the reset button for ten seconds to restore factory settings. " * 120
)
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "How do I reset the router?"}]
BACKSTORY = "You have memorized the Acme router manual, every page of it. " * 100


@tool("lookup_manual")
def lookup_manual(topic: str) -> str:
    """Look a topic up in the router manual."""
    return f"Manual section on {topic}: " + "Hold the reset button for ten seconds. " * 40


def anthropic_llm(emu: Emulator, cache_points: Any = None, **kwargs: Any) -> Any:
    return LLM(model=MODEL, base_url=emu.url, api_key="test-key", cache_points=cache_points, **kwargs)


def crew_for(llm: Any, *, role: str = "Support agent", name: str = "support") -> Crew:
    agent = Agent(
        role=role, goal="Answer router questions from the manual.", backstory=BACKSTORY, llm=llm, tools=[lookup_manual]
    )
    task = Task(
        description="A customer asks how to reset the router.",
        expected_output="One sentence.",
        agent=agent,
        name="reset question",
    )
    return Crew(agents=[agent], tasks=[task], name=name)


TOOL_THEN_ANSWER = [Reply(tool_calls=(ToolCall("lookup_manual", {"topic": "reset"}),)), Reply("Hold reset 10 s.")]


def test_without_cache_points_it_is_crewais_llm_unchanged(emulator: Emulator, wire: Any) -> None:
    llm = anthropic_llm(emulator)
    assert type(llm) is AnthropicCompletion
    llm.call(MESSAGES)
    (call,) = wire.completions(emulator)
    assert wire.breakpoints(call) == []
    assert isinstance(call.body["system"], str)


def test_direct_call_places_breakpoints_and_records_usage(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = anthropic_llm(emulator, CachePoints(ledger=ledger))
    assert isinstance(llm, AnthropicCompletion)
    assert "cache_points" not in llm.additional_params

    assert llm.call(MESSAGES) == "Done."
    assert llm.call(MESSAGES) == "Done."

    first, second = wire.completions(emulator)
    # The static system prompt gets the long TTL, the conversation tail the default one.
    assert wire.breakpoints(first) == [("system[0]", "1h"), ("messages[0].content[0]", None)]
    assert first.usage.cache_write_tokens > 1000
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens
    stats = ledger.stats(provider="anthropic", model="claude-sonnet-4-5")
    assert stats.calls == 2
    assert stats.cache_read_tokens == second.usage.cache_read_tokens
    assert stats.cache_write_tokens == first.usage.cache_write_tokens
    assert stats.input_tokens == first.usage.input_tokens + second.usage.input_tokens


def test_acall_places_breakpoints_and_records_usage(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = anthropic_llm(emulator, CachePoints(ledger=ledger))

    async def twice() -> list[str]:
        return [await llm.acall(MESSAGES), await llm.acall(MESSAGES)]

    assert asyncio.run(twice()) == ["Done.", "Done."]
    first, second = wire.completions(emulator)
    assert wire.breakpoints(first) == [("system[0]", "1h"), ("messages[0].content[0]", None)]
    assert ledger.stats().calls == 2
    assert ledger.stats().cache_read_tokens == second.usage.cache_read_tokens > 0


def test_streamed_calls_are_placed_and_recorded_with_time_to_first_token(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = anthropic_llm(emulator, CachePoints(ledger=ledger), stream=True)

    assert llm.call(MESSAGES) == "Done."
    assert asyncio.run(llm.acall(MESSAGES)) == "Done."

    first, second = wire.completions(emulator)
    assert first.stream
    assert second.stream
    assert wire.breakpoints(second) == [("system[0]", "1h"), ("messages[0].content[0]", None)]
    stats = ledger.stats()
    assert stats.calls == 2
    assert stats.cache_read_tokens == second.usage.cache_read_tokens > 0
    assert stats.ttft_hit.count == 1
    assert stats.ttft_miss.count == 1


@pytest.mark.emulator_reply(TOOL_THEN_ANSWER)
def test_crew_with_a_tool_gets_breakpoints_on_every_turn_and_labelled_usage(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = anthropic_llm(emulator, CachePoints(ledger=ledger))

    result = crew_for(llm).kickoff()

    assert result.raw == "Hold reset 10 s."
    first, second = wire.completions(emulator)
    assert "tools" in first.body
    for call in (first, second):
        marked = dict(wire.breakpoints(call))
        # The static system prompt with the strategy's 1h (CrewAI 1.15 marks it itself with 5m: raised), and
        # the conversation tail: the task prompt, then in the tool-use turn the tool result.
        assert marked["system[0]"] == "1h"
        last = len(call.body["messages"]) - 1
        assert marked[f"messages[{last}].content[0]"] is None
    assert second.body["messages"][-1]["content"][0]["type"] == "tool_result"
    assert second.usage.cache_read_tokens > 0
    stats = ledger.stats(agent="Support agent", task="reset question", crew="support")
    assert stats.calls == 2
    assert stats.cache_read_tokens == second.usage.cache_read_tokens
    table = ledger.to_rich_table("agent")
    assert next(str(c) for c in table.columns[0].cells) == "Support agent"


@pytest.mark.emulator_reply("Hold reset 10 s.")
def test_each_llm_in_a_crew_behaves_as_configured_and_a_plain_one_is_untouched(emulator: Emulator, wire: Any) -> None:
    long_ledger, short_ledger = UsageLedger(), UsageLedger()
    everywhere = anthropic_llm(emulator, CachePoints(ledger=long_ledger))
    system_only = anthropic_llm(emulator, CachePoints(strategy=cache_until("system", ttl="5m"), ledger=short_ledger))
    plain = anthropic_llm(emulator)
    agents = [
        Agent(role=role, goal="Answer router questions.", backstory=BACKSTORY, llm=llm)
        for role, llm in (("First", everywhere), ("Second", system_only), ("Third", plain))
    ]
    tasks = [
        Task(description=f"Question {n}: how do I reset the router?", expected_output="One sentence.", agent=agent)
        for n, agent in enumerate(agents)
    ]
    Crew(agents=agents, tasks=tasks, name="three").kickoff()

    first, second, third = wire.completions(emulator)
    assert wire.breakpoints(first) == [("system[0]", "1h"), ("messages[0].content[0]", None)]
    assert dict(wire.breakpoints(second))["system[0]"] is None  # cache_until("system", ttl="5m")
    # Untouched: at most the two markers CrewAI (1.15+) places itself, with its default TTL.
    own = wire.breakpoints(third)
    assert all(ttl is None for _, ttl in own)
    assert {path for path, _ in own} <= {"system[0]", "messages[0].content[0]"}
    assert [labels["agent"] for labels, _ in long_ledger.series()] == ["First"]
    assert [labels["agent"] for labels, _ in short_ledger.series()] == ["Second"]


def test_response_cache_serves_repeated_calls_from_the_store(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = anthropic_llm(emulator, CachePoints(ledger=ledger, response_cache=cache), temperature=0)

    assert llm.call(MESSAGES) == "Done."
    after_first = llm.get_token_usage_summary()
    assert [llm.call(MESSAGES) for _ in range(2)] == ["Done."] * 2

    assert len(wire.completions(emulator)) == 1
    assert cache.stats().hits == 2
    hits = ledger.stats(response_cache="hit")
    assert (ledger.stats().calls, hits.calls, hits.replayed_calls) == (3, 2, 2)  # replies from the store are hits
    assert (hits.input_tokens, hits.cost_usd) == (0, 0.0)  # ...that reached no model and cost nothing
    first = ledger.stats().cost_usd or 0.0
    assert first > 0
    assert hits.replay_savings_usd == pytest.approx(2 * first)
    after_all = llm.get_token_usage_summary()
    assert after_all.successful_requests == after_first.successful_requests + 2
    assert after_all.total_tokens == after_first.total_tokens  # replays report zero tokens to CrewAI


def test_response_cache_leaves_sampled_calls_to_the_model(emulator: Emulator, wire: Any) -> None:
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = anthropic_llm(emulator, CachePoints(response_cache=cache))  # temperature unset: sampled

    llm.call(MESSAGES)
    llm.call(MESSAGES)

    assert len(wire.completions(emulator)) == 2
    assert cache.stats().hits == 0


def test_the_response_cache_keys_a_beta_header_but_not_the_timeout(emulator: Emulator, wire: Any) -> None:
    # The SDK client CrewAI's provider holds, called directly: an `anthropic-beta` header changes what the API
    # does, so a request with one must not be answered with the answer to one without; a timeout changes nothing.
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    client = anthropic_llm(emulator, CachePoints(response_cache=cache), temperature=0)._get_sync_client()
    params = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": MESSAGES[1:], "temperature": 0}
    beta = {"anthropic-beta": "context-1m-2025-08-07"}

    client.messages.create(**params)
    client.messages.create(**params, timeout=60, extra_headers={"x-trace-id": "a"})  # the same request
    client.messages.create(**params, extra_headers=beta)  # another one
    client.messages.create(**params, extra_headers=beta, timeout=5)

    assert len(wire.completions(emulator)) == 2
    assert emulator.requests[1].headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert cache.stats().hits == 2


@pytest.mark.redis
def test_response_cache_over_redis_serves_async_calls(
    emulator: Emulator, wire: Any, redis_url: str, redis_prefix: str
) -> None:
    async def run() -> list[str]:
        store = RedisStore(redis_url, prefix=redis_prefix)
        try:
            cache = ResponseCache(store, CachePolicy("crew"))
            llm = anthropic_llm(emulator, CachePoints(response_cache=cache), temperature=0)
            return [await llm.acall(MESSAGES), await llm.acall(MESSAGES)]
        finally:
            await store.close()

    assert asyncio.run(run()) == ["Done.", "Done."]
    assert len(wire.completions(emulator)) == 1


@pytest.mark.emulator_reply(TOOL_THEN_ANSWER)
def test_recorder_writes_trace_lines_analyze_reads(emulator: Emulator, wire: Any, tmp_path: Any) -> None:
    path = tmp_path / "crew.jsonl"
    with TraceWriter(path) as writer:
        crew_for(anthropic_llm(emulator, CachePoints(recorder=writer))).kickoff()

    records = list(read_trace(path))
    sent = wire.completions(emulator)
    assert [r.request for r in records] == [call.body for call in sent]
    assert [r.usage["cache_read_input_tokens"] for r in records] == [c.usage.cache_read_tokens for c in sent]
    assert records[0].provider == "anthropic"
    assert records[0].metadata == {"agent": "Support agent", "task": "reset question", "crew": "support"}


def test_otel_gets_the_calls_usage(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # The conftest sets OTEL_SDK_DISABLED for CrewAI's telemetry; the SDK would then hand out a no-op provider.
    # CREWAI_DISABLE_TELEMETRY stays set, so CrewAI still sends nothing.
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from cachepoint.core.usage import OtelUsageRecorder

    reader = InMemoryMetricReader()
    recorder = OtelUsageRecorder(meter_provider=MeterProvider(metric_readers=[reader]))
    llm = anthropic_llm(emulator, CachePoints(otel=recorder))

    llm.call(MESSAGES)
    llm.call(MESSAGES)

    points = {
        (m.name, tuple(sorted(p.attributes.items()))): p.value
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name in ("cachepoint.llm.calls", "cachepoint.llm.tokens")
        for p in m.data.data_points
    }
    calls = {k: v for k, v in points.items() if k[0] == "cachepoint.llm.calls"}
    assert sum(calls.values()) == 2
    read = sum(v for (name, attrs), v in points.items() if ("cachepoint.token.type", "cache_read") in attrs)
    assert read == emulator.requests[-1].usage.cache_read_tokens > 0


# -- streams served from the response cache ----------------------------------------------------------------------


def _tokens(llm: Any) -> tuple[int, int]:
    summary = llm.get_token_usage_summary()
    return summary.successful_requests, summary.total_tokens


def test_streamed_calls_are_served_from_the_response_cache(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = anthropic_llm(emulator, CachePoints(ledger=ledger, response_cache=cache), temperature=0, stream=True)

    assert llm.call(MESSAGES) == "Done."
    requests, tokens = _tokens(llm)
    assert tokens > 0
    assert llm.call(MESSAGES) == "Done."
    assert asyncio.run(llm.acall(MESSAGES)) == "Done."

    (call,) = wire.completions(emulator)
    assert call.stream
    assert wire.breakpoints(call) == [("system[0]", "1h"), ("messages[0].content[0]", None)]
    assert cache.stats().hits == 2
    hits = ledger.stats(response_cache="hit")
    assert (ledger.stats().calls, hits.calls, hits.replayed_calls, hits.input_tokens) == (3, 2, 2, 0)
    assert hits.cost_usd == 0.0  # replays reached no model
    assert _tokens(llm) == (requests + 2, tokens)  # and report zero tokens to CrewAI


def test_a_replayed_stream_is_the_sdks_message_stream_with_the_same_events(emulator: Emulator, wire: Any) -> None:
    # What CrewAI's streaming handler holds inside `with client.messages.stream(...) as stream:`, live and replayed.
    from anthropic.lib.streaming import MessageStream

    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = anthropic_llm(emulator, CachePoints(response_cache=cache), temperature=0, stream=True)
    client = llm._get_sync_client()
    params = {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": MESSAGES[1:], "temperature": 0}
    runs = []
    for _ in range(2):
        with client.messages.stream(**params) as stream:
            events = list(stream)
            final = stream.get_final_message()
            runs.append((stream, events, final))
    (live, live_events, live_final), (replay, replay_events, replay_final) = runs

    assert len(wire.completions(emulator)) == 1
    assert isinstance(live._inner, MessageStream)
    assert type(replay._inner) is type(live._inner)
    assert [type(e) for e in replay_events] == [type(e) for e in live_events]
    assert "text" in {e.type for e in replay_events}  # the helper's own events, built by the SDK from the replay
    assert replay_final.content == live_final.content
    assert replay_final.usage.input_tokens == 0
    assert replay_final.usage.output_tokens == 0
    assert live_final.usage.output_tokens > 0


@pytest.mark.emulator_reply(TOOL_THEN_ANSWER)
def test_a_streamed_crew_with_a_tool_runs_again_from_the_cache(emulator: Emulator, wire: Any) -> None:
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = anthropic_llm(emulator, CachePoints(response_cache=cache), temperature=0, stream=True)

    first = crew_for(llm).kickoff()
    sent = len(wire.completions(emulator))
    second = crew_for(llm).kickoff()

    assert sent == 2  # the tool call, then the answer
    assert len(wire.completions(emulator)) == sent  # the second run asked the model nothing
    assert second.raw == first.raw == "Hold reset 10 s."
    assert cache.stats().hits == 2


class Steps(BaseModel):
    steps: str


@pytest.mark.emulator_reply('{"steps": "Hold reset for 10 s."}')
@pytest.mark.parametrize("stream", [False, True])
def test_structured_output_through_the_beta_api_is_served_from_the_cache(emulator: Emulator, stream: bool) -> None:
    # CrewAI asks for structured output through `beta.messages` (and its stream, which reads the request's
    # `anthropic-beta` header to parse tool input: a replayed stream answers it as the live one did).
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = anthropic_llm(emulator, CachePoints(response_cache=cache), temperature=0, stream=stream)
    question = MESSAGES[1:]

    answers = [llm.call(question, response_model=Steps), asyncio.run(llm.acall(question, response_model=Steps))]

    assert answers == [Steps(steps="Hold reset for 10 s.")] * 2
    (call,) = emulator.requests
    assert call.path == "/v1/messages?beta=true"
    assert call.headers["anthropic-beta"] == "structured-outputs-2025-11-13"
    assert cache.stats().hits == 1


@pytest.mark.emulator_reply("Hold the reset button for ten seconds.")
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_replayed_stream_reaches_crewai_chunk_by_chunk(emulator: Emulator, wire: Any, is_async: bool) -> None:
    # What a CrewAI user streaming an agent sees: one LLMStreamChunkEvent per chunk, live and replayed alike.
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = anthropic_llm(emulator, CachePoints(response_cache=cache), temperature=0, stream=True)
    (answer, live), (again, replayed) = chunk_events(llm, MESSAGES, runs=2, is_async=is_async)
    assert answer == again == "Hold the reset button for ten seconds."
    assert len(wire.completions(emulator)) == 1
    assert cache.stats().hits == 1
    assert len(live) > 1  # the emulator streams its answer in pieces
    assert replayed == live  # the replay streams too, piece by piece: not one blob


def test_a_crew_run_per_request_labels_its_task_and_agent_by_their_templates(emulator: Emulator, wire: Any) -> None:
    # The usual server: one crew, kicked off per request with that request's inputs. CrewAI writes the inputs into
    # the agent's role and the task's description; labelled with those, the ledger grew a series per request (and
    # a Prometheus export a label value per request). The templates name the agent and the task.
    ledger = UsageLedger()
    llm = anthropic_llm(emulator, CachePoints(ledger=ledger))
    agent = Agent(role="{product} support agent", goal="Answer from the manual.", backstory=BACKSTORY, llm=llm)
    task = Task(description="A customer asks: {question}", expected_output="One sentence.", agent=agent)
    crew = Crew(agents=[agent], tasks=[task], name="support")
    questions = ["How do I reset it?", "Why does it blink red?", "Can I mount it on a wall?"]
    for question in questions:
        crew.kickoff(inputs={"product": "Acme router", "question": question})

    assert len(wire.completions(emulator)) == 3
    assert [labels for labels, _ in ledger.series()] == [
        {
            "agent": "{product} support agent",
            "task": "A customer asks: {question}",
            "crew": "support",
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
        }
    ]
    assert ledger.stats(task="A customer asks: {question}").calls == 3


# -- streams that end early ------------------------------------------------------------------------------------------


def _first_chunk_then(ending: str, llm: Any, emu: Emulator) -> None:
    """Stream ``llm`` on ``MESSAGES`` from a slow model and end the call mid-stream, after the first text chunk (so
    after ``message_start``, which carries the usage the provider bills): ``cancelled`` cancels an ``acall`` (a
    client gone, a deadline); ``timed out`` lets a sync ``call`` hit the client's read timeout."""
    import threading

    from crewai.events import crewai_event_bus
    from crewai.events.types.llm_events import LLMStreamChunkEvent

    with crewai_event_bus.scoped_handlers():
        chunked = threading.Event()

        @crewai_event_bus.on(LLMStreamChunkEvent)
        def chunk(source: Any, event: LLMStreamChunkEvent) -> None:
            chunked.set()

        if ending == "timed out":
            with pytest.raises(httpx.ReadTimeout):  # mid-stream: the SDK retries only before the answer starts
                llm.call(MESSAGES)
            return

        async def run() -> None:
            task = asyncio.ensure_future(llm.acall(MESSAGES))
            for _ in range(1000):
                if chunked.is_set() or task.done():
                    break
                await asyncio.sleep(0.01)
            assert chunked.is_set()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(run())


@pytest.mark.parametrize("cached", [False, True], ids=["plain", "response cache"])
@pytest.mark.parametrize("ending", ["cancelled", "timed out"])
def test_a_stream_ended_after_message_start_records_what_was_billed(ending: str, cached: bool) -> None:
    # A user streaming an agent closes the page, or a slow answer runs into the client's timeout: the provider
    # already sent message_start, and billed its input, cache reads and cache writes. The ledger had nothing.
    ledger = UsageLedger()
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew")) if cached else None
    config = CachePoints(ledger=ledger, response_cache=cache)
    delay = 0.5
    with Emulator(reply="Hold the reset button for ten seconds, then wait.", chunk_delay=delay) as emu:
        timeout = {"timeout": delay / 2, "max_retries": 0} if ending == "timed out" else {}
        llm = anthropic_llm(emu, config, stream=True, temperature=0, **timeout)
        _first_chunk_then(ending, llm, emu)
        (call,) = emu.requests
    stats = ledger.stats(provider="anthropic", model="claude-sonnet-4-5")
    assert stats.calls == 1
    assert call.usage.cache_write_tokens > 1000
    billed = (call.usage.input_tokens, call.usage.cache_write_tokens, call.usage.cache_read_tokens)
    assert (stats.input_tokens, stats.cache_write_tokens, stats.cache_read_tokens) == billed
    if cache is not None:
        assert cache.stats().hits == 0  # and a partial stream is not stored
