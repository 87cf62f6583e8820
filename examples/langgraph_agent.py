"""`cache_points` on a LangChain `create_agent` support agent (a LangGraph graph): every model call carries
prompt-cache breakpoints, the agent's state stays clean, and the ledger shows each node's calls, hit rate,
cached tokens, writes, cost and savings.

Runs against the local emulator (no network, no API key): `python examples/langgraph_agent.py`.
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from rich.console import Console

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.usage import UsageLedger
from cachepoint.langgraph import cache_points

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
    model = ChatAnthropic(model="claude-sonnet-4-6", base_url=emulator.url, api_key="emulator", max_retries=0)
    ledger = UsageLedger()
    agent = cache_points(create_agent(model, [router_status], system_prompt=MANUAL, name="desk"), ledger=ledger)

    for customer in ("acme", "globex"):  # two customers, each with a three-question conversation
        state: dict[str, Any] = {"messages": []}
        for question in ("My router blinks red.", "It is an AX-1.", "How do I update it?"):
            state = agent.invoke(
                {"messages": [*state["messages"], HumanMessage(question)]}, {"metadata": {"tenant": customer}}
            )
            emulator.advance(30)  # the customer reads the answer

    assert not any("cache_control" in str(m.content) for m in state["messages"])  # the state stays clean
    console = Console(width=170)
    console.print(ledger.to_rich_table("graph", "node"))
    console.print(ledger.to_rich_table("tenant", title="by tenant"))
