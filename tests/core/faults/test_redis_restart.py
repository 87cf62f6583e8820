"""Fault (c): our own redis-server is killed and restarted while async and sync calls run through GuardedStore.

Zero calls may raise; the breaker must open while the server is down and close again once it is back, and
the store must work again (fresh connections) without being rebuilt.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from cachepoint.core.breaker import BreakerState, CircuitBreaker, GuardedStore
from cachepoint.core.stores import RedisStore, SyncStore

pytestmark = pytest.mark.slow


async def wait_for(condition, timeout: float = 30.0) -> bool:
    """Poll without blocking the loop (the workers keep running meanwhile)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def test_kill_and_restart_under_concurrent_load(redis_server) -> None:
    transitions: list[tuple[BreakerState, BreakerState]] = []
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=0.3, half_open_max_calls=1)
    breaker.add_listener(lambda old, new, _: transitions.append((old, new)))
    store = GuardedStore(
        RedisStore(redis_server.url, prefix="cpfault:", timeout=0.5, retries=1),
        breaker=breaker,
        timeout=1.0,
    )
    raised: list[BaseException] = []
    calls = 0
    hits_after_restart = 0
    restarted = False
    stop = asyncio.Event()

    async def worker(n: int) -> None:
        nonlocal calls, hits_after_restart
        i = 0
        while not stop.is_set():
            key = f"w{n}:{i % 20}"
            try:
                await store.set(key, f"{n}:{i}".encode(), ttl=60)
                value = await store.get(key)
                await store.get_many([key, f"w{(n + 1) % 8}:{i % 20}"])
                calls += 3
                if restarted and value == f"{n}:{i}".encode():
                    hits_after_restart += 1
            except BaseException as exc:  # any exception here is a failed user call
                raised.append(exc)
                return
            i += 1
            await asyncio.sleep(0.005)

    sync_calls = 0

    def sync_worker(n: int) -> None:
        """A sync caller in its own thread, through the bridge loop: it must never see an exception either."""
        nonlocal sync_calls
        sync = SyncStore(store)
        i = 0
        while not stop.is_set():
            try:
                sync.set(f"s{n}:{i % 10}", b"v", ttl=60)
                sync.get(f"s{n}:{i % 10}")
                sync_calls += 2
            except BaseException as exc:
                raised.append(exc)
                return
            i += 1
            time.sleep(0.005)

    workers = [asyncio.create_task(worker(n)) for n in range(8)]
    workers += [asyncio.create_task(asyncio.to_thread(sync_worker, n)) for n in range(2)]
    try:
        assert await wait_for(lambda: calls > 100), "the workers never got going"
        assert breaker.state is BreakerState.CLOSED

        redis_server.kill()
        assert await wait_for(lambda: (BreakerState.CLOSED, BreakerState.OPEN) in transitions), transitions
        calls_while_down = calls
        assert await wait_for(lambda: calls > calls_while_down + 100)  # calls keep completing, as misses
        assert store.stats.short_circuited > 0

        await asyncio.to_thread(redis_server.start)  # same port, empty data
        restarted = True
        opened = transitions.index((BreakerState.CLOSED, BreakerState.OPEN))
        assert await wait_for(lambda: (BreakerState.HALF_OPEN, BreakerState.CLOSED) in transitions[opened:]), (
            transitions
        )
        assert await wait_for(lambda: hits_after_restart > 50), "the store did not serve hits after the restart"
    finally:
        stop.set()
        await asyncio.gather(*workers)
        await store.close()

    assert raised == []
    assert sync_calls > 0
    assert breaker.state is BreakerState.CLOSED
    stats = store.stats
    assert stats.errors + stats.timeouts >= 3
    assert stats.short_circuited > 0
