"""`AiocacheStore`: any aiocache 0.12 cache (memory, Redis, Memcached, a user's configured cache) as a `CacheStore`.

aiocache pitfalls this adapter steers around (read from aiocache 0.12.3):

- ``clear()`` without a namespace is ``FLUSHDB`` on Redis and ``flush_all`` on Memcached, and ``clear(namespace)``
  on Redis uses the blocking ``KEYS``. The adapter never calls aiocache's ``clear``: it deletes by SCAN + UNLINK
  on the Redis client, by prefix on the memory backend; on Memcached (which cannot list keys) it removes nothing
  and says so once.
- Serializers: values are bytes and must come back as the same bytes. Every call passes identity
  ``dumps_fn``/``loads_fn``; a Redis or Memcached cache must also not *decode* what it reads (its serializer's
  ``encoding`` must be ``None``), which the constructor checks.
- ``close()`` on the Redis backend calls the deprecated ``Redis.close()``; the adapter calls ``aclose()``.
- The Redis and Memcached clients' connections, and the memory backend's expiry timers, belong to the loop that
  made them. The store pins the cache to one loop at a time and forwards calls from other running loops to it;
  when that loop ends (``asyncio.run`` returns), its connections are closed on it and the next loop to call
  takes the cache over: Memcached gets a fresh aiomcache client (its pool's queue is bound to the loop that
  waited on it), Redis reconnects its disconnected pool, and the memory backend's pending expiry timers are
  set again on the new loop (see ``_affinity``).
- TTLs: Memcached takes whole seconds (rounded up here); Redis and memory take float seconds (ms precision).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from cachepoint.core.stores._affinity import Closer, LoopAffinity
from cachepoint.core.stores._checks import check_items, check_key, check_keys, check_namespace, check_ttl, check_value
from cachepoint.core.stores._unsupported import Unsupported
from cachepoint.core.stores.base import ClosesOnExit, StoreError

__all__ = ["AiocacheStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
_SCAN_COUNT = 500


def _same(value: Any) -> Any:
    return value


class AiocacheStore(ClosesOnExit):
    """Adapts an aiocache cache (``SimpleMemoryCache``, ``RedisCache``, ``MemcachedCache``...) to `CacheStore`.

    Keys go through the cache's own key builder (its ``namespace`` is the prefix). ``clear`` and ``size`` work on
    the memory and Redis backends (by prefix). Memcached cannot enumerate keys: there ``size`` and ``ttl`` raise
    ``NotImplementedError`` (a `GuardedStore <cachepoint.core.breaker.GuardedStore>` answers ``0`` / ``None``
    and warns once), and ``clear`` removes nothing, returns 0 and warns once. ``timeout`` bounds calls forwarded
    from another event loop; the cache's own ``timeout`` bounds each operation. ``close`` closes the cache unless
    ``close_cache=False``.

    For Redis, prefer `RedisStore` (aiocache's Redis backend is being replaced upstream); this adapter is for
    Memcached and for reusing an existing aiocache setup.

    >>> import asyncio
    >>> from aiocache import SimpleMemoryCache
    >>> async def demo() -> bytes | None:
    ...     async with AiocacheStore(SimpleMemoryCache(namespace="app:")) as store:
    ...         await store.set("chat:1", b"hi", ttl=30)
    ...         return await store.get("chat:1")
    >>> asyncio.run(demo())
    b'hi'
    """

    def __init__(self, cache: Any, *, close_cache: bool = True, timeout: float | None = 5.0) -> None:
        for method in ("get", "set", "multi_get", "multi_set", "delete", "exists", "build_key"):
            if not callable(getattr(cache, method, None)):
                raise TypeError(f"cache: expected an aiocache cache, got {type(cache).__name__} (no {method}())")
        self._cache = cache
        self._backend = str(getattr(cache, "NAME", "")).lower()
        serializer = getattr(cache, "serializer", None)
        encoding = getattr(serializer, "encoding", None)
        if self._backend != "memory" and encoding is not None:
            raise ValueError(
                f"cache: {type(cache).__name__} decodes what it reads as {encoding!r} (its serializer is "
                f"{type(serializer).__name__}), which corrupts bytes; create it with "
                "serializer=aiocache.serializers.NullSerializer(encoding=None)"
            )
        builder = getattr(cache.build_key, "__func__", None)
        self._prefixes_work = builder is not None and builder is getattr(type(cache), "_build_key", None)
        self._close_cache = close_cache
        self._timeout = timeout
        self._closed = False
        self._unsupported = Unsupported(log)
        self._affinity = LoopAffinity(f"AiocacheStore({type(cache).__name__})", self._bind)

    @property
    def cache(self) -> Any:
        """The wrapped aiocache cache."""
        return self._cache

    @property
    def unsupported(self) -> dict[str, int]:
        """How many calls of each operation this cache could not do (``clear`` on Memcached), by operation."""
        return self._unsupported.counts

    # -- CacheStore ------------------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None``."""
        check_key(key)
        return _bytes(await self._run("get", lambda: self._cache.get(key, loads_fn=_same)))

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry)."""
        check_key(key)
        data = check_value(value)
        seconds = check_ttl(ttl)
        if seconds is not None and seconds <= 0:
            await self._run("set", lambda: self._cache.delete(key))
            return
        await self._run("set", lambda: self._cache.set(key, data, ttl=self._ttl(seconds), dumps_fn=_same))

    async def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it was present."""
        check_key(key)
        return bool(await self._run("delete", lambda: self._cache.delete(key)))

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value."""
        check_key(key)
        return bool(await self._run("exists", lambda: self._cache.exists(key)))

    async def ttl(self, key: str) -> float | None:
        """Seconds left (memory and Redis backends); ``NotImplementedError`` elsewhere."""
        check_key(key)
        name = self._cache.build_key(key)
        if self._backend == "redis":
            millis = await self._run("ttl", lambda: self._cache.client.pttl(name))
            return int(millis) / 1000 if int(millis) >= 0 else None
        if self._backend == "memory":

            async def remaining() -> float | None:
                if name not in self._cache._cache:
                    return None
                handle = self._cache._handlers.get(name)
                if handle is None:
                    return None
                return max(0.0, float(handle.when()) - asyncio.get_running_loop().time())

            return await self._run("ttl", remaining)
        raise NotImplementedError(f"{self!r}: the {self._backend or 'unknown'} backend cannot report a ttl")

    async def size(self) -> int:
        """Entries under the cache's namespace (memory and Redis backends); ``NotImplementedError`` elsewhere."""
        reason = self._cannot_list()
        if reason is not None:
            raise NotImplementedError(f"{self!r}: {reason}")
        prefix = self._prefix(None)
        if self._backend == "redis":
            return len(await self._run("size", lambda: self._redis_keys(prefix)))
        if self._backend == "memory":
            return await self._run("size", lambda: _async(lambda: self._memory_keys(prefix)))
        raise NotImplementedError(f"{self!r}: {self._cannot_list() or 'this backend cannot list its keys'}")

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values for ``keys`` in order, ``None`` for each miss."""
        checked = check_keys(keys)
        if not checked:
            return []
        values = await self._run("get_many", lambda: self._cache.multi_get(checked, loads_fn=_same))
        return [_bytes(v) for v in values]

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Store every item with the same ``ttl``."""
        checked = check_items(items)
        seconds = check_ttl(ttl)
        if not checked:
            return
        if seconds is not None and seconds <= 0:

            async def delete_all() -> None:
                for key in checked:
                    await self._cache.delete(key)

            await self._run("set_many", delete_all)
            return
        pairs = list(checked.items())
        await self._run("set_many", lambda: self._cache.multi_set(pairs, ttl=self._ttl(seconds), dumps_fn=_same))

    async def clear(self, namespace: str | None = None) -> int:
        """Delete the entries under ``"<namespace>:"`` (or all under the cache's namespace); returns how many.

        Never calls aiocache's own ``clear`` (FLUSHDB / KEYS on Redis). Raises ``ValueError`` when that would mean
        deleting a whole shared database (a Redis cache without a namespace, ``namespace=None``). Where keys
        cannot be listed (Memcached; a cache with a custom ``key_builder``) nothing can be deleted by namespace:
        it returns 0, logs a WARNING the first time and counts the call in `unsupported`.
        """
        namespace = check_namespace(namespace)
        reason = self._cannot_list()
        if reason is not None:
            self._unsupported.report(
                repr(self), "clear", reason, "0: nothing was removed; entries expire with their ttl"
            )
            return 0
        prefix = self._prefix(namespace)
        if self._backend == "redis":
            if not prefix:
                raise ValueError(
                    "namespace: this RedisCache has no namespace, so clear() would delete every key in the database; "
                    "give the cache a namespace or pass one to clear()"
                )

            async def unlink_all() -> int:
                keys = await self._redis_keys(prefix)
                removed = 0
                for start in range(0, len(keys), _SCAN_COUNT):
                    removed += int(await self._cache.client.unlink(*keys[start : start + _SCAN_COUNT]))
                return removed

            return await self._run("clear", unlink_all)
        if self._backend == "memory":

            async def drop() -> int:
                keys = self._memory_keys_list(prefix)
                for key in keys:
                    await self._cache.delete(key, namespace="")  # already-built keys: no second prefix
                return len(keys)

        return await self._run("clear", drop)

    async def close(self) -> None:
        """Close the cache's connections (unless ``close_cache=False``). Idempotent; later calls raise."""
        if self._closed:
            return
        self._closed = True
        if not self._close_cache:
            self._affinity.release()
            return
        try:
            await self._affinity.close(self._timeout)
        except Exception as exc:
            raise StoreError(
                f"AiocacheStore: closing {type(self._cache).__name__} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def __repr__(self) -> str:
        return f"AiocacheStore({type(self._cache).__name__}, namespace={getattr(self._cache, 'namespace', None)!r})"

    # -- internals -------------------------------------------------------------------------------------------

    async def _run(self, what: str, start: Callable[[], Awaitable[T]]) -> T:
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        try:
            return await self._affinity.run(start, self._timeout)
        except (StoreError, NotImplementedError):
            raise
        except Exception as exc:  # aiocache and its clients raise anything: one exception type for callers
            text = str(exc)  # not repr(): redis-py 8 reprs its errors without the message
            raise StoreError(f"{self!r}.{what}: {type(exc).__name__}: {text}") from exc

    def _bind(self, loop: asyncio.AbstractEventLoop, previous: asyncio.AbstractEventLoop | None) -> Closer | None:
        """Make the cache usable on ``loop``, which takes it over from ``previous`` (``None``: the first loop)."""
        cache = self._cache
        if self._backend == "memory":
            if previous is not None:
                _move_expiry_timers(cache, previous, loop)
            return None
        if self._backend == "memcached":
            if previous is not None:  # aiocache's own arguments for its aiomcache client
                cache.client = type(cache.client)(cache.endpoint, cache.port, pool_size=cache.pool_size)
            client = cache.client
            return client.close  # type: ignore[no-any-return]
        if self._backend == "redis":
            # One pool for every loop: disconnected on the loop that ends, it reconnects on the next. (redis-py 8
            # holds the pool's lock without awaiting while it hands out a connection, so the lock never gets bound
            # to one loop by a waiter.)
            return cache.client.connection_pool.disconnect  # type: ignore[no-any-return]
        return cache.close  # type: ignore[no-any-return]

    def _ttl(self, seconds: float | None) -> float | int | None:
        if seconds is None:
            return None
        if self._backend == "memcached":
            return max(1, math.ceil(seconds))  # memcached takes whole seconds
        return max(seconds, 0.001)  # redis PSETEX needs >= 1 ms

    def _cannot_list(self) -> str | None:
        """Why this cache's keys cannot be found by prefix, or ``None`` when they can."""
        if self._backend == "memcached":
            return "Memcached cannot list keys, so nothing can be found or deleted by namespace"
        if self._backend not in ("redis", "memory"):
            return f"the {self._backend or 'unknown'} backend cannot list keys"
        if not self._prefixes_work:
            return "the cache has a custom key_builder, so its keys cannot be found by prefix"
        return None

    def _prefix(self, namespace: str | None) -> str:
        built = self._cache.build_key(f"{namespace}:" if namespace else "")
        return built.decode() if isinstance(built, bytes) else str(built)

    async def _redis_keys(self, prefix: str) -> list[bytes]:
        pattern = _GLOB_SPECIAL.sub(r"\\\1", prefix) + "*"
        return list({key async for key in self._cache.client.scan_iter(match=pattern, count=_SCAN_COUNT)})

    def _memory_keys_list(self, prefix: str) -> list[str]:
        return [k for k in list(self._cache._cache) if isinstance(k, str) and k.startswith(prefix)]

    def _memory_keys(self, prefix: str) -> int:
        return len(self._memory_keys_list(prefix))


async def _async(fn: Callable[[], T]) -> T:
    return fn()


def _bytes(value: object) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    raise StoreError(f"aiocache returned {type(value).__name__}, not bytes (an entry not written by cachepoint?)")


def _move_expiry_timers(cache: Any, previous: asyncio.AbstractEventLoop, loop: asyncio.AbstractEventLoop) -> None:
    """Set the memory backend's expiry timers again on ``loop``: those of ``previous`` will never fire now.

    aiocache keeps one ``TimerHandle`` per key with a ttl; an entry whose time has passed meanwhile goes now.
    """
    now = previous.time()
    for key, handle in list(cache._handlers.items()):
        handle.cancel()
        left = handle.when() - now
        if left <= 0:
            _expire(cache, key)
        else:
            cache._handlers[key] = loop.call_later(left, _expire, cache, key)


def _expire(cache: Any, key: str) -> None:
    cache._cache.pop(key, None)
    cache._handlers.pop(key, None)
