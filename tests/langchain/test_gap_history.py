"""`auto(history=GapHistory())` through the LangChain callback handler: a customer who keeps going away for a
quarter of an hour gets the conversation written for an hour, and the turn after the next pause reads it back,
where plain `auto()` writes it again. Real `ChatAnthropic` against the emulator, on the emulator's clock."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from cachepoint.core.analyze.adaptive import GapHistory
from cachepoint.core.emulator import Emulator
from cachepoint.core.prompt import Strategy, auto
from cachepoint.langchain import CachepointCallbackHandler
from langchain_support import MANUAL, MODELS

GAPS = (30.0, 900.0, 30.0, 900.0, 30.0, 900.0)  # seconds before each turn: a quick reply, then 15 minutes away


def chat(emulator: Emulator, strategy: Strategy) -> list[Any]:
    """The conversation, one turn after each gap; returns the emulator's record of each request."""
    model = MODELS["anthropic"](emulator)
    handler = CachepointCallbackHandler(strategy=strategy)
    messages: list[Any] = [SystemMessage(MANUAL), HumanMessage("My router reboots every night. " * 120)]
    for gap in GAPS:
        emulator.clock.advance(gap)
        reply = model.invoke(messages, config={"callbacks": [handler]})
        messages += [AIMessage(reply.content), HumanMessage("It rebooted again; what next? " * 40)]
    return list(emulator.requests)


def tail_ttl(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"][-1]["cache_control"].get("ttl", "5m"))


def test_a_pausing_customer_reads_the_conversation_back_after_the_pause(emulator: Emulator) -> None:
    requests = chat(emulator, auto(history=GapHistory(clock=emulator.clock.now)))
    assert [r.status for r in requests] == [200] * len(GAPS)
    # The wire: 5m on the first turn (no pause seen yet); from the turn after the first pause, 1h (the system
    # prompt, sent by no other conversation, is this conversation's own and still cached, so what the turn writes
    # is small next to what a lapse would make the next turn write again).
    assert [tail_ttl(r.body) for r in requests] == ["5m"] + ["1h"] * (len(GAPS) - 1)
    # The turn after the last pause reads everything the turn before it sent.
    before, after = requests[-2], requests[-1]
    assert before.usage is not None
    assert after.usage is not None
    assert (after.usage.cache_read_tokens or 0) >= (before.usage.input_tokens or 1)
    assert (after.usage.cache_write_tokens or 0) < (before.usage.input_tokens or 0) // 4


def test_plain_auto_writes_the_conversation_again_after_each_pause(make_emulator: Any) -> None:
    emulator = make_emulator(reply="Restart the router.")
    requests = chat(emulator, auto())
    assert [tail_ttl(r.body) for r in requests] == ["5m"] * len(GAPS)
    before, after = requests[-2], requests[-1]
    assert before.usage is not None
    assert after.usage is not None
    # Only the system prompt (1h) is read: all the previous turn sent after it is written again.
    read, wrote = after.usage.cache_read_tokens or 0, after.usage.cache_write_tokens or 0
    assert read < (before.usage.input_tokens or 0)
    assert wrote >= (before.usage.input_tokens or 0) - read
