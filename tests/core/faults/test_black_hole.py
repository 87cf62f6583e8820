"""Fault (b): a server that accepts the connection and never answers."""

from __future__ import annotations

import asyncio
import time

import pytest

from cachepoint.core.breaker import BreakerState, CircuitBreaker, GuardedStore
from cachepoint.core.stores import RedisStore, StoreError, SyncStore


def wait_until(condition, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


async def test_redis_store_gives_up_at_its_budget_with_a_timeout_cause(black_hole) -> None:
    async with RedisStore(black_hole.url, prefix="cpfault:", timeout=0.2) as store:
        with pytest.raises(StoreError, match=r"no answer within 0\.2s") as caught:
            await store.get("k")
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert black_hole.accepted >= 1  # it really connected: the silence came from the server


async def test_guarded_store_returns_misses_within_its_timeout(black_hole) -> None:
    breaker = CircuitBreaker(failure_threshold=5, recovery_timeout=60)
    store = GuardedStore(RedisStore(black_hole.url, prefix="cpfault:", timeout=30), breaker=breaker, timeout=0.2)
    results = await asyncio.gather(*(store.get(f"k{i}") for i in range(20)))
    assert results == [None] * 20
    assert store.stats.timeouts == 20
    assert breaker.state is BreakerState.OPEN
    accepted = black_hole.accepted
    # While open, nothing reaches the server: no new connection, no waiting.
    assert await asyncio.gather(*(store.get(f"k{i}") for i in range(50))) == [None] * 50
    assert store.stats.short_circuited == 50
    assert black_hole.accepted == accepted
    await store.close()


def test_sync_caller_gets_a_miss_from_a_silent_server(black_hole) -> None:
    guard = GuardedStore(RedisStore(black_hole.url, prefix="cpfault:", timeout=30), timeout=0.2)
    with SyncStore(guard) as store:
        assert store.get("k") is None
        store.set("k", b"v")
    assert guard.stats.timeouts == 2
    assert wait_until(lambda: black_hole.accepted >= 1)
