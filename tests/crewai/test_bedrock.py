"""CrewAI's native Bedrock (Converse) provider with cache_points, against the emulator through botocore's
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` and dummy keys: cachePoint blocks, the cache writes CrewAI drops, acall,
streams and a crew with a tool."""

from __future__ import annotations

import asyncio
import threading
from importlib.metadata import version
from typing import Any

import pytest
from crewai.llms.providers.bedrock.completion import BedrockCompletion
from crewai.tools import tool

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import MemoryStore
from cachepoint.core.usage import UsageLedger
from cachepoint.crewai import LLM, CachePoints
from crewai import Agent, Crew, Task
from crewai_streams import chunk_events

MODEL = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
SYSTEM = "You are a claims assistant. Quote the policy handbook below exactly.\n" + (
    "Handbook: water damage is covered when reported within 14 days. " * 120
)
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Is a leak reported on day 3 covered?"}]


@tool("policy_lookup")
def policy_lookup(clause: str) -> str:
    """Look a clause up in the policy handbook."""
    return f"Clause {clause}: " + "Water damage is covered within 14 days of discovery. " * 40


def bedrock_llm(cache_points: Any = None, **kwargs: Any) -> Any:
    return LLM(model=MODEL, cache_points=cache_points, **kwargs)


def test_direct_call_adds_cache_points_and_records_the_writes_crewai_drops(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = bedrock_llm(CachePoints(ledger=ledger))
    assert isinstance(llm, BedrockCompletion)

    assert llm.call(MESSAGES) == "Done."
    assert llm.call(MESSAGES) == "Done."

    first, second = wire.completions(emulator)
    assert first.model == MODEL_ID
    assert first.body["system"][-1] == {"cachePoint": {"type": "default", "ttl": "1h"}}
    assert first.body["messages"][-1]["content"][-1] == {"cachePoint": {"type": "default"}}
    assert wire.breakpoints(first) == [("system[0]", "1h"), ("messages[0].content[0]", None)]
    written = first.usage.cache_write_tokens
    assert written > 1000
    assert second.usage.cache_read_tokens == written
    stats = ledger.stats(provider="bedrock", model=MODEL_ID)
    assert stats.calls == 2
    assert stats.cache_write_tokens == written
    assert stats.cache_read_tokens == written
    # What CrewAI's own counters make of the same two calls: the writes are lost.
    assert llm.get_token_usage_summary().cache_creation_tokens == 0


def test_without_cache_points_crewai_sends_no_cache_point(emulator: Emulator, wire: Any) -> None:
    llm = bedrock_llm()
    assert type(llm) is BedrockCompletion
    llm.call(MESSAGES)
    (call,) = wire.completions(emulator)
    assert wire.breakpoints(call) == []


def test_acall_adds_cache_points_and_records_usage(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = bedrock_llm(CachePoints(ledger=ledger))

    async def twice() -> list[str]:
        return [await llm.acall(MESSAGES), await llm.acall(MESSAGES)]

    assert asyncio.run(twice()) == ["Done.", "Done."]
    first, second = wire.completions(emulator)
    assert wire.breakpoints(first) == [("system[0]", "1h"), ("messages[0].content[0]", None)]
    assert ledger.stats().cache_write_tokens == first.usage.cache_write_tokens > 0
    assert ledger.stats().cache_read_tokens == second.usage.cache_read_tokens > 0


def test_streamed_calls_add_cache_points_and_record_usage(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = bedrock_llm(CachePoints(ledger=ledger), stream=True)

    assert llm.call(MESSAGES) == "Done."
    assert asyncio.run(llm.acall(MESSAGES)) == "Done."

    first, second = wire.completions(emulator)
    assert first.operation == second.operation == "converse_stream"
    assert wire.breakpoints(second) == [("system[0]", "1h"), ("messages[0].content[0]", None)]
    stats = ledger.stats()
    assert stats.calls == 2
    assert stats.cache_write_tokens == first.usage.cache_write_tokens > 0
    assert stats.cache_read_tokens == second.usage.cache_read_tokens > 0
    assert stats.ttft_hit.count + stats.ttft_miss.count == 2


@pytest.mark.emulator_reply(
    [Reply(tool_calls=(ToolCall("policy_lookup", {"clause": "4.2"}),)), Reply("Yes, it is covered.")]
)
def test_crew_with_a_tool_caches_tools_system_and_turns(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = bedrock_llm(CachePoints(ledger=ledger))
    agent = Agent(
        role="Claims assistant",
        goal="Answer coverage questions from the handbook.",
        backstory="You have read the whole policy handbook many times. " * 100,
        llm=llm,
        tools=[policy_lookup],
    )
    task = Task(
        description="Is a leak reported on day 3 covered?",
        expected_output="Yes or no, one sentence.",
        agent=agent,
        name="coverage",
    )
    result = Crew(agents=[agent], tasks=[task], name="claims").kickoff()

    assert result.raw == "Yes, it is covered."
    first, second = wire.completions(emulator)
    assert "toolConfig" in first.body
    assert wire.breakpoints(first) == [("system[0]", "1h"), ("messages[0].content[0]", None)]
    # The tool-use turn: the tool result closes the cached conversation (cachePoint after the toolResult block).
    assert wire.breakpoints(second) == [("system[0]", "1h"), ("messages[2].content[0]", None)]
    assert second.body["messages"][2]["content"][-1] == {"cachePoint": {"type": "default"}}
    assert second.usage.cache_read_tokens > 0
    stats = ledger.stats(agent="Claims assistant", task="coverage", crew="claims")
    assert stats.calls == 2
    assert stats.cache_write_tokens == sum(c.usage.cache_write_tokens for c in (first, second))


def test_response_cache_serves_repeated_converse_calls(emulator: Emulator, wire: Any) -> None:
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("claims"))
    llm = bedrock_llm(CachePoints(response_cache=cache), temperature=0)

    assert [llm.call(MESSAGES) for _ in range(2)] == ["Done.", "Done."]

    assert len(wire.completions(emulator)) == 1
    assert cache.stats().hits == 1


def test_identical_calls_at_once_make_one_request_and_are_all_counted(emulator: Emulator, wire: Any) -> None:
    # Single-flight: the second call waits for the first one's answer; it sent nothing, so the ledger counts it
    # as a replay, like a hit from the store (not as nothing at all).
    emulator.first_byte_delay = 0.5
    ledger = UsageLedger()
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("claims"))
    llm = bedrock_llm(CachePoints(response_cache=cache, ledger=ledger), temperature=0)
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(llm.call(MESSAGES))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["Done.", "Done."]
    assert len(wire.completions(emulator)) == 1
    stats = ledger.stats()
    assert (stats.calls, stats.replayed_calls) == (2, 1)


def test_response_cache_serves_streamed_calls(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("claims"))
    llm = bedrock_llm(CachePoints(ledger=ledger, response_cache=cache), temperature=0, stream=True)

    assert llm.call(MESSAGES) == "Done."
    tokens = llm.get_token_usage_summary().total_tokens
    assert llm.call(MESSAGES) == "Done."
    assert asyncio.run(llm.acall(MESSAGES)) == "Done."

    (call,) = wire.completions(emulator)
    assert call.operation == "converse_stream"
    assert cache.stats().hits == 2
    hits = ledger.stats(response_cache="hit")
    assert (ledger.stats().calls, hits.calls, hits.replayed_calls, hits.input_tokens) == (3, 2, 2, 0)
    assert llm.get_token_usage_summary().total_tokens == tokens


@pytest.mark.emulator_reply("Hold the reset button for ten seconds.")
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_replayed_stream_reaches_crewai_chunk_by_chunk(emulator: Emulator, wire: Any, is_async: bool) -> None:
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("crew"))
    llm = bedrock_llm(CachePoints(response_cache=cache), temperature=0, stream=True)
    (answer, live), (again, replayed) = chunk_events(llm, MESSAGES, runs=2, is_async=is_async)
    assert answer == again == "Hold the reset button for ten seconds."
    assert len(wire.completions(emulator)) == 1
    assert len(live) > 1  # the emulator streams its answer in pieces
    assert replayed == live  # the replay streams too, piece by piece: not one blob


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "policy_lookup",
            "description": "Look a clause up in the policy handbook.",
            "parameters": {"type": "object", "properties": {"clause": {"type": "string"}}, "required": ["clause"]},
        },
    }
]


@pytest.mark.emulator_reply(
    [Reply(tool_calls=(ToolCall("policy_lookup", {"clause": "4.2"}),)), Reply("Yes, it is covered.")]
)
@pytest.mark.skipif(
    tuple(int(part) for part in version("crewai").split(".")[:2]) < (1, 15),
    reason="CrewAI before 1.15 drops a streamed tool use's input: its follow-up request fails boto3's validation "
    "(messages[1].content[0].toolUse: missing 'input') before any tool runs",
)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_stream_crewai_leaves_at_its_tool_call_is_still_recorded(
    emulator: Emulator, wire: Any, is_async: bool
) -> None:
    # With tools it runs itself (available_functions) or a response_model, CrewAI's streaming Bedrock handler
    # returns at the tool-use block's end and never reads messageStop or the usage that follows: the model was
    # paid for that call all the same (here it wrote the cache the second call reads).
    ledger = UsageLedger()
    llm = bedrock_llm(CachePoints(ledger=ledger), stream=True)
    functions = {"policy_lookup": lambda clause: f"Clause {clause}: covered within 14 days."}

    async def acall() -> Any:
        return await llm.acall(MESSAGES, tools=TOOLS, available_functions=functions)

    answer = asyncio.run(acall()) if is_async else llm.call(MESSAGES, tools=TOOLS, available_functions=functions)

    assert answer == "Yes, it is covered."
    streamed, followed = wire.completions(emulator)
    assert (streamed.operation, followed.operation) == ("converse_stream", "converse")
    stats = ledger.stats(provider="bedrock")
    assert stats.calls == 2
    for field in ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"):
        assert getattr(stats, field) == getattr(streamed.usage, field) + getattr(followed.usage, field), field
    assert streamed.usage.cache_write_tokens > 1000
