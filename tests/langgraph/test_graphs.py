"""Real LangGraph graphs with a real ChatAnthropic against the emulator, run with invoke, ainvoke, stream and
astream: what reaches the provider (markers where the strategy puts them, never more than four), what the ledger
says per node, and that no marker is left in the graph's state."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.pregel import Pregel

from cachepoint.core.emulator import Emulator
from cachepoint.core.prompt import cache_at
from cachepoint.core.usage import UsageLedger
from cachepoint.langchain import CachepointCallbackHandler
from cachepoint.langchain.patches import loans
from cachepoint.langgraph import cache_points
from cancelling import cancel_once_sent
from langchain_support import MANUAL, anthropic, markers

MODES = ["invoke", "ainvoke", "stream", "astream"]


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    review: str


@tool
def router_status(customer_id: str) -> str:
    """Firmware, uptime and error lights of a customer's router."""
    return f"{customer_id}: firmware 2.1, red light since 09:12"


THREAD: RunnableConfig = {"configurable": {"thread_id": "ada"}}


def run(graph: Pregel, inputs: dict[str, Any], mode: str, *, times: int = 1) -> dict[str, Any]:
    """Run ``graph`` ``times`` times in ``mode`` (the async ones on one event loop, as an application would:
    ChatAnthropic's async client stays on the loop it started on); the last final state. The stream modes also
    stream the model's tokens (``messages``), so the model is called with ``stream=True``."""
    final: dict[str, Any] = {}

    def keep(chunk: Any) -> None:
        kind, data = chunk
        if kind == "values":
            final.update(data)

    def once() -> None:
        if mode == "invoke":
            final.update(graph.invoke(inputs))
        else:
            for chunk in graph.stream(inputs, stream_mode=["values", "messages"]):
                keep(chunk)

    async def aonce() -> None:
        if mode == "ainvoke":
            final.update(await graph.ainvoke(inputs))
        else:
            async for chunk in graph.astream(inputs, stream_mode=["values", "messages"]):
                keep(chunk)

    async def arun() -> None:
        for _ in range(times):
            await aonce()

    if mode in ("invoke", "stream"):
        for _ in range(times):
            once()
    else:
        asyncio.run(arun())
    return final


def asynchronous(mode: str) -> bool:
    return mode.startswith("a")


def pipeline(model: Any, *, is_async: bool = False, checkpointer: Any = None) -> Any:
    """Two nodes: a sync one that never passes ``config`` on, then one that does (``async def`` for the async
    runs: LangGraph runs an async node only there)."""

    def draft(state: State) -> dict[str, Any]:
        return {"messages": [model.invoke([SystemMessage(MANUAL), *state["messages"]])]}

    ask = HumanMessage("Review the draft answer.")

    def review_sync(state: State, config: RunnableConfig) -> dict[str, Any]:
        return {"review": model.invoke([SystemMessage(MANUAL), *state["messages"], ask], config).text}

    async def review_async(state: State, config: RunnableConfig) -> dict[str, Any]:
        return {"review": (await model.ainvoke([SystemMessage(MANUAL), *state["messages"], ask], config)).text}

    review = review_async if is_async else review_sync
    builder = StateGraph(State)
    builder.add_node("draft", draft).add_node("review", review)
    builder.add_edge(START, "draft").add_edge("draft", "review").add_edge("review", END)
    return builder.compile(name="support", checkpointer=checkpointer)


def assert_auto_positions(body: dict[str, Any]) -> None:
    """`auto()` on a system prompt and a short conversation: the system prompt (1 hour) and the tail."""
    assert markers(body) <= 4
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}


def assert_clean(state: dict[str, Any]) -> None:
    assert "cache_control" not in repr(state)
    assert "cachePoint" not in repr(state)


@pytest.mark.parametrize("mode", MODES)
def test_pipeline_calls_carry_breakpoints_and_are_counted_per_node(
    make_emulator: Callable[..., Emulator], mode: str
) -> None:
    emulator = make_emulator(reply="Hold reset for ten seconds.")
    ledger = UsageLedger()
    graph = cache_points(pipeline(anthropic(emulator), is_async=asynchronous(mode)), ledger=ledger)
    question = {"messages": [HumanMessage("My router blinks red.")]}
    state = run(graph, question, mode, times=2)
    assert state["review"] == "Hold reset for ten seconds."
    assert_clean(state)
    calls = emulator.requests
    assert len(calls) == 4
    assert all(call.status == 200 for call in calls), [call.error for call in calls]
    assert all(call.stream is (mode in ("stream", "astream")) for call in calls)
    for call in calls:
        assert_auto_positions(call.body)
    nodes = ledger.group_by("node")
    assert sorted(nodes) == [("draft",), ("review",)]
    assert nodes[("draft",)].calls == nodes[("review",)].calls == 2
    # The first draft writes the manual; every later call reads it.
    assert (nodes[("draft",)].hit_calls, nodes[("review",)].hit_calls) == (1, 2)
    assert ledger.stats().cache_read_tokens == sum(call.usage.cache_read_tokens for call in calls)
    assert ledger.stats().cache_write_tokens == sum(call.usage.cache_write_tokens for call in calls)
    assert ledger.stats().cached_token_ratio > 0.5
    assert {labels["graph"] for labels, _ in ledger.series()} == {"support"}
    assert {labels["model"] for labels, _ in ledger.series()} == {"claude-sonnet-4-6"}


def test_run_metadata_tenant_labels_the_calls(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(reply="ok")
    ledger = UsageLedger()
    graph = cache_points(pipeline(anthropic(emulator)), ledger=ledger)
    graph.invoke({"messages": [HumanMessage("Hi")]}, {"metadata": {"tenant": "acme"}})
    assert ledger.group_by("node", "tenant").keys() == {("draft", "acme"), ("review", "acme")}


def test_a_strategy_of_your_own_decides_the_positions(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(reply="ok")
    graph = cache_points(pipeline(anthropic(emulator)), strategy=cache_at("system"))
    graph.invoke({"messages": [HumanMessage("Hi")]})
    for call in emulator.requests:
        assert markers(call.body) == 1
        assert "cache_control" in call.body["system"][-1]
        assert "cache_control" not in repr(call.body["messages"])


def test_cache_points_keeps_the_callers_callbacks_and_replaces_its_own(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(reply="ok")
    first, second = UsageLedger(), UsageLedger()
    graph = cache_points(cache_points(pipeline(anthropic(emulator)), ledger=first), ledger=second)
    graph.invoke({"messages": [HumanMessage("Hi")]})
    assert first.stats().calls == 0  # the second cache_points replaced the first one's handler...
    assert second.stats().calls == 2  # ...and counted each call once
    assert all(markers(call.body) == 2 for call in emulator.requests)  # placed once, not twice


def test_cache_points_wants_a_compiled_graph() -> None:
    builder = StateGraph(State)
    with pytest.raises(TypeError, match=r"compile the graph first"):
        cache_points(builder)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="expected a compiled LangGraph graph"):
        cache_points(object())  # type: ignore[type-var]


def react_agent(model: Any) -> Any:
    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # LangGraph 1.x points to langchain's create_agent
        return create_react_agent(model, [router_status], prompt=MANUAL, name="helpdesk")


def langchain_agent(model: Any) -> Any:
    from langchain.agents import create_agent

    return create_agent(model, [router_status], system_prompt=MANUAL, name="helpdesk")


AGENTS = {"create_react_agent": (react_agent, "agent"), "create_agent": (langchain_agent, "model")}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", sorted(AGENTS))
def test_a_prebuilt_agent_with_tools(emulator: Emulator, kind: str, mode: str) -> None:
    build, model_node = AGENTS[kind]
    ledger = UsageLedger()
    agent = cache_points(build(anthropic(emulator)), ledger=ledger)
    state = run(agent, {"messages": [HumanMessage("My router blinks red.")]}, mode)
    assert state["messages"][-1].text.startswith("Update the firmware")
    assert [type(m).__name__ for m in state["messages"]] == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert_clean(state)
    first, second = emulator.requests
    for call in (first, second):
        assert call.status == 200, call.error
        assert_auto_positions(call.body)
    # The second call's tail is the tool result; the prefix before it (the manual) is read from the cache.
    assert second.body["messages"][-1]["content"][-1]["type"] == "tool_result"
    assert second.usage.cache_read_tokens > 2000
    nodes = ledger.group_by("node")
    assert list(nodes) == [(model_node,)]  # the tool node makes no LLM call
    assert nodes[(model_node,)].calls == 2
    assert nodes[(model_node,)].hit_calls == 1
    assert {labels["graph"] for labels, _ in ledger.series()} == {"helpdesk"}


class Research(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    notes: str


def research_graph(model: Any, *, is_async: bool = False) -> Any:
    """A parent graph whose first node is a compiled subgraph that makes its own LLM call."""

    def lookup(state: Research) -> dict[str, Any]:
        found = model.invoke([SystemMessage(MANUAL), *state["messages"], HumanMessage("List the relevant sections.")])
        return {"notes": found.text}

    inner = StateGraph(Research).add_node("lookup", lookup).add_edge(START, "lookup").compile()

    def prompt(state: Research) -> list[AnyMessage]:
        return [SystemMessage(MANUAL), *state["messages"], HumanMessage(f"Answer using: {state['notes']}")]

    def answer_sync(state: Research) -> dict[str, Any]:
        return {"messages": [model.invoke(prompt(state))]}

    async def answer_async(state: Research) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(prompt(state))]}

    answer = answer_async if is_async else answer_sync
    builder = StateGraph(Research).add_node("research", inner).add_node("answer", answer)
    return builder.add_edge(START, "research").add_edge("research", "answer").compile(name="research")


@pytest.mark.parametrize("mode", MODES)
def test_calls_inside_a_subgraph_are_counted_under_the_subgraphs_node(
    make_emulator: Callable[..., Emulator], mode: str
) -> None:
    emulator = make_emulator(reply="Section 4.2: reset.")
    ledger = UsageLedger()
    graph = cache_points(research_graph(anthropic(emulator), is_async=asynchronous(mode)), ledger=ledger)
    state = run(graph, {"messages": [HumanMessage("My router blinks red.")]}, mode)
    assert state["notes"] == "Section 4.2: reset."
    assert isinstance(state["messages"][-1], AIMessage)
    assert_clean(state)
    assert len(emulator.requests) == 2
    for call in emulator.requests:
        assert call.status == 200, call.error
        assert_auto_positions(call.body)
    assert {k: s.calls for k, s in ledger.group_by("node").items()} == {("answer",): 1, ("lookup",): 1}


def test_subgraph_events_stream_with_breakpoints(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(reply="Section 4.2: reset.")
    graph = cache_points(research_graph(anthropic(emulator)))
    namespaces = {ns for ns, _ in graph.stream({"messages": [HumanMessage("Hi")]}, subgraphs=True)}
    assert any(ns and ns[0].startswith("research:") for ns in namespaces)
    assert [markers(call.body) for call in emulator.requests] == [2, 2]


@pytest.mark.parametrize("where", ["agent as a subgraph", "handler in the run config"])
def test_a_call_two_cachepoint_handlers_see_is_counted_once(make_emulator: Callable[..., Emulator], where: str) -> None:
    emulator = make_emulator(reply="Hold reset for ten seconds.")
    ledger = UsageLedger()
    config: RunnableConfig = {}
    if where == "agent as a subgraph":
        # A team's agent ships already wrapped; the application wraps its own graph around it too.
        agent = cache_points(pipeline(anthropic(emulator)), ledger=ledger)
        builder = StateGraph(State).add_node("support", agent).add_edge(START, "support")
        graph = cache_points(builder.compile(name="frontdesk"), ledger=ledger)
    else:
        graph = cache_points(pipeline(anthropic(emulator)), ledger=ledger)
        config = {"callbacks": [CachepointCallbackHandler(ledger=ledger)]}
    state = graph.invoke({"messages": [HumanMessage("My router blinks red.")]}, config)
    assert state["review"] == "Hold reset for ten seconds."
    assert_clean(state)
    assert len(emulator.requests) == 2
    assert all(markers(call.body) == 2 for call in emulator.requests)
    assert ledger.stats().calls == 2
    assert {k: s.calls for k, s in ledger.group_by("node").items()} == {("draft",): 1, ("review",): 1}


def test_concurrent_threads_sharing_a_message_checkpoint_it_as_they_left_it(
    make_emulator: Callable[..., Emulator],
) -> None:
    emulator = make_emulator(reply="ok", first_byte_delay=0.6)
    model = anthropic(emulator)
    manual = SystemMessage(MANUAL)  # one prompt object an application puts into every conversation

    async def answer(state: State) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(State).add_node("answer", answer).add_edge(START, "answer")
    graph = cache_points(builder.compile(checkpointer=InMemorySaver(), name="support"))

    async def conversations() -> None:
        first = asyncio.create_task(
            graph.ainvoke({"messages": [manual, HumanMessage("Red light.")]}, {"configurable": {"thread_id": "ada"}})
        )
        await asyncio.sleep(0.3)  # ada's call is in flight when grace's run starts
        await graph.ainvoke({"messages": [manual, HumanMessage("No Wi-Fi.")]}, {"configurable": {"thread_id": "grace"}})
        await first

    asyncio.run(conversations())
    assert len(emulator.requests) == 2
    assert manual.content == MANUAL
    for thread in ("ada", "grace"):
        history = list(graph.get_state_history({"configurable": {"thread_id": thread}}))
        assert len(history) == 3
        for snapshot in history:
            assert [m.content for m in snapshot.values.get("messages", [])][:1] in ([], [MANUAL]), thread
            assert_clean(snapshot.values)


def test_a_subgraph_beside_a_call_checkpoints_the_messages_as_the_user_left_them(
    make_emulator: Callable[..., Emulator],
) -> None:
    emulator = make_emulator(reply="ok", first_byte_delay=0.6)
    model = anthropic(emulator)

    async def answer(state: State) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    async def read(state: State) -> dict[str, Any]:
        await asyncio.sleep(0.2)  # an audit step that takes a while: the answer's call is in flight meanwhile
        return {"review": "read"}

    audit = StateGraph(State).add_node("read", read).add_edge(START, "read").compile()
    builder = StateGraph(State).add_node("answer", answer).add_node("audit", audit)
    builder.add_edge(START, "answer").add_edge(START, "audit")
    saver = InMemorySaver()
    graph = cache_points(builder.compile(checkpointer=saver, name="support"))
    asyncio.run(graph.ainvoke({"messages": [SystemMessage(MANUAL), HumanMessage("Red light.")]}, THREAD))
    saved = list(saver.list(None))
    assert any(snapshot.config["configurable"]["checkpoint_ns"].startswith("audit:") for snapshot in saved)
    for snapshot in saved:
        assert_clean(snapshot.checkpoint["channel_values"])


def test_threads_sharing_a_message_in_sync_runs_checkpoint_it_as_they_left_it(
    make_emulator: Callable[..., Emulator],
) -> None:
    # The same as with tasks, for a server that runs graph.invoke in a thread per request: the second run's
    # checkpoints are written (in LangGraph's background threads) while the first run's call has the prompt lent.
    emulator = make_emulator(reply="ok", first_byte_delay=0.6)
    model = anthropic(emulator)
    manual = SystemMessage(MANUAL)

    def answer(state: State) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(State).add_node("answer", answer).add_edge(START, "answer")
    graph = cache_points(builder.compile(checkpointer=InMemorySaver(), name="support"))

    def conversation(thread: str, question: str) -> None:
        graph.invoke({"messages": [manual, HumanMessage(question)]}, {"configurable": {"thread_id": thread}})

    first = threading.Thread(target=conversation, args=("ada", "Red light."))
    first.start()
    time.sleep(0.3)  # ada's call is in flight when grace's run starts
    conversation("grace", "No Wi-Fi.")
    first.join()
    assert len(emulator.requests) == 2
    assert all(markers(call.body) >= 1 for call in emulator.requests)  # the calls did carry markers
    assert manual.content == MANUAL
    for thread in ("ada", "grace"):
        history = list(graph.get_state_history({"configurable": {"thread_id": thread}}))
        assert len(history) == 3
        for snapshot in history:
            assert_clean(snapshot.values)


def test_cache_points_leaves_your_saver_as_it_was(make_emulator: Callable[..., Emulator]) -> None:
    # The graph's checkpointer serializes through the caller's view; the saver you passed (which other graphs may
    # share) keeps its own serializer, and both read the same checkpoints.
    model = anthropic(make_emulator(reply="Hold reset for ten seconds."))
    saver = InMemorySaver()
    serde = saver.serde
    plain = pipeline(model, checkpointer=saver)
    graph = cache_points(plain)
    state = graph.invoke({"messages": [SystemMessage(MANUAL), HumanMessage("My router blinks red.")]}, THREAD)
    assert saver.serde is serde
    assert plain.checkpointer is saver
    assert type(graph.checkpointer) is InMemorySaver
    assert plain.get_state(THREAD).values == graph.get_state(THREAD).values == state
    assert_clean(state)
    assert cache_points(graph).checkpointer is graph.checkpointer  # wrapped once


def test_a_strict_msgpack_saver_derived_from_the_graphs_keeps_both(caplog: pytest.LogCaptureFixture) -> None:
    # Under LANGGRAPH_STRICT_MSGPACK LangGraph derives each run's saver with `with_allowlist` (the graph's own
    # types added to the allowlist): the derived saver must still write the caller's view and enforce the list.
    saver = InMemorySaver(serde=JsonPlusSerializer(allowed_msgpack_modules=None))  # strict: LangGraph's safe types
    graph = cache_points(pipeline(None, checkpointer=saver))
    derived = graph.checkpointer.with_allowlist([(Ticket.__module__, "Ticket")])
    manual, call = SystemMessage(MANUAL), uuid.uuid4()
    loans.lend(call, [manual], lambda frozen: {0: [{"type": "text", "text": MANUAL, "cache_control": {}}]})
    try:
        saved = derived.serde.dumps_typed({"ticket": Ticket("T-1"), "messages": [manual]})
    finally:
        loans.give_back(call)
    assert derived.serde.loads_typed(saved) == {"ticket": Ticket("T-1"), "messages": [SystemMessage(MANUAL)]}
    assert "does not support msgpack allowlist" not in caplog.text
    assert graph.checkpointer.serde.loads_typed(saved)["ticket"] != Ticket("T-1")  # not allowlisted there


@dataclass
class Ticket:
    id: str


@pytest.mark.parametrize("ending", ["ainvoke cancelled", "astream abandoned"])
def test_a_run_stopped_mid_call_leaves_nothing_of_its_own_behind(
    make_emulator: Callable[..., Emulator], ending: str
) -> None:
    # A server keeps one graph for hours; clients go away while a node awaits the provider. Nothing of those runs
    # (their messages, the requests placed from them) may stay in the handler or the loan registry.
    emulator = make_emulator(reply="ok", first_byte_delay=1.0)
    model = anthropic(emulator)

    async def answer(state: State) -> dict[str, Any]:
        return {"messages": [await model.ainvoke([SystemMessage(MANUAL), *state["messages"]])]}

    graph = cache_points(StateGraph(State).add_node("answer", answer).add_edge(START, "answer").compile())
    questions = [f"Turn {turn}: my router blinks red." for turn in range(3)]

    async def runs() -> None:
        for turn in range(len(questions)):
            inputs = {"messages": [HumanMessage(questions[turn])]}
            if ending == "ainvoke cancelled":
                await cancel_once_sent(graph.ainvoke(inputs), emulator, turn)
            else:
                stream = graph.astream(inputs, stream_mode="messages")
                await cancel_once_sent(anext(stream), emulator, turn)
                await stream.aclose()
            del inputs
        await asyncio.sleep(1.5)  # the cancelled requests' own tasks wind down
        assert len(emulator.requests) == len(questions)

    asyncio.run(runs())
    gc.collect()
    assert [[r for r in gc.get_referrers(q) if r is not questions] for q in questions] == [[]] * 3
    assert loans.held() == 0
