"""The response cache against the DistributedLock protocol itself (Redis-backed behaviour is in test_redis.py)."""

from __future__ import annotations

from typing import Any

from cachepoint.core.response_cache import CachePolicy, DistributedLock, ResponseCache, Source
from cachepoint.core.stores import MemoryStore


class FinishedJustBefore:
    """A lock granted right after another process stored its result and released: the race between our
    lookup and our acquire."""

    def __init__(self, cache_box: list[ResponseCache], request: dict[str, Any]) -> None:
        self.cache_box = cache_box
        self.request = request
        self.released: list[str] = []

    async def acquire(self, key: str, lease: float) -> str | None:
        other = ResponseCache(self.cache_box[0].backend, self.cache_box[0].policy)

        async def elsewhere() -> dict[str, str]:
            return {"content": "from the other process"}

        await other.get_or_call(self.request, elsewhere)
        return "token-1"

    async def renew(self, key: str, token: str, lease: float) -> bool:
        return True

    async def release(self, key: str, token: str) -> bool:
        self.released.append(token)
        return True


class Broken:
    async def acquire(self, key: str, lease: float) -> str | None:
        raise ConnectionError("lock backend down")

    async def renew(self, key: str, token: str, lease: float) -> bool:
        raise ConnectionError("lock backend down")

    async def release(self, key: str, token: str) -> bool:
        raise ConnectionError("lock backend down")


async def test_a_result_stored_just_before_we_got_the_lock_is_used(helpers: Any) -> None:
    box: list[ResponseCache] = []
    lock = FinishedJustBefore(box, helpers.request())
    assert isinstance(lock, DistributedLock)
    cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"), lock=lock)
    box.append(cache)
    upstream = helpers.Upstream()
    result = await cache.get_or_call(helpers.request(), upstream)
    assert result.source is Source.JOINED
    assert result.value == {"content": "from the other process"}
    assert upstream.calls == 0
    assert lock.released == ["token-1"]


async def test_a_broken_lock_never_fails_the_call(helpers: Any) -> None:
    cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"), lock=Broken())
    upstream = helpers.Upstream()
    assert (await cache.get_or_call(helpers.request(), upstream)).source is Source.MISS
    assert (await cache.get_or_call(helpers.request(), upstream)).hit
    assert cache.stats().lock_errors == 1
    assert cache.sync.get_or_call(helpers.request("sync"), upstream.sync).source is Source.MISS
    assert cache.stats().lock_errors == 2
