"""ChatBedrockConverse on a Bedrock application inference profile: the model id is the profile's opaque ARN and
the model's ``base_model_id`` (given, or looked up by langchain-aws with GetInferenceProfile) names the Claude model
behind it. Bedrock applies that model's caching rules; so must every cachepoint path."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from cachepoint.core.emulator import Emulator
from cachepoint.core.providers import DEFAULT_TABLE
from cachepoint.core.usage import UsageLedger
from cachepoint.langchain import CachepointCallbackHandler, CachepointMiddleware, with_cache_points
from langchain_support import MANUAL

PROFILE = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
BASE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.fixture
def profile_emulator(make_emulator: Callable[..., Emulator]) -> Emulator:
    # Bedrock knows which model a profile of the account routes to; the emulator is told (its own table only:
    # cachepoint's table does not know the ARN, as on a user's machine).
    table = DEFAULT_TABLE.copy()
    table.register(replace(table.lookup("bedrock", BASE), model=PROFILE))
    return make_emulator(reply="Hold reset for ten seconds.", table=table)


def profile_model(emulator: Emulator) -> Any:
    from langchain_aws import ChatBedrockConverse

    return ChatBedrockConverse(
        model=PROFILE,
        provider="anthropic",
        base_model_id=BASE,
        endpoint_url=emulator.bedrock_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )


def ask(path: str, emulator: Emulator, ledger: UsageLedger, turns: list[list[BaseMessage]]) -> None:
    model = profile_model(emulator)
    for messages in turns:
        if path == "handler":
            model.invoke(messages, config={"callbacks": [CachepointCallbackHandler(ledger=ledger)]})
        elif path == "with_cache_points":
            with_cache_points(model, ledger=ledger).invoke(messages)
        else:
            from langchain.agents import create_agent

            system, *conversation = messages
            agent = create_agent(
                model, tools=[], system_prompt=str(system.content), middleware=[CachepointMiddleware(ledger=ledger)]
            )
            agent.invoke({"messages": conversation})


@pytest.mark.parametrize("path", ["handler", "with_cache_points", "middleware"])
def test_a_model_on_an_application_inference_profile_is_cached_under_its_base_models_rules(
    profile_emulator: Emulator, path: str, recwarn: pytest.WarningsRecorder
) -> None:
    first = [SystemMessage(MANUAL), HumanMessage("My router blinks red.")]
    second = [*first, AIMessage("Hold reset for ten seconds."), HumanMessage("Still red.")]
    ledger = UsageLedger()
    ask(path, profile_emulator, ledger, [first, second])

    sent = profile_emulator.requests
    assert [r.status for r in sent] == [200, 200], [r.error for r in sent]
    assert all(r.model == PROFILE for r in sent)  # the call still goes to the profile
    # The system prompt for an hour (Claude Sonnet 4.5 on Bedrock takes 1h), the conversation's tail.
    assert sent[0].body["system"][-1] == {"cachePoint": {"type": "default", "ttl": "1h"}}
    assert json.dumps(sent[0].body["messages"]).count("cachePoint") == 1
    assert sent[1].usage.cache_read_tokens >= sent[0].usage.cache_write_tokens > 1024
    # Counted, and priced, as the model behind the profile; no "unknown model" warning for a model cachepoint knows.
    stats = ledger.stats(model=BASE)
    assert (stats.calls, stats.priced_calls) == (2, 2)
    assert stats.cache_read_tokens == sent[1].usage.cache_read_tokens
    assert not [w for w in recwarn if "not in cachepoint's provider table" in str(w.message)]
