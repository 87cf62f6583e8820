"""A user's own store with exactly the methods docs/guides/stores.md documents works behind every wrapper.

The documented core is get / set / delete / exists / get_many / set_many / clear / close. ``ttl``, ``size`` and
``async with`` are optional: a store without them is still a `CacheStore`, and the wrappers answer for them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import pytest

from cachepoint.core.breaker import GuardedStore
from cachepoint.core.response_cache import CachePolicy, ResponseCache
from cachepoint.core.stores import CacheStore, MemoryStore, SyncStore, TieredStore


class DictStore:
    """A user's store: a dict, the eight documented methods and nothing else (no ttl, size, async with)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.closed = False

    async def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.data[key] = value

    async def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None

    async def exists(self, key: str) -> bool:
        return key in self.data

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.data.get(k) for k in keys]

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        self.data.update(items)

    async def clear(self, namespace: str | None = None) -> int:
        doomed = [k for k in self.data if namespace is None or k.startswith(f"{namespace}:")]
        for key in doomed:
            del self.data[key]
        return len(doomed)

    async def close(self) -> None:
        self.closed = True


def test_the_documented_methods_make_a_cache_store() -> None:
    assert isinstance(DictStore(), CacheStore)
    assert not isinstance(object(), CacheStore)


async def test_behind_guarded_store() -> None:
    user = DictStore()
    async with GuardedStore(user) as store:
        await store.set("ns:a", b"1", ttl=30)
        assert await store.get("ns:a") == b"1"
        assert await store.get_many(["ns:a", "ns:b"]) == [b"1", None]
        assert await store.exists("ns:a")
        assert await store.clear("ns") == 1
        assert store.stats.errors == 0
    assert user.closed


async def test_as_either_tier_of_a_tiered_store() -> None:
    l1 = MemoryStore(max_entries=10)
    user_l2 = DictStore()
    async with TieredStore(l1, user_l2, l1_ttl=30) as store:
        user_l2.data["ns:k"] = b"from L2"
        assert await store.get("ns:k") == b"from L2"  # an L2 hit without a ttl to cap the L1 copy
        left = await l1.ttl("ns:k")
        assert left is not None
        assert 0 < left <= 30
        assert await store.get_many(["ns:k", "ns:x"]) == [b"from L2", None]
        await store.set("ns:new", b"v", ttl=60)
        assert user_l2.data["ns:new"] == b"v"
        assert await store.delete("ns:k")
        assert await store.clear("ns") == 1
    assert user_l2.closed

    user_l1 = DictStore()
    async with TieredStore(user_l1, MemoryStore(max_entries=10)) as store:
        await store.set("k", b"v", ttl=60)
        assert await store.get("k") == b"v"
        user_l1.data.clear()
        assert await store.get("k") == b"v"  # refilled from L2
        assert user_l1.data["k"] == b"v"
        left = await store.ttl("k")
        assert left is not None
        assert 0 < left <= 60


def test_behind_sync_store() -> None:
    user = DictStore()
    with SyncStore(user) as store:
        store.set("k", b"v")
        assert store.get("k") == b"v"
        assert store.get_many(["k", "x"]) == [b"v", None]
        assert store.exists("k")
        assert store.delete("k")
        with pytest.raises(NotImplementedError, match="DictStore has no ttl"):
            store.ttl("k")
    assert user.closed


async def test_behind_a_response_cache() -> None:
    user = DictStore()
    cache = ResponseCache(user, CachePolicy("chat"))
    calls = 0

    async def call() -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"text": "Paris"}

    request = {"model": "m", "messages": [{"role": "user", "content": "Capital of France?"}], "temperature": 0}
    first = await cache.get_or_call(request, call)
    second = await cache.get_or_call(request, call)
    assert (first.source.value, second.source.value) == ("miss", "hit")
    assert second.value == {"text": "Paris"}
    assert calls == 1
    assert await cache.clear() >= 1
    assert not any(k.startswith("chat:") for k in user.data)


async def test_a_missing_optional_method_behind_a_guard_is_one_warning_and_a_stat(caplog) -> None:
    store = GuardedStore(DictStore())
    await store.set("k", b"v")
    with caplog.at_level(logging.WARNING, logger="cachepoint"):
        assert await store.ttl("k") is None
        assert await store.ttl("k") is None
        assert await store.size() == 0
    assert store.stats.unsupported == 3
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 2, messages
    assert any("DictStore has no ttl()" in m for m in messages)
    assert any("DictStore has no size()" in m for m in messages)
