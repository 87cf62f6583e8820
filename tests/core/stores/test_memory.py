"""MemoryStore: bounds, eviction order, TTL, namespaces, input errors — expected values worked out by hand."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

from cachepoint.core.stores import CacheStore, MemoryStore, StoreError


async def test_is_a_cache_store() -> None:
    assert isinstance(MemoryStore(max_entries=1), CacheStore)


async def test_roundtrip_delete_exists() -> None:
    store = MemoryStore(max_entries=10)
    assert await store.get("a") is None
    await store.set("a", b"1")
    assert await store.get("a") == b"1"
    assert await store.exists("a")
    assert await store.delete("a") is True
    assert await store.delete("a") is False
    assert not await store.exists("a")
    await store.set("b", bytearray(b"xy"))
    assert await store.get("b") == b"xy"


async def test_ttl_expires_on_the_injected_clock(clock) -> None:
    store = MemoryStore(max_entries=10, clock=clock)
    await store.set("t", b"v", ttl=10)
    await store.set("forever", b"v")
    clock.advance(9.5)
    assert await store.get("t") == b"v"
    assert await store.ttl("t") == pytest.approx(0.5)
    assert await store.ttl("forever") is None
    assert await store.ttl("absent") is None
    clock.advance(0.5)  # exactly at expiry: gone
    assert await store.get("t") is None
    assert not await store.exists("t")
    assert await store.size() == 1
    assert store.stats.expirations == 1


async def test_non_positive_ttl_removes_the_key(clock) -> None:
    store = MemoryStore(max_entries=10, clock=clock)
    await store.set("k", b"old")
    await store.set("k", b"new", ttl=0)
    assert await store.get("k") is None
    await store.set("k", b"x", ttl=-1)
    assert await store.size() == 0


async def test_lru_evicts_least_recently_used() -> None:
    store = MemoryStore(max_entries=3, max_bytes=None, policy="lru")
    for key in "abc":
        await store.set(key, b"v")
    assert await store.get("a") == b"v"  # order now b, c, a
    await store.set("d", b"v")  # evicts b
    assert await store.get_many(["a", "b", "c", "d"]) == [b"v", None, b"v", b"v"]
    await store.set("c", b"w")  # rewrite moves c to the end: order a, d, c
    await store.set("e", b"v")  # evicts a
    assert await store.get_many(["a", "c", "d", "e"]) == [None, b"w", b"v", b"v"]
    assert store.stats.evictions == 2


async def test_lfu_evicts_least_frequently_used_oldest_first() -> None:
    store = MemoryStore(max_entries=3, max_bytes=None, policy="lfu")
    for key in "abc":
        await store.set(key, b"v")
    for _ in range(3):
        await store.get("a")  # a: 4 uses (insert + 3 reads)
    await store.get("b")  # b: 2, c: 1
    await store.set("d", b"v")  # evicts c (least used)
    assert not await store.exists("c")
    await store.set("e", b"v")  # d and ... only d has 1 use: evicts d
    assert not await store.exists("d")
    await store.get("e")  # e: 2, b: 2 -> b reached 2 first
    await store.set("f", b"v")  # f: 1 is not in yet; victim among a(4), b(2), e(2) is b
    assert [await store.exists(k) for k in "abef"] == [True, False, True, True]


async def test_byte_bound_counts_key_and_value() -> None:
    store = MemoryStore(max_entries=None, max_bytes=20)
    await store.set("a", b"123456789")  # 1 + 9 = 10 bytes
    await store.set("b", b"123456789")  # 20 bytes: full
    assert store.stats.bytes == 20
    await store.set("c", b"123456789")  # evicts a
    assert await store.get_many(["a", "b", "c"]) == [None, b"123456789", b"123456789"]
    await store.set("é", b"12345678")  # "é" is 2 bytes in UTF-8: 10 bytes, evicts b
    assert store.stats.bytes == 20
    assert not await store.exists("b")


async def test_oversized_value_is_refused_and_removes_the_old_one() -> None:
    store = MemoryStore(max_entries=None, max_bytes=20)
    await store.set("big", b"small")
    await store.set("big", b"x" * 18)  # 3 + 18 = 21 > 20
    assert await store.get("big") is None
    assert store.stats.rejected == 1
    assert store.stats.bytes == 0


async def test_expired_entries_go_before_live_ones_are_evicted(clock) -> None:
    store = MemoryStore(max_entries=2, policy="lfu", clock=clock)
    await store.set("hot", b"v", ttl=5)
    for _ in range(10):
        await store.get("hot")  # a frequent entry that then expires
    await store.set("cold", b"v")
    clock.advance(6)
    await store.set("new", b"v")
    assert await store.get_many(["hot", "cold", "new"]) == [None, b"v", b"v"]
    assert store.stats.evictions == 0
    assert store.stats.expirations == 1


async def test_clear_namespace_is_a_prefix_with_separator() -> None:
    store = MemoryStore(max_entries=10)
    await store.set_many({"chat:1": b"a", "chat:2": b"b", "chatbot:1": b"c", "other": b"d"})
    assert await store.clear("chat") == 2
    assert await store.get_many(["chat:1", "chat:2", "chatbot:1", "other"]) == [None, None, b"c", b"d"]
    assert await store.clear() == 2
    assert await store.size() == 0


async def test_set_many_with_ttl(clock) -> None:
    store = MemoryStore(max_entries=10, clock=clock)
    await store.set_many({"a": b"1", "b": b"2"}, ttl=3)
    clock.advance(3)
    assert await store.get_many(["a", "b"]) == [None, None]


async def test_closed_store_raises_store_error() -> None:
    async with MemoryStore(max_entries=10) as store:
        await store.set("a", b"1")
    with pytest.raises(StoreError, match="closed"):
        await store.get("a")
    await store.close()  # idempotent


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s.set("k", "text"), TypeError, "value: expected bytes, got str"),
        (lambda s: s.set(1, b"v"), TypeError, "key: expected str, got int"),
        (lambda s: s.set("k", b"v", ttl=float("nan")), ValueError, "ttl: expected seconds, got NaN"),
        (lambda s: s.set("k", b"v", ttl="10"), TypeError, "ttl: expected seconds"),
        (lambda s: s.get_many("abc"), TypeError, "keys: expected a sequence of str"),
        (lambda s: s.set_many({"k": 1}), TypeError, r"items\['k'\]: expected bytes"),
        (lambda s: s.clear(""), ValueError, "namespace: expected a non-empty namespace"),
    ],
)
async def test_bad_input_names_the_field(call, error, message) -> None:
    with pytest.raises(error, match=message):
        await call(MemoryStore(max_entries=10))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_entries": 0}, "max_entries: expected a positive int"),
        ({"max_bytes": -1}, "max_bytes: expected a positive int"),
        ({"max_entries": None, "max_bytes": None}, "at least one bound"),
        ({"policy": "fifo"}, "policy: expected 'lru' or 'lfu'"),
    ],
)
def test_bad_configuration_names_the_field(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        MemoryStore(**kwargs)


@pytest.mark.parametrize("policy", ["lru", "lfu"])
def test_threads_and_loops_share_one_store_within_bounds(policy) -> None:
    """Eight threads, each running its own event loop, hammer one store; the bounds hold throughout."""
    store = MemoryStore(max_entries=50, max_bytes=2_000, policy=policy)
    errors: list[BaseException] = []
    over_bounds: list[tuple[int, int]] = []

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(2_000):
            key = f"k{rng.randrange(200)}"
            op = rng.random()
            if op < 0.5:
                await store.set(key, bytes(rng.randrange(60)), ttl=rng.choice([None, 0.001, 60]))
            elif op < 0.8:
                value = await store.get(key)
                assert value is None or value == bytes(len(value))
            elif op < 0.9:
                await store.delete(key)
            else:
                await store.get_many([key, f"k{rng.randrange(200)}"])
            stats = store.stats
            if stats.entries > 50 or stats.bytes > 2_000:
                over_bounds.append((stats.entries, stats.bytes))

    def run(seed: int) -> None:
        try:
            asyncio.run(worker(seed))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert over_bounds == []
    assert store.stats.hits + store.stats.misses > 0


async def test_get_entry_is_a_synchronous_read_with_a_note_per_write(clock) -> None:
    store = MemoryStore(max_entries=2, clock=clock)
    await store.set("a", b"1", ttl=10)
    await store.set("b", b"2")
    entry = store.get_entry("a")
    assert entry is not None
    assert (entry.value, entry.note) == (b"1", None)
    entry.note = "verified"
    again = store.get_entry("a")
    assert again is entry  # the same entry until the key is written again
    assert again is not None
    assert again.note == "verified"
    await store.set("c", b"3")  # "a" was read last, so "b" is the LRU victim
    assert await store.get("b") is None
    await store.set("a", b"1")
    rewritten = store.get_entry("a")
    assert rewritten is not None
    assert rewritten.note is None  # a write makes a new entry: the note is gone
    await store.set("t", b"x", ttl=5)
    clock.advance(5)
    assert store.get_entry("t") is None  # expired
    assert store.stats.hits == 3
    with pytest.raises(TypeError, match="key: expected str"):
        store.get_entry(1)  # type: ignore[arg-type]
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get_entry("a")
