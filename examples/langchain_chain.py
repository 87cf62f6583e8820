"""`with_cache_points` in an LCEL chain: breakpoints (tool definitions included) on every request, and with a
response cache, repeated calls and streams answered from the store (LangChain's own cache never serves streams).

Runs against the local emulator (no network, no API key): `python examples/langchain_chain.py`.
"""

from __future__ import annotations

from langchain_anthropic import ChatAnthropic
from langchain_core.prompts import ChatPromptTemplate
from rich.console import Console

from cachepoint.core.emulator import Emulator
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import MemoryStore
from cachepoint.langchain import with_cache_points

MANUAL = "You are the support desk of Acme routers. Answer from the manual and cite its section. " * 120

with Emulator(reply="Hold the reset button for ten seconds, then wait for the green light.") as emulator:
    cache = ResponseCache(MemoryStore(max_entries=10_000), CachePolicy("helpdesk", ttl=3600))
    model = with_cache_points(
        ChatAnthropic(model="claude-sonnet-4-6", base_url=emulator.url, api_key="emulator", temperature=0),
        response_cache=cache,
    )
    chain = ChatPromptTemplate.from_messages([("system", MANUAL), ("human", "{question}")]) | model

    for question in ("How do I reset the router?", "What does a red light mean?"):
        live = [chunk.text for chunk in chain.stream({"question": question})]
        replayed = [chunk.text for chunk in chain.stream({"question": question})]  # from the cache
        assert replayed == live

    print(f"{len(emulator.requests)} provider calls for 4 streams; response cache: {cache.stats().hits} hits")
    Console(width=160).print(model.ledger.to_rich_table())
