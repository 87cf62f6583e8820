"""`with_cache_points(model).with_structured_output(...)` is the wrapped model's own structured output: the same
method (ChatOpenAI's strict JSON schema by default, ChatAnthropic's ``json_schema``, function calling where the
model defaults to it), the same request, the same parsed answer, with the call still going through cachepoint
(breakpoints, usage, the response cache)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import MemoryStore
from cachepoint.langchain import with_cache_points
from langchain_support import MANUAL, anthropic, bedrock, openai


class Steps(BaseModel):
    """The steps that answer a support question."""

    steps: list[str]


ANSWER = {"steps": ["Hold reset for ten seconds.", "Wait for the light to turn green."]}


def answer(call: Any) -> Reply:
    """The answer as a call of the schema's tool when the request offers one, else as JSON text."""
    body = call.body
    tools = body.get("tools") or (body.get("toolConfig") or {}).get("tools") or []
    if "Steps" in json.dumps(tools):
        return Reply(tool_calls=(ToolCall("Steps", ANSWER),))
    return Reply(json.dumps(ANSWER))


# model factory, with_structured_output's arguments
CASES: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "openai": (openai, {}),  # ChatOpenAI's default: a strict JSON schema response format
    "openai-json_mode": (openai, {"method": "json_mode"}),
    "openai-function_calling-strict": (openai, {"method": "function_calling", "strict": True}),
    "anthropic": (anthropic, {}),
    "anthropic-json_schema": (anthropic, {"method": "json_schema"}),
    "bedrock": (bedrock, {}),
}


def unmarked(value: Any) -> Any:
    """``value`` without prompt-cache markers (what cachepoint adds on purpose)."""
    if isinstance(value, dict):
        return {k: unmarked(v) for k, v in value.items() if k not in ("cache_control", "prompt_cache_key")}
    if isinstance(value, list):
        kept = [unmarked(v) for v in value if not (isinstance(v, dict) and set(v) == {"cachePoint"})]
        # one text block is how a marker is carried on what the model sends as a plain string
        if len(kept) == 1 and isinstance(kept[0], dict) and kept[0].keys() == {"type", "text"}:
            return kept[0]["text"]
        return kept
    return value


@pytest.mark.parametrize("include_raw", [False, True], ids=["parsed", "include_raw"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_structured_output_is_asked_for_and_parsed_as_the_wrapped_model_does_it(
    make_emulator: Callable[..., Emulator], case: str, include_raw: bool
) -> None:
    emulator = make_emulator(reply=answer)
    factory, arguments = CASES[case]
    question = [("system", MANUAL), ("human", "How do I reset my router?")]
    try:
        expected = factory(emulator, temperature=0).with_structured_output(Steps, include_raw=include_raw, **arguments)
    except (NotImplementedError, ValueError) as exc:  # a method this version of the integration does not have
        pytest.skip(f"{case}: {exc}")
    plain = expected.invoke(question)
    wrapped = with_cache_points(factory(emulator, temperature=0)).with_structured_output(
        Steps, include_raw=include_raw, **arguments
    )
    got = wrapped.invoke(question)

    own, through = emulator.requests
    assert through.status == 200, through.error
    assert unmarked(through.body) == unmarked(own.body)  # the same method, schema, tool choice
    parsed = (got["parsed"], got["parsing_error"]) if include_raw else (got, None)
    assert parsed == ((plain["parsed"], plain["parsing_error"]) if include_raw else (plain, None))
    assert parsed == (Steps(**ANSWER), None)


@pytest.mark.parametrize("case", ["openai", "anthropic-json_schema"])
def test_a_structured_answer_is_served_from_the_response_cache_and_counted(
    make_emulator: Callable[..., Emulator], case: str
) -> None:
    emulator = make_emulator(reply=answer)
    factory, arguments = CASES[case]
    try:
        factory(emulator).with_structured_output(Steps, **arguments)
    except (NotImplementedError, ValueError) as exc:
        pytest.skip(f"{case}: {exc}")
    # gpt-5 takes no temperature (ChatOpenAI drops it): the policy caches calls that sample too
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("lc-structured", cache_nondeterministic=True))
    model = with_cache_points(factory(emulator, temperature=0), response_cache=cache)
    structured = model.with_structured_output(Steps, **arguments)
    question = [("system", MANUAL), ("human", "How do I reset my router?")]
    assert structured.invoke(question) == structured.invoke(question) == Steps(**ANSWER)
    assert len(emulator.requests) == 1
    assert (model.ledger.stats().calls, model.ledger.stats().replayed_calls) == (2, 1)


@pytest.mark.parametrize("case", ["openai", "anthropic", "bedrock"])
def test_an_agent_with_a_response_format_asks_and_answers_as_with_the_wrapped_model(
    make_emulator: Callable[..., Emulator], case: str
) -> None:
    # create_agent reads the model's name and profile to choose how to ask for the structured response (the
    # provider's own structured output, or a tool): the wrapper must not change that choice, nor fail it.
    from langchain.agents import create_agent

    emulator = make_emulator(reply=answer)
    factory, _ = CASES[case]
    results = []
    for model in (factory(emulator, temperature=0), with_cache_points(factory(emulator, temperature=0))):
        agent = create_agent(model, tools=[], system_prompt=MANUAL, response_format=Steps)
        results.append(agent.invoke({"messages": [("human", "How do I reset my router?")]})["structured_response"])

    own, through = emulator.requests
    assert through.status == 200, through.error
    assert unmarked(through.body) == unmarked(own.body)
    assert results == [Steps(**ANSWER), Steps(**ANSWER)]
