"""`CachepointLLMCache`: LangChain's own LLM cache (``set_llm_cache``) over a cachepoint store, with the callback
handler placing prompt-cache breakpoints on the same calls.

The handler's markers are not part of the cache key, so the second run of each question is answered from the
store; the ledger counts those answers as hits with zero provider tokens (LangChain's own hit path repeats the
first call's token counts in ``usage_metadata``).

Runs against the local emulator with an in-process store: `python examples/langchain_llm_cache.py`; pass
``--redis redis://127.0.0.1:6379/0`` to keep the answers in Redis.
"""

from __future__ import annotations

import argparse

from langchain_anthropic import ChatAnthropic
from langchain_core.globals import set_llm_cache
from langchain_core.messages import HumanMessage, SystemMessage
from rich.console import Console

from cachepoint.core.emulator import Emulator
from cachepoint.core.response_cache import CachePolicy
from cachepoint.core.stores import CacheStore, MemoryStore, RedisStore
from cachepoint.core.usage import UsageLedger
from cachepoint.langchain import CachepointCallbackHandler, CachepointLLMCache

MANUAL = "You are the support desk of Acme routers. Answer from the manual and cite its section. " * 120

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--redis", metavar="URL", help="keep the answers in this Redis (default: in process)")
args = parser.parse_args()
store: CacheStore = (
    RedisStore(args.redis, prefix="example-llm-cache:") if args.redis else MemoryStore(max_entries=10_000)
)

ledger = UsageLedger()
llm_cache = CachepointLLMCache(store, CachePolicy("helpdesk", ttl=3600, cache_nondeterministic=True), ledger=ledger)
set_llm_cache(llm_cache)
handler = CachepointCallbackHandler(ledger=ledger)  # one ledger: provider calls and cache hits side by side

with Emulator(reply="Hold the reset button for ten seconds, then wait for the green light.") as emulator:
    model = ChatAnthropic(model="claude-sonnet-4-6", base_url=emulator.url, api_key="emulator")
    for _ in range(2):
        for question in ("How do I reset the router?", "What does a red light mean?"):
            answer = model.invoke([SystemMessage(MANUAL), HumanMessage(question)], config={"callbacks": [handler]})
            print(f"{question:<30} {answer.response_metadata.get('cachepoint_cache', 'provider call')}")

    hits = ledger.stats(response_cache="hit")
    print(f"\n{len(emulator.requests)} provider calls for 4 questions; {hits.calls} answered by the LLM cache")
    Console(width=160).print(ledger.to_rich_table("response_cache"))
llm_cache.clear()
set_llm_cache(None)
