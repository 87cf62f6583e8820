"""Async cache stores: the `CacheStore` protocol, its implementations, and `SyncStore` for sync callers.

>>> from cachepoint.core.stores import MemoryStore, SyncStore
>>> SyncStore(MemoryStore(max_entries=10)).get("missing") is None
True
"""

from cachepoint.core.stores.aiocache import AiocacheStore
from cachepoint.core.stores.base import CacheStore, StoreError
from cachepoint.core.stores.memory import MemoryStore
from cachepoint.core.stores.redis import RedisStore
from cachepoint.core.stores.sync import SyncStore
from cachepoint.core.stores.tiered import TieredStore

__all__ = ["AiocacheStore", "CacheStore", "MemoryStore", "RedisStore", "StoreError", "SyncStore", "TieredStore"]
