"""A LangGraph ticket pipeline with both kinds of caching, and the per-node table that says what each saved.

- `triage` (an LLM call, no node cache) reads the manual from Anthropic's prompt cache on every ticket;
- `draft` is wrapped with `cachepoint_node` to give it a strategy of its own (only the manual is cached: each
  ticket's text is new);
- `summarize` has a `CachePolicy` keyed by `message_cache_key`: a ticket that comes in again (same text, new
  message ids) is summarized from the node cache, without a provider call.

Runs against the local emulator and an in-process store (no network, no API key):
`python examples/langgraph_pipeline.py`. In production the store would be a `RedisStore` shared by workers.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import CachePolicy
from rich.console import Console

from cachepoint.core.emulator import Emulator
from cachepoint.core.prompt import cache_until
from cachepoint.core.stores import MemoryStore
from cachepoint.core.usage import UsageLedger
from cachepoint.langgraph import cache_points, cachepoint_node, message_cache_key

MANUAL = "You are the support desk of Acme routers. Answer from the manual and cite its section. " * 120
TICKETS = [
    "My router blinks red.",
    "The Wi-Fi drops every evening.",
    "My router blinks red.",  # the same ticket again, from another customer
    "How do I update the firmware?",
    "The Wi-Fi drops every evening.",
]


class Ticket(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    queue: str
    summary: str


with Emulator(reply="Hold reset for ten seconds, then update the firmware to 2.4.") as emulator:
    model = ChatAnthropic(model="claude-sonnet-4-6", base_url=emulator.url, api_key="emulator", max_retries=0)
    ledger = UsageLedger()

    def triage(state: Ticket) -> dict[str, Any]:
        ask = HumanMessage("Which queue: hardware, wifi or firmware?")
        return {"queue": model.invoke([SystemMessage(MANUAL), *state["messages"], ask]).text}

    @cachepoint_node(strategy=cache_until("system"), ledger=ledger, labels={"graph": "tickets"})
    def draft(state: Ticket) -> dict[str, Any]:
        return {"messages": [model.invoke([SystemMessage(MANUAL), *state["messages"]])]}

    def summarize(state: Ticket) -> dict[str, Any]:
        ask = HumanMessage("Summarize the ticket and the answer in one line.")
        return {"summary": model.invoke([SystemMessage(MANUAL), *state["messages"], ask]).text}

    builder = StateGraph(Ticket).add_node("triage", triage).add_node("draft", draft)
    builder.add_node("summarize", summarize, cache_policy=CachePolicy(key_func=message_cache_key, ttl=3600))
    builder.add_edge(START, "triage").add_edge("triage", "draft").add_edge("draft", "summarize")
    builder.add_edge("summarize", END)
    graph = cache_points(builder.compile(name="tickets"), ledger=ledger, cache=MemoryStore(max_entries=10_000))

    for text in TICKETS:
        state = graph.invoke({"messages": [HumanMessage(text)]})
        emulator.advance(60)

    assert "cache_control" not in repr(state)  # no marker is left in the graph's state
    console = Console(width=170)
    console.print(ledger.to_rich_table("node", title="tickets pipeline, per node"))
    console.print(f"node cache: {graph.cache.stats}")  # type: ignore[union-attr]
    console.print(f"provider calls: {len(emulator.requests)} for {len(TICKETS)} tickets x 3 nodes")
