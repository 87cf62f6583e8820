"""A tour of the response cache over guarded stores: hits, misses, single-flight, and a dead Redis.

Runs offline. It uses Redis at ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) when one answers, and shows
what happens when one does not: the circuit breaker opens and every lookup is a fast miss, never an error.

From a clone of the repository (a plain ``python examples/response_cache_tour.py`` fails with
``ModuleNotFoundError`` until cachepoint-core is installed):

    python3 -m nox -s examples                                                # every example
    uv run --package cachepoint-core python examples/response_cache_tour.py  # this one
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from rich.console import Console
from rich.table import Table

from cachepoint.core.breaker import CircuitBreaker, GuardedStore
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import CacheStore, MemoryStore, RedisStore, TieredStore

console = Console(width=110)
upstream_calls = 0


async def fake_model(question: str) -> dict[str, Any]:
    """Stands in for an LLM call: slow, and counted, so the cache's effect is visible."""
    global upstream_calls  # noqa: PLW0603 - a demo counter
    upstream_calls += 1
    await asyncio.sleep(0.05)
    return {"role": "assistant", "content": f"answer to {question!r}"}


def request(question: str) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "temperature": 0,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": question}],
    }


async def ask(cache: ResponseCache, question: str, table: Table, store_name: str) -> None:
    result = await cache.get_or_call(request(question), lambda: fake_model(question))
    table.add_row(store_name, question, result.source.value, str(upstream_calls))


async def tour(label: str, store: CacheStore, table: Table) -> ResponseCache:
    cache = ResponseCache(store, CachePolicy("tour", tenant="acme", ttl=300))
    await ask(cache, "What is a breakpoint?", table, label)
    await ask(cache, "What is a breakpoint?", table, label)
    # Ten identical questions at once: single-flight makes one upstream call for all of them.
    before = upstream_calls
    results = await asyncio.gather(
        *(cache.get_or_call(request("Why single-flight?"), lambda: fake_model("Why single-flight?")) for _ in range(10))
    )
    sources = sorted({r.source.value for r in results})
    calls = f"{upstream_calls} (+{upstream_calls - before})"
    table.add_row(label, "10 x 'Why single-flight?'", "/".join(sources), calls)
    return cache


async def main() -> None:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"cachepoint-tour:{uuid.uuid4().hex[:8]}:"
    table = Table(title="ResponseCache: what each call got")
    for column in ("store", "question", "source", "upstream calls so far"):
        table.add_column(column)

    memory_cache = await tour("memory", MemoryStore(max_entries=1_000), table)

    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=30)
    redis = GuardedStore(RedisStore(redis_url, prefix=prefix, timeout=0.5), breaker=breaker, timeout=1.0)
    tiered = TieredStore(MemoryStore(max_entries=1_000), redis, l1_ttl=60)
    redis_cache = await tour("memory + Redis", tiered, table)
    await redis_cache.clear()  # removes this tour's keys only (SCAN + UNLINK under its prefix)

    # A Redis that is not there: port 1 refuses connections. Every call still gets its answer.
    dead_breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=30)
    dead = GuardedStore(RedisStore("redis://127.0.0.1:1/0", timeout=0.2), breaker=dead_breaker, timeout=0.5)
    dead_cache = await tour("dead Redis", dead, table)
    console.print(table)

    summary = Table(title="Stores and breakers")
    for column in ("store", "hits", "misses", "joins", "upstream", "breaker", "store errors / skipped"):
        summary.add_column(column)
    for name, cache, guard in (
        ("memory", memory_cache, None),
        ("memory + Redis", redis_cache, redis),
        ("dead Redis", dead_cache, dead),
    ):
        stats = cache.stats()
        breaker_state = guard.stats.state.value if guard else "-"
        guard_errors = f"{guard.stats.errors} / {guard.stats.short_circuited}" if guard else "-"
        summary.add_row(
            name,
            str(stats.hits),
            str(stats.misses),
            str(stats.joins),
            str(stats.upstream_calls),
            breaker_state,
            guard_errors,
        )
    console.print(summary)
    if redis.stats.errors:
        console.print(f"[yellow]Redis at {redis_url} did not answer: that tour ran on memory alone.[/]")
    for store in (tiered, dead):
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
