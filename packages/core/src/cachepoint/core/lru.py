"""`LRU`: the one bounded, least-recently-used memo of cachepoint's hot paths (internal).

Token counts, prepared block fingerprints, the simulator's cache entries and engine blocks, the prefix cache's
order of use and the view builder's memos all keep "what was used last" within a budget of entries (and, for the
view builder, bytes). They share this class, a thin layer over `collections.OrderedDict` (in C: a hit is a dict
lookup and a relink). It is written here rather than taken from ``cachetools`` because these lookups run
millions of times per analyzed trace and ``cachetools.LRUCache``, pure Python with a miss raising inside
``get``, costs more per call (``benchmarks/bench_analyze.py``, "memo"); ``functools.lru_cache`` memoizes
functions of hashable arguments only, with no byte budget and no way to read without counting a use.

Threads may share one without a lock: no operation fails because another thread changed it meanwhile; a race
can at worst forget an entry early or skew ``bytes`` a little (a memo's miss, never a wrong value). Callers that
need more (the token counters' exact order) hold their own lock.

>>> memo = LRU(max_entries=2)
>>> memo.put("a", 1); memo.put("b", 2)
>>> memo.get("a")  # "a" is now the most recently used
1
>>> memo.put("c", 3)  # over budget: the least recently used ("b") goes
>>> list(memo), memo.evictions
(['a', 'c'], 1)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

__all__ = ["LRU"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """Values by key, least recently used first, within ``max_entries`` and ``max_bytes`` (``None``: no bound).

    ``size(key, value)`` gives an entry's bytes, for ``max_bytes``. ``get`` and ``touch`` count a use, ``peek``
    and ``in`` do not; ``put`` stores a value as the most recently used and evicts the least recently used
    entries beyond the bounds (counted in ``evictions``). Values are never ``None`` (``get`` returns ``None``
    for a missing key).

    >>> memo = LRU(max_bytes=10, size=lambda key, value: len(value))
    >>> memo.put("x", "12345678"); memo.put("y", "1234")
    >>> "x" in memo, memo.peek("y"), memo.bytes
    (False, '1234', 4)
    """

    __slots__ = ("_data", "_size", "bytes", "evictions", "max_bytes", "max_entries", "peek")

    def __init__(
        self,
        max_entries: int | None = None,
        *,
        max_bytes: int | None = None,
        size: Callable[[K, V], int] | None = None,
    ) -> None:
        if max_entries is not None and max_entries < 0:
            raise ValueError(f"max_entries: expected >= 0 or None, got {max_entries}")
        if max_bytes is not None and size is None:
            raise ValueError("max_bytes: needs size(key, value), the bytes of an entry")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._size = size if max_bytes is not None else None
        self._data: OrderedDict[K, V] = OrderedDict()
        #: ``peek(key)``: the value under ``key`` (``None``: none), its place in the order unchanged. The
        #: dictionary's own ``get``: a hot loop that only reads (the simulator's) pays a dict lookup, no more.
        self.peek: Callable[[K], V | None] = self._data.get
        #: Bytes held (counted only with ``max_bytes``).
        self.bytes = 0
        #: Entries dropped to stay within the bounds.
        self.evictions = 0

    def get(self, key: K) -> V | None:
        """The value under ``key`` (``None``: none), now the most recently used."""
        data = self._data
        value = data.get(key)
        if value is not None:
            try:  # noqa: SIM105 - a hot path: `contextlib.suppress` would cost more than the lookup
                data.move_to_end(key)
            except KeyError:  # another thread evicted it in between: the value read stands
                pass
        return value

    def touch(self, key: K) -> bool:
        """Count a use of ``key``; ``False`` if it is not here."""
        try:
            self._data.move_to_end(key)
        except KeyError:
            return False
        return True

    def put(self, key: K, value: V) -> None:
        """Store ``value`` under ``key`` as the most recently used; evict beyond the bounds."""
        data = self._data
        size = self._size
        if size is not None:
            old = data.get(key)
            if old is not None:
                self.bytes -= size(key, old)
            self.bytes += size(key, value)
            # A new key goes to the end when stored; only a replaced one keeps its old place and must move.
            data[key] = value
            if old is not None:
                try:
                    data.move_to_end(key)
                except KeyError:  # another thread evicted it in between
                    return
        else:
            data[key] = value
            try:
                data.move_to_end(key)
            except KeyError:  # another thread evicted it in between
                return
        if (self.max_entries is not None and len(data) > self.max_entries) or (
            self.max_bytes is not None and self.bytes > self.max_bytes
        ):
            self._evict()

    def _evict(self) -> None:
        data = self._data
        size = self._size
        entries = self.max_entries if self.max_entries is not None else len(data)
        budget = self.max_bytes if self.max_bytes is not None else self.bytes
        while len(data) > entries or (size is not None and self.bytes > budget and data):
            try:
                key, value = data.popitem(last=False)
            except KeyError:  # emptied by another thread
                return
            if size is not None:
                self.bytes -= size(key, value)
            self.evictions += 1

    def pop(self, key: K) -> V | None:
        """Remove ``key`` and return its value (``None``: it was not here)."""
        value = self._data.pop(key, None)
        if value is not None and self._size is not None:
            self.bytes -= self._size(key, value)
        return value

    def oldest(self) -> Iterator[K]:
        """The keys, least recently used first (do not store or remove while iterating)."""
        return iter(self._data)

    def items(self) -> Iterator[tuple[K, V]]:
        """``(key, value)`` pairs, least recently used first."""
        return iter(self._data.items())

    def values(self) -> Iterator[V]:
        """The values, least recently used first."""
        return iter(self._data.values())

    def clear(self) -> None:
        """Forget everything (``evictions`` stays)."""
        self._data.clear()
        self.bytes = 0

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __repr__(self) -> str:
        return f"LRU({len(self._data)} entries, max_entries={self.max_entries}, max_bytes={self.max_bytes})"
