"""AiocacheStore over aiocache's SimpleMemoryCache, its RedisCache against the real Redis, its MemcachedCache against a
private memcached."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest
import redis
from aiocache import MemcachedCache, RedisCache, SimpleMemoryCache
from aiocache.serializers import JsonSerializer, NullSerializer

from cachepoint.core.breaker import BreakerState, GuardedStore
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import AiocacheStore, CacheStore, StoreError, SyncStore

BINARY = bytes(range(256))  # not valid UTF-8: would not survive a decoding serializer


async def wait_for_absent(store: AiocacheStore, key: str) -> bool:
    for _ in range(300):
        if await store.get(key) is None:
            return True
        await asyncio.sleep(0.01)
    return False


# -- memory backend ------------------------------------------------------------------------------------------


async def test_memory_roundtrip_keeps_bytes() -> None:
    async with AiocacheStore(SimpleMemoryCache(namespace="app:")) as store:
        assert isinstance(store, CacheStore)
        await store.set("k", BINARY)
        assert await store.get("k") == BINARY
        assert await store.exists("k")
        assert await store.delete("k") is True
        assert await store.delete("k") is False
        assert await store.get("k") is None


async def test_memory_ttl_counts_down_and_expires() -> None:
    async with AiocacheStore(SimpleMemoryCache()) as store:
        await store.set("long", b"v", ttl=30)
        left = await store.ttl("long")
        assert left is not None
        assert 29 < left <= 30
        await store.set("forever", b"v")
        assert await store.ttl("forever") is None
        assert await store.ttl("absent") is None
        await store.set("short", b"v", ttl=0.05)
        assert await wait_for_absent(store, "short")
        await store.set("long", b"v", ttl=0)  # non-positive ttl deletes
        assert not await store.exists("long")


async def test_memory_namespaces_many_and_size() -> None:
    cache = SimpleMemoryCache(namespace="app:")
    async with AiocacheStore(cache) as store:
        await store.set_many({"chat:1": b"a", "chat:2": b"b", "chatbot:1": b"c", "x": b"d"}, ttl=60)
        assert await store.get_many(["chat:1", "nope", "x"]) == [b"a", None, b"d"]
        assert await store.get_many([]) == []
        assert await store.size() == 4
        assert await store.clear("chat") == 2
        assert await store.get_many(["chatbot:1", "x"]) == [b"c", b"d"]
        assert await store.clear() == 2
        assert await store.size() == 0


async def test_memory_foreign_value_is_a_store_error() -> None:
    cache = SimpleMemoryCache()
    await cache.set("k", {"not": "bytes"})
    store = AiocacheStore(cache)
    with pytest.raises(StoreError, match="returned dict, not bytes"):
        await store.get("k")


async def test_custom_key_builder_cannot_clear_by_prefix() -> None:
    store = AiocacheStore(SimpleMemoryCache(key_builder=lambda key, namespace: f"h{hash(key)}"))
    await store.set("k", b"v")
    assert await store.get("k") == b"v"
    assert await store.clear("ns") == 0
    assert store.unsupported == {"clear": 1}
    with pytest.raises(NotImplementedError, match="custom key_builder"):
        await store.size()


def test_not_an_aiocache_cache_is_refused() -> None:
    with pytest.raises(TypeError, match="expected an aiocache cache"):
        AiocacheStore({})


async def test_closed_store_raises() -> None:
    store = AiocacheStore(SimpleMemoryCache())
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.get("k")


# -- Redis backend (aiocache 0.12.3 RedisCache) against the real server --------------------------------------


@pytest.fixture
def redis_cache(redis_url: str, redis_prefix: str) -> RedisCache:
    info = redis.connection.parse_url(redis_url)
    return RedisCache(
        endpoint=info.get("host", "127.0.0.1"),
        port=info.get("port", 6379),
        db=info.get("db", 0),
        namespace=redis_prefix.rstrip(":"),  # aiocache adds the ":" itself
        serializer=NullSerializer(encoding=None),
    )


@pytest.mark.redis
def test_redis_cache_with_a_decoding_serializer_is_refused(redis_url) -> None:
    with pytest.raises(ValueError, match="NullSerializer\\(encoding=None\\)"):
        AiocacheStore(RedisCache(serializer=JsonSerializer()))


@pytest.mark.redis
@pytest.mark.filterwarnings("error::DeprecationWarning")  # aiocache's own close() would warn (Redis.close)
async def test_redis_cache_roundtrip_ttl_and_clear(redis_cache, redis_url, redis_prefix) -> None:
    raw = redis.Redis.from_url(redis_url)
    raw.set(f"{redis_prefix}neighbour", b"keep")  # same text prefix, outside the "chat" namespace
    try:
        async with AiocacheStore(redis_cache) as store:
            await store.set("chat:1", BINARY, ttl=30)
            assert raw.get(f"{redis_prefix}chat:1") == BINARY  # stored raw under the aiocache namespace
            assert await store.get("chat:1") == BINARY
            left = await store.ttl("chat:1")
            assert left is not None
            assert 29 < left <= 30
            await store.set_many({"chat:2": b"b", "chatbot:1": b"c"}, ttl=30)
            assert 0 < raw.pttl(f"{redis_prefix}chat:2") <= 30_000
            assert await store.get_many(["chat:1", "chat:2", "missing"]) == [BINARY, b"b", None]
            assert await store.size() == 4  # includes the neighbour: it is under the cache's namespace
            assert await store.clear("chat") == 2
            assert await store.get("chatbot:1") == b"c"
            assert raw.get(f"{redis_prefix}neighbour") == b"keep"
            await store.set("short", b"v", ttl=0.05)
            assert await wait_for_absent(store, "short")
    finally:
        raw.close()


@pytest.mark.redis
async def test_redis_cache_without_namespace_refuses_a_full_clear(redis_url) -> None:
    store = AiocacheStore(RedisCache(serializer=NullSerializer(encoding=None)))
    with pytest.raises(ValueError, match="would delete every key in the database"):
        await store.clear()
    await store.close()


@pytest.mark.redis
async def test_redis_cache_is_reached_from_another_event_loop(redis_cache) -> None:
    store = AiocacheStore(redis_cache)
    await store.set("k", b"owner")  # pins the cache's client to this loop
    assert await asyncio.to_thread(lambda: asyncio.run(store.get("k"))) == b"owner"
    await store.close()


# -- Memcached (aiocache's MemcachedCache over aiomcache) against a private memcached -----------------------------


@pytest.fixture
def memcached_cache(memcached_server) -> MemcachedCache:
    return MemcachedCache(
        endpoint="127.0.0.1",
        port=memcached_server.port,
        serializer=NullSerializer(encoding=None),
        namespace=f"cptest{uuid.uuid4().hex[:8]}",
    )


async def test_memcached_roundtrip(memcached_cache) -> None:
    async with AiocacheStore(memcached_cache) as store:
        await store.set("k", BINARY, ttl=1.2)  # memcached takes whole seconds: rounded up to 2
        assert await store.get("k") == BINARY
        await store.set_many({"a": b"1", "b": b"2"}, ttl=30)
        assert await store.get_many(["a", "missing", "b"]) == [b"1", None, b"2"]
        assert await store.exists("a")
        assert await store.delete("k")
        assert await store.get("k") is None


async def test_memcached_operations_it_cannot_do_are_warned_once_and_counted_never_raised(memcached_cache, caplog):
    guarded = GuardedStore(AiocacheStore(memcached_cache))
    await guarded.set("k", b"v", ttl=30)
    with caplog.at_level(logging.WARNING, logger="cachepoint"):
        assert await guarded.ttl("k") is None
        assert await guarded.ttl("k") is None
        assert await guarded.size() == 0
        assert await guarded.clear("chat") == 0
    assert guarded.stats.unsupported == 3  # ttl twice, size once (clear is answered by the store itself)
    assert guarded.stats.errors == 0
    assert guarded.breaker.state is BreakerState.CLOSED  # the backend is fine: nothing to trip on
    assert guarded.store.unsupported == {"clear": 1}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings  # one per operation, not per call
    assert any("ttl" in w and "MemcachedCache" in w for w in warnings)
    assert any("clear" in w and "Memcached cannot list keys" in w for w in warnings)
    assert await guarded.get("k") == b"v"  # clear removed nothing, and said so
    await guarded.close()


async def test_response_cache_clear_on_memcached_warns_instead_of_raising(memcached_cache, caplog):
    store = AiocacheStore(memcached_cache)
    cache = ResponseCache(store, CachePolicy("chat"))
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}

    async def call() -> dict[str, str]:
        return {"text": "hello"}

    await cache.get_or_call(request, call)
    with caplog.at_level(logging.WARNING, logger="cachepoint"):
        assert await cache.clear() == 0
        assert await cache.clear() == 0
    assert store.unsupported == {"clear": 2}
    assert len([r for r in caplog.records if "clear" in r.getMessage()]) == 1
    assert (await cache.get_or_call(request, call)).source.value == "hit"  # nothing was removed
    await store.close()


# -- one store, many event loops: every asyncio.run, the sync bridge, worker threads ----------------------------


def _loop_after_loop(store: AiocacheStore) -> None:
    """What a script does: one asyncio.run, then another, then sync code, then asyncio.run again."""

    async def write_many() -> None:
        await asyncio.gather(*(store.set(f"k{i}", f"v{i}".encode(), ttl=60) for i in range(20)))

    async def read_many() -> list[bytes | None]:
        return await asyncio.gather(*(store.get(f"k{i}") for i in range(20)))

    expected = [f"v{i}".encode() for i in range(20)]
    asyncio.run(write_many())  # concurrent calls: the client's pool is busy on this loop
    assert asyncio.run(read_many()) == expected  # a second loop, after the first has closed
    sync = SyncStore(store)  # the sync bridge's loop
    assert sync.get("k3") == b"v3"
    sync.set("from sync", b"s", ttl=60)
    assert asyncio.run(store.get("from sync")) == b"s"
    assert asyncio.run(read_many()) == expected


def test_memcached_store_works_from_one_event_loop_after_another(memcached_cache) -> None:
    store = AiocacheStore(memcached_cache)
    _loop_after_loop(store)
    SyncStore(store).close()


@pytest.mark.redis
def test_redis_cache_store_works_from_one_event_loop_after_another(redis_cache) -> None:
    store = AiocacheStore(redis_cache)
    _loop_after_loop(store)
    SyncStore(store).close()


def test_memory_store_keeps_its_entries_and_their_expiry_across_event_loops() -> None:
    store = AiocacheStore(SimpleMemoryCache(namespace="app:"))
    _loop_after_loop(store)

    async def write_short() -> None:
        await store.set("short", b"v", ttl=0.05)

    asyncio.run(write_short())  # its expiry timer belonged to a loop that is now closed
    time.sleep(0.1)
    assert asyncio.run(store.get("short")) is None  # expired all the same
    assert asyncio.run(store.get("k0")) == b"v0"
    left = asyncio.run(store.ttl("k0"))
    assert left is not None
    assert 0 < left <= 60


def test_behind_a_breaker_a_later_event_loop_gets_hits_not_silent_misses(memcached_cache) -> None:
    guarded = GuardedStore(AiocacheStore(memcached_cache))
    asyncio.run(guarded.set("k", b"v"))
    assert asyncio.run(guarded.get("k")) == b"v"
    assert SyncStore(guarded).get("k") == b"v"
    assert guarded.stats.errors == 0
    SyncStore(guarded).close()
