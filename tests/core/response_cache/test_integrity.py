"""Integrity on the hit path: an in-process entry is verified once, and anything that came from elsewhere — an L2
tier, another writer, another codec — is checked like any other entry. Counters stay exact."""

from __future__ import annotations

from typing import Any

import pytest

from cachepoint.core.breaker import GuardedStore
from cachepoint.core.codec import Codec
from cachepoint.core.response_cache import CachePolicy, ResponseCache, Source
from cachepoint.core.stores import MemoryStore, TieredStore


def corrupted(raw: bytes) -> bytes:
    """``raw`` with one digit of its payload changed: the same length, still parseable JSON; only the CRC (or
    signature) can tell."""
    assert b"1000" in raw
    return raw.replace(b"1000", b"1001")


async def test_a_local_tier_filled_from_a_corrupt_shared_entry_is_still_checked(helpers: Any) -> None:
    shared = MemoryStore(max_entries=100)  # stands in for Redis: bytes that came from outside this process
    writer = ResponseCache(shared, CachePolicy("chat"))
    key = (await writer.get_or_call(helpers.request(), helpers.Upstream({"tokens": 1000}))).key
    raw = await shared.get(key)
    assert raw is not None
    await shared.set(key, corrupted(raw))

    l1 = MemoryStore(max_entries=100)
    tiered = ResponseCache(TieredStore(l1, GuardedStore(shared), l1_ttl=60), CachePolicy("chat"))
    result = await tiered.get_or_call(helpers.request(), helpers.Upstream({"tokens": 7}))
    assert (result.source, result.value) == (Source.MISS, {"tokens": 7})
    assert tiered.stats().bad_entries == {"corrupt": 1}

    # The tiered store copied the corrupt bytes into L1 before the cache judged them (the good answer has since
    # replaced them). Put them back: a cache reading that same MemoryStore directly checks them too, although
    # it skips re-checking entries it has verified itself.
    await l1.set(key, corrupted(raw))
    direct = ResponseCache(l1, CachePolicy("chat"))
    again = await direct.get_or_call(helpers.request(), helpers.Upstream({"tokens": 8}))
    assert (again.source, again.value) == (Source.MISS, {"tokens": 8})
    assert direct.stats().bad_entries == {"corrupt": 1}
    assert (await direct.get_or_call(helpers.request(), helpers.Upstream())).value == {"tokens": 8}


async def test_a_caller_overwriting_a_verified_entry_is_checked_again(helpers: Any) -> None:
    store = MemoryStore(max_entries=100)
    cache = ResponseCache(store, CachePolicy("chat"))
    key = (await cache.get_or_call(helpers.request(), helpers.Upstream({"tokens": 1000}))).key
    for _ in range(3):
        assert (await cache.get_or_call(helpers.request(), helpers.Upstream())).hit  # verified, then trusted
    raw = await store.get(key)
    assert raw is not None
    await store.set(key, corrupted(raw))
    result = await cache.get_or_call(helpers.request(), helpers.Upstream({"tokens": 2}))
    assert (result.source, result.value) == (Source.MISS, {"tokens": 2})
    assert cache.stats().bad_entries == {"corrupt": 1}


async def test_caches_with_other_keys_never_trust_each_others_verification(helpers: Any) -> None:
    store = MemoryStore(max_entries=100)
    ours = ResponseCache(store, CachePolicy("chat"), codec=Codec(signing_keys=b"a" * 32))
    theirs = ResponseCache(store, CachePolicy("chat"), codec=Codec(signing_keys=b"b" * 32))
    await ours.get_or_call(helpers.request(), helpers.Upstream({"who": "ours"}))
    assert (await ours.get_or_call(helpers.request(), helpers.Upstream())).hit  # verified by our codec
    result = await theirs.get_or_call(helpers.request(), helpers.Upstream({"who": "theirs"}))
    assert (result.source, result.value) == (Source.MISS, {"who": "theirs"})
    assert theirs.stats().tampered == 1


async def test_codec_and_cache_counters_agree_exactly(helpers: Any) -> None:
    codec = Codec()
    store = MemoryStore(max_entries=100)
    cache = ResponseCache(store, CachePolicy("chat"), codec=codec)
    other = ResponseCache(store, CachePolicy("docs"), codec=codec)  # two caches, one codec
    upstream = helpers.Upstream({"tokens": 1000})
    key = (await cache.get_or_call(helpers.request(), upstream)).key  # a miss: nothing to decode
    for _ in range(5):
        await cache.get_or_call(helpers.request(), upstream)  # 5 hits
    await other.get_or_call(helpers.request("other"), upstream)
    await other.get_or_call(helpers.request("other"), upstream)  # 1 hit
    raw = await store.get(key)
    assert raw is not None
    await store.set(key, corrupted(raw))
    await cache.get_or_call(helpers.request(), upstream)  # 1 corrupt, then stored again
    await store.set(key, b"\x80\x04pickled")
    await cache.get_or_call(helpers.request(), upstream)  # 1 pickle
    assert cache.stats().hits == 5
    assert other.stats().hits == 1
    assert cache.stats().bad_entries == {"corrupt": 1, "pickle": 1}
    counts = codec.counts
    assert (counts["ok"], counts["corrupt"], counts["pickle"]) == (6, 1, 1)
    assert sum(counts.values()) == 8


async def test_the_store_and_codec_a_cache_uses_are_fixed(helpers: Any) -> None:
    store = MemoryStore(max_entries=10)
    cache = ResponseCache(store, CachePolicy("chat"))
    assert cache.store is store  # an in-process store is not guarded
    with pytest.raises(AttributeError):
        cache.store = MemoryStore(max_entries=10)  # type: ignore[misc]  # the hit path is set up for this store
    with pytest.raises(AttributeError):
        cache.codec = Codec()  # type: ignore[misc]  # its counters are bound to this codec
