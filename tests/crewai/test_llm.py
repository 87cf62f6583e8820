"""`LLM` and `enable_cache_points`: what they return, what they refuse, and that settings are per instance."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from crewai.llms.base_llm import BaseLLM
from crewai.llms.providers.anthropic.completion import AnthropicCompletion

import crewai
from cachepoint.core.emulator import Emulator
from cachepoint.core.prompt import auto, cache_until
from cachepoint.core.usage import UsageLedger
from cachepoint.crewai import LLM, CachePoints, enable_cache_points

SYSTEM = "You summarize release notes for the support team. " * 150
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Summarize 2.4."}]


class EchoLLM(BaseLLM):
    """A custom LLM (CrewAI lets users subclass BaseLLM): not a provider cachepoint knows."""

    def call(self, messages: Any, *args: Any, **kwargs: Any) -> str:
        return "echo"


def test_cache_points_accepts_true_a_strategy_or_cache_points() -> None:
    assert type(LLM(model="anthropic/claude-sonnet-4-5", api_key="k", cache_points=True)).__name__ == (
        "CachePointsAnthropicCompletion"
    )
    strategy = cache_until("system")
    llm = LLM(model="anthropic/claude-sonnet-4-5", api_key="k", cache_points=strategy)
    assert llm._cachepoint_session.caching.config.strategy is strategy


@pytest.mark.parametrize(
    ("cache_points", "message"),
    [
        ("yes", "cache_points: expected True, a Strategy or a CachePoints, got 'yes'"),
        # Callable, so they pass for a Strategy, but they build one: caught here, not in the first call.
        (auto, "cache_points: got auto itself, not a strategy; call it, e.g. auto()"),
        (CachePoints, "cache_points: got CachePoints itself, not a strategy"),
    ],
)
def test_bad_cache_points_name_the_parameter(cache_points: Any, message: str) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        LLM(model="anthropic/claude-sonnet-4-5", api_key="k", cache_points=cache_points)


def test_bad_cache_points_fields_name_the_field() -> None:
    with pytest.raises(TypeError, match=r"cache_points\.ledger: expected a UsageLedger or None, got str"):
        CachePoints(ledger="ledger.json")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"cache_points\.strategy: expected a Strategy"):
        CachePoints(strategy="auto")  # type: ignore[arg-type]


def test_an_llm_of_an_unknown_provider_is_refused_not_silently_left_uncached() -> None:
    with pytest.raises(TypeError, match=r"EchoLLM .* is not supported; caching works on CrewAI's native"):
        enable_cache_points(EchoLLM(model="echo"), True)


def test_enable_cache_points_on_an_existing_llm_keeps_the_object_and_replaces_settings(
    emulator: Emulator, wire: Any
) -> None:
    llm = crewai.LLM(model="anthropic/claude-sonnet-4-5", base_url=emulator.url, api_key="k")
    first, second = UsageLedger(), UsageLedger()

    assert enable_cache_points(llm, CachePoints(ledger=first)) is llm
    llm.call(MESSAGES)
    assert enable_cache_points(llm, CachePoints(strategy=cache_until("system"), ledger=second)) is llm
    llm.call(MESSAGES)

    assert isinstance(llm, AnthropicCompletion)
    one, two = wire.completions(emulator)
    assert wire.breakpoints(one) == [("system[0]", "1h"), ("messages[0].content[0]", None)]
    assert wire.breakpoints(two) == [("system[0]", None)]  # cache_until: the default TTL
    assert (first.stats().calls, second.stats().calls) == (1, 1)


def test_a_copy_of_the_llm_keeps_caching(emulator: Emulator, wire: Any) -> None:
    ledger = UsageLedger()
    llm = LLM(
        model="anthropic/claude-sonnet-4-5", base_url=emulator.url, api_key="k", cache_points=CachePoints(ledger=ledger)
    )
    twin = copy.copy(llm)  # what CrewAI's Agent.copy() does with the agent's LLM

    twin.call(MESSAGES)

    (call,) = wire.completions(emulator)
    assert wire.breakpoints(call) == [("system[0]", "1h"), ("messages[0].content[0]", None)]
    assert ledger.stats().calls == 1
    assert type(twin) is type(llm)
