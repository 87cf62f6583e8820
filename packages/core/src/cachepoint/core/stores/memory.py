"""`MemoryStore`: a bounded in-process store (entries and bytes), LRU or LFU eviction, per-entry TTL.

Every operation is O(1) amortized: LRU is an ordered dict; LFU is the constant-time frequency list of Shah,
Mitra & Matani ("An O(1) algorithm for implementing the LFU cache eviction scheme", 2010) — a linked list of
frequency buckets, each an insertion-ordered set of keys, so the victim is the oldest key of the least
frequent bucket. Expired entries are removed lazily on access and, in bulk, from a min-heap of expiry times
before each write, so a dead entry never pushes a live one out and LFU is never polluted by expired favourites.

State sits behind a ``threading.Lock`` (not an ``asyncio.Lock``): the store is shared by threads and by several
event loops at once, and no operation awaits while holding it. The lock is held for microseconds.

Hand-written rather than ``cachetools``: cachetools' caches are not thread-safe, have no byte bound with
per-entry TTL, and its LFU uses a ``Counter.most_common`` scan (O(n)) to pick a victim.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from cachepoint.core.stores._checks import check_items, check_key, check_keys, check_namespace, check_ttl, check_value
from cachepoint.core.stores.base import ClosesOnExit, StoreError

__all__ = ["MemoryEntry", "MemoryStats", "MemoryStore"]

Policy = Literal["lru", "lfu"]

# Rebuild the expiry heap when stale items (overwritten or deleted keys) outnumber live ones by this factor.
_HEAP_SLACK = 2


@dataclass(frozen=True)
class MemoryStats:
    """A snapshot of a `MemoryStore`'s counters.

    >>> MemoryStore(max_entries=10).stats.entries
    0
    """

    entries: int
    bytes: int
    hits: int
    misses: int
    evictions: int
    expirations: int
    rejected: int


class _FreqNode:
    """One LFU bucket: every key that has been read ``freq`` times, oldest first."""

    __slots__ = ("freq", "keys", "next", "prev")

    def __init__(self, freq: int) -> None:
        self.freq = freq
        self.keys: dict[str, None] = {}
        self.prev: _FreqNode | None = None
        self.next: _FreqNode | None = None


class MemoryEntry:
    """One entry of a `MemoryStore`, as `MemoryStore.get_entry` hands it to in-process readers.

    ``value`` is the stored bytes; treat the entry as read-only except for ``note``: a slot where a reader may
    remember something about these exact bytes (the response cache keeps there the `Verified
    <cachepoint.core.codec.Verified>` its codec made of them, so it does not check the same immutable bytes
    again). Every write makes a new entry, so a note never outlives the bytes it is about. ``note`` starts as
    ``None``; a reader that finds a note it did not write leaves it be or replaces it, never trusts it blindly.

    >>> import asyncio
    >>> store = MemoryStore(max_entries=10)
    >>> asyncio.run(store.set("k", b"v"))
    >>> entry = store.get_entry("k")
    >>> entry.value, entry.note
    (b'v', None)
    """

    __slots__ = ("expires_at", "nbytes", "node", "note", "seq", "value")

    def __init__(self, value: bytes, nbytes: int, expires_at: float | None, seq: int) -> None:
        self.value = value
        self.nbytes = nbytes
        self.expires_at = expires_at
        self.seq = seq
        self.node: _FreqNode | None = None
        self.note: object = None


_Entry = MemoryEntry


class MemoryStore(ClosesOnExit):
    """An in-process `CacheStore` that never holds more than ``max_entries`` entries or ``max_bytes`` bytes.

    Bytes are counted as the UTF-8 length of the key plus the length of the value (Python's object overhead is
    not counted). A value larger than ``max_bytes`` on its own is refused (counted in ``stats.rejected``) and any
    older value under that key is removed, so a read never returns stale data. ``policy`` picks the victim when
    a bound is reached: ``"lru"`` (least recently used) or ``"lfu"`` (least frequently used, oldest first among
    equals). ``clock`` (seconds, monotonic) is injectable for TTL tests. ``None`` disables one bound; at least
    one must be set. A ttl ``<= 0`` stores nothing and removes the key.

    Safe to share between threads and event loops. After `close` every call raises `StoreError`.

    >>> import asyncio
    >>> async def demo() -> bytes | None:
    ...     async with MemoryStore(max_entries=1000, max_bytes=16 * 2**20, policy="lfu") as store:
    ...         await store.set("chat:1", b"hello", ttl=60)
    ...         return await store.get("chat:1")
    >>> asyncio.run(demo())
    b'hello'
    """

    def __init__(
        self,
        max_entries: int | None = 10_000,
        max_bytes: int | None = 64 * 2**20,
        policy: Policy = "lru",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, bound in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 1):
                raise ValueError(f"{name}: expected a positive int or None, got {bound!r}")
        if max_entries is None and max_bytes is None:
            raise ValueError(
                "max_entries, max_bytes: at least one bound is required (an unbounded cache grows forever)"
            )
        if policy not in ("lru", "lfu"):
            raise ValueError(f"policy: expected 'lru' or 'lfu', got {policy!r}")
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._lfu = policy == "lfu"
        self._clock = clock
        self._lock = threading.Lock()
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._head: _FreqNode | None = None  # LFU: lowest-frequency bucket
        self._closed = False
        self._hits = self._misses = self._evictions = self._expirations = self._rejected = 0

    @property
    def policy(self) -> Policy:
        """``"lru"`` or ``"lfu"``."""
        return "lfu" if self._lfu else "lru"

    @property
    def stats(self) -> MemoryStats:
        """Counters and current occupancy (entries may include expired ones not yet swept)."""
        with self._lock:
            return MemoryStats(
                entries=len(self._data),
                bytes=self._bytes,
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
                expirations=self._expirations,
                rejected=self._rejected,
            )

    # -- CacheStore ------------------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` if absent or expired."""
        check_key(key)
        with self._lock:
            self._check_open()
            entry = self._lookup(key, self._clock())
        return None if entry is None else entry.value

    def get_entry(self, key: str) -> MemoryEntry | None:
        """The live `MemoryEntry` under ``key`` (its ``value`` and ``note``), or ``None``; synchronous.

        A read like `get` (it counts, and moves the entry up for LRU/LFU), for in-process readers that want to
        skip the coroutine or keep a `MemoryEntry.note` about the bytes they read. Raises `StoreError` once closed.

        >>> import asyncio
        >>> store = MemoryStore(max_entries=10)
        >>> asyncio.run(store.set("k", b"v"))
        >>> store.get_entry("k").value, store.get_entry("absent")
        (b'v', None)
        """
        if type(key) is not str:
            key = check_key(key)
        # This is the response cache's hit path. acquire/release rather than `with` (the context-manager protocol
        # costs about a tenth of this method on CPython 3.11), and the clock is read only for an entry that expires.
        lock = self._lock
        lock.acquire()
        try:
            if self._closed:
                raise StoreError("MemoryStore is closed")
            entry = self._data.get(key)
            # The usual hit under LRU, inline; anything else takes _lookup.
            if entry is not None and not self._lfu:
                expires_at = entry.expires_at
                if expires_at is None or expires_at > self._clock():
                    self._hits += 1
                    self._data.move_to_end(key)
                    return entry
            return self._lookup(key, self._clock())
        finally:
            lock.release()

    async def get_with_ttl(self, key: str) -> tuple[bytes | None, float | None]:
        """``(value, seconds left)`` in one step; ``(None, None)`` on a miss (used by `TieredStore`)."""
        check_key(key)
        with self._lock:
            self._check_open()
            now = self._clock()
            value = self._get(key, now)
            if value is None:
                return None, None
            expires_at = self._data[key].expires_at
            return value, None if expires_at is None else expires_at - now

    async def get_many_with_ttl(self, keys: Sequence[str]) -> list[tuple[bytes | None, float | None]]:
        """``(value, seconds left)`` for each key, in order (used by `TieredStore`)."""
        checked = check_keys(keys)
        with self._lock:
            self._check_open()
            now = self._clock()
            out: list[tuple[bytes | None, float | None]] = []
            for key in checked:
                value = self._get(key, now)
                expires_at = None if value is None else self._data[key].expires_at
                out.append((value, None if expires_at is None else expires_at - now))
            return out

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: until evicted)."""
        key = check_key(key)
        value = check_value(value)
        seconds = check_ttl(ttl)
        with self._lock:
            self._check_open()
            self._set(key, value, seconds, self._clock())

    async def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if a live entry was there."""
        check_key(key)
        with self._lock:
            self._check_open()
            entry = self._data.get(key)
            if entry is None:
                return False
            self._remove(key, entry)
            return not self._expired(entry, self._clock())

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds a live entry (does not count as a use for LRU/LFU)."""
        check_key(key)
        with self._lock:
            self._check_open()
            entry = self._data.get(key)
            if entry is None:
                return False
            if self._expired(entry, self._clock()):
                self._remove(key, entry)
                self._expirations += 1
                return False
            return True

    async def ttl(self, key: str) -> float | None:
        """Seconds before ``key`` expires; ``None`` when it has no expiry or is absent."""
        check_key(key)
        with self._lock:
            self._check_open()
            entry = self._data.get(key)
            if entry is None or entry.expires_at is None:
                return None
            left = entry.expires_at - self._clock()
            if left <= 0:
                self._remove(key, entry)
                self._expirations += 1
                return None
            return left

    async def size(self) -> int:
        """Number of live entries."""
        with self._lock:
            self._check_open()
            self._sweep(self._clock())
            return len(self._data)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values for ``keys`` in order, ``None`` for each miss."""
        checked = check_keys(keys)
        with self._lock:
            self._check_open()
            now = self._clock()
            return [self._get(k, now) for k in checked]

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Store every item with the same ``ttl``."""
        checked = check_items(items)
        seconds = check_ttl(ttl)
        with self._lock:
            self._check_open()
            now = self._clock()
            for key, value in checked.items():
                self._set(key, value, seconds, now)

    async def clear(self, namespace: str | None = None) -> int:
        """Remove every entry (or every ``"<namespace>:"`` entry); returns how many live entries went.

        Clearing a namespace scans the keys once (O(n)); it is a maintenance operation, not a hot path.
        """
        namespace = check_namespace(namespace)
        with self._lock:
            self._check_open()
            now = self._clock()
            if namespace is None:
                removed = sum(1 for e in self._data.values() if not self._expired(e, now))
                self._reset()
                return removed
            prefix = f"{namespace}:"
            removed = 0
            for key in [k for k in self._data if k.startswith(prefix)]:
                entry = self._data[key]
                removed += not self._expired(entry, now)
                self._remove(key, entry)
            return removed

    async def close(self) -> None:
        """Drop every entry; later calls raise `StoreError`. Idempotent."""
        with self._lock:
            self._closed = True
            self._reset()

    def __repr__(self) -> str:
        return (
            f"MemoryStore(max_entries={self._max_entries}, max_bytes={self._max_bytes}, policy={self.policy!r}, "
            f"entries={len(self._data)})"
        )

    # -- internals (lock held) -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("MemoryStore is closed")

    @staticmethod
    def _expired(entry: _Entry, now: float) -> bool:
        return entry.expires_at is not None and entry.expires_at <= now

    def _get(self, key: str, now: float) -> bytes | None:
        entry = self._lookup(key, now)
        return None if entry is None else entry.value

    def _lookup(self, key: str, now: float) -> MemoryEntry | None:
        entry = self._data.get(key)
        if entry is None:
            self._misses += 1
            return None
        if entry.expires_at is not None and entry.expires_at <= now:
            self._remove(key, entry)
            self._expirations += 1
            self._misses += 1
            return None
        self._hits += 1
        if self._lfu:
            self._lfu_touch(key, entry)
        else:
            self._data.move_to_end(key)
        return entry

    def _set(self, key: str, value: bytes, ttl: float | None, now: float) -> None:
        old = self._data.get(key)
        if old is not None:
            self._remove(key, old)
        if ttl is not None and ttl <= 0:
            return
        nbytes = len(key.encode()) + len(value)
        if self._max_bytes is not None and nbytes > self._max_bytes:
            self._rejected += 1
            return
        self._sweep(now)
        max_entries, max_bytes = self._max_entries, self._max_bytes
        while self._data and (
            (max_entries is not None and len(self._data) >= max_entries)
            or (max_bytes is not None and self._bytes + nbytes > max_bytes)
        ):
            victim = self._victim()
            self._remove(victim, self._data[victim])
            self._evictions += 1
        self._seq += 1
        entry = _Entry(value, nbytes, None if ttl is None else now + ttl, self._seq)
        self._data[key] = entry
        self._bytes += nbytes
        if entry.expires_at is not None:
            heapq.heappush(self._heap, (entry.expires_at, entry.seq, key))
        if self._lfu:
            self._lfu_add(key, entry)

    def _remove(self, key: str, entry: _Entry) -> None:
        del self._data[key]
        self._bytes -= entry.nbytes
        if entry.node is not None:
            self._lfu_unlink_key(key, entry.node)
            entry.node = None

    def _sweep(self, now: float) -> None:
        """Remove every expired entry (each heap item is popped once, so this is amortized O(log n) per write)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            entry = self._data.get(key)
            if entry is not None and entry.seq == seq:
                self._remove(key, entry)
                self._expirations += 1
        if len(heap) > _HEAP_SLACK * len(self._data) + 64:
            self._heap = [(e.expires_at, e.seq, k) for k, e in self._data.items() if e.expires_at is not None]
            heapq.heapify(self._heap)

    def _victim(self) -> str:
        if self._lfu:
            assert self._head is not None
            return next(iter(self._head.keys))
        return next(iter(self._data))

    def _reset(self) -> None:
        self._data.clear()
        self._heap.clear()
        self._bytes = 0
        self._head = None

    # -- LFU frequency list ----------------------------------------------------------------------------------

    def _lfu_add(self, key: str, entry: _Entry) -> None:
        head = self._head
        if head is None or head.freq != 1:
            node = _FreqNode(1)
            node.next = head
            if head is not None:
                head.prev = node
            self._head = head = node
        head.keys[key] = None
        entry.node = head

    def _lfu_touch(self, key: str, entry: _Entry) -> None:
        node = entry.node
        assert node is not None
        nxt = node.next
        if nxt is None or nxt.freq != node.freq + 1:
            nxt = _FreqNode(node.freq + 1)
            nxt.prev, nxt.next = node, node.next
            if node.next is not None:
                node.next.prev = nxt
            node.next = nxt
        nxt.keys[key] = None
        entry.node = nxt
        self._lfu_unlink_key(key, node)

    def _lfu_unlink_key(self, key: str, node: _FreqNode) -> None:
        del node.keys[key]
        if node.keys:
            return
        if node.prev is not None:
            node.prev.next = node.next
        else:
            self._head = node.next
        if node.next is not None:
            node.next.prev = node.prev
