"""Fixtures for the cachepoint-langgraph tests: the emulator real ChatAnthropic clients talk to, and fresh
"logged once" warnings per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.once import forget


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    """Start emulators (keyword arguments go to `Emulator`); all are closed after the test."""
    started: list[Emulator] = []

    def make(**options: Any) -> Emulator:
        running = Emulator(**options).start()
        started.append(running)
        return running

    yield make
    for running in started:
        running.close()


def support_reply(call: Any) -> Reply:
    """A support agent's model: look up the router first, answer once the lookup is in the conversation."""
    if "firmware" in call.last_user_text:
        return Reply("Update the firmware to 2.4, then hold reset for ten seconds.")
    return Reply(tool_calls=(ToolCall("router_status", {"customer_id": "c-42"}),))


@pytest.fixture
def emulator(make_emulator: Callable[..., Emulator]) -> Emulator:
    """An emulator that calls the ``router_status`` tool, then answers (plain graphs just get the answer)."""
    return make_emulator(reply=support_reply)


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    forget()  # each test sees its own "logged once" warnings
