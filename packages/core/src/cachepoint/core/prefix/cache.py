"""`PrefixCache`: opaque payloads stored under token sequences, looked up by longest common prefix.

Design: a radix trie (edges labelled with runs of tokens, children keyed by the first token of their run).

- Why a trie and not a block-hash chain (vLLM's design)? A chain of hashed blocks matches only at block
  boundaries, needs a collision check before a payload may be trusted, and cannot tell which stored entry
  covers a node once the entry that created it is evicted. The trie matches to the token, holds no hashes, and
  every node knows the entry to return for its subtree.
- No per-token Python work: an edge is compared with one tuple-slice comparison (C), and a mismatch inside an
  edge is located by binary search over slice comparisons (O(log n) C comparisons). A lookup costs one dict
  probe and one slice comparison per branching point on the path, not per token.
- Every node caches ``best``: the most recently used live entry in its subtree. The longest common prefix of a
  query with any stored sequence ends at some node (or inside its edge); every entry below that point shares
  exactly that prefix, and ``best`` is the freshest of them. Lookups and stores refresh ``best`` along the
  entry's path; a removal recomputes it bottom-up from the node's own entry and its children's ``best``.
- With one idle TTL for all entries, an entry that expired was used before every live one, so expired entries
  sit at the front of the recency order and are dropped from there (amortized O(1)); a ``best`` is never an
  expired entry once they are dropped.

The same structure is the prefix index of ``cachepoint analyze`` (sequences of prompt block hashes instead of
token ids).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from cachepoint.core.lru import LRU

__all__ = ["BatchAnalysis", "Policy", "PrefixCache", "PrefixCacheStats", "PrefixMatch", "analyze_batch"]

P = TypeVar("P")
#: Eviction policy when a budget is exceeded: least recently used, or least frequently used (ties: older use).
Policy = Literal["lru", "lfu"]


@dataclass(frozen=True)
class PrefixMatch(Generic[P]):
    """The answer to a lookup: ``length`` tokens of the query are covered by a stored sequence.

    ``payload`` is that sequence's payload (the freshest one when several share the prefix), ``entry_length``
    its full length (``length < entry_length`` means only a prefix of it is reused: slice your KV state),
    ``remaining`` the query's tokens after the match. A match shorter than the cache's ``min_prefix_length`` is
    a miss (``length == 0``, ``payload is None``).

    >>> cache = PrefixCache()
    >>> cache.put([1, 2, 3, 4], "kv-1234")
    True
    >>> m = cache.lookup([1, 2, 3, 9, 9])
    >>> m.hit, m.length, m.payload, m.entry_length, m.remaining
    (True, 3, 'kv-1234', 4, (9, 9))
    """

    length: int
    total: int
    payload: P | None = None
    entry_length: int = 0
    remaining: tuple[Any, ...] = ()

    @property
    def hit(self) -> bool:
        """Whether any prefix was found."""
        return self.length > 0

    @property
    def exact(self) -> bool:
        """Whether the stored sequence is used whole (it is itself a prefix of the query)."""
        return self.hit and self.length == self.entry_length

    @property
    def ratio(self) -> float:
        """Share of the query covered by the match."""
        return self.length / self.total if self.total else 0.0


@dataclass(frozen=True)
class PrefixCacheStats:
    """Counters of a `PrefixCache`.

    ``hit_tokens`` / ``requested_tokens`` is the token hit ratio of `PrefixCache.lookup` calls (``peek`` and
    ``insert`` are not counted); ``evicted`` counts entries dropped for the budget, ``expired`` for the TTL,
    ``rejected`` entries too short (under ``min_prefix_length``) or too large (over ``max_bytes``) to store.

    >>> PrefixCache().stats.token_hit_ratio
    0.0
    """

    entries: int
    bytes: int
    lookups: int
    hits: int
    hit_tokens: int
    requested_tokens: int
    evicted: int
    expired: int
    rejected: int

    @property
    def hit_rate(self) -> float:
        """Share of lookups that found a prefix."""
        return self.hits / self.lookups if self.lookups else 0.0

    @property
    def token_hit_ratio(self) -> float:
        """Share of looked-up tokens covered by a match."""
        return self.hit_tokens / self.requested_tokens if self.requested_tokens else 0.0


@dataclass(frozen=True)
class BatchAnalysis:
    """How much of a batch of sequences a shared-prefix cache would not recompute.

    Sequences are taken in order; each reuses its longest common prefix with the cache's contents or any
    earlier sequence of the batch (when at least ``min_prefix_length`` tokens). ``reused`` lists that per
    sequence. ``dedup_ratio`` = ``saved_tokens / total_tokens``.

    >>> a = analyze_batch([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9], [7]])
    >>> a.reused, a.saved_tokens, a.total_tokens, a.dedup_ratio
    ((0, 3, 2, 0), 5, 12, 0.4166666666666667)
    """

    sequences: int
    total_tokens: int
    saved_tokens: int
    hit_sequences: int
    reused: tuple[int, ...]

    @property
    def computed_tokens(self) -> int:
        """Tokens that still have to be computed."""
        return self.total_tokens - self.saved_tokens

    @property
    def dedup_ratio(self) -> float:
        """Share of all tokens served by a shared prefix."""
        return self.saved_tokens / self.total_tokens if self.total_tokens else 0.0


class _Entry:
    __slots__ = ("hits", "node", "payload", "seq", "size", "tokens", "used")

    def __init__(self, tokens: tuple[Any, ...], payload: Any, size: int, node: _Node) -> None:
        self.tokens = tokens
        self.payload = payload
        self.size = size
        self.node = node
        self.hits = 0
        self.seq = 0
        self.used = 0.0


class _Node:
    __slots__ = ("best", "children", "depth", "label", "parent", "terminal")

    def __init__(self, label: tuple[Any, ...], parent: _Node | None, depth: int) -> None:
        self.label = label
        self.parent = parent
        self.depth = depth
        self.children: dict[Any, _Node] = {}
        self.terminal: _Entry | None = None
        self.best: _Entry | None = None


def _common(query: tuple[Any, ...], pos: int, label: tuple[Any, ...]) -> int:
    """How many leading tokens of ``label`` equal ``query[pos:]`` (the first is known to be equal)."""
    lo, hi = 1, min(len(label), len(query) - pos)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if query[pos : pos + mid] == label[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _default_size(payload: Any) -> int:
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return len(payload)
    nbytes = getattr(payload, "nbytes", None)  # numpy arrays, torch tensors
    return nbytes if isinstance(nbytes, int) and not isinstance(nbytes, bool) and nbytes >= 0 else 0


class PrefixCache(Generic[P]):
    """Payloads (KV tensors, handles, anything) stored under token sequences; lookups return the longest cached
    prefix of a new sequence.

    Args:
        max_entries: most entries kept (``None``: no limit).
        max_bytes: most payload bytes kept, by ``sizeof`` (``None``: no limit). A payload larger than this is
            not stored.
        policy: what to evict when over budget: ``"lru"`` (least recently used) or ``"lfu"`` (fewest uses,
            then least recent). A store or a lookup hit counts as a use.
        ttl: seconds an entry lives after its last use (``None``: forever).
        min_prefix_length: shorter sequences are not stored, shorter matches are misses.
        sizeof: payload size in bytes (default: ``len()`` of bytes, ``.nbytes`` of arrays/tensors, else 0);
            ``put(..., size=n)`` overrides it per entry.
        clock: time source for ``ttl`` (seconds; default ``time.monotonic``).

    Thread-safe (one lock). Tokens are any hashable values (token ids, or block hashes).

    >>> cache = PrefixCache(max_entries=2, min_prefix_length=2)
    >>> cache.put((1, 2, 3), b"a"), cache.put((1, 2, 4), b"b"), cache.put((5,), b"c")
    (True, True, False)
    >>> cache.lookup((1, 2, 9)).payload  # both share (1, 2): the freshest entry answers
    b'b'
    >>> cache.lookup((1, 2, 3, 8)).payload
    b'a'
    >>> cache.put((6, 7), b"d"); sorted(p for _, p in cache.items())  # over max_entries: LRU (1, 2, 4) goes
    True
    [b'a', b'd']
    """

    def __init__(
        self,
        *,
        max_entries: int | None = None,
        max_bytes: int | None = None,
        policy: Policy = "lru",
        ttl: float | None = None,
        min_prefix_length: int = 1,
        sizeof: Callable[[Any], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError(f"max_entries: expected >= 1 or None, got {max_entries}")
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f"max_bytes: expected >= 0 or None, got {max_bytes}")
        if policy not in ("lru", "lfu"):
            raise ValueError(f"policy: expected 'lru' or 'lfu', got {policy!r}")
        if ttl is not None and not ttl > 0:
            raise ValueError(f"ttl: expected a positive number of seconds or None, got {ttl!r}")
        if min_prefix_length < 1:
            raise ValueError(f"min_prefix_length: expected >= 1, got {min_prefix_length}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.policy: Policy = policy
        self.ttl = ttl
        self.min_prefix_length = min_prefix_length
        self.sizeof = sizeof or _default_size
        self.clock = clock
        self._lock = threading.RLock()
        self._root = _Node((), None, 0)
        self._order: LRU[_Entry, bool] = LRU()  # least recently used first (budgets enforced here: LFU too)
        self._heap: list[tuple[int, int, _Entry]] = []  # (hits, seq, entry) for LFU; stale items skipped
        self._seq = 0
        self._bytes = 0
        self._lookups = self._hits = self._hit_tokens = self._requested = 0
        self._evicted = self._expired = self._rejected = 0

    # --- public API ---

    def put(self, tokens: Sequence[Hashable], payload: P, *, size: int | None = None) -> bool:
        """Store ``payload`` under ``tokens`` (replacing the payload of the same sequence); ``False`` when the
        sequence is under ``min_prefix_length`` or the payload over ``max_bytes``.

        >>> PrefixCache(min_prefix_length=3).put([1, 2], "x")
        False
        """
        return self._store(tuple(tokens), payload, size, want_match=False)[0]

    def insert(self, tokens: Sequence[Hashable], payload: P, *, size: int | None = None) -> PrefixMatch[P]:
        """Store like `put`, and return what the cache held for ``tokens`` just before (one walk, not two).

        >>> cache = PrefixCache()
        >>> cache.insert("abcd", 1).length, cache.insert("abxy", 2).length, cache.lookup("abxyz").payload
        (0, 2, 2)
        """
        found = self._store(tuple(tokens), payload, size, want_match=True)[1]
        assert found is not None
        return found

    def lookup(self, tokens: Sequence[Hashable]) -> PrefixMatch[P]:
        """The longest cached prefix of ``tokens``; a hit counts as a use of the entry (recency, frequency, TTL).

        >>> cache = PrefixCache()
        >>> _ = cache.put([1, 2, 3], "kv")
        >>> cache.lookup([4, 5]).hit, cache.lookup([1, 2]).length
        (False, 2)
        """
        query = tuple(tokens)
        with self._lock:
            self._expire()
            match, entry = self._match(query)
            self._lookups += 1
            self._requested += len(query)
            if entry is not None:
                self._hits += 1
                self._hit_tokens += match.length
                self._touch(entry)
            return match

    def peek(self, tokens: Sequence[Hashable]) -> PrefixMatch[P]:
        """`lookup` without side effects (no use recorded, no stats).

        >>> cache = PrefixCache()
        >>> _ = cache.put([1, 2], "kv")
        >>> cache.peek([1, 2, 3]).length, cache.stats.lookups
        (2, 0)
        """
        query = tuple(tokens)
        with self._lock:
            self._expire()
            return self._match(query)[0]

    def get(self, tokens: Sequence[Hashable]) -> P | None:
        """The payload stored under exactly ``tokens`` (a use), or ``None``.

        >>> cache = PrefixCache()
        >>> _ = cache.put([1, 2], "kv")
        >>> cache.get([1, 2]), cache.get([1])
        ('kv', None)
        """
        with self._lock:
            entry = self._find(tuple(tokens))
            if entry is None:
                return None
            self._touch(entry)
            return entry.payload  # type: ignore[no-any-return]

    def delete(self, tokens: Sequence[Hashable]) -> bool:
        """Remove the entry stored under exactly ``tokens``; ``False`` when there is none.

        >>> cache = PrefixCache()
        >>> _ = cache.put([1, 2], "kv")
        >>> cache.delete([1, 2]), cache.delete([1, 2]), len(cache)
        (True, False, 0)
        """
        with self._lock:
            entry = self._find(tuple(tokens))
            if entry is None:
                return False
            self._remove(entry)
            return True

    def clear(self) -> None:
        """Remove every entry (statistics are kept)."""
        with self._lock:
            self._root = _Node((), None, 0)
            self._order.clear()
            self._heap.clear()
            self._bytes = 0

    def items(self) -> Iterator[tuple[tuple[Any, ...], P]]:
        """``(tokens, payload)`` of every live entry, least recently used first (a snapshot)."""
        with self._lock:
            self._expire()
            snapshot = [(e.tokens, e.payload) for e in self._order]
        return iter(snapshot)

    def analyze_batch(self, sequences: Iterable[Sequence[Hashable]]) -> BatchAnalysis:
        """How many tokens of ``sequences`` this cache (as it is now) plus sharing within the batch would serve,
        without touching the cache. See `BatchAnalysis`.

        >>> cache = PrefixCache()
        >>> _ = cache.put([1, 2, 3], "system prompt")
        >>> cache.analyze_batch([[1, 2, 3, 4], [1, 2, 3, 4, 5]]).reused, len(cache), cache.stats.lookups
        ((3, 4), 1, 0)
        """
        scratch: PrefixCache[None] = PrefixCache(min_prefix_length=self.min_prefix_length)
        reused: list[int] = []
        total = 0
        with self._lock:
            self._expire()
            for seq in sequences:
                query = tuple(seq)
                total += len(query)
                here = self._match(query)[0].length
                within = scratch._store(query, None, 0, want_match=True)[1]
                assert within is not None
                reused.append(max(here, within.length))
        saved = sum(reused)
        return BatchAnalysis(len(reused), total, saved, sum(1 for r in reused if r), tuple(reused))

    @property
    def stats(self) -> PrefixCacheStats:
        """Counters (see `PrefixCacheStats`)."""
        with self._lock:
            self._expire()
            return PrefixCacheStats(
                entries=len(self._order),
                bytes=self._bytes,
                lookups=self._lookups,
                hits=self._hits,
                hit_tokens=self._hit_tokens,
                requested_tokens=self._requested,
                evicted=self._evicted,
                expired=self._expired,
                rejected=self._rejected,
            )

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._order)

    def __contains__(self, tokens: object) -> bool:
        if not isinstance(tokens, Sequence):
            return False
        return self._find(tuple(tokens)) is not None

    def __repr__(self) -> str:
        return f"PrefixCache(entries={len(self)}, policy={self.policy!r})"

    # --- internals ---

    def _descend(self, query: tuple[Any, ...]) -> tuple[_Node, int, _Node | None, int]:
        """(deepest node fully matched, its depth, the child whose edge matched partly, tokens of that edge)."""
        node = self._root
        pos = 0
        n = len(query)
        while pos < n:
            child = node.children.get(query[pos])
            if child is None:
                return node, pos, None, 0
            label = child.label
            width = len(label)
            if query[pos : pos + width] == label:
                node = child
                pos += width
                continue
            return node, pos, child, _common(query, pos, label)
        return node, pos, None, 0

    def _match(self, query: tuple[Any, ...]) -> tuple[PrefixMatch[P], _Entry | None]:
        node, pos, child, partial = self._descend(query)
        where = child if child is not None else node
        length = pos + partial
        entry = where.best
        if entry is None or length < self.min_prefix_length:
            return PrefixMatch(0, len(query), remaining=query), None
        return PrefixMatch(length, len(query), entry.payload, len(entry.tokens), query[length:]), entry

    def _find(self, query: tuple[Any, ...]) -> _Entry | None:
        with self._lock:
            self._expire()
            node, pos, child, _ = self._descend(query)
            if child is not None or pos != len(query):
                return None
            return node.terminal

    def _store(
        self, query: tuple[Any, ...], payload: Any, size: int | None, *, want_match: bool
    ) -> tuple[bool, PrefixMatch[P] | None]:
        nbytes = self.sizeof(payload) if size is None else size
        if nbytes < 0:
            raise ValueError(f"size: expected >= 0 bytes, got {nbytes}")
        with self._lock:
            self._expire()
            node, pos, child, partial = self._descend(query)
            match: PrefixMatch[P] | None = None
            if want_match:
                where = child if child is not None else node
                length = pos + partial
                best = where.best
                if best is None or length < self.min_prefix_length:
                    match = PrefixMatch(0, len(query), remaining=query)
                else:
                    match = PrefixMatch(length, len(query), best.payload, len(best.tokens), query[length:])
            if len(query) < self.min_prefix_length or (self.max_bytes is not None and nbytes > self.max_bytes):
                self._rejected += 1
                return False, match
            if child is not None:  # the query ends or branches inside child's edge: split it
                node = self._split(node, child, partial)
                pos += partial
            if pos < len(query):
                leaf = _Node(query[pos:], node, len(query))
                node.children[query[pos]] = leaf
                node = leaf
            entry = node.terminal
            if entry is None:
                entry = node.terminal = _Entry(query, payload, nbytes, node)
                self._bytes += nbytes
            else:
                self._bytes += nbytes - entry.size
                entry.payload, entry.size = payload, nbytes
            self._touch(entry)
            self._enforce(entry)
            return True, match

    def _split(self, parent: _Node, child: _Node, at: int) -> _Node:
        middle = _Node(child.label[:at], parent, parent.depth + at)
        middle.best = child.best
        parent.children[middle.label[0]] = middle
        child.label = child.label[at:]
        child.parent = middle
        middle.children[child.label[0]] = child
        return middle

    def _touch(self, entry: _Entry) -> None:
        self._seq += 1
        entry.seq = self._seq
        entry.used = self.clock()
        entry.hits += 1
        self._order.put(entry, True)
        node: _Node | None = entry.node
        while node is not None:
            node.best = entry
            node = node.parent
        if self.policy == "lfu":
            heapq.heappush(self._heap, (entry.hits, entry.seq, entry))
            if len(self._heap) > 2 * len(self._order) + 64:
                self._heap = [(e.hits, e.seq, e) for e in self._order]
                heapq.heapify(self._heap)

    def _enforce(self, keep: _Entry) -> None:
        while (self.max_entries is not None and len(self._order) > self.max_entries) or (
            self.max_bytes is not None and self._bytes > self.max_bytes
        ):
            victim = self._victim(keep)
            if victim is None:
                return
            self._remove(victim)
            self._evicted += 1

    def _victim(self, keep: _Entry) -> _Entry | None:
        if self.policy == "lru":
            return next((e for e in self._order if e is not keep), None)
        while self._heap:
            hits, seq, entry = self._heap[0]
            if entry.seq != seq or entry.hits != hits or entry not in self._order:
                heapq.heappop(self._heap)  # stale: the entry was used again or removed
                continue
            if entry is keep:  # never evict the entry being stored; take the next one
                kept = heapq.heappop(self._heap)
                victim = self._victim(keep)
                heapq.heappush(self._heap, kept)
                return victim
            return entry
        return None

    def _expire(self) -> None:
        if self.ttl is None or not self._order:
            return
        deadline = self.clock() - self.ttl
        while self._order:
            oldest = next(iter(self._order))
            if oldest.used > deadline:
                return
            self._remove(oldest)
            self._expired += 1

    def _remove(self, entry: _Entry) -> None:
        self._order.pop(entry)
        self._bytes -= entry.size
        node = entry.node
        node.terminal = None
        root = self._root
        while node is not root:
            parent = node.parent
            assert parent is not None
            if node.terminal is None and not node.children:
                del parent.children[node.label[0]]
            elif node.terminal is None and len(node.children) == 1:
                (only,) = node.children.values()
                only.label = node.label + only.label
                only.parent = parent
                parent.children[node.label[0]] = only
            elif node.best is entry:
                node.best = _freshest(node)
            node = parent
        if root.best is entry:
            root.best = _freshest(root)


def _freshest(node: _Node) -> _Entry | None:
    best = node.terminal
    for child in node.children.values():
        candidate = child.best
        if candidate is not None and (best is None or candidate.seq > best.seq):
            best = candidate
    return best


def analyze_batch(sequences: Iterable[Sequence[Hashable]], *, min_prefix_length: int = 1) -> BatchAnalysis:
    """The dedup ratio of a batch: tokens a shared-prefix cache (empty at the start, unbounded) would serve.

    Exact to the token, O(total tokens) in C comparisons: the sum over sequences of the longest prefix shared
    with an earlier one.

    >>> a = analyze_batch([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 5]], min_prefix_length=3)
    >>> a.reused, a.dedup_ratio
    ((0, 4, 0), 0.36363636363636365)
    """
    return PrefixCache[Any](min_prefix_length=min_prefix_length).analyze_batch(sequences)
