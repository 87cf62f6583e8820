"""`CachepointNodeCache`: LangGraph's node cache (``compile(cache=...)``) over any cachepoint store.

LangGraph caches a node's writes under ``(namespace tuple, key)``: the key hashes the node's input (its
``CachePolicy.key_func``), the namespace tuple names the node and its function. This cache keeps those entries in
a cachepoint store, and differs from LangGraph's own caches where a shared, long-lived store needs it:

- **A sick store is a miss.** The store is wrapped in a `GuardedStore` (unless it is one already): a Redis that
  is down, slow or refusing connections answers "nothing cached" within the guard's timeout, and the circuit
  breaker stops asking it for a while. LangGraph lets a cache's exception end the run (from ``get`` at once,
  from ``set`` when the run ends); its ``RedisCache`` swallows Redis errors but asks a dead server again on
  every lookup.
- **Async all the way.** ``aget`` / ``aset`` / ``aclear`` await the store on the caller's loop; the sync methods
  go through cachepoint's one sync bridge (`cachepoint.core.bridge`), so ``invoke`` works from scripts, threads
  and notebooks with a running loop. One ``get_many`` per superstep, one ``set_many`` per TTL.
- **One namespace per graph.** Entries live under ``"<namespace>:"`` in the store, so two graphs sharing one
  Redis never read each other's node results. Without it they would: LangGraph files every async node under
  ``__dynamic__`` (its function cannot be named), so two graphs with a node of the same name and the same input
  share an entry, and even sync nodes sharing a function share one whose control writes route to the other
  graph's edges. Name the namespace, or let `cache_points` derive it from the compiled graph.
- **Safe values.** Values go through LangGraph's serializer with pickle off, inside a cachepoint codec envelope
  (checksummed, or HMAC-signed with ``Codec(signing_keys=...)``) bound to the entry's key. Anything that does not
  decode to a node's writes (corrupt, foreign, moved, a pickle, a shape LangGraph could not replay) is a miss,
  counted in `stats`; nothing read from the store is ever unpickled.
- **TTL from the node's** ``CachePolicy(ttl=...)``; ``None`` keeps the entry until the store evicts it.
- **Hits in the ledger.** With ``ledger=``, each node served from the cache is recorded as a replayed call of
  that node (a hit with no provider tokens, no cost), labelled ``node_cache="hit"``: ``ledger.group_by("node")``
  shows it next to the node's LLM calls. What the node's calls cost when it ran is not known to the cache, so a
  node-cache hit carries no saved cost (``replay_savings_usd`` stays 0); no trace line is written for it.

>>> from typing import TypedDict
>>> from langgraph.graph import START, StateGraph
>>> from langgraph.types import CachePolicy
>>> from cachepoint.core.stores import MemoryStore
>>> class State(TypedDict):
...     x: int
>>> runs = []
>>> def double(state: State) -> dict:
...     runs.append(state["x"])
...     return {"x": state["x"] * 2}
>>> builder = StateGraph(State)
>>> _ = builder.add_node("double", double, cache_policy=CachePolicy(ttl=600)).add_edge(START, "double")
>>> node_cache = CachepointNodeCache(MemoryStore(max_entries=1000), namespace="doubler")
>>> graph = builder.compile(cache=node_cache)
>>> graph.invoke({"x": 21}), graph.invoke({"x": 21}), runs
({'x': 42}, {'x': 42}, [21])
>>> node_cache.stats.hits, node_cache.stats.misses
(1, 1)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cachepoint.core.breaker import GuardedStore
from cachepoint.core.bridge import run_sync
from cachepoint.core.codec import Codec
from cachepoint.core.keys import check_namespace, fingerprint_value
from cachepoint.core.once import log_once
from cachepoint.core.stores import CacheStore
from cachepoint.core.usage import UsageLedger
from cachepoint.langchain.patches import loans
from langgraph.cache.base import BaseCache, FullKey, Namespace
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

__all__ = ["CachepointNodeCache", "NodeCacheStats"]

logger = logging.getLogger("cachepoint.langgraph")

Writes = list[tuple[str, Any]]


@dataclass(frozen=True)
class NodeCacheStats:
    """What a `CachepointNodeCache` did since it was created.

    ``hits`` / ``misses``: node lookups answered / not answered (a sick store's lookups are misses);
    ``poisoned``: entries found but not used, by reason (``corrupt``, ``bad_signature``, ``pickle``...,
    ``serde`` when LangGraph's serializer refused them, ``shape`` when they were not a node's writes);
    ``stored``: node results written; ``unstorable``: results LangGraph's serializer could not write.

    >>> NodeCacheStats(hits=3, misses=1).hit_rate
    0.75
    """

    hits: int = 0
    misses: int = 0
    stored: int = 0
    unstorable: int = 0
    poisoned: Mapping[str, int] | None = None

    @property
    def hit_rate(self) -> float | None:
        """Share of lookups that were hits (``None`` before the first lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else None


class _PoisonedError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CachepointNodeCache(BaseCache[Any]):
    """A LangGraph ``BaseCache`` over a cachepoint store: ``builder.compile(cache=CachepointNodeCache(store, ...))``.

    Args:
        store: any `CacheStore` (`MemoryStore`, `RedisStore`, `TieredStore`, `AiocacheStore`...); wrapped in a
            `GuardedStore` (1 s timeout, default breaker) unless it is one, so its failures are misses.
        namespace: where this graph's entries live in the store (letters, digits and ``._-/``, at most 64).
            Give each graph its own. ``None``: `cache_points` derives one from the compiled graph; a cache used
            without a namespace raises ``ValueError`` on its first lookup.
        serde: LangGraph serializer for the node writes (default ``JsonPlusSerializer(pickle_fallback=False)``,
            LangGraph's own default for caches); one that falls back to pickle is refused.
        ledger: a `UsageLedger` in which every node served from the cache counts as a replayed call (a hit, no
            provider tokens), labelled ``node``, ``node_cache="hit"`` and ``labels``.
        labels: labels of those ledger entries (`cache_points` sets ``graph``).
        codec: the envelope around each entry (default: msgpack with a CRC); ``Codec(signing_keys=[...])`` signs
            entries so that nobody without the key can plant one in a shared store.

    >>> from cachepoint.core.stores import RedisStore
    >>> cache = CachepointNodeCache(RedisStore("redis://127.0.0.1:6379/0"), namespace="support")
    >>> type(cache.store).__name__  # failures of the store are misses
    'GuardedStore'
    """

    def __init__(
        self,
        store: CacheStore,
        *,
        namespace: str | None = None,
        serde: SerializerProtocol | None = None,
        ledger: UsageLedger | None = None,
        labels: Mapping[str, str] | None = None,
        codec: Codec | None = None,
    ) -> None:
        if not isinstance(store, CacheStore):
            raise TypeError(f"store: expected a cachepoint CacheStore, got {type(store).__name__}")
        if getattr(serde, "pickle_fallback", False):
            raise ValueError("serde: a serializer that falls back to pickle cannot read a shared cache safely")
        if ledger is not None and not isinstance(ledger, UsageLedger):
            raise TypeError(f"ledger: expected a UsageLedger or None, got {type(ledger).__name__}")
        super().__init__(serde=serde or JsonPlusSerializer(pickle_fallback=False))
        self.store: CacheStore = store if isinstance(store, GuardedStore) else GuardedStore(store)
        self.namespace = check_namespace(namespace) if namespace is not None else None
        self.ledger = ledger
        self.labels = {str(k): str(v) for k, v in (labels or {}).items()}
        self.codec = codec if codec is not None else Codec(encoding="msgpack")
        self._lock = threading.Lock()
        self._hits = self._misses = self._stored = self._unstorable = 0
        self._poisoned: dict[str, int] = {}

    @property
    def stats(self) -> NodeCacheStats:
        """A snapshot of the counters (see `NodeCacheStats`)."""
        with self._lock:
            return NodeCacheStats(
                hits=self._hits,
                misses=self._misses,
                stored=self._stored,
                unstorable=self._unstorable,
                poisoned=dict(self._poisoned),
            )

    # --- keys ---

    def _root(self) -> str:
        if self.namespace is None:
            raise ValueError(
                "CachepointNodeCache has no namespace: name one (CachepointNodeCache(store, namespace='my-graph')) "
                "or attach it with cache_points(graph, cache=...), which derives one from the compiled graph"
            )
        return self.namespace

    def _node_namespace(self, ns: Namespace) -> str:
        """``"<namespace>:<node>.<digest of LangGraph's namespace tuple>"``: what ``clear`` removes for one node."""
        node = quote(str(ns[-1]) if ns else "", safe="")[:48]
        return f"{self._root()}:{node}.{fingerprint_value(list(ns), path='namespace')[:16]}"

    def _store_key(self, key: FullKey) -> str:
        ns, digest = key
        return f"{self._node_namespace(ns)}:{digest}"

    # --- values ---

    def _dump(self, store_key: str, writes: Any) -> bytes:
        # The writes are live objects of the run: a message in them may be lent to a call in flight (another node
        # of this step, another thread sharing the object). Store it as the user left it, not with the markers.
        kind, data = loans.read_as_left(self.serde.dumps_typed, writes)
        return self.codec.encode([kind, data], context=store_key.encode())

    def _load(self, store_key: str, raw: bytes) -> Writes:
        decoded = self.codec.try_decode(raw, context=store_key.encode())
        if not decoded.ok:
            raise _PoisonedError(decoded.outcome.value)
        pair = decoded.value
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and isinstance(pair[1], bytes)):
            raise _PoisonedError("shape")
        if "pickle" in pair[0]:
            raise _PoisonedError("pickle")
        try:
            writes = self.serde.loads_typed((pair[0], pair[1]))
        except Exception as exc:
            raise _PoisonedError("serde") from exc
        return _as_writes(writes)

    # --- async: the real path ---

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, Writes]:
        """The cached writes of the nodes in ``keys`` that have them (LangGraph calls this once per superstep)."""
        keys = list(keys)
        if not keys:
            return {}
        store_keys = [self._store_key(key) for key in keys]
        started = time.perf_counter()
        try:
            raws = await self.store.get_many(store_keys)
        except Exception as exc:  # GuardedStore answers misses; this is only a bug or a caller mistake somewhere
            _warn("get", exc)
            raws = [None] * len(keys)
        elapsed = time.perf_counter() - started
        found: dict[FullKey, Writes] = {}
        poisoned: list[str] = []
        for key, store_key, raw in zip(keys, store_keys, raws, strict=True):
            if raw is None:
                continue
            try:
                found[key] = self._load(store_key, raw)
            except _PoisonedError as bad:
                poisoned.append(bad.reason)
                log_once(
                    f"poisoned:{bad.reason}",
                    f"cachepoint: a node-cache entry was not used ({bad.reason}); the node runs instead",
                    logger=logger,
                )
        with self._lock:
            self._hits += len(found)
            self._misses += len(keys) - len(found)
            for reason in poisoned:
                self._poisoned[reason] = self._poisoned.get(reason, 0) + 1
        self._record_hits(found, elapsed)
        return found

    async def aset(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        """Store node writes, each with its ``CachePolicy`` TTL (LangGraph calls this after a node ran)."""
        await self._write(self._encode(pairs))

    def _encode(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> dict[int | None, dict[str, bytes]]:
        """The entries to store, by TTL. The writes are live objects of the run (the messages in its state); they
        are serialized here, in the thread LangGraph calls from, before any await or hop to the sync bridge, so
        the entry is what the node wrote, not what later steps make of those objects (``_dump`` leaves out the
        markers of calls in flight)."""
        by_ttl: dict[int | None, dict[str, bytes]] = {}
        unstorable = 0
        for key, (writes, ttl) in pairs.items():
            store_key = self._store_key(key)
            try:
                by_ttl.setdefault(ttl, {})[store_key] = self._dump(store_key, writes)
            except Exception as exc:
                unstorable += 1
                log_once(
                    f"unstorable:{type(exc).__name__}",
                    f"cachepoint: the writes of node {key[0][-1] if key[0] else '?'!r} could not be serialized "
                    f"without pickle, not cached ({type(exc).__name__}: {exc})",
                    logger=logger,
                )
        if unstorable:
            with self._lock:
                self._unstorable += unstorable
        return by_ttl

    async def _write(self, by_ttl: Mapping[int | None, Mapping[str, bytes]]) -> None:
        for ttl, items in by_ttl.items():
            try:
                await self.store.set_many(items, ttl)
            except Exception as exc:
                _warn("set", exc)
                continue
            with self._lock:
                self._stored += len(items)

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Delete the entries of the given node namespaces, or every entry of this graph's namespace."""
        if namespaces is None:
            await self.store.clear(self._root())
            return
        for ns in namespaces:
            await self.store.clear(self._node_namespace(tuple(ns)))

    # --- sync: the same, through cachepoint's bridge loop ---

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, Writes]:
        """`aget` for sync runs (``invoke`` / ``stream``)."""
        return run_sync(lambda: self.aget(keys))

    def set(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        """`aset` for sync runs."""
        by_ttl = self._encode(pairs)  # in LangGraph's thread, before the hop to the bridge (see `_encode`)
        run_sync(lambda: self._write(by_ttl))

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """`aclear` for sync callers (``graph.clear_cache()``)."""
        run_sync(lambda: self.aclear(namespaces))

    # --- bookkeeping ---

    def _record_hits(self, found: Mapping[FullKey, Writes], elapsed: float) -> None:
        ledger = self.ledger
        if ledger is None or not found:
            return
        try:
            for ns, _ in found:
                labels = {**self.labels, "node": ns[-1] if ns else None, "node_cache": "hit"}
                ledger.record_replay(labels, duration_s=elapsed)
        except Exception as exc:
            log_once(
                f"ledger:{type(exc).__name__}",
                f"cachepoint: node-cache hits could not be recorded ({type(exc).__name__}: {exc})",
                logger=logger,
            )

    def __repr__(self) -> str:
        return f"CachepointNodeCache({self.store!r}, namespace={self.namespace!r})"


def _as_writes(value: Any) -> Writes:
    """A node's writes as LangGraph replays them: ``(channel, value)`` pairs (msgpack brings tuples back as lists)."""
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise _PoisonedError("shape")
    writes: Writes = []
    for item in value:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise _PoisonedError("shape")
        writes.append((item[0], item[1]))
    return writes


def _warn(operation: str, exc: BaseException) -> None:
    log_once(
        f"{operation}:{type(exc).__name__}",
        f"cachepoint: the node cache's {operation} failed, treated as a miss ({type(exc).__name__}: {exc})",
        logger=logger,
    )
