"""`SyncStore`: the blocking face of any `CacheStore`, for sync code (scripts, Jupyter, threads, sync frameworks).

Every call goes through `cachepoint.core.bridge.run_sync`, so one background loop serves all sync callers of the
process and connection pools are shared instead of rebuilt per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType

from typing_extensions import Self

from cachepoint.core.bridge import run_sync
from cachepoint.core.stores.base import CacheStore, store_size, store_ttl

__all__ = ["SyncStore"]


class SyncStore:
    """Blocking wrapper with the same methods as the `CacheStore` it wraps.

    Safe from any thread and from inside a running event loop (it blocks that thread, like any sync call).
    ``timeout`` (seconds) bounds each call on top of the store's own timeouts and raises ``TimeoutError``;
    wrap a `GuardedStore <cachepoint.core.breaker.GuardedStore>` when a sick backend must read as a miss.

    >>> from cachepoint.core.stores import MemoryStore
    >>> with SyncStore(MemoryStore(max_entries=100)) as store:
    ...     store.set("chat:1", b"hi", ttl=30)
    ...     store.get("chat:1")
    b'hi'
    """

    def __init__(self, store: CacheStore, *, timeout: float | None = None) -> None:
        self._store = store
        self._timeout = timeout

    @property
    def store(self) -> CacheStore:
        """The async store underneath (use it directly from async code)."""
        return self._store

    def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None``."""
        return run_sync(lambda: self._store.get(key), timeout=self._timeout)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""
        run_sync(lambda: self._store.set(key, value, ttl), timeout=self._timeout)

    def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it was present."""
        return run_sync(lambda: self._store.delete(key), timeout=self._timeout)

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a live value."""
        return run_sync(lambda: self._store.exists(key), timeout=self._timeout)

    def ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires, or ``None``; ``NotImplementedError`` if the store cannot tell."""
        return run_sync(lambda: store_ttl(self._store, key), timeout=self._timeout)

    def size(self) -> int:
        """Number of live entries; ``NotImplementedError`` if the store cannot count them."""
        return run_sync(lambda: store_size(self._store), timeout=self._timeout)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values for ``keys`` in order, ``None`` for each miss."""
        return run_sync(lambda: self._store.get_many(keys), timeout=self._timeout)

    def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Store every item with the same ``ttl``."""
        run_sync(lambda: self._store.set_many(items, ttl), timeout=self._timeout)

    def clear(self, namespace: str | None = None) -> int:
        """Delete every entry in ``namespace`` (or all of the store's); returns how many."""
        return run_sync(lambda: self._store.clear(namespace), timeout=self._timeout)

    def close(self) -> None:
        """Close the wrapped store."""
        run_sync(self._store.close, timeout=self._timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SyncStore({self._store!r})"
