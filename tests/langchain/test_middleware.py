"""CachepointMiddleware on real create_agent runs against the emulator: markers (tools included) go out, the
agent's state never carries one, and every model call's usage reaches the ledger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.langchain import CachepointMiddleware
from langchain_support import MANUAL, MODELS, markers, openai, support_tools


def agent_reply(call: Any) -> Reply:
    """Call one tool, then answer (what a support agent does on each question)."""
    if "ok" in call.last_user_text:
        return Reply("Done: the record looks fine.")
    return Reply(tool_calls=(ToolCall("lookup_record_3", {"customer_id": "c-7"}),))


@pytest.fixture
def agent_emulator(make_emulator: Callable[..., Emulator]) -> Emulator:
    return make_emulator(reply=agent_reply)


FACTORIES = {**MODELS, "openai": openai}


@pytest.mark.parametrize("provider", sorted(FACTORIES))
def test_markers_go_out_and_the_state_stays_clean(agent_emulator: Emulator, provider: str) -> None:
    middleware = CachepointMiddleware()
    agent = create_agent(
        FACTORIES[provider](agent_emulator), tools=support_tools(), system_prompt=MANUAL, middleware=[middleware]
    )
    state: dict[str, Any] = {"messages": []}
    for question in ("My router blinks red.", "It is an AX-1.", "Still red."):
        state = agent.invoke({"messages": [*state["messages"], HumanMessage(question)]})
    assert not any("cache_control" in repr(m.content) or "cachePoint" in repr(m.content) for m in state["messages"])
    calls = agent_emulator.requests
    assert len(calls) == 6
    assert all(c.status == 200 for c in calls)
    if provider == "openai":
        keys = {c.body["prompt_cache_key"] for c in calls}
        assert len(keys) == 1  # one key for the workload: tools and system prompt
    else:
        assert all(2 <= markers(c.body) <= 4 for c in calls)
        tools = calls[0].body.get("tools") or calls[0].body["toolConfig"]["tools"]
        assert "cache_control" in repr(tools[-1]) or "cachePoint" in repr(tools[-1])  # the middleware marks tools
    assert all(c.usage.cache_read_tokens > 0 for c in calls[1:])
    stats = middleware.ledger.stats()
    assert stats.calls == 6
    assert stats.cache_read_tokens == sum(c.usage.cache_read_tokens for c in calls)
    assert middleware.ledger.stats(agent="support").calls == 0  # unnamed agent: no agent label


@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_async_agents_get_the_same(agent_emulator: Emulator, provider: str) -> None:
    middleware = CachepointMiddleware()
    agent = create_agent(
        MODELS[provider](agent_emulator),
        tools=support_tools(),
        system_prompt=MANUAL,
        middleware=[middleware],
        name="support",
    )
    state = await agent.ainvoke({"messages": [HumanMessage("My router blinks red.")]})
    assert not any("cache_control" in repr(m.content) or "cachePoint" in repr(m.content) for m in state["messages"])
    assert all(2 <= markers(c.body) <= 4 for c in agent_emulator.requests)
    assert middleware.ledger.stats(agent="support", node="model").calls == 2


def test_with_anthropics_own_middleware_the_total_stays_within_four(agent_emulator: Emulator) -> None:
    from langchain_anthropic.middleware import AnthropicPromptCachingMiddleware

    agent = create_agent(
        MODELS["anthropic"](agent_emulator),
        tools=support_tools(),
        system_prompt=MANUAL,
        middleware=[AnthropicPromptCachingMiddleware(), CachepointMiddleware()],
    )
    agent.invoke({"messages": [HumanMessage("My router blinks red.")]})
    assert all(c.status == 200 and markers(c.body) <= 4 for c in agent_emulator.requests)


@pytest.mark.parametrize("call", ["invoke", "ainvoke"])
@pytest.mark.parametrize("shared", [True, False])
async def test_with_a_callback_handler_each_ledger_counts_each_model_call_once(
    agent_emulator: Emulator, shared: bool, call: str
) -> None:
    # A user who adds the middleware to an agent and also passes the handler in config (to label or record a
    # trace of the whole run) must not see every model call twice in one ledger, nor miss any in either.
    from cachepoint.core.usage import UsageLedger
    from cachepoint.langchain import CachepointCallbackHandler

    ledger = UsageLedger()
    middleware = CachepointMiddleware(ledger=ledger)
    handler = CachepointCallbackHandler(ledger=ledger if shared else UsageLedger())
    agent = create_agent(
        MODELS["anthropic"](agent_emulator), tools=support_tools(), system_prompt=MANUAL, middleware=[middleware]
    )
    question: Any = {"messages": [HumanMessage("My router blinks red.")]}
    if call == "invoke":
        agent.invoke(question, config={"callbacks": [handler]})
    else:
        await agent.ainvoke(question, config={"callbacks": [handler]})

    calls = agent_emulator.requests
    assert len(calls) == 2
    assert ledger.stats().calls == 2
    assert handler.ledger.stats().calls == 2
    assert handler.ledger.stats().input_tokens == sum(c.usage.input_tokens for c in calls)
