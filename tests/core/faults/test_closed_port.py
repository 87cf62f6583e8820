"""Fault (a): Redis is not there at all — the port is closed."""

from __future__ import annotations

import pytest
import redis

from cachepoint.core.breaker import BreakerState, CircuitBreaker, GuardedStore
from cachepoint.core.stores import RedisStore, StoreError, SyncStore


async def test_store_error_names_the_cause_and_counts_attempts(closed_port_url) -> None:
    async with RedisStore(closed_port_url, prefix="cpfault:", timeout=30, retries=3, backoff=0) as store:
        with pytest.raises(StoreError, match=r"\(after 4 attempts\)") as caught:
            await store.get("k")
    assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)
    assert "Connection refused" in str(caught.value) or "Error 111" in str(caught.value)


async def test_retries_never_outlast_the_budget(closed_port_url) -> None:
    # The first backoff (>= 2.5 s) would overrun the 1 s budget, so the store gives up after one attempt
    # instead of sleeping past its deadline.
    async with RedisStore(closed_port_url, prefix="cpfault:", timeout=1, retries=10, backoff=5, max_backoff=5) as s:
        with pytest.raises(StoreError, match=r"\(after 1 attempts\)"):
            await s.set("k", b"v")


async def test_guarded_store_turns_every_call_into_a_miss_and_opens(closed_port_url) -> None:
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=60)
    async with GuardedStore(RedisStore(closed_port_url, prefix="cpfault:", retries=0), breaker=breaker) as store:
        assert await store.get("k") is None
        await store.set("k", b"v", ttl=5)
        assert await store.get_many(["a", "b"]) == [None, None]
        assert breaker.state is BreakerState.OPEN
        for _ in range(10):
            assert await store.get("k") is None
            assert await store.exists("k") is False
            assert await store.clear() == 0
        stats = store.stats
        assert stats.errors == 3
        assert stats.short_circuited == 30
        assert stats.last_error is not None
        assert "StoreError" in stats.last_error


def test_sync_callers_get_misses_too(closed_port_url) -> None:
    with SyncStore(GuardedStore(RedisStore(closed_port_url, prefix="cpfault:", retries=0))) as store:
        assert store.get("k") is None
        store.set("k", b"v")
        assert store.size() == 0
