"""CrewAI's native OpenAI provider with cache_points, against the emulator: a ``prompt_cache_key`` from the
static layers (the same for every call of one agent), usage recorded, nothing else added to the request."""

from __future__ import annotations

import asyncio
from typing import Any

from crewai.llms.providers.openai.completion import OpenAICompletion

from cachepoint.core.emulator import Emulator
from cachepoint.core.usage import UsageLedger
from cachepoint.crewai import LLM, CachePoints

SYSTEM = "You are a travel agent. Recommend trains from the timetable below.\n" + ("Timetable row. " * 400)


def messages(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def openai_llm(emu: Emulator, cache_points: Any = None, **kwargs: Any) -> Any:
    return LLM(
        model="openai/gpt-4o", base_url=emu.openai_base_url, api_key="test-key", cache_points=cache_points, **kwargs
    )


def test_calls_get_one_prompt_cache_key_per_static_prefix_and_usage_is_recorded(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = openai_llm(emulator, CachePoints(ledger=ledger))
    assert isinstance(llm, OpenAICompletion)

    llm.call(messages("Paris to Lyon?"))
    asyncio.run(llm.acall(messages("Lyon to Nice?")))

    first, second = wire.completions(emulator)
    key = first.body["prompt_cache_key"]
    assert key.startswith("cp-")
    assert second.body["prompt_cache_key"] == key  # different questions, same agent prompt: same key
    assert second.usage.cache_read_tokens > 0
    stats = ledger.stats(provider="openai", model="gpt-4o")
    assert stats.calls == 2
    assert stats.cache_read_tokens == second.usage.cache_read_tokens


def test_streamed_calls_are_keyed_and_recorded(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = openai_llm(emulator, CachePoints(ledger=ledger), stream=True)

    assert llm.call(messages("Paris to Lyon?")) == "Done."

    (call,) = wire.completions(emulator)
    assert call.stream
    assert call.body["prompt_cache_key"].startswith("cp-")
    assert ledger.stats().calls == 1
    assert ledger.stats().input_tokens == call.usage.input_tokens


def test_without_cache_points_no_key_is_sent(emulator: Emulator, wire: Any) -> None:
    llm = openai_llm(emulator)
    assert type(llm) is OpenAICompletion
    llm.call(messages("Paris to Lyon?"))
    (call,) = wire.completions(emulator)
    assert "prompt_cache_key" not in call.body
