"""`ResponseCache`: exact replay of repeatable LLM calls, over any `CacheStore`, that never breaks a call.

The flow of ``await cache.get_or_call(request, call)``:

1. **Policy.** A call the policy does not cache (sampled, by default: ``temperature > 0``, an LLM request without a
   temperature, ``n > 1``) goes straight upstream (``BYPASS``, with the reason on the result and in the stats).
2. **Key.** `cachepoint.core.keys` fingerprints the request and scopes it: ``"<ns>:<tenant>:<version>:<sha256>"``.
3. **Lookup.** One store round trip (the entry, with the generation tokens of the tags the reader names). The
   entry is judged in one place for every read path (`get_or_call`, `lookup`, streams, the sync face, the
   decorators, `warm`): a good entry of the right kind, fresh under every tag it *recorded* (a second round trip
   fetches the tokens of recorded tags the reader did not name), is a ``HIT``. A missing, expired, stale, corrupt,
   tampered or foreign entry is a miss, counted by cause; a store that fails is a miss too (the store is wrapped
   in a `GuardedStore <cachepoint.core.breaker.GuardedStore>` by default, so a sick store also stops being asked
   for a while).
4. **Single-flight.** The first caller of a key leads; identical calls arriving meanwhile — from any task,
   thread or event loop of the process — wait for the leader's result (``JOINED``), each getting its own copy
   (decoded from the entry the leader wrote, as a hit is). With a `DistributedLock`, the leader also takes a
   lease lock and renews it while its call runs, so callers in other processes wait and poll the store for its
   result instead of calling too, however long the call takes; when the result cannot be stored, the leader
   leaves a short-lived marker and the waiters stop waiting together. Lock calls go through the guarded store's
   circuit breaker, so a dead Redis costs no lock round trips either.
5. **Call and store.** The leader calls upstream. An exception propagates to the leader and to its waiters and
   is never stored. A result is encoded by the codec and written with the policy's TTL; a result the codec
   cannot carry is returned anyway (counted as ``unstorable``).

All the store and lock operations of one call share one time budget (``ResponseCache(timeout=...)``, see
`cachepoint.core.response_cache.budget`): a store that hangs costs a call that budget once, not once per
operation.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import logging
import random
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from cachepoint.core.breaker import CircuitBreaker, GuardedStore
from cachepoint.core.codec import Codec, DecodeError, DecodeOutcome, Verified
from cachepoint.core.keys import canonical_json, canonical_request, fingerprint, key_prefix
from cachepoint.core.once import log_once
from cachepoint.core.response_cache.budget import Budget, BudgetSpentError
from cachepoint.core.response_cache.entry import (
    KIND_STREAM,
    KIND_UNSTORABLE,
    KIND_VALUE,
    UNSTORABLE_MARK_TTL,
    fresh,
    new_tag_token,
    tag_key,
    tags_to_check,
)
from cachepoint.core.response_cache.flight import ABANDONED, Flights, wait_async
from cachepoint.core.response_cache.lock import DistributedLock, Lease
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
from cachepoint.core.stores.memory import MemoryEntry, MemoryStore
from cachepoint.core.stores.tiered import TieredStore

if TYPE_CHECKING:
    from cachepoint.core.response_cache.stream import CachedStream
    from cachepoint.core.response_cache.sync import SyncResponseCache

__all__ = ["ResponseCache", "WarmReport"]

log = logging.getLogger(__name__)
# Each cache says a problem once (core's `log_once`, keyed by this number): two caches, two warnings.
_CACHE_IDS = itertools.count(1)

T = TypeVar("T")
Dump = Callable[[Any], Any]
Load = Callable[[Any], Any]


class _Unset:
    def __repr__(self) -> str:
        return "<policy default>"


UNSET: Any = _Unset()
_OK = DecodeOutcome.OK
_CORRUPT = DecodeOutcome.CORRUPT
_HIT = Source.HIT
_MISS: Any = object()
"""A read found no usable entry."""
_NOT_PLAIN: Any = object()
"""`_Opened.plain` of an entry that needs judging on every read."""
_UNSTORABLE: Any = object()
"""A read found the marker of a lock holder whose result could not be stored (see `entry.KIND_UNSTORABLE`)."""
_UNDUMPABLE: Any = object()
"""``dump`` failed on a result: nothing to store."""
_IN_PROCESS_ONLY: Any = object()
"""`ResponseCache._read_local`: this store needs I/O."""

# Bound on one call of a lock that does not state its own budget (`RedisLock` does: its store's).
_LOCK_OP_TIMEOUT = 5.0
_POLL_FIRST = 0.005
_POLL_MAX = 0.25


class Plan:
    """Everything one call needs after its key is known (internal)."""

    __slots__ = ("budget", "context", "dump", "key", "kind", "load", "tag_keys", "tags", "ttl")

    def __init__(
        self,
        key: str,
        kind: str,
        *,
        context: bytes,
        tags: tuple[str, ...],
        tag_keys: tuple[str, ...],
        ttl: float | None,
        dump: Dump | None,
        load: Load | None,
        budget: Budget | None,
    ) -> None:
        self.key = key
        self.kind = kind
        self.context = context
        """What a signing codec binds the entry to (its key); empty for an unsigned codec."""
        self.tags = tags
        """The tags the caller names (the policy's, then the call's own)."""
        self.tag_keys = tag_keys
        self.ttl = ttl
        self.dump = dump
        self.load = load
        self.budget = budget
        """What is left of this call's time for store and lock operations (``None``: unbounded, or none needed)."""


class _Opened:
    """What a response cache keeps on an in-process entry it read (`MemoryEntry.note`): the `Verified` its codec
    made of the bytes, and their parsed body when every read may share it, else ``None`` (internal).

    A body is shared only when its value is immutable (text, bytes, a number: a LangChain entry's JSON, a string
    answer): readers only look at the body, and hand out its value, which nobody can then change. A body with a
    container value is parsed afresh on each read, so that each caller gets a copy of its own.

    ``plain`` is the shared body's value when the body is a value entry that recorded no tags, else
    ``_NOT_PLAIN``: all `_judge` would look at for a reader naming no tags, worked out once per entry, so that a
    lookup by key (`_lookup_local`) of such an entry judges nothing again on each hit."""

    __slots__ = ("body", "plain", "verified")

    def __init__(self, verified: Verified, body: Any) -> None:
        self.verified = verified
        shared = body if type(body) is dict and type(body.get("d")) in _IMMUTABLE else None
        self.body = shared
        self.plain = (
            shared["d"]
            if shared is not None and "d" in shared and shared.get("k") == KIND_VALUE and "g" not in shared
            else _NOT_PLAIN
        )


_IMMUTABLE = frozenset({str, bytes, int, float, bool, type(None)})


class _Shared:
    """What a flight's leader hands its in-process waiters: its value, and the entry it encoded (if any), from
    which each waiter decodes a copy of its own."""

    __slots__ = ("value", "verified")

    def __init__(self, value: Any, verified: Verified | None) -> None:
        self.value = value
        self.verified = verified


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


def _guarded(store: CacheStore, timeout: float | None) -> CacheStore:
    # A breaker and a timeout protect calls from a remote backend that fails or hangs. An in-process MemoryStore
    # does neither (no I/O, no awaiting), and any exception it raised would still be a miss (`_read`/`_write`
    # catch everything), so guarding it would only add a timer per call to the hit path. A TieredStore whose L2 is
    # already guarded is left alone for the same reason: its L1 hits stay as cheap as a MemoryStore's. The guard
    # bounds one operation by the call's whole budget: a call's first read then fails there (counted by the
    # breaker) rather than being cut short by the budget (which the breaker would not see).
    if isinstance(store, (GuardedStore, MemoryStore)):
        return store
    if isinstance(store, TieredStore) and isinstance(store.l2, GuardedStore):
        return store
    return cast(CacheStore, GuardedStore(store, timeout=timeout))


def _unguarded(store: CacheStore) -> list[CacheStore]:
    """The stores that invalidation must write to *visibly*, shared tier first: guards removed, tiers split (both
    tiers are written, so this process's L1 cannot serve what was just invalidated).

    L2 before L1: a read that misses L1 while the tiers are being written copies what L2 holds into L1; with L2
    written first, that copy is the new state, or an old one that the L1 write then removes. (The other order
    lets a read between the two writes put the old value back into L1, for up to ``l1_ttl``.)"""
    if isinstance(store, GuardedStore):
        return _unguarded(store.store)
    if isinstance(store, TieredStore):
        return [*_unguarded(store.l2), *_unguarded(store.l1)]
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
    - ``dump`` / ``load``: turn results into codec values and back; per call too. Without them, results must be
      what the codec carries (`cachepoint.core.codec`): plain data (dicts, lists, str, bytes...), provider SDK
      objects (an ``anthropic`` ``Message`` or stream event, an ``openai`` ``ChatCompletion``, chunk or
      Responses event) and pydantic models you registered (`cachepoint.core.sdk_types.register_model`), in any
      nesting; hits return them as the codec gives them back (SDK objects as the same types, tuples as lists).
    - ``timeout``: the most time, in seconds, one call spends waiting on the store and the lock, all its
      operations together (read, lock, tag tokens, write, release, polls while waiting for another process);
      once spent, the call's other store operations are skipped (a read is a miss, a write is dropped) and counted
      as ``over_budget``. It is also the per-operation timeout of the guard the cache puts around ``store``; if
      you pass your own `GuardedStore`, give it this timeout too (the call's first read is bounded by the guard,
      so that a store that hangs is seen by the breaker). ``None``: no budget.

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
        timeout: float | None = 1.0,
    ) -> None:
        if not isinstance(policy, CachePolicy):
            raise TypeError(f"policy: expected a CachePolicy, got {type(policy).__name__}")
        if not isinstance(store, CacheStore):
            raise TypeError(f"store: expected a CacheStore, got {type(store).__name__}")
        if lock is not None and not isinstance(lock, DistributedLock):
            raise TypeError(
                f"lock: expected a DistributedLock (async acquire, renew and release), got {type(lock).__name__}"
            )
        if timeout is not None and not (
            isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0
        ):
            raise ValueError(f"timeout: expected a positive number of seconds or None, got {timeout!r}")
        self.policy = policy
        self._codec = codec if codec is not None else Codec()
        self._signs = self._codec.signed  # only a signing codec reads the context (the key) it verifies against
        self.backend = store
        """The store as given."""
        self._store: CacheStore = _guarded(store, timeout) if guard else store
        self._breaker = _breaker_of(self._store)
        # An in-process MemoryStore (exactly: a subclass may do I/O) is read synchronously, through its entries.
        self._memory = self._store if type(self._store) is MemoryStore else None
        self._timeout = timeout
        self.lock = lock
        self._dump = dump
        self._load = load
        self._stats = CacheStats(policy.namespace, codec=self._codec)
        self._flights = Flights()
        self._stream_flights = StreamFlights()
        self._once = f"response-cache:{next(_CACHE_IDS)}:"
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

        ``tenant``, ``ttl`` override the policy for this call; ``tags`` add to the policy's tags (recorded in the
        entry written on a miss; an entry is served only while every tag it recorded, and every tag named here,
        is uninvalidated); ``dump`` / ``load`` override the cache's. Returns a `CacheResult` (``.value``, ``.hit``,
        ``.source``, and for a call the policy does not cache, ``.reason``); every caller gets a value of its own
        (a hit and a joined call decode theirs), so changing it changes no one else's. Raises what ``call`` raises
        (nothing is stored then), a `FingerprintError <cachepoint.core.keys.FingerprintError>` for a request that
        cannot be keyed, ``ValueError`` without a tenant under ``require_tenant``; never a store error.

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
        if tags:
            plan = self._make_plan(key, KIND_VALUE, tags=tags, ttl=ttl, dump=dump, load=load)
            return await self._get_or_call(plan, call)
        # The usual call, read without building a plan first (a hit needs none): the same read as `_read`'s.
        if load is None:
            load = self._load
        context = key.encode("utf-8") if self._signs else b""
        began = None
        if self._memory is not None:
            found = self._read_memory(key, context, KIND_VALUE, self._policy_tags, load, True)
        else:
            began = time.monotonic()
            found = await self._read_store(
                key, context, KIND_VALUE, self._policy_tags, self._policy_tag_keys, load, True, None
            )
        if found is not _MISS and found is not _UNSTORABLE:
            return CacheResult(found, _HIT, key)
        spent = 0.0 if began is None else time.monotonic() - began  # charged on a miss only: a hit has no more to do
        plan = self._make_plan(key, KIND_VALUE, ttl=ttl, dump=dump, load=load, spent=spent)
        return await self._after_miss(plan, call, count=True, marked=found is _UNSTORABLE)

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
        return await self.lookup_key(self.key_for(request, tenant=tenant), tags=tags, load=load)

    async def lookup_key(
        self, key: str, *, tags: Iterable[str] = (), load: Load | None = None
    ) -> CacheResult[Any] | None:
        """`lookup` of the entry under ``key``, a store key this cache gave (`key_for`, `scoped_key`): for callers
        that look the same request up many times and keep its key rather than fingerprint it on every call. The
        read, its checks (TTL, tags, envelope) and its counting are `lookup`'s.

        >>> import asyncio
        >>> from cachepoint.core.stores import MemoryStore
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> key = cache.key_for({"model": "m", "messages": [], "temperature": 0})
        >>> asyncio.run(cache.lookup_key(key)) is None
        True
        """
        if not tags:
            found = self._lookup_local(key, load)
            if found is not _IN_PROCESS_ONLY:
                return self._looked_up(key, found)
        plan = self._make_plan(key, KIND_VALUE, tags=tags, load=load)
        return self._looked_up(key, await self._read(plan, first=True))

    def _lookup_local(self, key: str, load: Load | None) -> Any:  # noqa: PLR0911 - one exit per outcome, inline
        """`_read_local` for a lookup of ``key`` naming no tags of its own (the policy's still apply), without
        building its `Plan`: an LLM cache's hit path. ``_IN_PROCESS_ONLY`` for a store that needs I/O."""
        memory = self._memory
        if memory is None:
            return _IN_PROCESS_ONLY
        if load is None:
            load = self._load
        if self._signs or self._policy_tags:
            context = key.encode("utf-8") if self._signs else b""
            return self._read_memory(key, context, KIND_VALUE, self._policy_tags, load, True)
        # `_read_memory` inline for the usual hit, an entry this cache opened before whose `_Opened.plain` holds its
        # value (no tags to check, nothing to judge): the store read itself (TTL, deletes, clear) and the counting
        # stay on every hit; the calls saved are most of what a memory hit costs next to a dict lookup.
        try:
            entry = memory.get_entry(key)
        except Exception:
            self._stats.add(store_errors=1)
            log.debug("response cache: store read failed for %s", key, exc_info=True)
            return _MISS
        if entry is None:
            return _MISS
        note = entry.note
        if type(note) is not _Opened or note.plain is _NOT_PLAIN or not note.verified.vouches_for(self._codec):
            return self._read_memory(key, b"", KIND_VALUE, self._policy_tags, load, True, entry)
        data = note.plain
        if load is not None:
            try:
                data = load(data)
            except Exception:
                return self._load_failed()
        self._stats.hit(len(entry.value))
        return data

    def _looked_up(self, key: str, found: Any) -> CacheResult[Any] | None:
        """What a lookup of ``key`` returns for what `_read` found (a miss counted); shared with the sync face."""
        if found is _MISS or found is _UNSTORABLE:
            self._stats.add(misses=1)
            return None
        return CacheResult(found, Source.HIT, key)

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

        ``call`` returns an async iterable of chunks, or an awaitable of one: an async generator, the async
        clients' ``create(..., stream=True)`` (``anthropic`` and ``openai`` ``AsyncStream``), an aiobotocore
        ConverseStream's ``response["stream"]``. It may also return an async stream *manager* — ``anthropic``'s
        ``messages.stream(...)``, ``openai``'s ``chat.completions.stream(...)`` / ``responses.stream(...)`` —
        which is entered for you: the stream is then its events (for ``messages.stream``, the raw events and the
        helper's ``text``/``input_json``... events; the last one, ``message_stop``, carries the whole message).
        Either way the `CachedStream` yields the chunks, live or replayed as the same SDK types.

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
                found = await self._read(plan, count=False, first=True)
                if found is not _MISS and found is not _UNSTORABLE:
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
        shared, *local = _unguarded(self.backend)
        # The shared tier (a TieredStore's L2) holds every entry; a local tier only copies of some: its count is
        # the one that says how many entries there were.
        removed = await shared.clear(self.policy.namespace)
        for store in local:
            await store.clear(self.policy.namespace)
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
        spent: float = 0.0,
    ) -> Plan:
        """Everything a call of ``key`` needs: tags with their token keys, TTL, dump/load, and its time budget, of
        which ``spent`` seconds are gone already (internal)."""
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
            context=key.encode("utf-8") if self._signs else b"",
            tags=all_tags,
            tag_keys=tag_keys,
            ttl=ttl,
            dump=dump if dump is not None else self._dump,
            load=load if load is not None else self._load,
            budget=self._new_budget(spent),
        )

    def _new_budget(self, spent: float = 0.0) -> Budget | None:
        """A time budget for one call, ``spent`` seconds of it gone, if its operations can wait on anything (not
        for a MemoryStore without a distributed lock: nothing there awaits I/O)."""
        if self._timeout is None or (self._memory is not None and self.lock is None):
            return None
        return Budget(self._timeout - spent)

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

    # -- the read: one judgement of an entry, whatever the read path ---------------------------------------------

    async def _read(self, plan: Plan, *, count: bool = True, first: bool = False) -> Any:
        """What is stored for ``plan``: its loaded value, or ``_MISS`` (counted by cause), or ``_UNSTORABLE``.

        ``count``: a good entry counts as a hit (else only as a decode). ``first``: this is the call's first read,
        bounded by the store's guard rather than cut short by the call's budget, and charged to it after (see
        `_store_op`). Internal.
        """
        found = self._read_local(plan, count)
        if found is not _IN_PROCESS_ONLY:
            return found
        args = (plan.key, plan.context, plan.kind, plan.tags, plan.tag_keys, plan.load, count)
        budget = plan.budget
        if not first or budget is None:
            return await self._read_store(*args, budget)
        began = time.monotonic()
        try:
            return await self._read_store(*args, None)
        finally:
            budget.charge(time.monotonic() - began)

    def _read_local(self, plan: Plan, count: bool = True) -> Any:
        """`_read` without awaiting, for an in-process MemoryStore; ``_IN_PROCESS_ONLY`` for any other store (the
        sync face reads a MemoryStore in the caller's thread, and only goes through the bridge for I/O)."""
        if self._memory is None:
            return _IN_PROCESS_ONLY
        return self._read_memory(plan.key, plan.context, plan.kind, plan.tags, plan.load, count)

    def _read_memory(  # noqa: PLR0917 - positional: it is on the hit path
        self,
        key: str,
        context: bytes,
        kind: str,
        tags: tuple[str, ...],
        load: Load | None,
        count: bool,
        entry: MemoryEntry | None = None,
    ) -> Any:
        """`_read` on an in-process MemoryStore: its entries, and tag tokens, read synchronously. ``entry``: the
        entry under ``key`` when the caller read it already (`_lookup_local`: a store read counts as a use)."""
        memory = self._memory
        assert memory is not None
        try:
            if entry is None:
                entry = memory.get_entry(key)
                if entry is None:
                    return _MISS
            # Bytes this cache's codec verified before (`_open` keeps an `_Opened` on the entry) are only parsed,
            # or not even that when every read may share their body.
            note = entry.note
            if type(note) is _Opened and note.verified.vouches_for(self._codec, context):
                body = note.body
                if body is None:
                    try:
                        body = note.verified.value()
                    except DecodeError as exc:  # a model type unregistered since: the codec says which outcome
                        self._stats.decoded(exc.outcome)
                        return _MISS
            else:
                body = self._open(entry.value, entry, context)
                if body is _MISS:
                    return _MISS
            current = None
            if tags or (type(body) is dict and "g" in body):
                namespace = self.policy.namespace
                current = {}
                for name in tags_to_check(body, tags):
                    token = memory.get_entry(tag_key(namespace, name))
                    current[name] = None if token is None else token.value
        except Exception:
            self._stats.add(store_errors=1)
            log.debug("response cache: store read failed for %s", key, exc_info=True)
            return _MISS
        return self._judge(body, len(entry.value), kind, tags, current, load, count)

    async def _read_store(  # noqa: PLR0917 - positional: it is on the hit path
        self,
        key: str,
        context: bytes,
        kind: str,
        tags: tuple[str, ...],
        tag_keys: tuple[str, ...],
        load: Load | None,
        count: bool,
        budget: Budget | None,
    ) -> Any:
        """`_read` on any other store: the entry and the tokens of the tags the reader names in one round trip;
        a second one for tags the entry recorded that the reader did not name. ``budget``: what is left of the
        call's; ``None`` for its first read, which the store's guard bounds (a hit needs no budget: the caller
        charges the time when a miss follows)."""
        store = self._store
        try:
            if budget is None:
                raws = await store.get_many([key, *tag_keys]) if tag_keys else [await store.get(key)]
            elif tag_keys:
                raws = await self._store_op(budget, lambda: store.get_many([key, *tag_keys]))
            else:
                raws = [await self._store_op(budget, lambda: store.get(key))]
            raw = raws[0]
            if raw is None:
                return _MISS
            body = self._open(raw, None, context)
            if body is _MISS:
                return _MISS
            current = None
            if tags or (type(body) is dict and "g" in body):
                current = dict(zip(tags, raws[1:], strict=True)) if tag_keys else {}
                missing = [name for name in tags_to_check(body, tags) if name not in current]
                if missing:
                    keys = [tag_key(self.policy.namespace, name) for name in missing]
                    more = await (
                        store.get_many(keys) if budget is None else self._store_op(budget, lambda: store.get_many(keys))
                    )
                    current.update(zip(missing, more, strict=True))
        except BudgetSpentError:
            return _MISS
        except Exception:
            self._stats.add(store_errors=1)
            log.debug("response cache: store read failed for %s", key, exc_info=True)
            return _MISS
        return self._judge(body, len(raw), kind, tags, current, load, count)

    def _open(self, raw: bytes, entry: MemoryEntry | None, context: bytes) -> Any:
        """The body of the envelope ``raw``, verified and parsed, or ``_MISS`` (counted by cause). An in-process
        ``entry`` keeps what was learnt (an `_Opened`, in `MemoryEntry.note`), so that later reads of the same
        immutable bytes do not check them again (`_read_memory`)."""
        checked = self._codec.verify(raw, context)
        if not isinstance(checked, Verified):
            self._stats.decoded(checked.outcome)
            return _MISS
        try:
            body = checked.value()
        except DecodeError as exc:
            self._stats.decoded(exc.outcome)
            return _MISS
        if entry is not None:
            entry.note = _Opened(checked, body)
        return body

    def _judge(  # noqa: PLR0917 - one exit per miss cause; positional: it is on the hit path
        self,
        body: Any,
        nbytes: int,
        kind: str,
        tags: tuple[str, ...],
        current: dict[str, bytes | None] | None,
        load: Load | None,
        count: bool,
    ) -> Any:
        """Judge a decoded entry ``body``: its value (loaded), or ``_MISS`` counted by cause (not an entry, the
        wrong kind, stale under its tags, unloadable), or ``_UNSTORABLE``. ``current``: the tokens of the tags
        `tags_to_check` names, or ``None`` when neither the entry nor the reader has tags. The codec's count and
        this cache's take one lock (see `CacheStats`)."""
        stats = self._stats
        if type(body) is not dict or body.get("k") != kind or "d" not in body:
            if type(body) is dict and body.get("k") == KIND_UNSTORABLE and kind == KIND_VALUE:
                stats.decoded(_OK)
                return _UNSTORABLE
            stats.decoded(_OK, bad=_CORRUPT)
            return _MISS
        if current is not None and not fresh(body.get("g"), tags, current):
            stats.decoded(_OK, stale=1)
            return _MISS
        data = body["d"]
        if load is not None:
            try:
                data = [load(chunk) for chunk in data] if kind == KIND_STREAM else load(data)
            except Exception:
                return self._load_failed()
        if count:
            stats.hit(nbytes)
        else:
            stats.decoded(_OK)
        return data

    def _load_failed(self) -> Any:
        """A stored entry that ``load`` raised on: counted, warned once, a miss."""
        self._stats.decoded(_OK, load_errors=1)
        self._warn_once("load", f"response cache {self.policy.namespace!r}: load() failed on a stored entry")
        return _MISS

    # -- the write ------------------------------------------------------------------------------------------------

    def _dump_value(self, plan: Plan, value: Any) -> Any:
        """``plan.dump(value)`` (or ``value``); may raise (internal)."""
        return value if plan.dump is None else plan.dump(value)

    def _record(self, plan: Plan, chunk: Any) -> Any:
        """What a stream stores for ``chunk``: its dump, or without ``dump`` a private copy (the consumer gets the
        chunk itself and may change it before the stream completes and is stored); may raise (internal)."""
        record = self._dump_value(plan, chunk)
        return self._private_copy(record) if record is chunk else record

    def _dump_for_store(self, plan: Plan, value: Any) -> Any:
        """What to store for ``value``: its dump, or ``_UNDUMPABLE`` (counted, warned once)."""
        try:
            return self._dump_value(plan, value)
        except Exception as exc:
            self._stats.add(unstorable=1)
            self._warn_once("dump", f"response cache {self.policy.namespace!r}: dump() failed ({exc})")
            return _UNDUMPABLE

    async def _write(self, plan: Plan, data: Any) -> tuple[Verified | None, bool]:
        """Encode and store ``data`` (already dumped) under ``plan``; never raises (internal).

        Returns the entry as verified bytes (for in-process waiters to decode copies from; ``None`` if it could
        not be encoded) and whether it was stored."""
        raw = await self._entry_bytes(plan, data)
        if raw is None:
            return None, False
        checked = self._codec.verify(raw, context=plan.context)
        verified = checked if isinstance(checked, Verified) else None
        limit = self.policy.max_entry_bytes
        if limit is not None and len(raw) > limit:
            self._stats.add(too_large=1)
            return verified, False
        store = self._store
        try:
            await self._store_op(plan.budget, lambda: store.set(plan.key, raw, plan.ttl))
        except BudgetSpentError:
            return verified, False
        except Exception:
            self._stats.add(store_errors=1)
            log.debug("response cache: store write failed for %s", plan.key, exc_info=True)
            return verified, False
        self._stats.add(stored=1, bytes_written=len(raw))
        return verified, True

    async def _entry_bytes(self, plan: Plan, data: Any) -> bytes | None:
        """The envelope of the entry for ``data`` (with its tags' current tokens), or ``None`` (counted)."""
        body: dict[str, Any] = {"k": plan.kind, "d": data}
        try:
            if plan.tag_keys:
                body["g"] = await self._tag_tokens(plan)
        except BudgetSpentError:
            return None
        except Exception:
            self._stats.add(store_errors=1)
            log.debug("response cache: reading the tag tokens of %s failed", plan.key, exc_info=True)
            return None
        try:
            return self._codec.encode(body, context=plan.context)
        except Exception as exc:
            self._stats.add(unstorable=1)
            self._warn_once(
                "encode",
                f"response cache {self.policy.namespace!r}: a result could not be stored ({exc}); register its "
                "model class (cachepoint.core.sdk_types.register_model) or pass dump=/load= to convert results",
            )
            return None

    async def _tag_tokens(self, plan: Plan) -> dict[str, str]:
        store = self._store
        current = await self._store_op(plan.budget, lambda: store.get_many(list(plan.tag_keys)))
        tokens: dict[str, str] = {}
        created: dict[str, bytes] = {}
        for name, key, found in zip(plan.tags, plan.tag_keys, current, strict=True):
            token = found
            if token is None:
                token = created[key] = new_tag_token()
            tokens[name] = token.decode("ascii", "replace")
        if created:
            await self._store_op(plan.budget, lambda: store.set_many(created, None))
        return tokens

    async def _mark_unstorable(self, plan: Plan) -> None:
        """Tell the processes waiting for this result that it will not be stored: a short-lived marker under its
        key, which their next poll reads (they then call upstream themselves, at once)."""
        store = self._store
        try:
            raw = self._codec.encode({"k": KIND_UNSTORABLE}, context=plan.context)
            await self._store_op(plan.budget, lambda: store.set(plan.key, raw, UNSTORABLE_MARK_TTL))
        except Exception:
            log.debug("response cache: writing the unstorable marker of %s failed", plan.key, exc_info=True)

    async def _store_op(self, budget: Budget | None, start: Callable[[], Awaitable[T]]) -> T:
        """Run one store operation of a call within what is left of its ``budget``.

        (The call's first read is not run here: the store's guard bounds it, so that a store that hangs times out
        there and the breaker counts it; its time is charged to the budget afterwards.) An operation cut short
        here when the budget runs out is seen by the guard as a cancellation, not a failure, so the failure is
        reported to the breaker here."""
        if budget is None:
            return await start()
        try:
            return await budget.run(start)
        except BudgetSpentError:
            self._note_over_budget()
            raise
        except TimeoutError:
            self._note_over_budget()
            breaker = self._breaker
            if breaker is not None:
                breaker.failure(breaker.allow())
            raise

    def _note_over_budget(self) -> None:
        self._stats.add(over_budget=1)
        self._warn_once(
            "budget",
            f"response cache {self.policy.namespace!r}: a call spent its time budget on the store "
            f"(timeout={self._timeout}s); its other store and lock operations were skipped",
        )

    # -- misses: single-flight in this process, the distributed lock across processes -----------------------------

    async def _get_or_call(self, plan: Plan, call: Callable[[], Awaitable[T]], *, count: bool = True) -> CacheResult[T]:
        found = await self._read(plan, count=count, first=True)
        if found is not _MISS and found is not _UNSTORABLE:
            return CacheResult(found, Source.HIT, plan.key)
        return await self._after_miss(plan, call, count=count, marked=found is _UNSTORABLE)

    async def _after_miss(
        self, plan: Plan, call: Callable[[], Awaitable[T]], *, count: bool, marked: bool = False
    ) -> CacheResult[T]:
        """A miss: lead the flight of ``plan.key`` in this process, or wait for its leader and get a copy of its
        result. ``marked``: the read found an unstorable marker (no process waits on this key's lock then)."""
        if count:
            self._stats.add(misses=1)
        if not self.policy.single_flight:
            return (await self._lead(plan, call, marked))[0]
        while True:
            flight, leader = self._flights.lead_or_join(plan.key)
            if leader:
                try:
                    result, shared = await self._lead(plan, call, marked)
                except Exception as exc:
                    self._flights.settle(plan.key, flight, error=exc)
                    raise
                except BaseException:  # cancelled or interrupted: someone else should lead
                    self._flights.settle(plan.key, flight, value=ABANDONED)
                    raise
                self._flights.settle(plan.key, flight, value=shared)
                return result
            self._stats.add(joins=1)
            outcome = await wait_async(flight.future)
            if outcome is ABANDONED:
                found = await self._read(plan, count=False)
                if found is not _MISS and found is not _UNSTORABLE:
                    return CacheResult(found, Source.JOINED, plan.key)
                continue
            return CacheResult(self._own_copy(outcome, plan), Source.JOINED, plan.key)

    def _own_copy(self, shared: _Shared, plan: Plan) -> Any:
        """A waiter's own copy of its leader's result, as a hit would give it: decoded from the entry the leader
        encoded and loaded with the waiter's ``load``; a deep copy when there is no such entry (a result the codec
        cannot carry); the leader's object itself, with a warning, when even that fails."""
        if shared.verified is not None:
            try:
                data = shared.verified.value()["d"]
                return data if plan.load is None else plan.load(data)
            except Exception:
                log.debug("response cache: decoding a copy for a waiter of %s failed", plan.key, exc_info=True)
        return self._private_copy(shared.value)

    def _private_copy(self, value: Any) -> Any:
        """A deep copy of ``value`` that no one else holds (for a waiter sharing a result, a joined stream's
        consumer, a stream's record); ``value`` itself, warned once, if it cannot be copied. Internal."""
        try:
            return copy.deepcopy(value)
        except Exception:
            self._warn_once(
                "copy",
                f"response cache {self.policy.namespace!r}: a result could be neither decoded nor copied for the "
                "callers that shared its call; they share one object",
            )
            return value

    async def _lead(
        self, plan: Plan, call: Callable[[], Awaitable[T]], marked: bool = False
    ) -> tuple[CacheResult[T], _Shared]:
        found, lease = await self._begin(plan, marked)
        if found is not _MISS:
            self._stats.add(joins=1)
            return CacheResult(found, Source.JOINED, plan.key), _Shared(found, None)
        try:
            self._stats.add(upstream_calls=1)
            try:
                value = await call()
            except Exception:
                self._stats.add(errors=1)
                raise
        except BaseException:
            if lease is not None:
                await self._end(plan, lease)
            raise
        verified = await self._conclude(plan, self._dump_for_store(plan, value), lease)
        return CacheResult(value, Source.MISS, plan.key), _Shared(value, verified)

    async def _begin(self, plan: Plan, marked: bool = False) -> tuple[Any, Lease | None]:
        """Before the upstream call: with a distributed lock, take it (and keep it alive while the call runs) or
        wait for its holder's result. ``(value, None)`` when the holder's result appeared in the store; otherwise
        ``(_MISS, the kept lease or None)``. Internal (the sync face runs it on the bridge loop)."""
        if self.lock is None or marked:
            return _MISS, None
        found, token = await self._acquire_or_wait(plan)
        if found is not _MISS or token is None:
            return found, None
        lease = Lease(plan.key, token, self.policy.lock_ttl, lambda: self._renew(plan.key, token))
        lease.start()
        return _MISS, lease

    async def _conclude(self, plan: Plan, data: Any, lease: Lease | None) -> Verified | None:
        """After the upstream call succeeded: store ``data`` (the dumped result, or ``_UNDUMPABLE``); if it cannot
        be stored, tell the processes waiting on the lock; let go of the lock. Returns the encoded entry, for this
        process's waiters. Never raises. Internal (the sync face runs it on the bridge loop)."""
        try:
            verified, stored = (None, False) if data is _UNDUMPABLE else await self._write(plan, data)
            if lease is not None and not stored:
                await self._mark_unstorable(plan)
            return verified
        finally:
            if lease is not None:
                await self._end(plan, lease)

    async def _end(self, plan: Plan, lease: Lease) -> None:
        """Stop renewing ``lease`` and release its lock (internal)."""
        await lease.stop()
        await self._release_lock(plan, lease.token)

    async def _acquire_or_wait(self, plan: Plan) -> tuple[Any, str | None]:  # noqa: PLR0911 - one exit per outcome
        """Take the distributed lock, or wait for its holder's result: ``(value or _MISS, token or None)``.

        Returns a value when the holder's result appeared in the store; ``(_MISS, token)`` when this caller
        holds the lock; ``(_MISS, None)`` when it should call without the lock: the lock backend failed, the
        call's budget is spent, ``policy.lock_wait`` ran out, or the holder said its result cannot be stored.
        While the lock is held (a live holder renews it), waiting goes on. Internal.
        """
        lock = self.lock
        assert lock is not None
        policy = self.policy
        give_up_at = None if policy.lock_wait is None else time.monotonic() + policy.lock_wait
        delay = _POLL_FIRST
        waited = False
        while True:
            try:
                token = await self._lock_op(lambda: lock.acquire(plan.key, policy.lock_ttl), plan.budget)
            except BudgetSpentError:
                return _MISS, None
            except Exception:
                self._stats.add(lock_errors=1)
                self._warn_once("lock", f"response cache {policy.namespace!r}: the lock failed, going ahead")
                return _MISS, None
            if token is not None:
                # Another process may have stored its result (and released) between our lookup and now: one
                # more read is cheap next to a duplicate upstream call.
                found = await self._read(plan, count=False)
                if found is _MISS:
                    return _MISS, token
                await self._release_lock(plan, token)
                return (_MISS if found is _UNSTORABLE else found), None
            if not waited:
                waited = True
                self._stats.add(lock_waits=1)
            pause = min(delay * (0.5 + random.random()), _POLL_MAX)  # noqa: S311 - jitter
            if give_up_at is not None:
                remaining = give_up_at - time.monotonic()
                if remaining <= 0:
                    self._stats.add(lock_timeouts=1)
                    return _MISS, None
                pause = min(pause, remaining)
            await asyncio.sleep(pause)
            delay = min(delay * 2, _POLL_MAX)
            found = await self._read(plan, count=False)
            if found is _UNSTORABLE:
                self._stats.add(lock_unstorable=1)
                return _MISS, None
            if found is not _MISS:
                return found, None

    async def _renew(self, key: str, token: str) -> bool:
        """Renew the lease of the lock on ``key`` (a `Lease`'s renewal; outside the call's budget: it runs beside
        the upstream call, not in its way). Failures are counted as lock errors."""
        lock = self.lock
        assert lock is not None
        try:
            return await self._lock_op(lambda: lock.renew(key, token, self.policy.lock_ttl), None)
        except Exception:
            self._stats.add(lock_errors=1)
            raise

    async def _release_lock(self, plan: Plan, token: str) -> None:
        """Release the distributed lock; failures only log (the lease expires anyway). Internal."""
        lock = self.lock
        assert lock is not None
        try:
            await self._lock_op(lambda: lock.release(plan.key, token), plan.budget)
        except BudgetSpentError:
            log.debug("response cache: no time left to release the lock on %s; its lease will expire", plan.key)
        except Exception:
            self._stats.add(lock_errors=1)
            log.debug("response cache: lock release failed for %s", plan.key, exc_info=True)

    async def _lock_op(self, start: Callable[[], Awaitable[T]], budget: Budget | None) -> T:
        # Lock calls share the guarded store's breaker: when Redis is down, a miss must not first wait on a lock
        # call that is bound to fail; when it recovers, the breaker's probe lets locking resume. A lock that states
        # its own budget (`RedisLock.timeout`, its store's) is held to it; any other lock to `_LOCK_OP_TIMEOUT`;
        # and every lock call of a call to what is left of the call's budget. The timer runs inside the breaker's
        # call, so a lock call cut short by either is a failure the breaker counts.
        cap = getattr(self.lock, "timeout", _LOCK_OP_TIMEOUT)
        if budget is not None and budget.left <= 0:
            self._note_over_budget()
            raise BudgetSpentError

        async def bounded() -> T:
            if budget is None:
                return await within(cap, start)
            try:
                return await budget.run(start, cap)
            except TimeoutError:
                if budget.left <= 0:
                    self._note_over_budget()
                raise

        breaker = self._breaker
        if breaker is not None:
            return await breaker.call(bounded)
        return await bounded()

    def _cut_short(self) -> None:
        """A stream ended without the events that end an answer: counted as interrupted, warned once, not stored
        (internal, for the stream faces)."""
        self._stats.add(interrupted_streams=1)
        self._warn_once(
            "cut-short",
            f"response cache {self.policy.namespace!r}: a stream ended before the events that end an answer (a "
            "proxy or a connection cut it short?); it was handed on as it came and not stored",
        )

    def _count(self, **deltas: int) -> None:
        """Add to this cache's counters (internal, for the stream and sync faces)."""
        self._stats.add(**deltas)

    def _warn_once(self, what: str, message: str) -> None:
        """Warn about ``what`` the first time it happens to this cache; later times go to DEBUG."""
        log_once(self._once + what, message, logger=log)

    def __repr__(self) -> str:
        return f"ResponseCache({self.backend!r}, {self.policy!r})"
