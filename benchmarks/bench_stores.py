"""Store overhead: RedisStore vs raw redis.asyncio commands, MemoryStore vs a dict, for get, set without and with
a TTL, and get_many.

Needs Redis at REDIS_URL (default redis://127.0.0.1:6379/0); writes keys under a unique prefix and deletes them
afterwards. Each baseline does the least a caller of that client could do for the same result:

- Redis: the same command the store sends, on a raw client with the same connection settings: ``GET``,
  ``SET``, ``SET ... PX`` (the store keeps millisecond TTLs) and ``MGET`` of 10 keys; values of 2 KB.
- memory: ``dict.get``, a dict store, a dict store of ``(value, deadline)`` (the least a TTL needs: reading
  the clock), and 10 ``dict.get``; as a plain function and as an ``async def`` (the store is a coroutine, so
  the async wrapper is its floor).

Every contender of an operation runs in every round, and each round starts with a different contender (the
order rotates), so drift and noise land on all of them alike. A round's figure is the median per call in that
round; printed are the median of the round figures with their min-max, and each ratio is taken per round
(median and min-max of the per-round ratios).

    python benchmarks/bench_stores.py            # full run
    python benchmarks/bench_stores.py --quick    # a short run (CI smoke)

Goal (issue 2): RedisStore / raw redis.asyncio <= 1.3 for each operation.
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
TTL = 600.0
MANY = 10
GOAL_REDIS = 1.3

Op = Callable[[], Awaitable[object]]
#: operation -> contender -> one figure per round (median seconds per call in that round)
Rounds = dict[str, dict[str, list[float]]]


async def per_op(op: Op, n: int) -> list[float]:
    """Seconds per call, one timing per call (calls are ~50 us: the timer's cost is negligible)."""
    out = []
    clock = time.perf_counter
    for _ in range(n):
        start = clock()
        await op()
        out.append(clock() - start)
    return out


async def rotating(contenders: dict[str, dict[str, Callable[[], Awaitable[list[float]]]]], rounds: int) -> Rounds:
    """Run every contender of every operation once per round, each round starting one contender later."""
    out: Rounds = {op: {label: [] for label in sides} for op, sides in contenders.items()}
    for r in range(rounds):
        for op, sides in contenders.items():
            labels = list(sides)
            shift = r % len(labels)
            for label in labels[shift:] + labels[:shift]:
                out[op][label].append(statistics.median(await sides[label]()))
    return out


def spread(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    """``median (min-max)`` of ``values`` times ``scale``."""
    median, low, high = (f"{v * scale:.{digits}f}" for v in (statistics.median(values), min(values), max(values)))
    return f"{median} ({low}-{high})"


def table(title: str, sides: dict[str, list[float]], goal: tuple[str, float] | None = None) -> None:
    """Each contender's time per call and its ratio to the first contender (the baseline), as median (min-max)
    over rounds; ``goal``: (contender, highest ratio allowed)."""
    print(f"\n{title}")
    base = next(iter(sides.values()))
    for label, figures in sides.items():
        ratios = [f / b for f, b in zip(figures, base, strict=True)]
        line = f"  {label:38s} {spread(figures, 1e6):>24} us   ratio {spread(ratios):>17}"
        if goal is not None and label == goal[0]:
            verdict = "meets" if statistics.median(ratios) <= goal[1] else "MISSES"
            line += f"  ({verdict} <= {goal[1]})"
        print(line)


async def bench_redis(url: str, rounds: int, per_round: int, warmup: int) -> Rounds:
    prefix = f"cpbench:{uuid.uuid4().hex[:8]}:"
    # The raw baseline gets the same connection settings RedisStore gives its own clients.
    raw = aioredis.Redis.from_url(url, decode_responses=False, retry=Retry(NoBackoff(), 0), socket_connect_timeout=1.0)
    store = RedisStore(url, prefix=prefix, timeout=1.0)
    guarded = GuardedStore(RedisStore(url, prefix=prefix, timeout=1.0), timeout=1.0)
    keys = [f"many{i}" for i in range(MANY)]
    names = [prefix + k for k in keys]
    millis = int(TTL * 1000)
    try:
        await store.set("k", VALUE)
        await store.set_many(dict.fromkeys(keys, VALUE))
        assert await raw.get(prefix + "k") == VALUE
        assert await store.get_many(keys) == [VALUE] * MANY
        assert await guarded.get("k") == VALUE
        ops: dict[str, dict[str, Op]] = {
            "get": {
                "raw redis.asyncio GET": lambda: raw.get(prefix + "k"),
                "RedisStore.get": lambda: store.get("k"),
                "GuardedStore(RedisStore).get": lambda: guarded.get("k"),
            },
            "set, no TTL": {
                "raw redis.asyncio SET": lambda: raw.set(prefix + "w", VALUE),
                "RedisStore.set": lambda: store.set("w", VALUE),
                "GuardedStore(RedisStore).set": lambda: guarded.set("w", VALUE),
            },
            f"set, TTL {TTL:g} s": {
                "raw redis.asyncio SET PX": lambda: raw.set(prefix + "t", VALUE, px=millis),
                "RedisStore.set": lambda: store.set("t", VALUE, ttl=TTL),
                "GuardedStore(RedisStore).set": lambda: guarded.set("t", VALUE, ttl=TTL),
            },
            f"get_many, {MANY} keys": {
                "raw redis.asyncio MGET": lambda: raw.mget(names),
                "RedisStore.get_many": lambda: store.get_many(keys),
                "GuardedStore(RedisStore).get_many": lambda: guarded.get_many(keys),
            },
        }
        for sides in ops.values():
            for op in sides.values():
                await per_op(op, warmup)

        def timed(op: Op) -> Callable[[], Awaitable[list[float]]]:
            return lambda: per_op(op, per_round)

        return await rotating(
            {name: {label: timed(op) for label, op in sides.items()} for name, sides in ops.items()}, rounds
        )
    finally:
        await store.clear()
        await store.close()
        await guarded.close()
        await raw.aclose()


async def bench_memory(rounds: int, batches: int, size: int) -> Rounds:
    store = MemoryStore(max_entries=10_000)
    plain: dict[str, object] = {}
    keys = [f"many{i}" for i in range(MANY)]
    await store.set("k", VALUE)
    await store.set_many(dict.fromkeys(keys, VALUE))
    plain.update(dict.fromkeys(["k", *keys], VALUE))
    clock = time.monotonic

    def dict_set_ttl() -> None:
        plain["t"] = (VALUE, clock() + TTL)

    async def async_get() -> object:
        return plain.get("k")

    async def async_set() -> None:
        plain["w"] = VALUE

    async def async_set_ttl() -> None:
        plain["t"] = (VALUE, clock() + TTL)

    async def async_get_many() -> object:
        return [plain.get(k) for k in keys]

    def sync(op: Callable[[], object]) -> Callable[[], Awaitable[list[float]]]:
        async def run() -> list[float]:
            return per_batch_sync(op, batches, size)

        return run

    def coro(op: Op) -> Callable[[], Awaitable[list[float]]]:
        return lambda: per_batch(op, batches, size)

    ops = {
        "get": {
            "dict.get (sync)": sync(lambda: plain.get("k")),
            "async def wrapping dict.get": coro(async_get),
            "MemoryStore.get": coro(lambda: store.get("k")),
        },
        "set, no TTL": {
            "dict store (sync)": sync(lambda: plain.__setitem__("w", VALUE)),
            "async def wrapping a dict store": coro(async_set),
            "MemoryStore.set": coro(lambda: store.set("w", VALUE)),
        },
        f"set, TTL {TTL:g} s": {
            "dict store of (value, deadline) (sync)": sync(dict_set_ttl),
            "async def wrapping it": coro(async_set_ttl),
            "MemoryStore.set": coro(lambda: store.set("t", VALUE, ttl=TTL)),
        },
        f"get_many, {MANY} keys": {
            f"{MANY} dict.get (sync)": sync(lambda: [plain.get(k) for k in keys]),
            "async def wrapping them": coro(async_get_many),
            "MemoryStore.get_many": coro(lambda: store.get_many(keys)),
        },
    }
    for sides in ops.values():
        for run in sides.values():
            await run()  # warm up
    return await rotating(ops, rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if args.quick:
        redis_rounds, per_round, warmup, mem_rounds, batches, size = 3, 300, 200, 3, 10, 500
    else:
        redis_rounds, per_round, warmup, mem_rounds, batches, size = 10, 2000, 1000, 5, 40, 2000

    print(f"Python {sys.version.split()[0]}, Redis at {url}, values of {len(VALUE)} bytes")
    print(f"load average: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    results = asyncio.run(bench_redis(url, redis_rounds, per_round, warmup))
    for op, sides in results.items():
        table(
            f"Redis {op}: per call, median (min-max) over {redis_rounds} rounds of {per_round} calls; ratio to raw",
            sides,
            goal=(next(label for label in sides if label.startswith("RedisStore")), GOAL_REDIS),
        )
    results = asyncio.run(bench_memory(mem_rounds, batches, size))
    for op, sides in results.items():
        table(
            f"memory {op}: per call, median (min-max) over {mem_rounds} rounds of {batches} batches of {size} calls;"
            " ratio to the sync dict",
            sides,
        )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
