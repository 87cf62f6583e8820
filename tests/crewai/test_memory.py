"""What a cache-enabled LLM keeps of the conversations it served, against the emulator: a server that builds its
crew (agents, LLMs) per request must not keep every request's conversation for the life of the process."""

from __future__ import annotations

import asyncio
import gc
import time
import types
import uuid
from typing import Any

import pytest
from crewai.events import crewai_event_bus

from cachepoint.core.emulator import Emulator
from cachepoint.core.tokens import EstimateCounter
from cachepoint.core.usage import UsageLedger
from cachepoint.crewai import LLM, CachePoints
from cancelling import cancel_once_sent

SYSTEM = "You answer router questions from the manual below.\n" + "Hold reset for ten seconds to restore it. " * 150
MODELS = {
    "anthropic": "anthropic/claude-sonnet-4-5",
    "bedrock": "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "openai": "openai/gpt-4o",
}


def provider_llm(provider: str, emu: Emulator, ledger: UsageLedger) -> Any:
    where = {"anthropic": {"base_url": emu.url}, "openai": {"base_url": emu.openai_base_url}}.get(provider, {})
    keys = {"api_key": "test-key"} if provider != "bedrock" else {}
    return LLM(model=MODELS[provider], cache_points=CachePoints(ledger=ledger), **where, **keys)


def ours(obj: Any, objects: list[Any], depth: int = 2) -> bool:
    """Whether ``obj`` is cachepoint's: of a cachepoint class, or held by one within ``depth`` steps (the dict inside
    a memo). CrewAI keeps copies of its own (its trace listener buffers every LLM event of direct calls)."""
    if type(obj).__module__.startswith("cachepoint."):
        return True
    if depth == 0:
        return False
    return any(
        ours(owner, objects, depth - 1)
        for owner in gc.get_referrers(obj)
        if owner is not objects and not isinstance(owner, types.FrameType)
    )


def holders(marker: str) -> set[str]:
    """cachepoint's objects still holding text that contains ``marker`` (as ``str`` or as ``bytes``)."""
    gc.collect()
    needle = marker.encode()
    objects = gc.get_objects()
    found = {
        f"{type(obj).__module__}.{type(obj).__qualname__}"
        for obj in objects
        if any(
            item is not marker and ((type(item) is str and marker in item) or (type(item) is bytes and needle in item))
            for item in gc.get_referents(obj)
        )
        and ours(obj, objects)
    }
    objects.clear()
    return found


@pytest.mark.parametrize("provider", ["anthropic", "bedrock", "openai"])
@pytest.mark.parametrize("ending", ["finished", "cancelled"])
def test_an_llm_dropped_keeps_nothing_of_its_conversations(
    monkeypatch: pytest.MonkeyPatch, provider: str, ending: str
) -> None:
    # One crew per request: its LLM goes when the request ends, finished or cancelled mid-call (a client gone).
    # What cachepoint kept to place the next turn's breakpoints faster must go with it, not pile up per request.
    marker = uuid.uuid4().hex
    ledger = UsageLedger()
    delay = 1.0 if ending == "cancelled" else 0.0
    # The emulator runs in this process: it counts tokens without remembering texts, so what is found is ours.
    with Emulator(reply="Hold reset.", first_byte_delay=delay, counter=EstimateCounter(cache_size=0)) as emu:
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)

        async def serve(turns: int) -> None:
            llm = provider_llm(provider, emu, ledger)
            for turn in range(turns):
                messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"{marker} {turn}"}]
                call = llm.acall(messages)
                await (cancel_once_sent(call, emu, turn) if ending == "cancelled" else call)

        asyncio.run(serve(3))
        assert len(emu.requests) == 3
        if ending == "cancelled":
            time.sleep(1.5)  # the emulator's handlers of the abandoned requests finish their delayed answers
        emu.reset()  # the emulator's own record of what it received
        crewai_event_bus.flush()  # CrewAI's event handlers hold the LLM (the events' source) until they have run
        held = holders(marker)
        for _ in range(10):  # and its thread pool may still hold the last event a moment after
            if not held:
                break
            time.sleep(0.2)
            held = holders(marker)
        assert held == set()
    assert ledger.stats().calls == (3 if ending == "finished" else 0)
