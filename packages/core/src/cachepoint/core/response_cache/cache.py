"""`ResponseCache`: exact replay of repeatable LLM calls, over any `CacheStore`, that never breaks a call.

The flow of ``await cache.get_or_call(request, call)``:

1. **Policy.** A call the policy does not cache (sampled, by default: ``temperature > 0``, an LLM request without a
   temperature, ``n > 1``) goes straight upstream (``BYPASS``, with the reason on the result and in the stats).
2. **Key.** `cachepoint.core.keys` fingerprints the request and scopes it: ``"<ns>:<tenant>:<version>:<sha256>"``.
3. **Lookup.** One store round trip (the entry and its tags' generation tokens together). A good entry is a
   ``HIT``. A missing, expired, stale, corrupt, tampered or foreign entry is a miss, counted by cause; a store
   that fails is a miss too (the store is wrapped in a `GuardedStore <cachepoint.core.breaker.GuardedStore>`
   by default, so a sick store also stops being asked for a while).
4. **Single-flight.** The first caller of a key leads; identical calls arriving meanwhile — from any task,
   thread or event loop of the process — wait for the leader's result (``JOINED``). With a
   `DistributedLock`, the leader also takes a lease lock, so callers in other processes wait and poll the store
   for its result instead of calling too, and go ahead themselves after ``policy.lock_wait``. Lock calls go
   through the guarded store's circuit breaker, so a dead Redis costs no lock round trips either.
5. **Call and store.** The leader calls upstream. An exception propagates to the leader and to its waiters and
   is never stored. A result is encoded by the codec and written with the policy's TTL; a result the codec
   cannot carry is returned anyway (counted as ``unstorable``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from cachepoint.core.breaker import CircuitBreaker, GuardedStore
from cachepoint.core.codec import Codec, DecodeOutcome
from cachepoint.core.keys import canonical_json, canonical_request, fingerprint, key_prefix
from cachepoint.core.response_cache.entry import KIND_STREAM, KIND_VALUE, new_tag_token, tag_key
from cachepoint.core.response_cache.flight import ABANDONED, Flights, wait_async
from cachepoint.core.response_cache.lock import DistributedLock
from cachepoint.core.response_cache.policy import (
    SAMPLED_CANDIDATES,
    SAMPLED_TEMPERATURE,
    SAMPLED_UNSET,
    CachePolicy,
    _sampling_reason,
)
from cachepoint.core.response_cache.result import CacheResult, Source
from cachepoint.core.response_cache.stats import CacheStats, StatsSnapshot
from cachepoint.core.response_cache.streamflight import StreamFlights
from cachepoint.core.stores._deadline import within
from cachepoint.core.stores.base import CacheStore
from cachepoint.core.stores.memory import MemoryStore
from cachepoint.core.stores.tiered import TieredStore

if TYPE_CHECKING:
    from cachepoint.core.response_cache.stream import CachedStream
    from cachepoint.core.response_cache.sync import SyncResponseCache

__all__ = ["ResponseCache", "WarmReport"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Dump = Callable[[Any], Any]
Load = Callable[[Any], Any]


class _Unset:
    def __repr__(self) -> str:
        return "<policy default>"


UNSET: Any = _Unset()
_OK = DecodeOutcome.OK
_HIT = Source.HIT
_MISS: Any = object()

# Bound on one call of a lock that does not state its own budget (`RedisLock` does: its store's).
_LOCK_OP_TIMEOUT = 5.0
_POLL_FIRST = 0.005
_POLL_MAX = 0.25


class Plan:
    """Everything one call needs after its key is known (internal)."""

    __slots__ = ("context", "dump", "key", "kind", "load", "read_keys", "tag_keys", "tags", "ttl")

    def __init__(
        self,
        key: str,
        kind: str,
        *,
        tags: tuple[str, ...],
        tag_keys: tuple[str, ...],
        ttl: float | None,
        dump: Dump | None,
        load: Load | None,
    ) -> None:
        self.key = key
        self.context = key.encode("utf-8")
        self.kind = kind
        self.tags = tags
        self.tag_keys = tag_keys
        self.read_keys = [key, *tag_keys] if tag_keys else None
        self.ttl = ttl
        self.dump = dump
        self.load = load


@dataclass
class WarmReport:
    """What `ResponseCache.warm` did, request by request.

    >>> WarmReport(stored=2, present=1).total
    3
    """

    stored: int = 0
    present: int = 0
    bypassed: int = 0
    failed: int = 0
    errors: list[tuple[int, BaseException]] = field(default_factory=list)
    """``(index in requests, exception)`` for each failed call."""

    @property
    def total(self) -> int:
        """Requests seen.

        >>> WarmReport(failed=1, bypassed=2).total
        3
        """
        return self.stored + self.present + self.bypassed + self.failed


def _check_ttl(ttl: Any) -> float | None:
    if ttl is not None and not (isinstance(ttl, (int, float)) and not isinstance(ttl, bool) and ttl > 0):
        raise ValueError(f"ttl: expected a positive number of seconds or None, got {ttl!r}")
    return cast("float | None", ttl)


def _guarded(store: CacheStore) -> CacheStore:
    # A breaker and a timeout protect calls from a remote backend that fails or hangs. An in-process MemoryStore
    # does neither (no I/O, no awaiting), and any exception it raised would still be a miss (`_read`/`_write`
    # catch everything), so guarding it would only add a timer per call to the hit path. A TieredStore whose L2 is
    # already guarded is left alone for the same reason: its L1 hits stay as cheap as a MemoryStore's.
    if isinstance(store, (GuardedStore, MemoryStore)):
        return store
    if isinstance(store, TieredStore) and isinstance(store.l2, GuardedStore):
        return store
    return cast(CacheStore, GuardedStore(store))


def _unguarded(store: CacheStore) -> list[CacheStore]:
    """The stores that invalidation must write to *visibly*: guards removed, tiers split (both tiers are written,
    so this process's L1 cannot serve what was just invalidated)."""
    if isinstance(store, GuardedStore):
        return _unguarded(store.store)
    if isinstance(store, TieredStore):
        return [*_unguarded(store.l1), *_unguarded(store.l2)]
    return [store]


def _breaker_of(store: CacheStore) -> CircuitBreaker | None:
    if isinstance(store, GuardedStore):
        return store.breaker
    if isinstance(store, TieredStore):
        return _breaker_of(store.l2)
    return None


class ResponseCache:
    """Exact-replay cache of LLM responses (or any repeatable async call) over a `CacheStore`.

    - ``store``: any `CacheStore`. Wrapped in a `GuardedStore <cachepoint.core.breaker.GuardedStore>` unless
      ``guard=False`` (pass your own `GuardedStore` to tune its breaker); a failing store is a miss either way.
    - ``policy``: namespace, tenant, TTL, tags, what is cacheable (`CachePolicy`).
    - ``codec``: how entries are encoded (default: JSON, unsigned). Pass ``Codec(signing_keys=...)`` when
      anyone else can write to the store: a tampered or moved entry is then a counted miss.
    - ``lock``: a `DistributedLock` (e.g. `RedisLock`) for single-flight across processes.
    - ``dump`` / ``load``: turn results into codec values and back (e.g. ``ChatCompletion.model_dump`` /
      ``ChatCompletion.model_validate``); per call too. Without them, results must already be codec values
      (dicts, lists, str, bytes...), and hits return them as the codec gives them back (tuples as lists).

    Every method is safe from any task, thread or event loop; ``cache.sync`` is the blocking twin.

    >>> import asyncio
    >>> from cachepoint.core.stores import MemoryStore
    >>> cache = ResponseCache(MemoryStore(max_entries=1000), CachePolicy("chat"))
    >>> async def call() -> dict:
    ...     return {"text": "Paris"}
    >>> request = {"model": "m", "messages": [{"role": "user", "content": "Capital of France?"}], "temperature": 0}
    >>> async def twice() -> list[str]:
    ...     first = await cache.get_or_call(request, call)
    ...     second = await cache.get_or_call(request, call)
    ...     return [first.source.value, second.source.value]
    >>> asyncio.run(twice())
    ['miss', 'hit']
    """

    def __init__(
        self,
        store: CacheStore,
        policy: CachePolicy,
        *,
        codec: Codec | None = None,
        guard: bool = True,
        lock: DistributedLock | None = None,
        dump: Dump | None = None,
        load: Load | None = None,
    ) -> None:
        if not isinstance(policy, CachePolicy):
            raise TypeError(f"policy: expected a CachePolicy, got {type(policy).__name__}")
        if not isinstance(store, CacheStore):
            raise TypeError(f"store: expected a CacheStore, got {type(store).__name__}")
        if lock is not None and not isinstance(lock, DistributedLock):
            raise TypeError(f"lock: expected a DistributedLock, got {type(lock).__name__}")
        self.policy = policy
        self._codec = codec if codec is not None else Codec()
        self._decode = self._codec._decode
        self._decode_entry = self._codec._decode_entry
        self._signs = self._codec.signed  # only a signing codec reads the context (the key) it verifies against
        self.backend = store
        """The store as given."""
        self._store: CacheStore = _guarded(store) if guard else store
        # An in-process MemoryStore (exactly: a subclass may do I/O) is read synchronously, through its entries.
        self._memory = self._store if type(self._store) is MemoryStore else None
        self.lock = lock
        self._dump = dump
        self._load = load
        self._stats = CacheStats(policy.namespace, codec=self._codec)
        self._flights = Flights()
        self._stream_flights = StreamFlights()
        self._warned: set[str] = set()
        self._bypass_noted: set[str] = set()
        self._nondeterministic = policy.cache_nondeterministic
        self._unset_temperature = policy.unset_temperature
        self._policy_tags = policy.tags
        self._ignore_params = policy.ignore_params
        self._policy_tag_keys = tuple(tag_key(policy.namespace, tag) for tag in policy.tags)
        self._sync: SyncResponseCache | None = None
        # The common case (no per-call tenant) needs no prefix computation at all.
        self._default_prefix = (
            None
            if policy.tenant is None and policy.require_tenant
            else key_prefix(namespace=policy.namespace, tenant=policy.tenant, version=policy.version)
        )

    # -- public API --------------------------------------------------------------------------------------------

    @property
    def store(self) -> CacheStore:
        """The store used for lookups and writes: ``backend``, wrapped in a `GuardedStore` unless it is in-process
        or already guarded (or ``guard=False``).

        >>> from cachepoint.core.stores import MemoryStore
        >>> type(ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat")).store).__name__
        'MemoryStore'
        """
        return self._store

    @property
    def codec(self) -> Codec:
        """How entries are encoded and decoded (its ``counts`` include this cache's decodes).

        >>> from cachepoint.core.stores import MemoryStore
        >>> ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat")).codec.signed
        False
        """
        return self._codec

    @property
    def sync(self) -> SyncResponseCache:
        """The blocking twin of this cache, for sync code: same methods, sync callables.

        >>> from cachepoint.core.stores import MemoryStore
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> cache.sync.get_or_call({"model": "m", "messages": [], "temperature": 0}, lambda: "hello").source.value
        'miss'
        """
        if self._sync is None:
            from cachepoint.core.response_cache.sync import SyncResponseCache

            self._sync = SyncResponseCache(self)
        return self._sync

    def stats(self) -> StatsSnapshot:
        """A snapshot of this cache's counters (`StatsSnapshot`): hits, misses, bytes, bad entries...

        >>> from cachepoint.core.stores import MemoryStore
        >>> ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat")).stats().hits
        0
        """
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Zero this cache's counters.

        >>> from cachepoint.core.stores import MemoryStore
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> cache.reset_stats()
        >>> cache.stats().misses
        0
        """
        self._stats.reset()

    def key_for(self, request: Mapping[str, Any], *, tenant: Any = UNSET, stream: bool = False) -> str:
        """The store key of ``request`` under this cache's policy (and ``tenant``, if given).

        Streams and plain calls of the same request have different keys (they store different things).

        >>> from cachepoint.core.stores import MemoryStore
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat", version=3))
        >>> cache.key_for({"model": "m"}, tenant="acme")[:15]
        'chat:t.acme:v3:'
        """
        policy = self.policy
        if tenant is UNSET and self._default_prefix is not None:
            prefix = self._default_prefix
        else:
            prefix = self._prefix_for(tenant)
        if stream:
            canonical = canonical_request(request, ignore=policy.ignore_params)
            # A list can never have the canonical JSON of a request (an object), so the two kinds never collide.
            return prefix + hashlib.sha256(canonical_json(["stream", canonical], path="request")).hexdigest()
        return prefix + fingerprint(request, ignore=policy.ignore_params)

    def scoped_key(self, digest: str, *, tenant: Any = UNSET) -> str:
        """``digest`` (a hex fingerprint) scoped by this cache's namespace, ``tenant`` and version.

        >>> from cachepoint.core.stores import MemoryStore
        >>> ResponseCache(MemoryStore(max_entries=10), CachePolicy("fn")).scoped_key("00" * 32)[:14]
        'fn:shared:v1:0'
        """
        policy = self.policy
        return key_prefix(namespace=policy.namespace, tenant=self._tenant(tenant), version=policy.version) + digest

    def cacheable(self, request: Mapping[str, Any]) -> bool:
        """Whether the policy caches ``request`` (deterministic, or ``cache_nondeterministic``); see
        `CachePolicy.bypass_reason` for why not.

        >>> from cachepoint.core.stores import MemoryStore
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> cache.cacheable({"model": "m", "messages": [], "temperature": 0.9})
        False
        >>> cache.cacheable({"model": "m", "messages": []})  # temperature unset: the provider samples at 1.0
        False
        >>> cache.cacheable({"model": "m", "messages": [], "temperature": 0})
        True
        """
        return self._bypass_reason(request) is None

    async def get_or_call(
        self,
        request: Mapping[str, Any],
        call: Callable[[], Awaitable[T]],
        *,
        tenant: Any = UNSET,
        tags: Iterable[str] = (),
        ttl: Any = UNSET,
        dump: Dump | None = None,
        load: Load | None = None,
    ) -> CacheResult[T]:
        """The cached result of ``request``, or ``await call()``'s — made once however many callers ask at once.

        ``tenant``, ``ttl`` override the policy for this call; ``tags`` add to the policy's tags; ``dump`` /
        ``load`` override the cache's. Returns a `CacheResult` (``.value``, ``.hit``, ``.source``, and for a
        call the policy does not cache, ``.reason``). Raises what ``call`` raises (nothing is stored then), a
        `FingerprintError <cachepoint.core.keys.FingerprintError>` for a request that cannot be keyed,
        ``ValueError`` without a tenant under ``require_tenant``; never a store error.

        >>> import asyncio
        >>> from cachepoint.core.stores import MemoryStore
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> async def ask() -> str:
        ...     return "42"
        >>> asyncio.run(cache.get_or_call({"model": "m", "messages": [], "temperature": 0}, ask)).value
        '42'
        >>> asyncio.run(cache.get_or_call({"model": "m", "messages": []}, ask)).reason
        'sampled: temperature unset'
        """
        if not self._nondeterministic:
            reason = _sampling_reason(request, self._unset_temperature)
            if reason is not None:
                return await self._bypass(call, reason)
        prefix = self._default_prefix
        if tenant is not UNSET or prefix is None:
            prefix = self._prefix_for(tenant)
        key = prefix + fingerprint(request, ignore=self._ignore_params)
        if ttl is not UNSET:
            _check_ttl(ttl)  # a bad argument is an error even when the call is a hit
        if tags or self._policy_tags:
            plan = self._make_plan(key, KIND_VALUE, tags=tags, ttl=ttl, dump=dump, load=load)
            return await self._get_or_call(plan, call)
        # The hit path without tags, inlined (no plan object, no extra frames): it is most of what a cache does.
        # A miss continues below with the same single-flight path as everyone else.
        context = key.encode("utf-8") if self._signs else b""
        memory = self._memory
        raw: bytes | None = None
        decoded = None
        try:
            if memory is not None:  # in-process: no coroutine, and bytes already verified are not checked again
                entry = memory.get_entry(key)
                if entry is not None:
                    raw = entry.value
                    decoded = self._decode_entry(entry, context)
            else:
                raw = await self.store.get(key)
        except Exception:
            raw = None
            self._stats.add(store_errors=1)
            log.debug("response cache: store read failed for %s", key, exc_info=True)
        if raw is not None:
            decoded = decoded or self._decode(raw, context)
            load = load or self._load
            body = decoded[1]
            if (
                decoded[0] is _OK
                and load is None
                and type(body) is dict
                and body.get("k") == KIND_VALUE
                and "d" in body
            ):
                self._stats.hit(len(raw))  # a good entry as stored, nothing to load: the usual hit, judged inline
                return CacheResult(body["d"], _HIT, key)
            found = self._accept(raw, decoded, KIND_VALUE, (), None, load)
            if found is not _MISS:
                return CacheResult(found, _HIT, key)
        plan = self._make_plan(key, KIND_VALUE, ttl=ttl, dump=dump, load=load)
        return await self._after_miss(plan, call, count=True)

    async def lookup(
        self,
        request: Mapping[str, Any],
        *,
        tenant: Any = UNSET,
        tags: Iterable[str] = (),
        load: Load | None = None,
    ) -> CacheResult[Any] | None:
        """The cached result of ``request`` (a ``HIT`` `CacheResult`), or ``None``; never calls upstream.

        >>> import asyncio
        >>> from cachepoint.core.stores import MemoryStore
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> asyncio.run(cache.lookup({"model": "m", "messages": [], "temperature": 0})) is None
        True
        """
        if not self.cacheable(request):
            return None
        plan = self._make_plan(self.key_for(request, tenant=tenant), KIND_VALUE, tags=tags, load=load)
        found = await self._read(plan)
        if found is _MISS:
            self._stats.add(misses=1)
            return None
        return CacheResult(found, Source.HIT, plan.key)

    def stream(
        self,
        request: Mapping[str, Any],
        call: Callable[[], AsyncIterable[T] | Awaitable[AsyncIterable[T]]],
        *,
        tenant: Any = UNSET,
        tags: Iterable[str] = (),
        ttl: Any = UNSET,
        dump: Dump | None = None,
        load: Load | None = None,
    ) -> CachedStream[T]:
        """Stream ``request``: replay a stored complete stream chunk by chunk, or relay ``call()``'s and store it
        once complete. ``dump`` / ``load`` apply to each chunk. See `CachedStream` for what is stored when.

        >>> import asyncio
        >>> from cachepoint.core.stores import MemoryStore
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> async def tokens():
        ...     for t in ["Hel", "lo"]:
        ...         yield t
        >>> async def read() -> list[str]:
        ...     return [chunk async for chunk in cache.stream({"model": "m", "temperature": 0}, tokens)]
        >>> asyncio.run(read())
        ['Hel', 'lo']
        """
        from cachepoint.core.response_cache.stream import CachedStream

        reason = self._bypass_reason(request)
        if reason is not None:
            return CachedStream(self, None, call, reason=reason)
        key = self.key_for(request, tenant=tenant, stream=True)
        plan = self._make_plan(key, KIND_STREAM, tags=tags, ttl=ttl, dump=dump, load=load)
        return CachedStream(self, plan, call)

    async def warm(
        self,
        requests: Iterable[Mapping[str, Any]],
        call: Callable[[Mapping[str, Any]], Awaitable[Any]],
        *,
        tenant: Any = UNSET,
        tags: Iterable[str] = (),
        ttl: Any = UNSET,
        concurrency: int = 4,
    ) -> WarmReport:
        """Pre-fill the cache: ``await call(request)`` for each request not cached yet, ``concurrency`` at once.

        Failures are collected in the report, not raised; requests the policy does not cache are skipped.
        Warming does not count towards hits and misses.

        >>> import asyncio
        >>> from cachepoint.core.stores import MemoryStore
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("faq"))
        >>> async def answer(request):
        ...     return "A: " + request["messages"][0]["content"]
        >>> qs = [{"model": "m", "messages": [{"role": "user", "content": q}], "temperature": 0} for q in "ab"]
        >>> asyncio.run(cache.warm(qs, answer)).stored
        2
        """
        if concurrency < 1:
            raise ValueError(f"concurrency: expected >= 1, got {concurrency}")
        report = WarmReport()
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int, request: Mapping[str, Any]) -> None:
            if not self.cacheable(request):
                report.bypassed += 1
                return
            plan = self._make_plan(self.key_for(request, tenant=tenant), KIND_VALUE, tags=tags, ttl=ttl)
            async with gate:
                if await self._read(plan, count=False) is not _MISS:
                    report.present += 1
                    return
                try:
                    result = await self._get_or_call(plan, lambda: call(request), count=False)
                except Exception as exc:
                    report.failed += 1
                    report.errors.append((index, exc))
                    return
                if result.source is Source.MISS:
                    report.stored += 1
                else:
                    report.present += 1

        await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
        return report

    async def invalidate(
        self,
        *,
        tag: str | None = None,
        tags: Iterable[str] = (),
        request: Mapping[str, Any] | None = None,
        tenant: Any = UNSET,
    ) -> int:
        """Retire entries beyond their TTL: every entry carrying ``tag``/``tags`` (one write per tag, no scan;
        any tenant, any version), and/or the entries of ``request`` (plain and stream) for ``tenant``.

        Returns how many tags were bumped plus entries deleted. Store failures **raise** here (a
        `StoreError <cachepoint.core.stores.StoreError>`), even through a `GuardedStore`: an invalidation that
        silently did nothing would serve stale answers. With a `TieredStore`, both tiers of *this* process are
        written; other processes' L1 tiers may serve entries for up to their ``l1_ttl``.

        >>> import asyncio
        >>> from cachepoint.core.stores import MemoryStore
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("docs", tags=["kb"]))
        >>> asyncio.run(cache.invalidate(tag="kb"))
        1
        """
        names = [*([tag] if tag is not None else []), *([tags] if isinstance(tags, str) else tags)]
        if not names and request is None:
            raise ValueError("invalidate: give tag=, tags= or request=")
        count = 0
        if names:
            for index, name in enumerate(names):
                if not isinstance(name, str) or not name:
                    raise ValueError(f"tags[{index}]: expected a non-empty str, got {name!r}")
            tokens = {tag_key(self.policy.namespace, n): new_tag_token() for n in names}
            for store in _unguarded(self.backend):
                await store.set_many(tokens, None)
            count += len(names)
        if request is not None:
            keys = [self.key_for(request, tenant=tenant, stream=stream) for stream in (False, True)]
            deleted = set()
            for store in _unguarded(self.backend):
                for key in keys:
                    if await store.delete(key):
                        deleted.add(key)
            count += len(deleted)
        return count

    async def clear(self) -> int:
        """Delete every entry of this cache's namespace (all tenants and versions) and its tag tokens.

        Store failures raise. Returns how many keys were removed.

        >>> import asyncio
        >>> from cachepoint.core.stores import MemoryStore
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> asyncio.run(cache.clear())
        0
        """
        removed = 0
        for store in _unguarded(self.backend):
            removed = await store.clear(self.policy.namespace)  # the last (shared) tier's count is the truth
        return removed

    # -- internals shared with the stream and sync faces ----------------------------------------------------------

    def _prefix_for(self, tenant: Any) -> str:
        policy = self.policy
        return key_prefix(namespace=policy.namespace, tenant=self._tenant(tenant), version=policy.version)

    def _tenant(self, tenant: Any) -> str | None:
        if tenant is UNSET:
            tenant = self.policy.tenant
        if tenant is None and self.policy.require_tenant:
            raise ValueError(
                f"tenant: the policy of namespace {self.policy.namespace!r} requires a tenant "
                "(CachePolicy.require_tenant); pass tenant=..."
            )
        return cast("str | None", tenant)

    def _make_plan(
        self,
        key: str,
        kind: str,
        *,
        tags: Iterable[str] = (),
        ttl: Any = UNSET,
        dump: Dump | None = None,
        load: Load | None = None,
    ) -> Plan:
        """Everything a call of ``key`` needs: tags with their token keys, TTL, dump/load (internal)."""
        if tags:
            extra = (tags,) if isinstance(tags, str) else tuple(tags)
            for index, name in enumerate(extra):
                if not isinstance(name, str) or not name:
                    raise ValueError(f"tags[{index}]: expected a non-empty str, got {name!r}")
            all_tags = self._policy_tags + tuple(t for t in extra if t not in self._policy_tags)
            tag_keys = tuple(tag_key(self.policy.namespace, t) for t in all_tags)
        else:
            all_tags, tag_keys = self._policy_tags, self._policy_tag_keys
        ttl = self.policy.ttl if ttl is UNSET else _check_ttl(ttl)
        return Plan(
            key,
            kind,
            tags=all_tags,
            tag_keys=tag_keys,
            ttl=ttl,
            dump=dump if dump is not None else self._dump,
            load=load if load is not None else self._load,
        )

    def _bypass_reason(self, request: Mapping[str, Any]) -> str | None:
        """Why the policy does not cache ``request``, or ``None`` (internal)."""
        if self._nondeterministic:
            return None
        return _sampling_reason(request, self._unset_temperature)

    async def _bypass(self, call: Callable[[], Awaitable[T]], reason: str) -> CacheResult[T]:
        self._note_bypass(reason)
        try:
            value = await call()
        except Exception:
            self._stats.add(errors=1)
            raise
        return CacheResult(value, Source.BYPASS, None, reason)

    def _note_bypass(self, reason: str) -> None:
        """Count a bypassed call by reason; the first of each reason logs, at INFO, how to cache such calls."""
        self._stats.bypass(reason)
        if reason in self._bypass_noted:
            return
        self._bypass_noted.add(reason)
        namespace = self.policy.namespace
        if reason == SAMPLED_UNSET:
            advice = (
                "LLM requests that leave temperature unset are sampled (providers default to 1.0), so they are "
                "called upstream every time; set temperature=0 for repeatable answers, or pass "
                "CachePolicy(unset_temperature='deterministic') to cache them as they are"
            )
        elif reason == SAMPLED_TEMPERATURE:
            advice = (
                "sampled requests (temperature > 0) are called upstream every time; pass "
                "CachePolicy(cache_nondeterministic=True) to replay one sample as the answer"
            )
        elif reason == SAMPLED_CANDIDATES:
            advice = (
                "requests for several candidates (n > 1) without temperature=0 are called upstream every time; "
                "pass CachePolicy(cache_nondeterministic=True) to cache them anyway"
            )
        else:
            advice = f"calls are not cached ({reason})"
        log.info("response cache %r: %s (bypassed calls are counted in stats().bypass_reasons)", namespace, advice)

    async def _read(self, plan: Plan, *, count: bool = True) -> Any:
        """The loaded value stored for ``plan``, or ``_MISS``; counts hits and bad entries (internal)."""
        raws: list[bytes | None] | None = None
        decoded = None
        try:
            if plan.tag_keys:
                raws = await self.store.get_many(plan.read_keys or ())
                raw = raws[0]
            elif self._memory is not None:
                entry = self._memory.get_entry(plan.key)
                raw = None if entry is None else entry.value
                decoded = None if entry is None else self._decode_entry(entry, plan.context)
            else:
                raw = await self.store.get(plan.key)
        except Exception:
            self._stats.add(store_errors=1)
            log.debug("response cache: store read failed for %s", plan.key, exc_info=True)
            return _MISS
        if raw is None:
            return _MISS
        decoded = decoded or self._decode(raw, plan.context)
        return self._accept(raw, decoded, plan.kind, plan.tags, raws, plan.load, count)

    def _accept(  # noqa: PLR0917 - one exit per miss cause; positional: it is on the hit path
        self,
        raw: bytes,
        decoded: tuple[DecodeOutcome, Any, str],
        kind: str,
        tags: tuple[str, ...],
        raws: list[bytes | None] | None,
        load: Load | None,
        count: bool = True,
    ) -> Any:
        """Judge a stored entry and its decode (uncounted, see `CacheStats`): its value, or ``_MISS`` counted by
        cause (bad, wrong kind, stale, unloadable). The codec's count and this cache's take one lock."""
        outcome, body, _ = decoded
        stats = self._stats
        if outcome is not _OK:
            stats.decoded(outcome)
            return _MISS
        if type(body) is not dict or body.get("k") != kind or "d" not in body:
            stats.decoded(_OK, bad=DecodeOutcome.CORRUPT)
            return _MISS
        if raws is not None and not self._fresh(body.get("g"), tags, raws):
            stats.decoded(_OK, stale=1)
            return _MISS
        data = body["d"]
        if load is not None:
            try:
                data = [load(chunk) for chunk in data] if kind == KIND_STREAM else load(data)
            except Exception:
                stats.decoded(_OK, load_errors=1)
                self._warn_once("load", f"response cache {self.policy.namespace!r}: load() failed on a stored entry")
                return _MISS
        if count:
            stats.hit(len(raw))
        else:
            stats.decoded(_OK)
        return data

    @staticmethod
    def _fresh(recorded: Any, tags: tuple[str, ...], raws: list[bytes | None]) -> bool:
        """Whether the tag generations an entry recorded are still the current ones."""
        if type(recorded) is not dict:
            return False
        for name, current in zip(tags, raws[1:], strict=True):
            if current is None or recorded.get(name) != current.decode("ascii", "replace"):
                return False
        return True

    async def _write(self, plan: Plan, data: Any) -> None:
        """Encode and store ``data`` (already dumped) under ``plan``; never raises (internal)."""
        try:
            body: dict[str, Any] = {"k": plan.kind, "d": data}
            if plan.tag_keys:
                body["g"] = await self._tag_tokens(plan)
            raw = self.codec.encode(body, context=plan.context)
        except Exception as exc:
            self._stats.add(unstorable=1)
            self._warn_once(
                "encode",
                f"response cache {self.policy.namespace!r}: a result could not be stored ({exc}); pass dump=/load= "
                "to convert results to plain data",
            )
            return
        limit = self.policy.max_entry_bytes
        if limit is not None and len(raw) > limit:
            self._stats.add(too_large=1)
            return
        try:
            await self.store.set(plan.key, raw, plan.ttl)
        except Exception:
            self._stats.add(store_errors=1)
            log.debug("response cache: store write failed for %s", plan.key, exc_info=True)
            return
        self._stats.add(stored=1, bytes_written=len(raw))

    def _dump_value(self, plan: Plan, value: Any) -> Any:
        """``plan.dump(value)`` (or ``value``); may raise (internal)."""
        return value if plan.dump is None else plan.dump(value)

    async def _tag_tokens(self, plan: Plan) -> dict[str, str]:
        current = await self.store.get_many(list(plan.tag_keys))
        tokens: dict[str, str] = {}
        created: dict[str, bytes] = {}
        for name, key, found in zip(plan.tags, plan.tag_keys, current, strict=True):
            token = found
            if token is None:
                token = created[key] = new_tag_token()
            tokens[name] = token.decode("ascii", "replace")
        if created:
            await self.store.set_many(created, None)
        return tokens

    async def _get_or_call(self, plan: Plan, call: Callable[[], Awaitable[T]], *, count: bool = True) -> CacheResult[T]:
        found = await self._read(plan, count=count)
        if found is not _MISS:
            return CacheResult(found, Source.HIT, plan.key)
        return await self._after_miss(plan, call, count=count)

    async def _after_miss(self, plan: Plan, call: Callable[[], Awaitable[T]], *, count: bool) -> CacheResult[T]:
        if count:
            self._stats.add(misses=1)
        if not self.policy.single_flight:
            return await self._lead(plan, call)
        while True:
            flight, leader = self._flights.lead_or_join(plan.key)
            if leader:
                try:
                    result = await self._lead(plan, call)
                except Exception as exc:
                    self._flights.settle(plan.key, flight, error=exc)
                    raise
                except BaseException:  # cancelled or interrupted: someone else should lead
                    self._flights.settle(plan.key, flight, value=ABANDONED)
                    raise
                self._flights.settle(plan.key, flight, value=result.value)
                return result
            self._stats.add(joins=1)
            outcome = await wait_async(flight.future)
            if outcome is ABANDONED:
                found = await self._read(plan, count=False)
                if found is not _MISS:
                    return CacheResult(found, Source.JOINED, plan.key)
                continue
            return CacheResult(outcome, Source.JOINED, plan.key)

    async def _lead(self, plan: Plan, call: Callable[[], Awaitable[T]]) -> CacheResult[T]:
        token = None
        if self.lock is not None:
            found, token = await self._acquire_or_wait(plan)
            if found is not _MISS:
                self._stats.add(joins=1)
                return CacheResult(found, Source.JOINED, plan.key)
        try:
            self._stats.add(upstream_calls=1)
            try:
                value = await call()
            except Exception:
                self._stats.add(errors=1)
                raise
            try:
                data = self._dump_value(plan, value)
            except Exception as exc:
                self._stats.add(unstorable=1)
                self._warn_once("dump", f"response cache {self.policy.namespace!r}: dump() failed ({exc})")
            else:
                await self._write(plan, data)
            return CacheResult(value, Source.MISS, plan.key)
        finally:
            if token is not None:
                await self._release_lock(plan, token)

    async def _acquire_or_wait(self, plan: Plan) -> tuple[Any, str | None]:
        """Take the distributed lock, or wait for its holder's result: ``(value or _MISS, token or None)``.

        Returns a value when the holder's result appeared in the store; ``(_MISS, token)`` when this caller
        holds the lock; ``(_MISS, None)`` when it should call without the lock (lock backend failure, or
        ``policy.lock_wait`` ran out). Internal.
        """
        lock = self.lock
        assert lock is not None
        deadline = time.monotonic() + self.policy.lock_wait
        delay = _POLL_FIRST
        waited = False
        while True:
            try:
                token = await self._lock_op(lambda: lock.acquire(plan.key, self.policy.lock_ttl))
            except Exception:
                self._stats.add(lock_errors=1)
                self._warn_once("lock", f"response cache {self.policy.namespace!r}: the lock failed, going ahead")
                return _MISS, None
            if token is not None:
                # Another process may have stored its result (and released) between our lookup and now: one
                # more read is cheap next to a duplicate upstream call.
                found = await self._read(plan, count=False)
                if found is not _MISS:
                    await self._release_lock(plan, token)
                    return found, None
                return _MISS, token
            if not waited:
                waited = True
                self._stats.add(lock_waits=1)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._stats.add(lock_timeouts=1)
                return _MISS, None
            await asyncio.sleep(min(delay * (0.5 + random.random()), remaining))  # noqa: S311 - jitter
            delay = min(delay * 2, _POLL_MAX)
            found = await self._read(plan, count=False)
            if found is not _MISS:
                return found, None

    async def _release_lock(self, plan: Plan, token: str) -> None:
        """Release the distributed lock; failures only log (the lease expires anyway). Internal."""
        assert self.lock is not None
        try:
            lock = self.lock
            await self._lock_op(lambda: lock.release(plan.key, token))
        except Exception:
            self._stats.add(lock_errors=1)
            log.debug("response cache: lock release failed for %s", plan.key, exc_info=True)

    async def _lock_op(self, start: Callable[[], Awaitable[T]]) -> T:
        # Lock calls share the guarded store's breaker: when Redis is down, a miss must not first wait on a lock
        # call that is bound to fail; when it recovers, the breaker's probe lets locking resume. A lock that states
        # its own budget (`RedisLock.timeout`, its store's) is held to it; any other lock to `_LOCK_OP_TIMEOUT`.
        budget = getattr(self.lock, "timeout", _LOCK_OP_TIMEOUT)

        async def bounded() -> T:
            return await within(budget, start)

        breaker = _breaker_of(self.store)
        if breaker is not None:
            return await breaker.call(bounded)
        return await bounded()

    def _count(self, **deltas: int) -> None:
        """Add to this cache's counters (internal, for the stream and sync faces)."""
        self._stats.add(**deltas)

    def _warn_once(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning(message)

    def __repr__(self) -> str:
        return f"ResponseCache({self.backend!r}, {self.policy!r})"
