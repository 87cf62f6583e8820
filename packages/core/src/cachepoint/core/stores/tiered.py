"""`TieredStore`: a small, fast L1 (usually a `MemoryStore`) in front of a shared L2 (Redis, Memcached...).

Reads try L1, then L2; an L2 hit is copied into L1 for ``min(l1_ttl, the L2 entry's remaining ttl)``, so L1 never
serves an entry after L2 would have expired it. Writes and deletes go to both (L1 first, so this process sees its
own writes even when L2 is failing). L1 entries can be stale by up to ``l1_ttl`` when *another* process changes
L2: choose ``l1_ttl`` as the staleness you accept.

A copy never undoes a newer write of this process: a set, delete or clear of a key that lands after L2 answered
a read but before its copy reached L1 wins, and the copy is dropped (see ``_fills``). Writes made through the
`TieredStore.l1` property count too, so writing the tiers one by one (as `ResponseCache.invalidate` does) is as
safe as writing through the `TieredStore`, provided L2 is written *before* L1.

L2 failures: a read answered by L1 never touches L2, so a dead L2 cannot lose an L1 hit; ``get_many`` returns the
L1 hits (``None`` elsewhere) when L2 fails for the rest. Other L2 failures propagate as `StoreError` after L1 has
been updated. Wrap L2 in a `GuardedStore <cachepoint.core.breaker.GuardedStore>` so they are misses instead::

    TieredStore(MemoryStore(max_entries=10_000), GuardedStore(RedisStore(url)), l1_ttl=30)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cachepoint.core.stores._checks import check_items, check_key, check_keys, check_namespace, check_ttl, check_value
from cachepoint.core.stores._fills import FillTracker, Read, Write
from cachepoint.core.stores.base import (
    CacheStore,
    ClosesOnExit,
    StoreError,
    store_get_many_with_ttl,
    store_get_with_ttl,
    store_size,
    store_ttl,
)

__all__ = ["TieredStats", "TieredStore"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TieredStats:
    """Where reads were answered: L1, L2, or nowhere; and L2 reads that failed.

    >>> from cachepoint.core.stores import MemoryStore
    >>> TieredStore(MemoryStore(max_entries=10), MemoryStore(max_entries=100)).stats.l1_hits
    0
    """

    l1_hits: int
    l2_hits: int
    misses: int
    l2_errors: int


class TieredStore(ClosesOnExit):
    """Two stores as one: ``l1`` (local, bounded) in front of ``l2`` (shared).

    ``l1_ttl`` caps how long an entry lives in L1 (``None``: as long as in L2). ``size`` and ``ttl`` report L2,
    the source of truth; ``clear`` clears both and returns L2's count.

    >>> import asyncio
    >>> from cachepoint.core.stores import MemoryStore
    >>> async def demo() -> tuple[bytes | None, bytes | None]:
    ...     shared = MemoryStore(max_entries=1000)  # stands in for Redis here
    ...     await shared.set("k", b"from L2", ttl=60)
    ...     store = TieredStore(MemoryStore(max_entries=100), shared, l1_ttl=30)
    ...     first = await store.get("k")  # L2 hit, copied into L1
    ...     await shared.delete("k")
    ...     return first, await store.get("k")  # now an L1 hit
    >>> asyncio.run(demo())
    (b'from L2', b'from L2')
    """

    def __init__(self, l1: CacheStore, l2: CacheStore, *, l1_ttl: float | None = 60.0) -> None:
        seconds = check_ttl(l1_ttl, "l1_ttl")
        if seconds is not None and seconds <= 0:
            raise ValueError(f"l1_ttl: expected seconds > 0 or None, got {l1_ttl!r}")
        self._l1 = l1
        self._l2 = l2
        self._l1_ttl = seconds
        self._lock = threading.Lock()
        self._l1_hits = self._l2_hits = self._misses = self._l2_errors = 0
        self._fills = FillTracker()
        self._l1_view = _TrackedL1(l1, self._fills)

    @property
    def l1(self) -> CacheStore:
        """The local tier. Writes through it are seen by reads in flight, which then leave L1 alone (so writing the
        tiers one by one cannot be undone by a concurrent L2 read's copy; write L2 first)."""
        return self._l1_view

    @property
    def l2(self) -> CacheStore:
        """The shared tier."""
        return self._l2

    @property
    def stats(self) -> TieredStats:
        """Counters of where reads were answered."""
        with self._lock:
            return TieredStats(self._l1_hits, self._l2_hits, self._misses, self._l2_errors)

    # -- CacheStore ------------------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        """L1, else L2 (filling L1); ``None`` if neither has it."""
        return (await self.get_with_ttl(key))[0]

    async def get_with_ttl(self, key: str) -> tuple[bytes | None, float | None]:
        """``(value, seconds left)`` from L1, else from L2 (filling L1)."""
        check_key(key)
        hit = await store_get_with_ttl(self._l1, key)
        if hit[0] is not None:
            self._count(l1=1)
            return hit
        reads = self._fills.start_reads((key,))
        try:
            value, left = await store_get_with_ttl(self._l2, key)
            if value is None:
                self._count(miss=1)
                return None, None
            self._count(l2=1)
            await self._fill(reads, {key: (value, left)})
            return value, left
        finally:
            self._fills.end_reads(reads)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Write to L1 (for at most ``l1_ttl``) and to L2."""
        check_key(key)
        check_value(value)
        seconds = check_ttl(ttl)
        with self._fills.writing(Write((key,))):
            await self._l1.set(key, value, self._l1_ttl_for(seconds))
            await self._l2.set(key, value, seconds)

    async def delete(self, key: str) -> bool:
        """Delete from both tiers; ``True`` if either had it."""
        check_key(key)
        with self._fills.writing(Write((key,))):
            in_l1 = await self._l1.delete(key)
            in_l2 = await self._l2.delete(key)
        return in_l1 or in_l2

    async def exists(self, key: str) -> bool:
        """Whether either tier has ``key``."""
        check_key(key)
        return await self._l1.exists(key) or await self._l2.exists(key)

    async def ttl(self, key: str) -> float | None:
        """L2's remaining ttl (L1's when L2 cannot tell)."""
        check_key(key)
        try:
            return await store_ttl(self._l2, key)
        except NotImplementedError:
            return await store_ttl(self._l1, key)

    async def size(self) -> int:
        """L2's size (L1 holds copies)."""
        return await store_size(self._l2)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """L1 first; the rest from L2 in one call (filling L1). If L2 fails, the L1 hits are still returned."""
        checked = check_keys(keys)
        results = list(await self._l1.get_many(checked))
        missing = [k for k, v in zip(checked, results, strict=True) if v is None]
        self._count(l1=len(checked) - len(missing))
        if not missing:
            return results
        reads = self._fills.start_reads(missing)
        try:
            try:
                found = await store_get_many_with_ttl(self._l2, missing)
            except Exception as exc:
                if len(missing) == len(checked):
                    raise  # nothing from L1 to save: let the caller (or a GuardedStore) see the failure
                self._count(miss=len(missing), l2_error=1)
                log.debug("TieredStore: L2 get_many failed; returning the L1 hits: %r", exc)
                return results
            by_key = dict(zip(missing, found, strict=True))
            fills: dict[str, tuple[bytes, float | None]] = {}
            for i, key in enumerate(checked):
                if results[i] is None:
                    value, left = by_key[key]
                    if value is not None:
                        results[i] = value
                        fills[key] = (value, left)
            self._count(l2=len(fills), miss=len(missing) - len(fills))
            await self._fill(reads, fills)
            return results
        finally:
            self._fills.end_reads(reads)

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Write every item to L1 (for at most ``l1_ttl``) and to L2."""
        checked = check_items(items)
        seconds = check_ttl(ttl)
        with self._fills.writing(Write(checked)):
            await self._l1.set_many(checked, self._l1_ttl_for(seconds))
            await self._l2.set_many(checked, seconds)

    async def clear(self, namespace: str | None = None) -> int:
        """Clear both tiers; returns how many entries L2 removed."""
        namespace = check_namespace(namespace)
        with self._fills.writing(_cleared(namespace)):
            await self._l1.clear(namespace)
            return await self._l2.clear(namespace)

    async def close(self) -> None:
        """Close both tiers (both are closed even if the first fails; the first error is then raised)."""
        errors: list[BaseException] = []
        for store in (self._l1, self._l2):
            try:
                await store.close()
            except Exception as exc:
                errors.append(exc)
        if errors:
            first = errors[0]
            raise StoreError(f"TieredStore: closing a tier failed: {type(first).__name__}: {first}") from first

    def __repr__(self) -> str:
        return f"TieredStore(l1={self._l1!r}, l2={self._l2!r}, l1_ttl={self._l1_ttl})"

    # -- internals -------------------------------------------------------------------------------------------

    def _l1_ttl_for(self, ttl: float | None) -> float | None:
        if ttl is None:
            return self._l1_ttl
        if self._l1_ttl is None:
            return ttl
        return min(ttl, self._l1_ttl)

    async def _fill(self, reads: list[Read], entries: Mapping[str, tuple[bytes, float | None]]) -> None:
        """Copy L2 hits into L1, never for longer than they have left in L2, and never over a newer write (a copy
        that a write overtook while it landed is taken back). Best effort: L1 is a copy."""
        fills = self._fills
        for read in reads:
            if read.key not in entries or not fills.may_fill(read):
                continue
            value, left = entries[read.key]
            ttl = self._l1_ttl_for(left)
            if ttl is not None and ttl <= 0:
                continue
            try:
                await self._l1.set(read.key, value, ttl)
                if not fills.may_fill(read):
                    await self._l1.delete(read.key)
            except Exception as exc:
                log.debug("TieredStore: filling L1 failed: %r", exc)

    def _count(self, *, l1: int = 0, l2: int = 0, miss: int = 0, l2_error: int = 0) -> None:
        with self._lock:
            self._l1_hits += l1
            self._l2_hits += l2
            self._misses += miss
            self._l2_errors += l2_error


def _cleared(namespace: str | None) -> Write:
    """What ``clear(namespace)`` writes: every key under ``"<namespace>:"``, or every key."""
    return Write(prefix=f"{namespace}:" if namespace else "")


class _TrackedL1(ClosesOnExit):
    """`TieredStore.l1`: the L1 store itself, except that its writes are registered with the tiered store's
    `FillTracker`, so a caller writing the tiers one by one is not undone by a fill in flight."""

    def __init__(self, store: CacheStore, fills: FillTracker) -> None:
        self._store = store
        self._fills = fills

    @property
    def store(self) -> CacheStore:
        """The L1 store as it was given to `TieredStore`."""
        return self._store

    async def get(self, key: str) -> bytes | None:
        return await self._store.get(key)

    async def get_with_ttl(self, key: str) -> tuple[bytes | None, float | None]:
        return await store_get_with_ttl(self._store, key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return await self._store.get_many(keys)

    async def exists(self, key: str) -> bool:
        return await self._store.exists(key)

    async def ttl(self, key: str) -> float | None:
        return await store_ttl(self._store, key)

    async def size(self) -> int:
        return await store_size(self._store)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        with self._fills.writing(Write((check_key(key),))):
            await self._store.set(key, value, ttl)

    async def delete(self, key: str) -> bool:
        with self._fills.writing(Write((check_key(key),))):
            return await self._store.delete(key)

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        with self._fills.writing(Write(check_items(items))):
            await self._store.set_many(items, ttl)

    async def clear(self, namespace: str | None = None) -> int:
        with self._fills.writing(_cleared(check_namespace(namespace))):
            return await self._store.clear(namespace)

    async def close(self) -> None:
        await self._store.close()

    def __repr__(self) -> str:
        return repr(self._store)
