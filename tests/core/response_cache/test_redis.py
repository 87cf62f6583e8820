"""The response cache on a real Redis: replay, single-flight across instances and processes through the lease
lock, streams, tags, tenant isolation, and real faults (closed port, a server that never answers).

Caches that prove replay and locking get all the time Redis needs (``timeout=helpers.PATIENT``, see conftest):
on a loaded machine a cold connection can take most of the default one-second budget of a call, whose write
would then be skipped. Budgets are proved by the fault tests at the end, with the defaults."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from cachepoint.core.breaker import BreakerState, CircuitBreaker, GuardedStore
from cachepoint.core.codec import Codec
from cachepoint.core.response_cache import CachePolicy, RedisLock, ResponseCache, Source
from cachepoint.core.stores import RedisStore

pytestmark = pytest.mark.redis


async def test_replay_through_redis(redis_store: RedisStore, helpers: Any) -> None:
    cache = ResponseCache(redis_store, CachePolicy("chat"), timeout=helpers.PATIENT)
    upstream = helpers.Upstream()
    assert (await cache.get_or_call(helpers.request(), upstream)).source is Source.MISS
    hit = await cache.get_or_call(helpers.request(), upstream)
    assert hit.hit
    assert hit.value == upstream.answer
    assert upstream.calls == 1


async def test_100_concurrent_calls_on_redis_make_one_upstream_call(redis_store: RedisStore, helpers: Any) -> None:
    cache = ResponseCache(redis_store, CachePolicy("chat"), timeout=helpers.PATIENT)
    upstream = helpers.Upstream()
    upstream.hold()
    tasks = [asyncio.create_task(cache.get_or_call(helpers.request(), upstream)) for _ in range(100)]
    await helpers.wait_until(lambda: cache.stats().joins == 99)
    upstream.open()
    results = await asyncio.gather(*tasks)
    assert upstream.calls == 1
    assert all(r.value == upstream.answer for r in results)


async def test_the_lease_lock_makes_two_caches_share_one_call(
    worker_cache: Any, redis_url: str, redis_prefix: str, helpers: Any
) -> None:
    # Two caches with their own connections and their own in-process single-flight, like two workers.
    a, b = worker_cache(), worker_cache()
    describe = helpers.describe_caches(a=a, b=b)
    upstream = helpers.Upstream()
    upstream.hold()
    tasks = [asyncio.create_task(a.get_or_call(helpers.request(), upstream)) for _ in range(50)]
    await helpers.wait_until(lambda: upstream.calls == 1, describe=describe)
    tasks += [asyncio.create_task(b.get_or_call(helpers.request(), upstream)) for _ in range(50)]
    # b's leader waits on a's lock; b's 49 others wait on b's leader.
    await helpers.wait_until(lambda: b.stats().lock_waits == 1 and b.stats().joins == 49, describe=describe)
    upstream.open()
    results = await asyncio.gather(*tasks)
    assert upstream.calls == 1
    assert all(r.value == upstream.answer for r in results)
    assert sum(r.source is Source.MISS for r in results) == 1
    assert (b.stats().lock_timeouts, b.stats().joins, b.stats().upstream_calls) == (0, 50, 0)
    assert (a.stats().lock_errors, b.stats().lock_errors) == (0, 0)
    # The lock is released: nothing is left in the store's reserved space.
    client = redis.Redis.from_url(redis_url)
    try:
        reserved = redis_prefix.encode() + b"\xff"
        assert [k for k in client.scan_iter(match=f"{redis_prefix}*") if k.startswith(reserved)] == []
    finally:
        client.close()


async def test_the_lock_lives_in_the_reserved_space(redis_store: RedisStore, redis_url: str) -> None:
    cache = ResponseCache(redis_store, CachePolicy("chat"), lock=RedisLock(redis_store))
    key = cache.key_for({"model": "m", "messages": [], "temperature": 0})
    lock = RedisLock(redis_store)
    token = await lock.acquire(key, 30)
    assert token is not None
    assert lock.key_of(key) == redis_store.reserved_key("lock:" + key)
    assert await lock.acquire(key, 30) is None  # held
    await redis_store.set(key, b"an entry")
    assert await redis_store.size() == 1  # the entry, not the lock
    assert await cache.clear() == 1
    assert await lock.acquire(key, 30) is None  # clearing the cache does not break a held lock
    assert await lock.release(key, "someone else's token") is False
    assert await lock.release(key, token) is True
    assert await lock.acquire(key, 30) is not None


async def test_a_holder_that_fails_releases_the_lock_and_the_waiter_calls_itself(
    worker_cache: Any, helpers: Any
) -> None:
    a, b = worker_cache(), worker_cache()
    describe = helpers.describe_caches(a=a, b=b)
    failing = helpers.Upstream()
    failing.hold()
    failing.fail_with = RuntimeError("holder's call failed")
    holder = asyncio.create_task(a.get_or_call(helpers.request(), failing))
    await helpers.wait_until(lambda: failing.calls == 1, describe=describe)
    ok = helpers.Upstream({"content": "from the waiter"})
    waiter = asyncio.create_task(b.get_or_call(helpers.request(), ok))
    await helpers.wait_until(lambda: b.stats().lock_waits == 1, describe=describe)
    failing.open()
    with pytest.raises(RuntimeError, match="holder's call failed"):
        await holder
    result = await waiter
    assert result.value == {"content": "from the waiter"}
    assert result.source is Source.MISS


async def test_waiters_give_up_after_lock_wait_and_call_themselves(worker_cache: Any, helpers: Any) -> None:
    cache = worker_cache(lock_wait=0.2, lock_ttl=30)
    key = cache.key_for(helpers.request())
    assert cache.lock is not None
    assert await cache.lock.acquire(key, 30) is not None  # a holder that never finishes
    upstream = helpers.Upstream()
    result = await cache.get_or_call(helpers.request(), upstream)
    assert result.source is Source.MISS
    assert (cache.stats().lock_waits, cache.stats().lock_timeouts) == (1, 1)


WORKER = """
import asyncio, json, os, sys, time
import redis
from cachepoint.core.breaker import GuardedStore
from cachepoint.core.response_cache import CachePolicy, RedisLock, ResponseCache
from cachepoint.core.stores import RedisStore

url, prefix, name, patient = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
lock_ttl, seconds = float(sys.argv[5]), float(sys.argv[6])
raw = redis.Redis.from_url(url)

async def main():
    store = RedisStore(url, prefix=prefix, timeout=patient)
    cache = ResponseCache(
        GuardedStore(store, timeout=patient),
        CachePolicy("chat", lock_ttl=lock_ttl),
        lock=RedisLock(store),
        timeout=patient,
    )

    async def upstream():
        raw.incr(prefix + "upstream-calls")
        await asyncio.sleep(seconds)
        return {"answer": 42, "made_by": name}

    raw.set(prefix + "ready:" + name, 1)
    while not raw.exists(prefix + "go"):
        await asyncio.sleep(0.01)
    request = {"model": "m", "messages": [{"role": "user", "content": "q"}], "temperature": 0}
    results = await asyncio.gather(*(cache.get_or_call(request, upstream) for _ in range(10)))
    await store.close()
    print(json.dumps([[r.value, r.source.value] for r in results]))

asyncio.run(main())
"""


@pytest.fixture
def run_workers(redis_url: str, redis_prefix: str, tmp_path: Path, helpers: Any) -> Any:
    """``run(names, lock_ttl=, seconds=)``: one worker process per name, all asking at once for one request whose
    upstream call takes ``seconds``; returns (upstream calls made, each worker's results)."""

    def run(names: list[str], *, lock_ttl: float, seconds: float) -> tuple[int, list[list[Any]]]:
        script = tmp_path / "worker.py"
        script.write_text(WORKER)
        argv = [redis_url, redis_prefix]
        workers = [
            subprocess.Popen(
                [sys.executable, str(script), *argv, name, str(helpers.PATIENT), str(lock_ttl), str(seconds)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in names
        ]
        client = redis.Redis.from_url(redis_url)
        try:
            ready = [f"{redis_prefix}ready:{name}" for name in names]
            helpers.wait_until_sync(lambda: client.exists(*ready) == len(names), 60)
            client.set(f"{redis_prefix}go", 1)
            outputs = []
            for worker in workers:
                out, err = worker.communicate(timeout=120)
                assert worker.returncode == 0, err
                outputs.append(json.loads(out))
            return int(client.get(f"{redis_prefix}upstream-calls") or 0), outputs
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
            client.close()

    return run


def test_two_processes_make_one_upstream_call(run_workers: Any) -> None:
    calls, outputs = run_workers(["w1", "w2"], lock_ttl=60, seconds=1.0)
    assert calls == 1
    values = [value for output in outputs for value, _ in output]
    assert len(values) == 20
    assert len({json.dumps(v, sort_keys=True) for v in values}) == 1  # everyone got the one answer
    sources = sorted(source for output in outputs for _, source in output)
    assert sources == ["joined"] * 19 + ["miss"]


def test_a_call_that_outlasts_the_lease_is_still_made_once_across_processes(run_workers: Any) -> None:
    # The holder renews its lease while its call runs: three processes, a 0.4 s lease, a 2 s call, one call.
    calls, outputs = run_workers(["w1", "w2", "w3"], lock_ttl=0.4, seconds=2.0)
    assert calls == 1
    sources = sorted(source for output in outputs for _, source in output)
    assert sources == ["joined"] * 29 + ["miss"]


async def test_a_call_that_outlasts_the_lease_is_made_once_by_independent_caches(
    worker_cache: Any, helpers: Any
) -> None:
    a, b = worker_cache(lock_ttl=0.3), worker_cache(lock_ttl=0.3)
    describe = helpers.describe_caches(a=a, b=b)
    upstream = helpers.Upstream()
    upstream.hold()
    holder = asyncio.create_task(a.get_or_call(helpers.request(), upstream))
    await helpers.wait_until(lambda: upstream.calls == 1, describe=describe)
    waiter = asyncio.create_task(b.get_or_call(helpers.request(), upstream))
    await helpers.wait_until(lambda: b.stats().lock_waits == 1, describe=describe)
    await asyncio.sleep(1.5)  # five leases: a lease nobody renews has long expired
    upstream.open()
    results = await asyncio.gather(holder, waiter)
    assert upstream.calls == 1
    assert [r.source for r in results] == [Source.MISS, Source.JOINED]


async def test_a_sync_holder_renews_its_lease_while_its_call_runs(worker_cache: Any, helpers: Any) -> None:
    # The sync face makes the call in the caller's thread; the lease is renewed on the bridge loop meanwhile.
    a, b = worker_cache(lock_ttl=0.3), worker_cache(lock_ttl=0.3)
    describe = helpers.describe_caches(a=a, b=b)
    upstream = helpers.Upstream()
    upstream.hold()
    holder = asyncio.get_running_loop().run_in_executor(None, a.sync.get_or_call, helpers.request(), upstream.sync)
    await helpers.wait_until(lambda: upstream.calls == 1, describe=describe)
    waiter = asyncio.create_task(b.get_or_call(helpers.request(), upstream))
    await helpers.wait_until(lambda: b.stats().lock_waits == 1, describe=describe)
    await asyncio.sleep(1.5)  # five leases
    upstream.open()
    results = [await holder, await waiter]
    assert upstream.calls == 1
    assert [r.source for r in results] == [Source.MISS, Source.JOINED]


async def test_waiters_give_up_as_one_when_the_holders_result_cannot_be_stored(worker_cache: Any, helpers: Any) -> None:
    holder_cache = worker_cache()
    waiters = [worker_cache() for _ in range(3)]
    describe = helpers.describe_caches(holder=holder_cache, **{f"w{i}": w for i, w in enumerate(waiters)})
    unstorable = helpers.Upstream({"when": object()})  # the codec cannot carry it: returned, never stored
    unstorable.hold()
    holder = asyncio.create_task(holder_cache.get_or_call(helpers.request(), unstorable))
    await helpers.wait_until(lambda: unstorable.calls == 1, describe=describe)
    theirs = helpers.Upstream({"when": object()})
    theirs.hold()
    tasks = [asyncio.create_task(w.get_or_call(helpers.request(), theirs)) for w in waiters]
    await helpers.wait_until(lambda: all(w.stats().lock_waits == 1 for w in waiters), describe=describe)
    unstorable.open()
    assert (await holder).source is Source.MISS
    # The holder said its result will not be stored: the three waiters stop waiting together and call at once,
    # instead of taking the lock one after another, each waiting for the previous one's (unstorable) result.
    await helpers.wait_until(lambda: theirs.calls == 3, timeout=15, describe=describe)
    theirs.open()
    results = await asyncio.gather(*tasks)
    assert [r.source for r in results] == [Source.MISS] * 3
    assert sum(w.stats().lock_timeouts for w in waiters) == 0


async def test_streams_are_replayed_from_redis(redis_store: RedisStore, helpers: Any) -> None:
    chunks = [{"delta": "Pa"}, {"delta": "ris"}, {"usage": {"output_tokens": 2}}, b"\x00raw"]
    first = ResponseCache(redis_store, CachePolicy("chat"), timeout=helpers.PATIENT)
    upstream = helpers.StreamUpstream(chunks)
    assert [c async for c in first.stream(helpers.request(), upstream)] == chunks
    await helpers.wait_until(lambda: first.stats().stored == 1)
    second = ResponseCache(redis_store, CachePolicy("chat"), timeout=helpers.PATIENT)
    replay = second.stream(helpers.request(), upstream)
    assert [c async for c in replay] == chunks
    assert replay.hit
    assert upstream.opened == 1


async def test_interrupted_streams_are_not_stored_in_redis(redis_store: RedisStore, helpers: Any) -> None:
    cache = ResponseCache(redis_store, CachePolicy("chat"), timeout=helpers.PATIENT)
    upstream = helpers.StreamUpstream(["a", "b", "c"], pause_after=1)
    stream = cache.stream(helpers.request(), upstream)
    await stream.__anext__()
    await stream.aclose()
    await helpers.wait_until(lambda: upstream.closed_early == 1)
    assert await redis_store.size() == 0


async def test_tag_invalidation_reaches_every_instance(redis_url: str, redis_prefix: str, helpers: Any) -> None:
    store_a, store_b = RedisStore(redis_url, prefix=redis_prefix), RedisStore(redis_url, prefix=redis_prefix)
    try:
        a = ResponseCache(store_a, CachePolicy("docs", tags=["kb"]), timeout=helpers.PATIENT)
        b = ResponseCache(store_b, CachePolicy("docs", tags=["kb"]), timeout=helpers.PATIENT)
        upstream = helpers.Upstream()
        await a.get_or_call(helpers.request(), upstream)
        assert (await b.get_or_call(helpers.request(), upstream)).hit
        await a.invalidate(tag="kb")
        assert (await b.get_or_call(helpers.request(), upstream)).source is Source.MISS
        v2 = ResponseCache(store_b, CachePolicy("docs", tags=["kb"], version=2), timeout=helpers.PATIENT)
        assert (await v2.get_or_call(helpers.request(), upstream)).source is Source.MISS
        assert upstream.calls == 3
    finally:
        await store_a.close()
        await store_b.close()


async def test_tenants_are_isolated_on_redis_even_against_copied_entries(
    redis_store: RedisStore, redis_url: str, helpers: Any
) -> None:
    cache = ResponseCache(
        redis_store, CachePolicy("chat"), codec=Codec(signing_keys=[os.urandom(32)]), timeout=helpers.PATIENT
    )
    acme = await cache.get_or_call(helpers.request(), helpers.Upstream({"secret": "acme"}), tenant="acme")
    globex_key = cache.key_for(helpers.request(), tenant="globex")
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(redis_store.prefix + globex_key, client.get(redis_store.prefix + acme.key))
    finally:
        client.close()
    result = await cache.get_or_call(helpers.request(), helpers.Upstream({"secret": "globex"}), tenant="globex")
    assert result.value == {"secret": "globex"}
    assert cache.stats().tampered == 1


def test_sync_calls_from_many_threads_on_redis(redis_url: str, redis_prefix: str, helpers: Any) -> None:
    store = RedisStore(redis_url, prefix=redis_prefix)
    cache = ResponseCache(store, CachePolicy("chat"), timeout=helpers.PATIENT)
    upstream = helpers.Upstream()
    upstream.hold()
    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [pool.submit(cache.sync.get_or_call, helpers.request(), upstream.sync) for _ in range(20)]
        helpers.wait_until_sync(lambda: cache.stats().joins == 19)
        upstream.open()
        assert all(f.result(60).value == upstream.answer for f in futures)
    assert cache.sync.get_or_call(helpers.request(), upstream.sync).hit
    assert upstream.calls == 1


async def test_a_store_on_a_closed_port_is_a_miss_never_a_failed_call(closed_port: int, helpers: Any) -> None:
    store = RedisStore(f"redis://127.0.0.1:{closed_port}/0", prefix="cptest:", timeout=0.5)
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=60)
    cache = ResponseCache(GuardedStore(store, breaker=breaker, timeout=0.5), CachePolicy("chat"), lock=RedisLock(store))
    upstream = helpers.Upstream()
    try:
        for _ in range(10):
            result = await cache.get_or_call(helpers.request(), upstream)
            assert result.value == upstream.answer
            assert result.source is Source.MISS
        assert upstream.calls == 10
        assert breaker.state is BreakerState.OPEN
        # The lock lives on the same dead Redis: calls went ahead without it, and once the breaker opened they
        # stopped trying it at all (the breaker rejects lock calls at once).
        assert cache.stats().lock_errors == 10
        assert breaker.stats.rejections > 0
        stream = cache.stream(helpers.request(), helpers.StreamUpstream(["a", "b"]))
        assert [c async for c in stream] == ["a", "b"]
    finally:
        await store.close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    server.close()


async def test_a_server_that_never_answers_is_a_miss(silent_server: int, helpers: Any) -> None:
    store = RedisStore(f"redis://127.0.0.1:{silent_server}/0", prefix="cptest:", timeout=0.3)
    cache = ResponseCache(store, CachePolicy("chat"))  # guarded by default
    upstream = helpers.Upstream()
    try:
        results = await asyncio.gather(*(cache.get_or_call(helpers.request(f"q{i}"), upstream) for i in range(5)))
        assert [r.value for r in results] == [upstream.answer] * 5
        assert isinstance(cache.store, GuardedStore)
        assert cache.store.stats.timeouts + cache.store.stats.errors + cache.store.stats.short_circuited > 0
    finally:
        await store.close()


async def test_a_crashed_holders_lease_expires_and_a_waiter_takes_over(worker_cache: Any, helpers: Any) -> None:
    cache = worker_cache(lock_wait=30)
    key = cache.key_for(helpers.request())
    assert cache.lock is not None
    assert await cache.lock.acquire(key, 0.3) is not None  # taken by a process that then died
    upstream = helpers.Upstream()
    result = await cache.get_or_call(helpers.request(), upstream)
    assert result.source is Source.MISS
    assert (cache.stats().lock_waits, cache.stats().lock_timeouts) == (1, 0)


async def test_the_sync_face_works_inside_a_running_loop_on_redis(redis_store: RedisStore, helpers: Any) -> None:
    # Like a Jupyter cell or a sync library called from async code: the bridge serves the store on its own loop.
    cache = ResponseCache(redis_store, CachePolicy("chat"), timeout=helpers.PATIENT)
    assert cache.sync.get_or_call(helpers.request(), lambda: {"n": 1}).source is Source.MISS
    assert (await cache.get_or_call(helpers.request(), helpers.Upstream())).value == {"n": 1}
    assert cache.sync.get_or_call(helpers.request(), lambda: {"n": 2}).value == {"n": 1}


async def test_one_call_spends_one_time_budget_on_a_silent_store(silent_server: int, helpers: Any) -> None:
    # A store that accepts and never answers, before the breaker opens: the read, the lock and the write of one
    # call share the call's budget (the guard's one-second timeout), instead of each spending a second of its own.
    store = RedisStore(f"redis://127.0.0.1:{silent_server}/0", prefix="cptest:", timeout=1.0)
    cache = ResponseCache(store, CachePolicy("docs"), lock=RedisLock(store))  # guarded by default, 1 s
    upstream = helpers.Upstream()
    try:
        for call in (
            lambda: cache.get_or_call(helpers.request("plain"), upstream),
            lambda: cache.get_or_call(helpers.request("tagged"), upstream, tags=["kb"]),
        ):
            started = time.monotonic()
            result = await call()
            spent = time.monotonic() - started
            assert (result.source, result.value) == (Source.MISS, upstream.answer)
            assert spent < 1.8, f"one call spent {spent:.2f}s on a store that never answers (budget 1 s)"
        started = time.monotonic()
        assert cache.sync.get_or_call(helpers.request("sync"), lambda: {"n": 1}).value == {"n": 1}
        spent = time.monotonic() - started
        assert spent < 1.8, f"one sync call spent {spent:.2f}s on a store that never answers (budget 1 s)"
        assert isinstance(cache.store, GuardedStore)
        assert cache.store.breaker.state is BreakerState.CLOSED  # the budget did it, not the breaker
        assert cache.stats().over_budget >= 3  # each call skipped what its first read had left no time for
    finally:
        await store.close()
