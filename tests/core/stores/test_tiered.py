"""TieredStore: L1 in front of L2, TTL-respecting fills, and L2 failures that never lose an L1 hit."""

from __future__ import annotations

import pytest
import redis

from cachepoint.core.breaker import GuardedStore
from cachepoint.core.stores import CacheStore, MemoryStore, RedisStore, StoreError, TieredStore

CLOSED_PORT_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once


def tiers(clock, l1_ttl: float | None = 30) -> tuple[MemoryStore, MemoryStore, TieredStore]:
    l1 = MemoryStore(max_entries=100, clock=clock)
    l2 = MemoryStore(max_entries=1000, clock=clock)
    return l1, l2, TieredStore(l1, l2, l1_ttl=l1_ttl)


async def test_is_a_cache_store(clock) -> None:
    assert isinstance(tiers(clock)[2], CacheStore)


async def test_l2_hit_fills_l1_for_no_longer_than_l2_has_left(clock) -> None:
    l1, l2, store = tiers(clock, l1_ttl=30)
    await l2.set("short", b"s", ttl=10)
    await l2.set("long", b"l", ttl=100)
    await l2.set("forever", b"f")
    assert await store.get_many(["short", "long"]) == [b"s", b"l"]
    assert await store.get("forever") == b"f"
    assert await l1.ttl("short") == pytest.approx(10)  # L2 had 10 s left: L1 must not outlive it
    assert await l1.ttl("long") == pytest.approx(30)  # capped by l1_ttl
    assert await l1.ttl("forever") == pytest.approx(30)
    clock.advance(10)
    assert await store.get("short") is None  # expired in both tiers at the same moment
    assert store.stats.l2_hits == 3


async def test_l1_hit_does_not_touch_l2(clock) -> None:
    _l1, l2, store = tiers(clock)
    await store.set("k", b"v", ttl=60)
    await l2.delete("k")
    assert await store.get("k") == b"v"
    assert store.stats.l1_hits == 1


async def test_l1_ttl_none_keeps_l2_expiry(clock) -> None:
    l1, _l2, store = tiers(clock, l1_ttl=None)
    await store.set("k", b"v", ttl=500)
    assert await l1.ttl("k") == pytest.approx(500)
    await store.set("p", b"v")
    assert await l1.ttl("p") is None


async def test_writes_deletes_and_clears_reach_both_tiers(clock) -> None:
    l1, l2, store = tiers(clock)
    await store.set_many({"ns:a": b"1", "ns:b": b"2", "other": b"3"}, ttl=100)
    assert await l1.get_many(["ns:a", "ns:b", "other"]) == [b"1", b"2", b"3"]
    assert await l2.ttl("ns:a") == pytest.approx(100)
    assert await l1.ttl("ns:a") == pytest.approx(30)
    assert await store.ttl("ns:a") == pytest.approx(100)  # L2 is the source of truth
    assert await store.size() == 3
    assert await store.delete("other") is True
    assert not await l1.exists("other")
    assert not await l2.exists("other")
    assert await store.clear("ns") == 2
    assert await l1.size() == 0
    assert await l2.size() == 0


async def test_dead_l2_never_loses_an_l1_hit(clock) -> None:
    l1 = MemoryStore(max_entries=100, clock=clock)
    dead = RedisStore(CLOSED_PORT_URL, prefix="cptest:tiered:", timeout=2, retries=0)
    store = TieredStore(l1, dead, l1_ttl=30)
    await l1.set("hit", b"v")
    assert await store.get("hit") == b"v"
    assert await store.get_many(["hit", "miss"]) == [b"v", None]  # partial L1 hits survive the L2 failure
    assert store.stats.l2_errors == 1
    with pytest.raises(StoreError):
        await store.get("miss")  # no L1 hit to save: the failure is visible (GuardedStore turns it into a miss)
    with pytest.raises(StoreError):
        await store.set("new", b"v")
    assert await l1.get("new") == b"v"  # L1 was written first
    await store.close()


async def test_guarded_l2_makes_l2_failures_misses(clock) -> None:
    l1 = MemoryStore(max_entries=100, clock=clock)
    store = TieredStore(l1, GuardedStore(RedisStore(CLOSED_PORT_URL, prefix="cptest:tiered:", retries=0)))
    await store.set("k", b"v")  # L2 write dropped, L1 written
    assert await store.get("k") == b"v"
    assert await store.get("other") is None
    await store.close()


def test_bad_l1_ttl_is_refused(clock) -> None:
    with pytest.raises(ValueError, match="l1_ttl: expected seconds > 0"):
        TieredStore(MemoryStore(max_entries=1), MemoryStore(max_entries=1), l1_ttl=0)


@pytest.mark.redis
async def test_over_real_redis_l1_never_outlives_the_redis_entry(redis_url, redis_prefix) -> None:
    l1 = MemoryStore(max_entries=100)
    async with RedisStore(redis_url, prefix=redis_prefix) as l2:
        store = TieredStore(l1, l2, l1_ttl=300)
        raw = redis.Redis.from_url(redis_url)
        raw.set(f"{redis_prefix}a", b"1", px=20_000)  # written by "another process"
        raw.set(f"{redis_prefix}b", b"2")
        raw.close()
        assert await store.get_many(["a", "b", "c"]) == [b"1", b"2", None]
        left = await l1.ttl("a")
        assert left is not None
        assert 0 < left <= 20
        assert await l1.ttl("b") == pytest.approx(300, abs=1)
        assert await store.get("a") == b"1"
        assert store.stats.l1_hits == 1
        assert store.stats.l2_hits == 2
