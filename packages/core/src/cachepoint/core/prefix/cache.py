"""`PrefixCache`: opaque payloads stored under token sequences, looked up by longest common prefix.

Design: a radix trie (edges labelled with runs of tokens, children keyed by the first token of their run).

- Integer tokens (what tokenizers return) are packed into 8 bytes each (``struct``, one C call per sequence), so
  a query is compared with an edge by ``bytes.startswith`` (memcmp), not token by token: a tokenizer returns new
  int objects for every prompt, and comparing those one Python object at a time costs more than packing them.
  Edge labels are held packed too (8 bytes per distinct token; a tuple would hold an 8-byte pointer plus a
  28-byte int object). Any other hashable tokens (block hashes, strings) switch the cache, once and for good,
  to tuple labels compared by slices; either way a comparison runs in C, and a mismatch inside an edge is
  located by binary search over prefix comparisons (O(log n) of them). A lookup costs one dict probe and one
  comparison per branching point on its path, not per token.
- Why not a chain of hashed token blocks (vLLM's design)? Its speed comes from not looking at the tokens that
  the hash covers, so an exact answer needs every block verified (or the risk of a silent 64-bit collision:
  Python's hash of ints is not keyed, so collisions can be built on purpose). Packed labels make the exact
  comparison as cheap as the hashing it would replace, match to the token, keep less memory than the hashes
  plus the tokens verification needs, and every node knows the entry to return for its subtree, even after the
  entry that created the node is evicted.
- Entries keep no copy of their tokens: an entry is its node, and `PrefixCache.items` spells the tokens out
  from the labels on the node's path.
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
import struct
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeAlias, TypeVar

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


_object_new = object.__new__


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


#: A sequence as the trie holds it: 8 bytes per token (integer tokens), or the tokens themselves.
_Key: TypeAlias = "bytes | tuple[Any, ...]"
_PACKED = 8  # bytes per packed token
#: What `PrefixCache._walk` finds: match, entry, key, node, depth, partly matched child, tokens matched of it.
_Walk: TypeAlias = "tuple[PrefixMatch[P] | None, _Entry | None, _Key, _Node, int, _Node | None, int]"


class _Node:
    """A trie node: ``label`` is its edge from ``parent`` (packed like the keys), ``depth`` its end in tokens.

    The node where a stored sequence ends is that entry (``stored``, with its payload, size and use record): an
    entry costs no object of its own, and the garbage collector has half as many objects to walk."""

    __slots__ = ("best", "children", "depth", "hits", "label", "parent", "payload", "seq", "size", "stored", "used")

    def __init__(self, label: _Key, parent: _Node | None, depth: int) -> None:
        self.label = label
        self.parent = parent
        self.depth = depth
        self.children: dict[Any, _Node] | None = None  # a leaf has none (most nodes are leaves)
        self.best: _Node | None = None  # the most recently used entry in this subtree
        self.stored = False
        self.payload: Any = None
        self.size = 0
        self.hits = 0
        self.seq = 0
        self.used = 0.0


#: A node that holds an entry (``stored``): what the recency and frequency bookkeeping orders.
_Entry = _Node


_SHORT = [struct.Struct(f"<{n}q").pack for n in range(256)]  # a Struct costs more than packing a short query


def _unpack(label: _Key) -> tuple[Any, ...]:
    if isinstance(label, bytes):
        return struct.unpack(f"<{len(label) // _PACKED}q", label)
    return label


def _first(label: _Key) -> Any:
    """The token a label starts with (its key among its parent's children)."""
    if isinstance(label, bytes):
        return int.from_bytes(label[:_PACKED], "little", signed=True)
    return label[0]


def _common(key: _Key, pos: int, label: _Key, width: int, unit: int) -> int:
    """How many leading tokens of ``label`` (``width`` tokens) equal ``key``'s from token ``pos`` on (the first is
    known to be equal): a binary search over prefix comparisons, each one C call."""
    start = pos * unit
    lo, hi = 1, min(width, len(key) // unit - pos)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if key[start : start + mid * unit] == label[: mid * unit]:
            lo = mid
        else:
            hi = mid - 1
    return lo


_SIZELESS = frozenset({str, int, float, bool, type(None), tuple, list, dict})


def _default_size(payload: Any) -> int:
    if type(payload) in _SIZELESS:  # the common payloads with neither len() nor .nbytes to count
        return 0
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

    Thread-safe (one lock). Tokens are any hashable values (token ids, or block hashes). Integer ids (anything
    with ``__index__`` that fits in 64 bits, as tokenizers return) are compared by value, packed; the first
    sequence holding any other token switches the cache to comparing tokens with ``==``, for good.

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
        self._root = _Node(b"", None, 0)
        self._packed = True  # labels hold 8-byte integers until a sequence of other tokens arrives
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
            match, entry, _, _, _, _, _ = self._walk(query, True)
            assert match is not None
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
            match = self._walk(query, True)[0]
            assert match is not None
            return match

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
            self._root = _Node(b"" if self._packed else (), None, 0)
            self._order.clear()
            self._heap.clear()
            self._bytes = 0

    def items(self) -> Iterator[tuple[tuple[Any, ...], P]]:
        """``(tokens, payload)`` of every live entry, least recently used first (a snapshot)."""
        with self._lock:
            self._expire()
            snapshot = [(_spell(e), e.payload) for e in self._order]
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
                here = self._walk(query, True)[0]
                assert here is not None
                within = scratch._store(query, None, 0, want_match=True)[1]
                assert within is not None
                reused.append(max(here.length, within.length))
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

    def _walk(self, query: tuple[Any, ...], want_match: bool) -> _Walk[P]:
        """The one descent every operation makes: (the match and the entry answering it, both when ``want_match``
        and the entry ``None`` on a miss; the query's key; the deepest node fully matched; its depth; the child
        whose edge matched partly, ``None`` if none; how many tokens of that edge matched).

        Packing, descending and answering share one frame: a short query's lookup is mostly fixed costs."""
        n = len(query)
        key: _Key = query
        if self._packed:
            try:  # struct takes exactly the int-likes (__index__) that fit in 64 bits
                key = (_SHORT[n] if n < 256 else struct.Struct(f"<{n}q").pack)(*query)
            except (struct.error, TypeError):
                self._to_tuples()
        unit = _PACKED if self._packed else 1
        node = self._root
        pos = partial = 0
        child: _Node | None = None
        while pos < n:
            children = node.children
            child = children.get(query[pos]) if children is not None else None
            if child is None:
                break
            label = child.label
            # One C call: memcmp of the packed bytes, or a comparison of tuple slices (key and labels share a form).
            agrees = (
                key.startswith(label, pos * unit)  # type: ignore[union-attr]
                if unit != 1
                else key[pos : child.depth] == label
            )
            if not agrees:
                partial = _common(key, pos, label, child.depth - pos, unit)
                break
            node = child
            pos = child.depth
            child = None
        if not want_match:
            return None, None, key, node, pos, child, partial
        length = pos + partial
        entry = (child or node).best
        # `PrefixMatch` made without its frozen __init__, which pays one object.__setattr__ call per field (a
        # fifth of a short lookup); the instance is the same: its fields in its __dict__, frozen.
        match: PrefixMatch[P] = _object_new(PrefixMatch)
        fields = match.__dict__
        fields["total"] = n
        if entry is None or length < self.min_prefix_length:
            fields["length"], fields["payload"], fields["entry_length"], fields["remaining"] = 0, None, 0, query
            return match, None, key, node, pos, child, partial
        fields["length"], fields["payload"], fields["entry_length"] = length, entry.payload, entry.depth
        fields["remaining"] = query[length:]
        return match, entry, key, node, pos, child, partial

    def _to_tuples(self) -> None:
        """Hold labels as tuples from now on (a sequence of tokens that are not all 64-bit integers arrived)."""
        self._packed = False
        stack = [self._root]
        while stack:
            node = stack.pop()
            node.label = _unpack(node.label)
            stack.extend(node.children.values() if node.children else ())

    def _find(self, query: tuple[Any, ...]) -> _Entry | None:
        with self._lock:
            self._expire()
            _, _, _, node, pos, child, _ = self._walk(query, False)
            if child is not None or pos != len(query):
                return None
            return node if node.stored else None

    def _store(
        self, query: tuple[Any, ...], payload: Any, size: int | None, *, want_match: bool
    ) -> tuple[bool, PrefixMatch[P] | None]:
        nbytes = self.sizeof(payload) if size is None else size
        if nbytes < 0:
            raise ValueError(f"size: expected >= 0 bytes, got {nbytes}")
        with self._lock:
            self._expire()
            match, _, key, node, pos, child, partial = self._walk(query, want_match)
            if len(query) < self.min_prefix_length or (self.max_bytes is not None and nbytes > self.max_bytes):
                self._rejected += 1
                return False, match
            unit = _PACKED if self._packed else 1
            if child is not None:  # the query ends or branches inside child's edge: split it
                node = self._split(node, child, partial, unit)
                pos += partial
            if pos < len(query):
                leaf = _Node(key[pos * unit :], node, len(query))
                if node.children is None:
                    node.children = {}
                node.children[query[pos]] = leaf
                node = leaf
            entry = node
            if entry.stored:
                self._bytes += nbytes - entry.size
            else:
                entry.stored, entry.hits = True, 0
                self._bytes += nbytes
            entry.payload, entry.size = payload, nbytes
            self._touch(entry)
            if self.max_entries is not None or self.max_bytes is not None:
                self._enforce(entry)
            return True, match

    def _split(self, parent: _Node, child: _Node, at: int, unit: int) -> _Node:
        label = child.label
        middle = _Node(label[: at * unit], parent, parent.depth + at)
        middle.best = child.best
        assert parent.children is not None
        parent.children[_first(label)] = middle
        child.label = label[at * unit :]
        child.parent = middle
        middle.children = {_first(child.label): child}
        return middle

    def _touch(self, entry: _Entry) -> None:
        self._seq += 1
        entry.seq = self._seq
        entry.used = self.clock()
        entry.hits += 1
        self._order.put(entry, True)
        node: _Node | None = entry
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
        node = entry
        node.stored, node.payload = False, None
        root = self._root
        while node is not root:
            parent = node.parent
            assert parent is not None
            assert parent.children is not None
            if not node.stored and not node.children:
                del parent.children[_first(node.label)]
            elif not node.stored and node.children is not None and len(node.children) == 1:
                (only,) = node.children.values()
                only.label = node.label + only.label  # type: ignore[operator] # one form per trie
                only.parent = parent
                parent.children[_first(node.label)] = only
            elif node.best is entry:
                node.best = _freshest(node)
            node = parent
        if root.best is entry:
            root.best = _freshest(root)


def _spell(node: _Node) -> tuple[Any, ...]:
    """The tokens on the path from the root to ``node``."""
    labels = []
    while node.parent is not None:
        labels.append(node.label)
        node = node.parent
    if not labels:
        return ()
    labels.reverse()
    if isinstance(labels[0], bytes):
        return _unpack(b"".join(labels))  # type: ignore[arg-type] # one form per trie
    return tuple(token for label in labels for token in label)


def _freshest(node: _Node) -> _Entry | None:
    best = node if node.stored else None
    for child in node.children.values() if node.children else ():
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
