"""`with_cache_points(model, response_cache=...)` keys each answer by everything in the model's setup that changes
it, also for chat models LangChain cannot serialize (ChatAnthropicVertex, ChatAnthropicMantle), whose LangChain
parameters (``_identifying_params``) leave out stop sequences, betas and thinking budgets."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from cachepoint.core.emulator import Emulator
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import MemoryStore
from cachepoint.langchain import with_cache_points
from langchain_support import MODELS

# model, its setup, another setup that answers differently
DIFFERENT_SETUPS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "vertex stop sequences": ("anthropic_vertex", {}, {"stop": ["Step 3"]}),
    "vertex thinking budget": (
        "anthropic_vertex",
        {"max_output_tokens": 8000},
        {"max_output_tokens": 8000, "thinking_budget": 2000},
    ),
    "mantle stop sequences": ("anthropic_mantle", {}, {"stop_sequences": ["Step 3"]}),
    "mantle betas": ("anthropic_mantle", {}, {"betas": ["context-1m-2025-08-07"]}),
}


def replaying_cache() -> ResponseCache:
    return ResponseCache(MemoryStore(max_entries=100), CachePolicy("lc-keys", cache_nondeterministic=True))


@pytest.mark.parametrize("setup", sorted(DIFFERENT_SETUPS))
def test_models_that_langchain_cannot_serialize_never_share_an_answer_across_setups(
    emulator: Emulator, setup: str
) -> None:
    name, one, other = DIFFERENT_SETUPS[setup]
    if name not in MODELS:
        pytest.skip(f"{name}: not in this langchain-aws")
    cache = replaying_cache()
    messages = [HumanMessage("How do I reset my router?")]
    with_cache_points(MODELS[name](emulator, **one), response_cache=cache).invoke(messages)
    answer = with_cache_points(MODELS[name](emulator, **other), response_cache=cache).invoke(messages)
    assert len(emulator.requests) == 2
    assert "cachepoint_cache" not in answer.response_metadata


@pytest.mark.parametrize("name", ["anthropic_vertex", "anthropic_mantle"])
def test_the_same_unserializable_model_built_twice_shares_answers(emulator: Emulator, name: str) -> None:
    # Built twice, the model's client and credential objects are new ones: they must not make a new key.
    if name not in MODELS:
        pytest.skip(f"{name}: not in this langchain-aws")
    cache = replaying_cache()
    messages = [HumanMessage("How do I reset my router?")]
    with_cache_points(MODELS[name](emulator), response_cache=cache).invoke(messages)
    answer = with_cache_points(MODELS[name](emulator), response_cache=cache).invoke(messages)
    assert len(emulator.requests) == 1
    assert answer.response_metadata["cachepoint_cache"] == "hit"
