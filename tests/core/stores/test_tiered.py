"""TieredStore: L1 in front of L2, TTL-respecting fills, and L2 failures that never lose an L1 hit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import pytest
import redis

from cachepoint.core.breaker import GuardedStore
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import CacheStore, MemoryStore, RedisStore, StoreError, TieredStore

T = TypeVar("T")

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


# -- a write that lands between an L2 read and the L1 fill -------------------------------------------------------


class PausingRedisStore(RedisStore):
    """The real RedisStore, whose reads (once Redis has answered) wait for the test before returning: this holds
    open the moment between TieredStore's L2 read and its L1 fill, so a concurrent write lands exactly there."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.paused = False
        self.answered = asyncio.Event()
        self.resume = asyncio.Event()

    async def _hold(self) -> None:
        if self.paused:
            self.answered.set()
            await self.resume.wait()

    async def get_with_ttl(self, key: str) -> tuple[bytes | None, float | None]:
        result = await super().get_with_ttl(key)
        await self._hold()
        return result

    async def get_many_with_ttl(self, keys: Sequence[str]) -> list[tuple[bytes | None, float | None]]:
        result = await super().get_many_with_ttl(keys)
        await self._hold()
        return result


@pytest.fixture
async def paused_tiers(redis_url, redis_prefix):
    l1 = MemoryStore(max_entries=100)
    l2 = PausingRedisStore(redis_url, prefix=redis_prefix)
    yield l1, l2, TieredStore(l1, l2, l1_ttl=300)
    await l2.close()


async def race(l2: PausingRedisStore, read: Awaitable[T], write: Callable[[], Awaitable[object]]) -> T:
    """Start ``read``; once Redis has answered it (and before L1 is filled), run ``write`` to the end; then let
    the read finish."""
    l2.paused = True
    task = asyncio.ensure_future(read)
    await l2.answered.wait()
    await write()
    l2.paused = False
    l2.resume.set()
    return await task


@pytest.mark.redis
async def test_a_delete_during_an_l2_read_is_not_undone_by_the_fill(paused_tiers) -> None:
    l1, l2, store = paused_tiers
    await l2.set("k", b"old")
    assert await race(l2, store.get("k"), lambda: store.delete("k")) == b"old"  # read before the delete
    assert await l1.get("k") is None
    assert await store.get("k") is None  # not resurrected


@pytest.mark.redis
async def test_a_set_during_an_l2_read_is_not_overwritten_by_the_fill(paused_tiers) -> None:
    _l1, l2, store = paused_tiers
    await l2.set("k", b"old")
    await race(l2, store.get("k"), lambda: store.set("k", b"new"))
    assert await store.get("k") == b"new"
    assert await l2.get("k") == b"new"


@pytest.mark.redis
async def test_get_many_fills_only_keys_nobody_wrote_meanwhile(paused_tiers) -> None:
    l1, l2, store = paused_tiers
    await l2.set_many({"a": b"old a", "b": b"old b"})
    assert await race(l2, store.get_many(["a", "b"]), lambda: store.delete("a")) == [b"old a", b"old b"]
    assert await l1.get_many(["a", "b"]) == [None, b"old b"]
    assert await store.get("a") is None


@pytest.mark.redis
async def test_a_clear_during_an_l2_read_is_not_undone_by_the_fill(paused_tiers) -> None:
    l1, l2, store = paused_tiers
    await l2.set_many({"chat:1": b"old", "other:1": b"keep"})
    await race(l2, store.get_many(["chat:1", "other:1"]), lambda: store.clear("chat"))
    assert await store.get("chat:1") is None
    assert await l1.get("other:1") == b"keep"


@pytest.mark.redis
async def test_response_cache_invalidation_during_an_l2_read_stays_invalidated(paused_tiers) -> None:
    l1, l2, store = paused_tiers
    cache = ResponseCache(store, CachePolicy("chat"))
    request = {"model": "m", "messages": [{"role": "user", "content": "Price of the pro plan?"}], "temperature": 0}
    answers = iter(["$10", "$12"])

    async def call() -> dict[str, str]:
        return {"text": next(answers)}

    assert (await cache.get_or_call(request, call)).value == {"text": "$10"}
    await l1.clear()  # this process's L1 copy has gone (expired, evicted, or another process wrote L2)
    stale = await race(l2, cache.get_or_call(request, call), lambda: cache.invalidate(request=request))
    assert stale.value == {"text": "$10"}  # read before the invalidation: that is fine
    fresh = await cache.get_or_call(request, call)
    assert fresh.source.value == "miss"
    assert fresh.value == {"text": "$12"}
