"""Response cache: exact replay of repeatable LLM calls and streams, over any `CacheStore`, never breaking a call.

>>> import asyncio
>>> from cachepoint.core.stores import MemoryStore
>>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
>>> cache = ResponseCache(MemoryStore(max_entries=10_000), CachePolicy("chat", ttl=3600))
>>> async def ask_model() -> dict:
...     return {"role": "assistant", "content": "Paris"}
>>> request = {"model": "m", "messages": [{"role": "user", "content": "Capital of France?"}], "temperature": 0}
>>> result = asyncio.run(cache.get_or_call(request, ask_model))
>>> result.value["content"], result.hit
('Paris', False)

See ``docs/guides/response-cache.md`` for policies, streams, tags, tenants, stats and sync use.
"""

from cachepoint.core.response_cache.cache import ResponseCache, WarmReport
from cachepoint.core.response_cache.decorators import CachedModel, cached
from cachepoint.core.response_cache.lock import DistributedLock, RedisLock
from cachepoint.core.response_cache.policy import CachePolicy, is_deterministic, sampling_reason
from cachepoint.core.response_cache.result import CacheResult, Source
from cachepoint.core.response_cache.stats import StatsSnapshot
from cachepoint.core.response_cache.stream import CachedStream, StreamInterruptedError
from cachepoint.core.response_cache.sync import SyncCachedStream, SyncResponseCache

__all__ = [
    "CachePolicy",
    "CacheResult",
    "CachedModel",
    "CachedStream",
    "DistributedLock",
    "RedisLock",
    "ResponseCache",
    "Source",
    "StatsSnapshot",
    "StreamInterruptedError",
    "SyncCachedStream",
    "SyncResponseCache",
    "WarmReport",
    "cached",
    "is_deterministic",
    "sampling_reason",
]
