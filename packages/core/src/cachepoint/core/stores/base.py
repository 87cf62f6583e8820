"""The `CacheStore` protocol every store implements, and the errors stores raise.

Stores hold opaque bytes under string keys. They know nothing about responses, codecs or tenants: the layers
above (`cachepoint.core.codec`, `cachepoint.core.keys`, `cachepoint.core.response_cache`) decide what the bytes
mean and which keys are whose. A store *may* raise on a backend failure; `cachepoint.core.breaker.GuardedStore`
is what turns failures into misses for callers that must never see one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Protocol, runtime_checkable

from typing_extensions import Self

__all__ = [
    "CacheStore",
    "ClosesOnExit",
    "StoreError",
    "store_get_many_with_ttl",
    "store_get_with_ttl",
    "store_size",
    "store_ttl",
]


class StoreError(Exception):
    """A store backend failed (connection refused, timeout, protocol error...).

    Stores wrap backend-specific exceptions in this type so callers need to know one exception, and keep the
    original as ``__cause__``. `cachepoint.core.breaker.GuardedStore` turns it into a miss.

    >>> import asyncio
    >>> from cachepoint.core.stores import MemoryStore, StoreError
    >>> store = MemoryStore(max_entries=10)
    >>> asyncio.run(store.close())
    >>> try:
    ...     asyncio.run(store.get("k"))
    ... except StoreError as exc:
    ...     print(exc)
    MemoryStore is closed
    """


@runtime_checkable
class CacheStore(Protocol):
    """Async key/value store for cache entries: the eight methods every store has.

    Keys are strings; values are bytes; ``ttl`` is in seconds (``None`` keeps the entry until it is evicted or
    deleted). Every method is a coroutine. A store *may* offer more, and the wrappers use it when it is there
    (docs/guides/stores.md lists it): ``ttl(key)`` and ``size()`` (`store_ttl` / `store_size` call them or raise
    ``NotImplementedError``), ``get_with_ttl`` / ``get_many_with_ttl`` (one round trip for `TieredStore`), and
    ``async with`` (`ClosesOnExit`). The stores here offer all of it.

    >>> from cachepoint.core.stores import MemoryStore
    >>> async def demo() -> bytes | None:
    ...     async with MemoryStore(max_entries=100) as store:
    ...         await store.set("greeting", b"hello", ttl=60)
    ...         return await store.get("greeting")
    """

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` if absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry)."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it was present."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds a live (unexpired) value."""
        ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values for ``keys``, in order, ``None`` for each miss. One round trip where the backend allows."""
        ...

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Store every item with the same ``ttl``. One round trip where the backend allows."""
        ...

    async def clear(self, namespace: str | None = None) -> int:
        """Delete every entry in ``namespace`` (all of this store's entries if ``None``).

        Keys are namespaced as ``"<namespace>:<rest>"`` (see `cachepoint.core.keys`), so ``clear("chat")``
        removes ``"chat:..."`` but never ``"chatbot:..."``. Returns how many entries were removed. Never
        touches keys outside this store's own prefix.
        """
        ...

    async def close(self) -> None:
        """Release connections and background resources. Idempotent."""
        ...


class ClosesOnExit:
    """``async with store:`` for the stores here: entering gives the store, leaving awaits ``close()``.

    >>> import asyncio
    >>> class Demo(ClosesOnExit):
    ...     closed = False
    ...     async def close(self) -> None:
    ...         self.closed = True
    >>> async def use() -> bool:
    ...     async with Demo() as store:
    ...         pass
    ...     return store.closed
    >>> asyncio.run(use())
    True
    """

    __slots__ = ()
    close: Callable[[], Awaitable[None]]  # each store's own

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def store_ttl(store: CacheStore, key: str) -> float | None:
    """``await store.ttl(key)``: seconds left before ``key`` expires, ``None`` if no expiry or absent.

    ``ttl`` is optional in `CacheStore`: a store without it raises ``NotImplementedError`` here, naming the store,
    as do stores that have it but cannot tell (Memcached).

    >>> import asyncio
    >>> from cachepoint.core.stores import MemoryStore
    >>> store = MemoryStore(max_entries=10)
    >>> asyncio.run(store.set("k", b"v"))
    >>> asyncio.run(store_ttl(store, "k")) is None
    True
    """
    method: Callable[[str], Awaitable[float | None]] | None = getattr(store, "ttl", None)
    if method is None:
        raise NotImplementedError(f"{type(store).__name__} has no ttl(): it cannot report how long an entry lives")
    return await method(key)


async def store_size(store: CacheStore) -> int:
    """``await store.size()``: how many entries ``store`` holds; ``NotImplementedError`` if it cannot count.

    >>> import asyncio
    >>> from cachepoint.core.stores import MemoryStore
    >>> asyncio.run(store_size(MemoryStore(max_entries=10)))
    0
    """
    method: Callable[[], Awaitable[int]] | None = getattr(store, "size", None)
    if method is None:
        raise NotImplementedError(f"{type(store).__name__} has no size(): it cannot count its entries")
    return await method()


async def store_get_with_ttl(store: CacheStore, key: str) -> tuple[bytes | None, float | None]:
    """``(value, seconds left)``: in one call when ``store`` has ``get_with_ttl``, else ``get`` then ``ttl``.

    The seconds are ``None`` when the entry has no expiry *or* the store cannot tell (no usable ``ttl``).

    >>> import asyncio
    >>> from cachepoint.core.stores import MemoryStore
    >>> store = MemoryStore(max_entries=10)
    >>> asyncio.run(store.set("k", b"v"))
    >>> asyncio.run(store_get_with_ttl(store, "k"))
    (b'v', None)
    """
    method: Callable[[str], Awaitable[tuple[bytes | None, float | None]]] | None = getattr(store, "get_with_ttl", None)
    if method is not None:
        return await method(key)
    value = await store.get(key)
    if value is None:
        return None, None
    try:
        return value, await store_ttl(store, key)
    except NotImplementedError:
        return value, None


async def store_get_many_with_ttl(store: CacheStore, keys: Sequence[str]) -> list[tuple[bytes | None, float | None]]:
    """``(value, seconds left)`` per key: one call with ``get_many_with_ttl``, else ``get_many`` then ``ttl`` per hit.

    >>> import asyncio
    >>> from cachepoint.core.stores import MemoryStore
    >>> asyncio.run(store_get_many_with_ttl(MemoryStore(max_entries=10), ["a"]))
    [(None, None)]
    """
    method: Callable[[Sequence[str]], Awaitable[list[tuple[bytes | None, float | None]]]] | None = getattr(
        store, "get_many_with_ttl", None
    )
    if method is not None:
        return await method(keys)
    values = await store.get_many(keys)
    out: list[tuple[bytes | None, float | None]] = []
    for key, value in zip(keys, values, strict=True):
        if value is None:
            out.append((None, None))
            continue
        try:
            out.append((value, await store_ttl(store, key)))
        except NotImplementedError:
            out.append((value, None))
    return out
