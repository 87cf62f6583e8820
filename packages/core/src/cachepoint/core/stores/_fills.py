"""Which L2 reads may still be copied into L1: a read that a write to its key overtook must not be.

`TieredStore` reads L2, then copies the hit into L1. A write (set, delete, clear) to the same key that happens in
between — after L2 answered, before the copy lands — would be undone by the copy: a deleted entry comes back, a
new value is overwritten with the old one. So every L2 read in flight is registered here, every write marks the
reads it covers as overtaken (when it starts and again when it ends, so a read that began while the write was
on its way to L2 is caught too), and a read is copied only if nothing overtook it and no write to its key is
in progress — checked before the copy and again after it, when the copy is undone if a write slipped in between.

Threads and event loops share a `TieredStore`, so the bookkeeping sits behind a ``threading.Lock``; it holds
only the reads in flight and the writes in progress, so it never grows with the number of keys.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

__all__ = ["FillTracker", "Read", "Write"]


class Read:
    """One key's L2 read in flight."""

    __slots__ = ("key", "overtaken")

    def __init__(self, key: str) -> None:
        self.key = key
        self.overtaken = False


class Write:
    """The keys one write touches: some keys, every key under ``prefix``, or (``prefix=""``) every key."""

    __slots__ = ("keys", "prefix")

    def __init__(self, keys: Iterable[str] = (), prefix: str | None = None) -> None:
        self.keys = frozenset(keys)
        self.prefix = prefix

    def covers(self, key: str) -> bool:
        return key in self.keys or (self.prefix is not None and key.startswith(self.prefix))


class FillTracker:
    """Reads in flight and writes in progress, to tell whether an L2 read may still fill L1."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reads: dict[str, list[Read]] = {}
        self._writes: list[Write] = []

    def start_reads(self, keys: Iterable[str]) -> list[Read]:
        """Register reads of ``keys``, *before* L2 is asked."""
        reads = [Read(key) for key in keys]
        with self._lock:
            for read in reads:
                self._reads.setdefault(read.key, []).append(read)
        return reads

    def end_reads(self, reads: Iterable[Read]) -> None:
        with self._lock:
            for read in reads:
                pending = self._reads.get(read.key)
                if pending is not None:
                    pending.remove(read)
                    if not pending:
                        del self._reads[read.key]

    def may_fill(self, read: Read) -> bool:
        """Whether ``read``'s answer may be in L1 now: no write overtook it and none to its key is in progress."""
        with self._lock:
            return not read.overtaken and not any(write.covers(read.key) for write in self._writes)

    @contextmanager
    def writing(self, write: Write) -> Iterator[None]:
        """Bracket a write to both tiers (or to L1 alone): reads it covers are overtaken when it starts and ends."""
        with self._lock:
            self._writes.append(write)
            self._overtake(write)
        try:
            yield
        finally:
            with self._lock:
                self._writes.remove(write)
                self._overtake(write)

    def _overtake(self, write: Write) -> None:
        if write.prefix is None:
            for key in write.keys:
                for read in self._reads.get(key, ()):
                    read.overtaken = True
            return
        for key, reads in self._reads.items():
            if write.covers(key):
                for read in reads:
                    read.overtaken = True
