"""`cachepoint_node`: a wrapped node keeps what LangGraph injects, sync and async, and its LLM calls (with or
without ``config``) carry breakpoints and land in its ledger under the node's name, counted once."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from langgraph.types import CachePolicy, StreamWriter

from cachepoint.core.emulator import Emulator
from cachepoint.core.prompt import cache_at
from cachepoint.core.usage import UsageLedger
from cachepoint.langgraph import cache_points, cachepoint_node, message_cache_key
from langchain_support import MANUAL, anthropic, markers


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    seen: list[str]


@dataclass
class Ctx:
    customer: str


def ask(model: Any, state: State) -> list[AnyMessage]:
    return [SystemMessage(MANUAL), *state["messages"]]


def test_a_sync_node_gets_config_runtime_store_and_writer_injected(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(reply="Hold reset.")
    model = anthropic(emulator)
    ledger = UsageLedger()

    @cachepoint_node(ledger=ledger, labels={"graph": "helpdesk"})
    def answer(
        state: State, config: RunnableConfig, *, runtime: Runtime[Ctx], store: BaseStore, writer: StreamWriter
    ) -> dict[str, Any]:
        store.put(("customers",), runtime.context.customer, {"seen": True})
        writer({"progress": "asking the model"})
        reply = model.invoke(ask(model, state), config)
        seen = [config["metadata"]["langgraph_node"], runtime.context.customer, type(store).__name__]
        return {"messages": [reply], "seen": seen}

    store = InMemoryStore()
    graph = StateGraph(State, context_schema=Ctx).add_node(answer).add_edge(START, "answer").compile(store=store)
    chunks = list(
        graph.stream({"messages": [HumanMessage("Red light?")]}, context=Ctx("c-42"), stream_mode=["custom", "values"])
    )
    assert ("custom", {"progress": "asking the model"}) in chunks
    state = chunks[-1][1]
    assert state["seen"] == ["answer", "c-42", "InMemoryStore"]
    assert store.get(("customers",), "c-42") is not None
    assert "cache_control" not in repr(state)
    body = emulator.requests[0].body
    assert markers(body) == 2
    assert body["system"][-1]["cache_control"]["ttl"] == "1h"
    assert [(labels["node"], labels["graph"]) for labels, _ in ledger.series()] == [("answer", "helpdesk")]
    assert answer.ledger is ledger


def test_a_node_without_config_still_gets_breakpoints(make_emulator: Callable[..., Emulator]) -> None:
    # The model is called without config: LangGraph's context config reaches it, and the wrapper's handler
    # is in that config (the wrapper adds a `config` parameter LangGraph fills, the node never sees it).
    emulator = make_emulator(reply="ok")
    model = anthropic(emulator)

    def answer(state: State) -> dict[str, Any]:
        return {"messages": [model.invoke(ask(model, state))]}

    node = cachepoint_node(answer, strategy=cache_at("system"))
    assert "config" in inspect.signature(node).parameters
    assert list(inspect.signature(answer).parameters) == ["state"]
    graph = StateGraph(State).add_node("answer", node).add_edge(START, "answer").compile()
    graph.invoke({"messages": [HumanMessage("Hi")]})
    assert markers(emulator.requests[0].body) == 1
    assert node.ledger.stats(node="answer").calls == 1


def test_an_async_node_stays_async_and_is_counted(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(reply="ok")
    model = anthropic(emulator)

    @cachepoint_node
    async def answer(state: State, *, runtime: Runtime[Ctx]) -> dict[str, Any]:
        replies = await asyncio.gather(model.ainvoke(ask(model, state)), model.ainvoke(ask(model, state)))
        return {"messages": [replies[0]], "seen": [runtime.context.customer]}

    assert inspect.iscoroutinefunction(answer)
    graph = StateGraph(State, context_schema=Ctx).add_node(answer).add_edge(START, "answer").compile()
    state = asyncio.run(graph.ainvoke({"messages": [HumanMessage("Hi")]}, context=Ctx("c-7")))
    assert state["seen"] == ["c-7"]
    assert [markers(call.body) for call in emulator.requests] == [2, 2]
    assert answer.ledger.stats(node="answer").calls == 2  # both concurrent calls, under the node's name
    assert "cache_control" not in repr(state)


def test_an_agent_object_with_an_async_call_stays_async(make_emulator: Callable[..., Emulator]) -> None:
    """A node can be an object whose ``__call__`` is ``async def`` (LangGraph runs it as async): wrapped, it
    must still be awaited, keep its name and get breakpoints."""
    emulator = make_emulator(reply="ok")
    model = anthropic(emulator)

    class Triage:
        async def __call__(self, state: State) -> dict[str, Any]:
            return {"messages": [await model.ainvoke(ask(model, state))]}

    node = cachepoint_node(Triage())
    graph = StateGraph(State).add_node(node).add_edge(START, "Triage").compile()
    state = asyncio.run(graph.ainvoke({"messages": [HumanMessage("Hi")]}))
    assert state["messages"][-1].content == "ok"
    assert [markers(call.body) for call in emulator.requests] == [2]
    assert node.ledger.stats(node="Triage").calls == 1


def test_inside_a_cache_points_graph_the_nodes_own_handler_counts_its_calls_once(
    make_emulator: Callable[..., Emulator],
) -> None:
    emulator = make_emulator(reply="ok")
    model = anthropic(emulator)
    node_ledger, graph_ledger = UsageLedger(), UsageLedger()

    def plain(state: State) -> dict[str, Any]:
        return {"messages": [model.invoke(ask(model, state))]}

    @cachepoint_node(ledger=node_ledger, strategy=cache_at("system"))
    def special(state: State) -> dict[str, Any]:
        return {"messages": [model.invoke(ask(model, state))]}

    builder = StateGraph(State).add_node("plain", plain).add_node("special", special)
    graph = cache_points(builder.add_edge(START, "plain").add_edge("plain", "special").compile(), ledger=graph_ledger)
    graph.invoke({"messages": [HumanMessage("Hi")]})
    assert [markers(call.body) for call in emulator.requests] == [2, 1]  # auto() for plain, the node's own after
    assert list(graph_ledger.group_by("node")) == [("plain",)]
    assert list(node_ledger.group_by("node")) == [("special",)]


def test_the_node_and_its_cache_policy_travel_together() -> None:
    policy = CachePolicy(key_func=message_cache_key, ttl=600)

    @cachepoint_node(cache_policy=policy)
    def answer(state: State) -> dict[str, Any]:
        return {"seen": ["ran"]}

    assert answer.cache_policy is policy
    assert answer.__name__ == "answer"
    assert answer({"messages": [], "seen": []}) == {"seen": ["ran"]}  # callable outside a graph too


def test_what_cannot_be_wrapped_is_refused() -> None:
    def steps(state: State) -> Any:
        yield {"seen": ["a"]}

    with pytest.raises(TypeError, match="generator function"):
        cachepoint_node(steps)
    with pytest.raises(TypeError, match="expected a node function"):
        cachepoint_node(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="CachePolicy"):
        cachepoint_node(lambda s: s, cache_policy=600)  # type: ignore[arg-type]
