"""Fault (b): a server that accepts the connection and never answers."""

from __future__ import annotations

import asyncio
import logging
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


# -- no time budget at all: the socket timeouts of the clients the store builds are what ends the wait -----------


@pytest.mark.slow
async def test_without_a_budget_a_silent_server_is_an_error_after_the_default_socket_timeout(black_hole) -> None:
    store = RedisStore(black_hole.url, prefix="cpfault:", timeout=None, retries=0)  # everything else by default
    try:
        # wait_for only keeps a failing run from hanging the suite; the store must give up by itself (after 5 s).
        with pytest.raises(StoreError, match="TimeoutError") as caught:
            await asyncio.wait_for(store.get("k"), 60)
        assert "after 1 attempts" in str(caught.value)
        assert black_hole.accepted >= 1
    finally:
        await store.close()


def test_a_sync_caller_without_any_budget_is_not_hung_by_a_silent_server(black_hole) -> None:
    inner = RedisStore(black_hole.url, prefix="cpfault:", timeout=None, socket_timeout=0.2, retries=0)
    with SyncStore(GuardedStore(inner, timeout=None)) as store:
        assert store.get("k") is None  # a miss, not a hang
        assert store.store.stats.errors == 1


async def test_clients_built_from_a_url_have_socket_timeouts_by_default(redis_url, redis_prefix) -> None:
    async with RedisStore(redis_url, prefix=redis_prefix, timeout=None) as store:
        options = await store.execute(_connection_options)
    assert options["socket_timeout"] == 5.0
    assert options["socket_connect_timeout"] == 5.0
    async with RedisStore(redis_url, prefix=redis_prefix, timeout=0.5, socket_timeout=2) as store:
        options = await store.execute(_connection_options)
    assert options["socket_timeout"] == 2
    assert options["socket_connect_timeout"] == 0.5


async def _connection_options(client) -> dict:
    return client.get_connection_kwargs()


async def test_a_callers_client_without_socket_timeout_and_no_budget_is_warned_about(redis_url, caplog) -> None:
    import redis.asyncio as aioredis

    unbounded = aioredis.Redis.from_url(redis_url, socket_timeout=None)
    bounded = aioredis.Redis.from_url(redis_url, socket_timeout=2)
    with caplog.at_level(logging.WARNING, logger="cachepoint"):
        RedisStore(client=bounded, prefix="cpfault:", timeout=None)
        RedisStore(client=unbounded, prefix="cpfault:", timeout=0.5)  # the budget bounds it
        assert not caplog.records
        RedisStore(client=unbounded, prefix="cpfault:", timeout=None)
    assert ["socket_timeout" in r.getMessage() for r in caplog.records] == [True]
    await unbounded.aclose()
    await bounded.aclose()
