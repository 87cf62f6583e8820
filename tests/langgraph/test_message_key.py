"""`message_cache_key`: the same conversation has the same key whatever ids, metadata and cache markers its
messages carry; anything the model reads changes it. And the trap it avoids, in a real graph."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import CachePolicy
from pydantic import BaseModel

from cachepoint.core.keys import FingerprintError
from cachepoint.core.stores import MemoryStore
from cachepoint.langgraph import CachepointNodeCache, message_cache_key

ROLES = {"human": HumanMessage, "ai": AIMessage, "system": SystemMessage}
texts = st.text(min_size=1, max_size=30)
turns = st.lists(st.tuples(st.sampled_from(sorted(ROLES)), texts), min_size=1, max_size=6)


def conversation(spec: list[tuple[str, str]], *, noisy: bool, marked: bool) -> list[BaseMessage]:
    """The messages of ``spec``; ``noisy``: fresh ids and per-call metadata; ``marked``: cache markers too."""
    out: list[BaseMessage] = []
    for role, text in spec:
        content: Any = text
        if marked:
            content = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
        else:
            content = [{"type": "text", "text": text}]
        extra: dict[str, Any] = {}
        if noisy:
            extra["id"] = str(uuid.uuid4())
            if role == "ai":
                extra["response_metadata"] = {"id": f"msg_{uuid.uuid4().hex}", "model_name": "claude"}
                extra["usage_metadata"] = {"input_tokens": 9, "output_tokens": 1, "total_tokens": 10}
        out.append(ROLES[role](content, **extra))
    if marked:  # a Bedrock cache point of its own, after the last block
        last = out[-1]
        out[-1] = last.model_copy(update={"content": [*last.content, {"cachePoint": {"type": "default"}}]})
    return out


@given(turns, st.booleans(), st.booleans())
def test_ids_metadata_and_markers_never_change_the_key(spec: list[tuple[str, str]], noisy: bool, marked: bool) -> None:
    plain = {"messages": conversation(spec, noisy=False, marked=False), "step": 1}
    other = {"messages": conversation(spec, noisy=noisy, marked=marked), "step": 1}
    assert message_cache_key(plain) == message_cache_key(other)


@given(turns, st.data())
def test_any_text_the_model_reads_changes_the_key(spec: list[tuple[str, str]], data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(spec) - 1))
    role, text = spec[at]
    changed = [*spec[:at], (role, text + data.draw(texts)), *spec[at + 1 :]]
    assert message_cache_key({"messages": conversation(spec, noisy=True, marked=False)}) != message_cache_key(
        {"messages": conversation(changed, noisy=True, marked=False)}
    )


@given(turns)
def test_the_role_is_part_of_the_key(spec: list[tuple[str, str]]) -> None:
    role, text = spec[0]
    other = "human" if role != "human" else "ai"
    swapped = [(other, text), *spec[1:]]
    assert message_cache_key([*conversation(spec, noisy=False, marked=False)]) != message_cache_key(
        [*conversation(swapped, noisy=False, marked=False)]
    )


def test_tool_call_ids_are_kept_they_pair_calls_with_results() -> None:
    def turn(call_id: str) -> dict[str, Any]:
        call = AIMessage("", tool_calls=[{"name": "status", "args": {"id": "c-1"}, "id": call_id}])
        return {"messages": [HumanMessage("hi"), call, ToolMessage("ok", tool_call_id=call_id)]}

    assert message_cache_key(turn("toolu_1")) != message_cache_key(turn("toolu_2"))


def test_the_rest_of_the_state_counts_and_messages_are_found_anywhere_in_it() -> None:
    def state(user: str, id_: str) -> dict[str, Any]:
        return {"user": user, "nested": {"history": [HumanMessage("hi", id=id_)]}, "n": 1.0}

    assert message_cache_key(state("ada", "a")) == message_cache_key(state("ada", "b"))
    assert message_cache_key(state("ada", "a")) != message_cache_key(state("grace", "a"))


class PydanticState(BaseModel):
    messages: list[AnyMessage]
    topic: str


@dataclass
class DataclassState:
    messages: list[AnyMessage]
    topic: str


@pytest.mark.parametrize("kind", [PydanticState, DataclassState])
def test_pydantic_and_dataclass_states(kind: Any) -> None:
    a = kind(messages=[HumanMessage("hi", id="1")], topic="routers")
    b = kind(messages=[HumanMessage("hi", id="2")], topic="routers")
    c = kind(messages=[HumanMessage("hi", id="2")], topic="modems")
    assert message_cache_key(a) == message_cache_key(b) != message_cache_key(c)


def test_a_value_that_cannot_be_keyed_is_named() -> None:
    class Doc:
        pass

    with pytest.raises(FingerprintError, match=r"state\['docs'\]\[0\]"):
        message_cache_key({"messages": [], "docs": [Doc()]})


class Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


@pytest.mark.parametrize(("policy", "runs"), [(CachePolicy(), 2), (CachePolicy(key_func=message_cache_key), 1)])
def test_the_trap_add_messages_state_never_hits_with_the_default_key(policy: CachePolicy[Any], runs: int) -> None:
    calls: list[int] = []

    def answer(state: Chat) -> dict[str, Any]:
        calls.append(len(state["messages"]))
        return {"messages": [AIMessage("Hold reset.")]}

    cache = CachepointNodeCache(MemoryStore(max_entries=100), namespace="chat")
    graph = (
        StateGraph(Chat).add_node("answer", answer, cache_policy=policy).add_edge(START, "answer").compile(cache=cache)
    )
    for _ in range(2):
        # add_messages gives HumanMessage("hi") a new random id on every run
        state = graph.invoke({"messages": [HumanMessage("hi")]})
        assert [m.text for m in state["messages"]] == ["hi", "Hold reset."]
    assert len(calls) == runs
