"""The analyzer's incumbent scenarios place what LangChain's own caching middlewares really send.

Real ``create_agent`` runs with ``AnthropicPromptCachingMiddleware`` (ChatAnthropic: system, last tool and a
top-level ``cache_control``, Anthropic's automatic caching) and ``BedrockPromptCachingMiddleware``
(ChatBedrockConverse: up to four ``cachePoint`` blocks) against the emulator; each request body as it went out
is read back, and its breakpoints must be exactly those the scenario places on the same request without them.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_anthropic.middleware import AnthropicPromptCachingMiddleware
from langchain_aws.middleware import BedrockPromptCachingMiddleware
from langchain_core.messages import HumanMessage

from cachepoint.core.analyze.incumbents import langchain_anthropic_middleware, langchain_aws_middleware
from cachepoint.core.analyze.scenarios import place, unmarked
from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.prompt import Request
from cachepoint.core.providers import model_info
from cachepoint.core.simulate import Simulator
from langchain_support import ANTHROPIC_MODEL, BEDROCK_MODEL, MANUAL, anthropic, bedrock, support_tools


def agent_reply(call: Any) -> Reply:
    if call.last_user_text.startswith("record"):
        return Reply("Done: the record looks fine.")
    return Reply(tool_calls=(ToolCall("lookup_record_3", {"customer_id": "c-7"}),))


CASES = {
    "anthropic": (anthropic, ANTHROPIC_MODEL, AnthropicPromptCachingMiddleware, langchain_anthropic_middleware),
    "bedrock": (bedrock, BEDROCK_MODEL, BedrockPromptCachingMiddleware, langchain_aws_middleware),
}
# The releases whose placement the scenarios reimplement (their docstrings cite them); earlier ones placed less
# (langchain-anthropic 1.3: only the top-level cache_control; langchain-aws 1.5: no end-of-history point).
MODELLED = {"anthropic": ("langchain-anthropic", (1, 7)), "bedrock": ("langchain-aws", (1, 9))}


def _release(package: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version(package).split(".")[:2])


@pytest.mark.parametrize("ttl", ["5m", "1h"])
@pytest.mark.parametrize("provider", sorted(CASES))
def test_the_scenario_places_what_the_middleware_sent(
    make_emulator: Callable[..., Emulator], provider: str, ttl: str
) -> None:
    package, modelled = MODELLED[provider]
    if _release(package) < modelled:
        pytest.skip(f"{package} {version(package)} predates the placement the scenario reimplements")
    factory, model, middleware, scenario = CASES[provider]
    emulator = make_emulator(reply=agent_reply)
    agent = create_agent(
        factory(emulator), tools=support_tools(), system_prompt=MANUAL, middleware=[middleware(ttl=ttl)]
    )
    state: dict[str, Any] = {"messages": []}
    for question in ("My router blinks red.", "It is an AX-1.", "Still red."):
        state = agent.invoke({"messages": [*state["messages"], HumanMessage(question)]})
    info = model_info(provider, model)
    sent = Simulator(provider)
    placed = Simulator(provider)
    assert len(emulator.requests) == 6
    for n, call in enumerate(emulator.requests):
        view = Request.parse(call.body, provider=provider).positions(info=info)
        wire = {(b.position, b.ttl or info.default_ttl) for b in view.breakpoints if not b.redundant}
        if provider == "anthropic":
            assert call.body["cache_control"] == {"type": "ephemeral", "ttl": ttl}  # automatic caching
            assert any(b.source == "automatic" for b in view.breakpoints)
        ours = place(unmarked(view), scenario(ttl=ttl), info=info, provider=provider)
        assert {(b.position, b.ttl or info.default_ttl) for b in ours.breakpoints} == wire, f"request {n}"
        # ... and the simulator reads and writes the same from both.
        at = 10.0 * n
        real = sent.request(call.body, at=at, model=model)
        ours_result = placed.request(
            Simulator(provider).prompt(call.body, model=model).with_placement(ours.breakpoints), at=at, model=model
        )
        assert (real.read_tokens, real.write_by_ttl) == (ours_result.read_tokens, ours_result.write_by_ttl)
    assert sum(c.usage.cache_read_tokens for c in emulator.requests) > 0
