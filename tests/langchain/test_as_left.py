"""`loans.as_left` / `loans.read_as_left`: what a serializer (a LangGraph checkpointer, a node cache) reads of a
value while a call in flight has lent its markers to messages in it: the messages as the caller left them, without
touching the caller's objects."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from cachepoint.core.emulator import Emulator
from cachepoint.langchain import CachepointCallbackHandler
from cachepoint.langchain.patches import loans
from langchain_support import MANUAL, anthropic


class Turn(NamedTuple):
    speaker: str
    message: BaseMessage


@dataclass(frozen=True)
class Ticket:
    id: str
    history: list[BaseMessage]


class Case(BaseModel):
    title: str
    history: list[BaseMessage]


class Packet:
    """Like LangGraph's ``Send``: attributes in slots."""

    __slots__ = ("arg", "node")

    def __init__(self, node: str, arg: Any) -> None:
        self.node = node
        self.arg = arg


def in_flight(make_emulator: Callable[..., Emulator], messages: list[BaseMessage]) -> threading.Thread:
    """A ChatAnthropic call with a cachepoint handler, started in a thread and awaiting the provider's first byte
    (so it has lent its markers to ``messages``) when this returns."""
    model = anthropic(make_emulator(reply="ok", first_byte_delay=1.0))
    call = threading.Thread(target=lambda: model.invoke(messages, config={"callbacks": [CachepointCallbackHandler()]}))
    call.start()
    deadline = time.monotonic() + 5
    while messages[0].content == MANUAL and time.monotonic() < deadline:
        time.sleep(0.01)
    assert messages[0].content != MANUAL  # the call has lent its markers
    return call


def test_a_value_with_no_lent_message_is_read_as_it_is() -> None:
    state = {"messages": [SystemMessage(MANUAL), HumanMessage("Red light.")], "step": 3}
    assert loans.as_left(state) is state
    assert loans.read_as_left(lambda value: value, state) is state


def test_lent_messages_are_read_as_left_in_any_container(make_emulator: Callable[..., Emulator]) -> None:
    manual, question, other = SystemMessage(MANUAL), HumanMessage("My router blinks red."), HumanMessage("Hi")
    call = in_flight(make_emulator, [manual, question])
    lent = manual.content
    state = {
        "messages": [manual, question, other],
        "by_role": OrderedDict(system=manual),
        "turns": (Turn("agent", manual), Turn("user", other)),
        "recent": deque([manual], maxlen=5),
        "ticket": Ticket("T-1", [manual]),
        "case": Case(title="router", history=[manual]),
        "packet": Packet("answer", {"messages": [manual]}),
        "untouched": [other, "text", 3],
    }
    view = loans.as_left(state)
    call.join()

    assert manual.content == MANUAL  # the call gave it back; the view never touched it
    assert lent != MANUAL
    seen = [
        view["messages"][0],
        view["by_role"]["system"],
        view["turns"][0].message,
        view["recent"][0],
        view["ticket"].history[0],
        view["case"].history[0],
        view["packet"].arg["messages"][0],
    ]
    assert all(type(m) is SystemMessage and m.content == MANUAL and m is not manual for m in seen)
    assert view["messages"][1].content == "My router blinks red."  # held by the call, never marked
    # Containers keep their types; what holds no lent message is the caller's own object.
    assert type(view["by_role"]) is OrderedDict
    assert type(view["turns"][0]) is Turn
    assert view["recent"].maxlen == 5
    assert type(view["ticket"]) is Ticket
    assert view["ticket"].id == "T-1"
    assert type(view["case"]) is Case
    assert type(view["packet"]) is Packet
    assert view["packet"].node == "answer"
    assert view["turns"][1] is state["turns"][1]
    assert view["untouched"] is state["untouched"]
    assert view["messages"][2] is other
    # The caller's containers are unchanged.
    assert state["messages"][0] is manual
    assert state["ticket"].history[0] is manual
    assert loans.as_left(state) is state  # nothing is lent any more
    assert loans.held() == 0


def test_a_read_during_which_a_call_lends_is_read_again() -> None:
    # A serializer in one thread, a call starting in another: the call lends between the view and the read.
    manual, run = SystemMessage(MANUAL), uuid.uuid4()
    marked = [{"type": "text", "text": MANUAL, "cache_control": {"type": "ephemeral"}}]
    reads: list[Any] = []

    def read(value: list[BaseMessage]) -> Any:
        if not reads:
            loans.lend(run, [manual], lambda frozen: {0: marked})
        reads.append(value[0].content)
        return value[0].content

    try:
        assert loans.read_as_left(read, [manual]) == MANUAL
        assert reads == [marked, MANUAL]  # the first read saw the markers, and was not the answer
        assert manual.content is marked
    finally:
        loans.give_back(run)
    assert manual.content == MANUAL
    assert loans.held() == 0
