"""`CachepointMiddleware` on a `create_agent` support agent: breakpoints on the system prompt, the tool
definitions and the conversation, the agent's state left clean, every model call's usage in the ledger.

Runs against the local emulator (no network, no API key): `python examples/langchain_agent.py`.
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from rich.console import Console

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.langchain import CachepointMiddleware

MANUAL = "You are the support desk of Acme routers. Answer from the manual and cite its section. " * 120


@tool
def router_status(customer_id: str) -> str:
    """Firmware, uptime and error lights of a customer's router."""
    return f"Router of {customer_id}: firmware 2.1, up 3 days, red light since 09:12."


def reply(call: Any) -> Reply:
    """The emulated model: look the router up, then answer."""
    if call.last_user_text.startswith("Router of"):
        return Reply("Your firmware is out of date: update to 2.4 from the admin page.")
    return Reply(tool_calls=(ToolCall("router_status", {"customer_id": "c-42"}),))


with Emulator(reply=reply) as emulator:
    middleware = CachepointMiddleware()
    model = ChatAnthropic(model="claude-sonnet-4-6", base_url=emulator.url, api_key="emulator", max_retries=0)
    agent = create_agent(model, tools=[router_status], system_prompt=MANUAL, middleware=[middleware], name="desk")

    state: dict[str, Any] = {"messages": []}
    for question in ("My router blinks red.", "It is an AX-1.", "How do I update it?"):
        state = agent.invoke({"messages": [*state["messages"], HumanMessage(question)]})
        emulator.advance(30)  # the customer reads the answer

    assert not any("cache_control" in str(m.content) for m in state["messages"])  # the state stays clean
    Console(width=160).print(middleware.ledger.to_rich_table("agent", "node"))
