"""Core's `CachedModel` around real LangChain chat models: the key is the model's identity, which must hold every
setting that changes its answers, whatever the chat model class."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.load import dumpd, load
from langchain_core.messages import HumanMessage

from cachepoint.core.emulator import Emulator
from cachepoint.core.response_cache import CachedModel, CachePolicy, ResponseCache
from cachepoint.core.stores import MemoryStore
from langchain_support import bedrock

pytestmark = pytest.mark.filterwarnings("ignore:The function `load` is in beta")


def nova(emulator: Emulator, **kwargs: Any) -> Any:
    from langchain_aws import ChatBedrockConverse

    return ChatBedrockConverse(
        model="amazon.nova-pro-v1:0",
        endpoint_url=emulator.bedrock_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
        **kwargs,
    )


def cached(model: Any, cache: ResponseCache) -> Any:
    return CachedModel(
        model, cache, methods=["invoke"], dump=dumpd, load=lambda data: load(data, allowed_objects="messages")
    )


def test_two_bedrock_models_never_share_an_answer(emulator: Emulator) -> None:
    # ChatBedrockConverse has no `_identifying_params` of its own (LangChain's default is empty): the model id, the
    # system prompt and the temperature must still tell its models apart.
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("lc-models"))
    question = [HumanMessage("How do I reset my router?")]
    cached(bedrock(emulator, temperature=0), cache).invoke(question)
    cached(bedrock(emulator, temperature=0, system=["Answer in French."]), cache).invoke(question)
    cached(nova(emulator, temperature=0), cache).invoke(question)
    assert len(emulator.requests) == 3
    assert cache.stats().hits == 0
    cached(bedrock(emulator, temperature=0), cache).invoke(question)  # the same model again: replayed
    assert len(emulator.requests) == 3


def test_a_bedrock_model_that_samples_is_not_replayed(emulator: Emulator) -> None:
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("lc-models"))
    model = cached(bedrock(emulator), cache)  # temperature unset: Bedrock samples at its default
    model.invoke([HumanMessage("Tell me a joke.")])
    model.invoke([HumanMessage("Tell me a joke.")])
    assert len(emulator.requests) == 2


@pytest.mark.parametrize(
    ("name", "setup"),
    [("anthropic_vertex", {"stop": ["Step 3"]}), ("anthropic_mantle", {"betas": ["context-1m-2025-08-07"]})],
)
def test_models_langchain_cannot_serialize_never_share_an_answer_across_setups(
    emulator: Emulator, name: str, setup: dict[str, Any]
) -> None:
    # Their `_identifying_params` leave out stop sequences and betas, and LangChain's LLM cache key adds nothing for
    # a model it cannot serialize: the model's fields must tell the setups apart (and not its credentials).
    from langchain_support import MODELS

    if name not in MODELS:
        pytest.skip(f"{name}: not in this langchain-aws")
    cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("lc-models", cache_nondeterministic=True))
    question = [HumanMessage("How do I reset my router?")]
    cached(MODELS[name](emulator), cache).invoke(question)
    cached(MODELS[name](emulator, **setup), cache).invoke(question)
    assert len(emulator.requests) == 2
    cached(MODELS[name](emulator), cache).invoke(question)  # the same model built again: replayed
    assert len(emulator.requests) == 2
