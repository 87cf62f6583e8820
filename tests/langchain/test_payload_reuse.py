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
