"""LangChain's own standard suites for caches (`langchain-tests`) on `CachepointLLMCache` over a `MemoryStore` and
over a `RedisStore` on a real Redis server."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator

import pytest
from langchain_core.caches import BaseCache
from langchain_tests.integration_tests import AsyncCacheTestSuite, SyncCacheTestSuite

from cachepoint.core.bridge import run_sync
from cachepoint.core.stores import MemoryStore, RedisStore
from cachepoint.langchain import CachepointLLMCache

pytestmark = pytest.mark.filterwarnings("ignore:The function `loads` is in beta")


class TestMemorySync(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self) -> BaseCache:
        return CachepointLLMCache(MemoryStore(max_entries=1000))


class TestMemoryAsync(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self) -> BaseCache:
        return CachepointLLMCache(MemoryStore(max_entries=1000))


class TestRedisSync(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self, redis_url: str, redis_prefix: str) -> Iterator[BaseCache]:
        store = RedisStore(redis_url, prefix=redis_prefix)
        yield CachepointLLMCache(store)
        run_sync(store.close)


class TestRedisAsync(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self, redis_url: str, redis_prefix: str) -> AsyncIterator[BaseCache]:
        store = RedisStore(redis_url, prefix=redis_prefix)
        yield CachepointLLMCache(store)
        await store.close()


def test_the_suites_ran_against_real_classes() -> None:
    # A renamed suite would leave the classes above empty and this file vacuous.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names = {n for n in dir(SyncCacheTestSuite) if n.startswith("test_")}
    assert {"test_update_cache", "test_clear_cache", "test_cache_hit"} <= names
