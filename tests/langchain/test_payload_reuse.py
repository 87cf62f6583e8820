"""An agent sends the same message objects again on every call, one turn longer each time: the adapters convert
each message once and reuse the result. What a user must never notice: a request that differs from the messages
as they are now (a message changed in place since an earlier call), or a changed caller's message."""

from __future__ import annotations

import copy
import gc
import weakref
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from cachepoint.core.emulator import Emulator
from cachepoint.core.traces import read_trace
from cachepoint.langchain import CachepointCallbackHandler, with_cache_points
from langchain_support import MANUAL, anthropic, markers


def conversation() -> list[BaseMessage]:
    call = {"name": "lookup", "args": {"customer_id": "c-7"}, "id": "toolu_01"}
    return [
        SystemMessage(MANUAL),
        HumanMessage([{"type": "text", "text": "My router blinks red."}]),
        AIMessage("", tool_calls=[call]),
        ToolMessage("Record: AX-1, firmware 2.1", tool_call_id="toolu_01"),
        AIMessage("Hold reset for ten seconds."),
        HumanMessage("It still blinks."),
    ]


def sent_texts(body: Any) -> str:
    return repr(body["messages"])


def test_the_same_messages_sent_again_stay_exactly_as_the_caller_made_them(emulator: Emulator) -> None:
    messages = conversation()
    before = copy.deepcopy(messages)
    model = with_cache_points(anthropic(emulator))
    handler = CachepointCallbackHandler()
    for k in range(2, len(messages) + 1, 2):  # the agent's steps: each request one turn longer
        model.invoke(messages[:k])
        anthropic(emulator).invoke(messages[:k], config={"callbacks": [handler]})
    assert messages == before
    assert [m.content for m in messages] == [m.content for m in before]
    wrapped, handled = emulator.requests[-2:]
    assert markers(wrapped.body) >= 2
    assert markers(handled.body) >= 2
    assert wrapped.body["messages"] == handled.body["messages"]  # both adapters send the same conversation


def test_a_message_changed_in_place_is_recorded_and_planned_as_it_is_now(emulator: Emulator, tmp_path: Path) -> None:
    # The handler plans on (and records) its own rebuild of the request: a message changed in place since the
    # last call must be rebuilt as it is now, not as it was.
    messages = conversation()
    handler = CachepointCallbackHandler(recorder=tmp_path / "calls.jsonl")
    model = anthropic(emulator)
    model.invoke(messages, config={"callbacks": [handler]})
    messages[1].content[0]["text"] = "My router blinks green."  # type: ignore[index]
    messages[2].tool_calls[0]["args"] = {"customer_id": "c-8"}  # type: ignore[attr-defined]
    messages[3].status = "error"  # type: ignore[attr-defined]
    model.invoke(messages, config={"callbacks": [handler]})
    handler.recorder.close()  # type: ignore[union-attr]
    first, second = (sent_texts(record.request) for record in read_trace(tmp_path / "calls.jsonl"))
    assert "blinks red" in first
    assert "blinks red" not in second
    assert "blinks green" in second
    assert "c-8" in second
    assert "c-7" not in second
    assert second.count("'is_error': True") == 1
    assert sent_texts(emulator.requests[1].body).count("blinks green") == 1  # and sent as it is now


def test_a_finished_conversation_is_not_kept_alive(emulator: Emulator) -> None:
    messages = conversation()
    refs = [weakref.ref(m) for m in messages]
    model = with_cache_points(anthropic(emulator))
    handler = CachepointCallbackHandler()
    model.invoke(messages)
    anthropic(emulator).invoke(messages, config={"callbacks": [handler]})
    del messages
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)


def agent_steps(messages: list[BaseMessage]) -> list[list[BaseMessage]]:
    """The requests of an agent working through ``messages``: each ends with a human or tool message."""
    return [messages[: k + 1] for k, m in enumerate(messages) if isinstance(m, (HumanMessage, ToolMessage))]


def longer_conversation() -> list[BaseMessage]:
    out: list[BaseMessage] = [SystemMessage(MANUAL)]
    for n in range(4):
        out.append(HumanMessage(f"Question {n}: my router blinks red."))
        call = {"name": "lookup", "args": {"customer_id": f"c-{n}"}, "id": f"toolu_{n:02d}"}
        out.append(AIMessage("Let me look.", tool_calls=[call]))
        out.append(ToolMessage(f"Record {n}: AX-1, firmware 2.{n}", tool_call_id=f"toolu_{n:02d}"))
        out.append(AIMessage(f"Answer {n}: hold reset for ten seconds."))
    return out


def test_each_turn_of_an_agent_is_recorded_as_if_its_messages_were_new(emulator: Emulator, tmp_path: Path) -> None:
    # The adapters take over what they built for the earlier turns of a conversation: every request must come
    # out exactly as it does when no message was seen before (fresh copies of each request's messages).
    messages = longer_conversation()
    model = anthropic(emulator)
    reused = CachepointCallbackHandler(recorder=tmp_path / "reused.jsonl")
    fresh = CachepointCallbackHandler(recorder=tmp_path / "fresh.jsonl")
    wrapped = with_cache_points(model)
    for request in agent_steps(messages):
        model.invoke(request, config={"callbacks": [reused]})
        model.invoke(copy.deepcopy(request), config={"callbacks": [fresh]})
        wrapped.invoke(request)
        wrapped.invoke(copy.deepcopy(request))
    for handler in (reused, fresh):
        handler.recorder.close()  # type: ignore[union-attr]
    again = [record.request for record in read_trace(tmp_path / "reused.jsonl")]
    new = [record.request for record in read_trace(tmp_path / "fresh.jsonl")]
    assert len(again) == len(new) == len(agent_steps(messages))
    assert again == new
    bodies = [r.body for r in emulator.requests]
    for k in range(0, len(bodies), 4):  # handler (seen before, fresh), wrapper (seen before, fresh)
        assert bodies[k] == bodies[k + 1]
        assert bodies[k + 2] == bodies[k + 3]
        assert markers(bodies[k]) >= 2


def test_a_message_changed_in_place_between_turns_is_planned_and_recorded_as_it_is_now(
    emulator: Emulator, tmp_path: Path
) -> None:
    # The next turn repeats the earlier message objects, some of them changed in place since (an app editing its
    # history): what was built for them on the earlier turn must not be taken over for those.
    messages = longer_conversation()
    handler = CachepointCallbackHandler(recorder=tmp_path / "calls.jsonl")
    model = anthropic(emulator)
    wrapped = with_cache_points(model)
    model.invoke(messages[:4], config={"callbacks": [handler]})
    wrapped.invoke(messages[:4])
    messages[0].content = MANUAL + " Always cite the section number."
    messages[1].content = [{"type": "text", "text": "Question 0: it blinks green."}, "Since this morning."]
    messages[2].tool_calls[0]["args"] = {"customer_id": "c-99"}  # type: ignore[attr-defined]
    messages[3].status = "error"  # type: ignore[attr-defined]
    messages[4] = AIMessage("Answer 0: unplug it first.")  # another object at the same place
    model.invoke(messages[:8], config={"callbacks": [handler]})
    wrapped.invoke(messages[:8])
    handler.recorder.close()  # type: ignore[union-attr]
    second = sent_texts(read_trace(tmp_path / "calls.jsonl")[1].request)
    system = repr(read_trace(tmp_path / "calls.jsonl")[1].request["system"])
    assert "Always cite the section number." in system
    for now in ("blinks green", "Since this morning.", "c-99", "unplug it first"):
        assert now in second
    for before in ("Question 0: my router blinks red.", "'c-0'", "hold reset"):
        assert before not in second.split("Question 1")[0]
    assert second.count("'is_error': True") == 1
    for body in (emulator.requests[-2].body, emulator.requests[-1].body):
        assert markers(body) >= 2  # planned on the request as it is (a stale layout would place nothing)
        assert "Since this morning." in repr(body["messages"])
    assert emulator.requests[-2].body["messages"] == emulator.requests[-1].body["messages"]
