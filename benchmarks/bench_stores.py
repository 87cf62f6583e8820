"""Store overhead: RedisStore.get vs a raw redis.asyncio GET, and MemoryStore.get vs a dict lookup.

Needs Redis at REDIS_URL (default redis://127.0.0.1:6379/0); writes a few keys under a unique prefix and deletes
them afterwards. Prints medians and ratios against baselines measured in the same process, interleaved round by
round so that machine noise hits both sides alike.

    python benchmarks/bench_stores.py            # full run
    python benchmarks/bench_stores.py --quick    # a short run (CI smoke)

Goal (issue 2): RedisStore.get / raw GET <= 1.3.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from cachepoint.core.breaker import GuardedStore
from cachepoint.core.stores import MemoryStore, RedisStore
from timing import per_batch, per_batch_sync

VALUE = os.urandom(2048)  # a typical small cached response
GOAL_REDIS = 1.3


async def per_op(op: Callable[[], Awaitable[object]], n: int) -> list[float]:
    """Seconds per call, one timing per call (calls are ~50 us: the timer's cost is negligible)."""
    out = []
    clock = time.perf_counter
    for _ in range(n):
        start = clock()
        await op()
        out.append(clock() - start)
    return out


def us(seconds: float) -> str:
    return f"{seconds * 1e6:8.2f} us"


async def bench_redis(url: str, rounds: int, per_round: int, warmup: int) -> dict[str, float]:
    prefix = f"cpbench:{uuid.uuid4().hex[:8]}:"
    # The raw baseline gets the same connection settings RedisStore gives its own clients.
    raw = aioredis.Redis.from_url(url, decode_responses=False, retry=Retry(NoBackoff(), 0), socket_connect_timeout=1.0)
    store = RedisStore(url, prefix=prefix, timeout=1.0)
    guarded = GuardedStore(RedisStore(url, prefix=prefix, timeout=1.0), timeout=1.0)
    try:
        await store.set("k", VALUE)
        name = f"{prefix}k"
        assert await raw.get(name) == VALUE
        assert await store.get("k") == VALUE
        assert await guarded.get("k") == VALUE
        contenders: dict[str, Callable[[], Awaitable[object]]] = {
            "raw redis.asyncio GET": lambda: raw.get(name),
            "RedisStore.get": lambda: store.get("k"),
            "GuardedStore(RedisStore).get": lambda: guarded.get("k"),
        }
        for op in contenders.values():
            await per_op(op, warmup)
        timings: dict[str, list[float]] = {label: [] for label in contenders}
        for _ in range(rounds):  # interleaved: drift and noise land on every contender alike
            for label, op in contenders.items():
                timings[label] += await per_op(op, per_round)
        return {label: statistics.median(t) for label, t in timings.items()}
    finally:
        await store.clear()
        await store.close()
        await guarded.close()
        await raw.aclose()


async def bench_memory(rounds: int, batches: int, size: int) -> dict[str, float]:
    store = MemoryStore(max_entries=10_000)
    table = {"k": VALUE}
    await store.set("k", VALUE)

    async def async_dict_get() -> bytes | None:
        return table.get("k")

    contenders: dict[str, Callable[[], Awaitable[object]]] = {
        "async def wrapping dict.get": async_dict_get,
        "MemoryStore.get": lambda: store.get("k"),
    }
    timings: dict[str, list[float]] = {label: [] for label in contenders}
    timings["dict.get (sync)"] = []
    for op in contenders.values():
        await per_batch(op, 5, size)
    for _ in range(rounds):
        timings["dict.get (sync)"] += per_batch_sync(lambda: table.get("k"), batches, size)
        for label, op in contenders.items():
            timings[label] += await per_batch(op, batches, size)
    return {label: statistics.median(t) for label, t in timings.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if args.quick:
        redis_rounds, per_round, warmup, mem_rounds, batches, size = 4, 500, 300, 3, 20, 500
    else:
        redis_rounds, per_round, warmup, mem_rounds, batches, size = 10, 3000, 2000, 5, 60, 2000

    print(f"Python {sys.version.split()[0]}, Redis at {url}, value {len(VALUE)} bytes")
    redis_medians = asyncio.run(bench_redis(url, redis_rounds, per_round, warmup))
    baseline = redis_medians["raw redis.asyncio GET"]
    print(f"\nRedis GET, median of {redis_rounds * per_round} calls each (interleaved in {redis_rounds} rounds):")
    for label, median in redis_medians.items():
        print(f"  {label:32s} {us(median)}   ratio {median / baseline:5.2f}")
    ratio = redis_medians["RedisStore.get"] / baseline
    verdict = "meets" if ratio <= GOAL_REDIS else "MISSES"
    print(f"  RedisStore.get / raw GET = {ratio:.2f} ({verdict} the goal <= {GOAL_REDIS})")

    mem = asyncio.run(bench_memory(mem_rounds, batches, size))
    base = mem["dict.get (sync)"]
    print(f"\nMemory, median per call over batches of {size} ({mem_rounds * batches} batches each):")
    for label, median in mem.items():
        print(f"  {label:32s} {us(median)}   ratio {median / base:5.2f}")
    print(
        f"  MemoryStore.get / async dict.get = {mem['MemoryStore.get'] / mem['async def wrapping dict.get']:.2f} "
        "(the cost of the store beyond being a coroutine)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
