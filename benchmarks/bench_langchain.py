"""Prompt caching of a LangChain agent, side by side: `CachepointMiddleware` vs langchain-anthropic's
`AnthropicPromptCachingMiddleware` vs no caching, on the same `create_agent` runs against the emulator.

The agent is a router-support desk: a ~2.4k-token system prompt, 12 tools with real schemas (~2k tokens of
definitions), ChatAnthropic (claude-sonnet-4-6). Two sessions of 8 customer turns each; on every turn the
model calls a lookup tool, reads its result and answers, so each turn is two model calls and each call re-sends
the whole conversation (32 calls per run). Customers take 40 s between turns. Two timings: the second session
starts 3 minutes after the first ends (a busy desk), or 20 minutes after (a quiet one: a 5-minute cache entry
is gone by then, a 1-hour one is not). Every run gets a fresh emulator (empty provider cache).

What is measured comes from the emulator, not from the code under test: the usage it reported for each request
(from its provider cache model), priced with core's price table. Columns: calls, cached-token ratio (tokens read
from the cache / all input tokens), tokens written, cost in USD and the cost relative to no caching.

    python benchmarks/bench_langchain.py
    python benchmarks/bench_langchain.py --quick    # the 3-minute timing only (CI smoke)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from langchain.agents import create_agent
from langchain_anthropic import ChatAnthropic
from langchain_anthropic.middleware import AnthropicPromptCachingMiddleware
from langchain_core.messages import HumanMessage
from langchain_core.tools import BaseTool, tool

from cachepoint.core.emulator import Emulator, Reply, ToolCall
from cachepoint.core.usage import UsageLedger
from cachepoint.langchain import CachepointMiddleware

MODEL = "claude-sonnet-4-6"
SYSTEM = (
    "You are the support desk of Acme routers. Answer from the manual, cite the section, never guess a "
    "serial number, and escalate hardware faults to a technician. "
) * 90
QUESTIONS = [
    "My router blinks red.",
    "It is an AX-1, about two years old.",
    "I already restarted it twice.",
    "The firmware page says 2.1.",
    "Should I update it?",
    "The update failed at 80%.",
    "Now the light is orange.",
    "Can a technician come tomorrow?",
]


def _tool(i: int) -> BaseTool:
    def lookup(customer_id: str, detail: str = "summary") -> str:
        return f"Record {i} of customer {customer_id}: {detail}. " + "Field: value. " * 60

    lookup.__doc__ = (
        f"Look up record kind {i} of a customer's router: serial, firmware, last reboot, owner, warranty. " * 5
    )
    lookup.__name__ = f"lookup_record_{i}"
    return tool(lookup)


TOOLS = [_tool(i) for i in range(12)]


def reply(call: Any) -> Reply:
    """Each turn: call a lookup tool, then answer once its result is in."""
    if call.last_user_text.startswith("Record"):
        return Reply("Here is what to do next: check the cable, then hold reset for ten seconds.")
    return Reply(tool_calls=(ToolCall("lookup_record_3", {"customer_id": "c-42"}),))


def run(middleware: Callable[[], list[Any]], session_gap: float) -> UsageLedger:
    """Two sessions of the support agent with ``middleware``, ``session_gap`` seconds apart; the emulator's
    reported usage in a ledger."""
    with Emulator(reply=reply) as emulator:
        model = ChatAnthropic(model=MODEL, base_url=emulator.url, api_key="bench", max_retries=0)
        agent = create_agent(model, tools=TOOLS, system_prompt=SYSTEM, middleware=middleware())
        for _session in range(2):
            state: dict[str, Any] = {"messages": []}
            for question in QUESTIONS:
                state = agent.invoke({"messages": [*state["messages"], HumanMessage(question)]})
                emulator.advance(40)
            emulator.advance(session_gap)
        ledger = UsageLedger()
        for request in emulator.requests:
            assert request.status == 200, request.error
            assert request.usage is not None
            ledger.record(request.usage)
        return ledger


SCENARIOS: dict[str, Callable[[], list[Any]]] = {
    "no caching": list,
    "AnthropicPromptCachingMiddleware": lambda: [AnthropicPromptCachingMiddleware()],
    "CachepointMiddleware": lambda: [CachepointMiddleware()],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 3-minute timing only (CI smoke)")
    args = parser.parse_args()
    os.environ.pop("ANTHROPIC_API_KEY", None)
    print(f"LangChain agent, {len(QUESTIONS)} turns x 2 sessions, {len(TOOLS)} tools, {MODEL} (emulator)")
    timings = ((180, "sessions 3 min apart"), (1200, "sessions 20 min apart"))
    for gap, label in timings[:1] if args.quick else timings:
        results = {name: run(make, gap).stats() for name, make in SCENARIOS.items()}
        base = results["no caching"].cost_usd
        header = f"{label:<34} {'calls':>5} {'cached ratio':>12} {'written':>9} {'cost USD':>9} {'vs none':>8}"
        print()
        print(header)
        print("-" * len(header))
        for name, stats in results.items():
            ratio = stats.cached_token_ratio or 0.0
            print(
                f"{name:<34} {stats.calls:>5} {ratio:>12.1%} {stats.cache_write_tokens:>9,} "
                f"{stats.cost_usd:>9.4f} {stats.cost_usd / base:>8.2f}x"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
