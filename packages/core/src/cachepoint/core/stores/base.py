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

__all__ = ["CacheStore", "ClosesOnExit", "StoreError"]


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
    """Async key/value store for cache entries.

    Keys are strings; values are bytes; ``ttl`` is in seconds (``None`` keeps the entry until it is evicted or
    deleted). Every method is a coroutine. A store is an async context manager that closes itself.

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

    async def ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires; ``None`` if it has no expiry or does not exist."""
        ...

    async def size(self) -> int:
        """Number of live entries this store holds (for a shared backend: under this store's prefix)."""
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

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


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
