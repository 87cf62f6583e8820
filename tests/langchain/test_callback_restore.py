"""The caller's message objects are exactly as before after every call: returned, raised, cancelled, shared."""

from __future__ import annotations

import asyncio
import copy
import gc
import threading
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

import langchain_support
from cachepoint.core.emulator import Emulator
from cachepoint.langchain import CachepointCallbackHandler
from cachepoint.langchain.patches import loans
from cancelling import cancel_once_sent
from langchain_support import MANUAL, MODELS, markers


def conversation() -> list[BaseMessage]:
    return [
        SystemMessage(MANUAL),
        HumanMessage("My router blinks red."),
        AIMessage([{"type": "text", "text": "Which model is it?"}]),
        HumanMessage([{"type": "text", "text": "The AX-1."}, "It is two years old."]),
    ]


def snapshot(messages: list[BaseMessage]) -> list[tuple[int, int, Any]]:
    """Identity of each message and of its content, and a deep copy of the content."""
    return [(id(m), id(m.content), copy.deepcopy(m.content)) for m in messages]


@pytest.mark.parametrize("provider", sorted(MODELS))
@pytest.mark.parametrize("call", ["invoke", "batch", "stream"])
def test_sync_calls_leave_messages_as_they_were(emulator: Emulator, provider: str, call: str) -> None:
    model = MODELS[provider](emulator)
    messages = conversation()
    before = snapshot(messages)
    config = {"callbacks": [CachepointCallbackHandler()]}
    if call == "invoke":
        model.invoke(messages, config=config)
    elif call == "batch":
        model.batch([messages, messages], config=config)
    else:
        assert list(model.stream(messages, config=config))
    assert snapshot(messages) == before
    sent = [markers(r.body) for r in emulator.requests]
    assert all(n >= 2 for n in sent), sent  # the markers did go out
    assert loans.held() == 0


@pytest.mark.parametrize("provider", sorted(MODELS))
@pytest.mark.parametrize("call", ["ainvoke", "abatch", "astream"])
async def test_async_calls_leave_messages_as_they_were(emulator: Emulator, provider: str, call: str) -> None:
    model = MODELS[provider](emulator)
    messages = conversation()
    before = snapshot(messages)
    config = {"callbacks": [CachepointCallbackHandler()]}
    if call == "ainvoke":
        await model.ainvoke(messages, config=config)
    elif call == "abatch":
        await model.abatch([messages, messages], config=config)
    else:
        assert [chunk async for chunk in model.astream(messages, config=config)]
    assert snapshot(messages) == before
    sent = [markers(r.body) for r in emulator.requests]
    assert all(n >= 2 for n in sent), sent
    assert loans.held() == 0


def test_markers_do_not_accumulate_over_turns(emulator: Emulator) -> None:
    model = MODELS["anthropic"](emulator)
    handler = CachepointCallbackHandler()
    messages: list[BaseMessage] = [SystemMessage(MANUAL), HumanMessage("My router blinks red.")]
    for turn in range(6):
        messages.append(model.invoke(messages, config={"callbacks": [handler]}))
        messages.append(HumanMessage(f"Still blinking after step {turn}."))
    assert not any("cache_control" in repr(m.content) for m in messages)
    # Every request carries the same two markers (system and tail), never the leftovers of earlier turns.
    assert [markers(r.body) for r in emulator.requests] == [2] * 6
    assert [r.usage.cache_read_tokens > 0 for r in emulator.requests] == [False] + [True] * 5


def test_a_failing_call_gives_the_messages_back(emulator: Emulator) -> None:
    from langchain_anthropic import ChatAnthropic

    model = ChatAnthropic(model="claude-sonnet-4-5", base_url="http://127.0.0.1:9", api_key="k", max_retries=0)
    messages = conversation()
    before = snapshot(messages)
    with pytest.raises(Exception, match="onnect"):
        model.invoke(messages, config={"callbacks": [CachepointCallbackHandler()]})
    assert snapshot(messages) == before
    assert loans.held() == 0


async def test_a_cancelled_call_gives_the_messages_back() -> None:
    with Emulator(reply="ok", first_byte_delay=1.0) as emulator:
        model = MODELS["anthropic"](emulator)
        messages = conversation()
        before = snapshot(messages)
        task = asyncio.create_task(model.ainvoke(messages, config={"callbacks": [CachepointCallbackHandler()]}))
        for _ in range(500):  # wait until the request is out, markers and all
            if emulator.requests:
                break
            await asyncio.sleep(0.01)
        assert markers(emulator.requests[0].body) == 2
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert snapshot(messages) == before
        assert loans.held() == 0


async def test_a_call_cancelled_by_a_timeout_in_the_same_task_gives_the_messages_back() -> None:
    with Emulator(reply="ok", first_byte_delay=1.0) as emulator:
        model = MODELS["anthropic"](emulator)
        messages = conversation()
        before = snapshot(messages)
        handler = CachepointCallbackHandler()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await model.ainvoke(messages, config={"callbacks": [handler]})
        # The task goes on; its next call is the moment the abandoned one is known to be over.
        await model.ainvoke([HumanMessage("ping")], config={"callbacks": [handler]})
        assert snapshot(messages) == before
        assert loans.held() == 0


@pytest.mark.parametrize("provider", ["anthropic", "bedrock", "openai"])
@pytest.mark.parametrize("ending", ["cancelled", "finished"])
async def test_calls_over_leave_nothing_of_theirs_in_the_handler(tmp_path: Any, provider: str, ending: str) -> None:
    # A server keeps one handler for hours. LangChain calls neither on_llm_end nor on_llm_error for an ainvoke
    # cancelled while awaiting the provider (a client gone, a deadline), and a finished conversation is never
    # announced: what the handler kept of either (the request as placed and as recorded for the trace, the
    # conversation it reuses the next turn's work from) must be let go with the caller's messages.
    with Emulator(reply="ok", first_byte_delay=1.0 if ending == "cancelled" else 0.0) as emulator:
        model = MODELS[provider](emulator) if provider in MODELS else langchain_support.openai(emulator)
        handler = CachepointCallbackHandler(recorder=tmp_path / "trace.jsonl")
        questions = [f"Turn {turn}: my router blinks red." for turn in range(3)]
        for turn in range(len(questions)):
            messages = [SystemMessage(MANUAL), HumanMessage(questions[turn])]
            call = model.ainvoke(messages, config={"callbacks": [handler]})
            await (cancel_once_sent(call, emulator, turn) if ending == "cancelled" else call)
            del call, messages
        await asyncio.sleep(1.5 if ending == "cancelled" else 0)  # cancelled requests' own tasks wind down
        gc.collect()
        held = [[r for r in gc.get_referrers(q) if r is not questions] for q in questions]
        assert held == [[]] * 3, "the questions are still held (by these objects) after their calls"
        assert loans.held() == 0
        if ending == "finished":
            assert handler.ledger.stats().calls == 3


def run_in_threads(count: int, target: Callable[[], Any]) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run() -> None:
        try:
            barrier.wait()
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_the_same_messages_in_concurrent_threads(provider: str, make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(reply="ok", first_byte_delay=0.2)
    model = MODELS[provider](emulator)
    shared = conversation()
    before = snapshot(shared)
    handler = CachepointCallbackHandler()
    # Each thread adds its own question to the same history: the shared objects are in every call at once.
    run_in_threads(6, lambda: model.invoke([*shared, HumanMessage("and now?")], config={"callbacks": [handler]}))
    assert snapshot(shared) == before
    assert loans.held() == 0
    assert len(emulator.requests) == 6
    assert all(r.status == 200 and 1 <= markers(r.body) <= 4 for r in emulator.requests)


@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_the_same_messages_in_concurrent_tasks(provider: str, make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(reply="ok", first_byte_delay=0.2)
    model = MODELS[provider](emulator)
    shared = conversation()
    before = snapshot(shared)
    handler = CachepointCallbackHandler()
    await asyncio.gather(*(model.ainvoke(shared, config={"callbacks": [handler]}) for _ in range(6)))
    assert snapshot(shared) == before
    assert loans.held() == 0
    assert all(r.status == 200 and 1 <= markers(r.body) <= 4 for r in emulator.requests)


def test_tool_messages_get_their_marker_and_it_goes_away(emulator: Emulator) -> None:
    model = MODELS["anthropic"](emulator)
    messages: list[BaseMessage] = [
        SystemMessage(MANUAL),
        HumanMessage("Check my router."),
        AIMessage("", tool_calls=[{"name": "lookup", "args": {"id": "7"}, "id": "toolu_01"}]),
        ToolMessage("Firmware 2.1, rebooted yesterday.", tool_call_id="toolu_01"),
    ]
    before = snapshot(messages)
    model.invoke(messages, config={"callbacks": [CachepointCallbackHandler()]})
    last = emulator.requests[0].body["messages"][-1]["content"][-1]
    assert last["type"] == "tool_result"
    assert last["cache_control"] == {"type": "ephemeral"}
    assert last["content"] == "Firmware 2.1, rebooted yesterday."  # the result itself is sent as it was
    assert snapshot(messages) == before
