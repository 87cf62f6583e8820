"""`SyncResponseCache`: the blocking face of a `ResponseCache` (``cache.sync``), for sync code.

Store and lock I/O go through the one sync bridge (`cachepoint.core.bridge.run_sync`); the upstream call runs
in the caller's thread, so it keeps the caller's thread-locals and context, and a slow call never occupies the
bridge loop. Single-flight is shared with the async face: a sync and an async call of the same key in one
process make one upstream call. Sync streams are recorded and replayed, but not shared between concurrent
consumers (there is no event loop to fan them out on).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from cachepoint.core.bridge import run_sync
from cachepoint.core.response_cache.cache import (
    _IN_PROCESS_ONLY,
    _MISS,
    _UNSTORABLE,
    UNSET,
    Dump,
    Load,
    Plan,
    WarmReport,
    _Shared,
)
from cachepoint.core.response_cache.complete import EndWatch
from cachepoint.core.response_cache.entry import KIND_STREAM, KIND_VALUE
from cachepoint.core.response_cache.flight import ABANDONED
from cachepoint.core.response_cache.result import CacheResult, Source
from cachepoint.core.response_cache.stats import StatsSnapshot
from cachepoint.core.response_cache.upstream import close_sync_upstream, open_sync_upstream

if TYPE_CHECKING:
    from cachepoint.core.response_cache.cache import ResponseCache

__all__ = ["SyncCachedStream", "SyncResponseCache"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_HIT = Source.HIT


class SyncResponseCache:
    """Blocking twin of `ResponseCache`: same methods, sync callables. Get it as ``cache.sync``.

    Safe from any thread, with or without a running event loop in it (Jupyter).

    >>> from cachepoint.core.stores import MemoryStore
    >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
    >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat")).sync
    >>> request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    >>> [cache.get_or_call(request, lambda: "hello").source.value for _ in range(2)]
    ['miss', 'hit']
    """

    def __init__(self, cache: ResponseCache) -> None:
        self._cache = cache

    @property
    def cache(self) -> ResponseCache:
        """The async cache behind this face.

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> cache.sync.cache is cache
        True
        """
        return self._cache

    def stats(self) -> StatsSnapshot:
        """Same as `ResponseCache.stats`.

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat")).sync.stats().hits
        0
        """
        return self._cache.stats()

    def get_or_call(
        self,
        request: Mapping[str, Any],
        call: Callable[[], T],
        *,
        tenant: Any = UNSET,
        tags: Iterable[str] = (),
        ttl: Any = UNSET,
        dump: Dump | None = None,
        load: Load | None = None,
    ) -> CacheResult[T]:
        """The cached result of ``request``, or ``call()``'s, made once however many threads ask at once.

        Same arguments and guarantees as `ResponseCache.get_or_call`.

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> cache.sync.get_or_call({"model": "m"}, lambda: {"text": "hi"}).value
        {'text': 'hi'}
        """
        cache = self._cache
        reason = cache._bypass_reason(request)
        if reason is not None:
            return CacheResult(self._bypass(call, reason), Source.BYPASS, None, reason)
        plan = cache._make_plan(
            cache.key_for(request, tenant=tenant), KIND_VALUE, tags=tags, ttl=ttl, dump=dump, load=load
        )
        return self._get_or_call_plan(plan, call)

    def _get_or_call_plan(self, plan: Plan, call: Callable[[], T]) -> CacheResult[T]:
        """`get_or_call` for an already built plan (internal, used by the decorators)."""
        cache = self._cache
        found = self._read(plan, first=True)
        if found is not _MISS and found is not _UNSTORABLE:
            return CacheResult(found, Source.HIT, plan.key)
        marked = found is _UNSTORABLE
        cache._count(misses=1)
        if not cache.policy.single_flight:
            return self._lead(plan, call, marked)[0]
        flights = cache._flights
        while True:
            flight, leader = flights.lead_or_join(plan.key)
            if leader:
                try:
                    result, shared = self._lead(plan, call, marked)
                except Exception as exc:
                    flights.settle(plan.key, flight, error=exc)
                    raise
                except BaseException:
                    flights.settle(plan.key, flight, value=ABANDONED)
                    raise
                flights.settle(plan.key, flight, value=shared)
                return result
            if flight.leader_thread == threading.get_ident():
                # The leader is an async call suspended on this very thread's event loop: blocking here would
                # stop it forever. Call without sharing instead.
                return self._lead(plan, call, marked)[0]
            cache._count(joins=1)
            outcome = flight.future.result()
            if outcome is ABANDONED:
                found = self._read(plan, count=False)
                if found is not _MISS and found is not _UNSTORABLE:
                    return CacheResult(found, Source.JOINED, plan.key)
                continue
            return CacheResult(cache._own_copy(outcome, plan), Source.JOINED, plan.key)

    def lookup(
        self, request: Mapping[str, Any], *, tenant: Any = UNSET, tags: Iterable[str] = (), load: Load | None = None
    ) -> CacheResult[Any] | None:
        """The cached result of ``request``, or ``None``; see `ResponseCache.lookup`.

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat")).sync
        >>> _ = cache.get_or_call({"model": "m"}, lambda: "x")
        >>> cache.lookup({"model": "m"}).value
        'x'
        """
        cache = self._cache
        if not cache.cacheable(request):
            return None
        return self.lookup_key(cache.key_for(request, tenant=tenant), tags=tags, load=load)

    def lookup_key(self, key: str, *, tags: Iterable[str] = (), load: Load | None = None) -> CacheResult[Any] | None:
        """The cached result under ``key``, a store key this cache gave, or ``None``; see
        `ResponseCache.lookup_key`. An in-process `MemoryStore` is read on the caller's thread.

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat")).sync
        >>> _ = cache.get_or_call({"model": "m"}, lambda: "x")
        >>> cache.lookup_key(cache.cache.key_for({"model": "m"})).value
        'x'
        """
        cache = self._cache
        if not tags:
            found = cache._lookup_local(key, load)
            if found is not _IN_PROCESS_ONLY:
                if found is not _MISS and found is not _UNSTORABLE:
                    return CacheResult(found, _HIT, key)  # `_looked_up`'s hit, inline: the LLM cache's hit path
                return cache._looked_up(key, found)
        plan = cache._make_plan(key, KIND_VALUE, tags=tags, load=load)
        return cache._looked_up(key, self._read(plan, first=True))

    def stream(
        self,
        request: Mapping[str, Any],
        call: Callable[[], Iterable[T]],
        *,
        tenant: Any = UNSET,
        tags: Iterable[str] = (),
        ttl: Any = UNSET,
        dump: Dump | None = None,
        load: Load | None = None,
    ) -> SyncCachedStream[T]:
        """Replay a stored complete stream, or relay ``call()``'s iterator and store it once complete.

        ``call`` returns an iterable of chunks (a generator, the sync clients' ``create(..., stream=True)``:
        ``anthropic.Stream``, ``openai.Stream``; a boto3 ConverseStream's ``response["stream"]``) or a stream
        manager (``anthropic``'s ``messages.stream(...)``, ``openai``'s ``chat.completions.stream(...)`` /
        ``responses.stream(...)``), which is entered for you; see `ResponseCache.stream`.

        Stopping early (``close()``, leaving a ``with`` block, ``break`` then garbage collection) or an upstream
        error stores nothing.

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> list(cache.sync.stream({"model": "m"}, lambda: iter(["a", "b"])))
        ['a', 'b']
        """
        cache = self._cache
        reason = cache._bypass_reason(request)
        if reason is not None:
            return self._stream_plan(reason, call)
        key = cache.key_for(request, tenant=tenant, stream=True)
        return self._stream_plan(cache._make_plan(key, KIND_STREAM, tags=tags, ttl=ttl, dump=dump, load=load), call)

    def _stream_plan(self, plan: Plan | str, call: Callable[[], Iterable[T]]) -> SyncCachedStream[T]:
        """`stream` for an already built plan, or a bypass reason (internal, used by the decorators)."""
        if isinstance(plan, str):
            reason = plan
            return SyncCachedStream(lambda s: self._bypass_stream(s, call, reason), None, reason)
        return SyncCachedStream(lambda s: self._stream(s, plan, call), plan.key)

    def warm(
        self,
        requests: Iterable[Mapping[str, Any]],
        call: Callable[[Mapping[str, Any]], Any],
        *,
        tenant: Any = UNSET,
        tags: Iterable[str] = (),
        ttl: Any = UNSET,
    ) -> WarmReport:
        """Pre-fill the cache, one request after another; see `ResponseCache.warm`.

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("faq")).sync
        >>> cache.warm([{"model": "m", "q": 1}, {"model": "m", "q": 2}], lambda r: r["q"] * 10).stored
        2
        """
        cache = self._cache
        report = WarmReport()
        for index, request in enumerate(requests):
            if not cache.cacheable(request):
                report.bypassed += 1
                continue
            plan = cache._make_plan(cache.key_for(request, tenant=tenant), KIND_VALUE, tags=tags, ttl=ttl)
            found = self._read(plan, count=False, first=True)
            if found is not _MISS and found is not _UNSTORABLE:
                report.present += 1
                continue
            try:
                self._lead(plan, lambda request=request: call(request))  # type: ignore[misc]
            except Exception as exc:
                report.failed += 1
                report.errors.append((index, exc))
            else:
                report.stored += 1
        return report

    def invalidate(
        self,
        *,
        tag: str | None = None,
        tags: Iterable[str] = (),
        request: Mapping[str, Any] | None = None,
        tenant: Any = UNSET,
    ) -> int:
        """Retire entries by tag or request; see `ResponseCache.invalidate` (store failures raise).

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> ResponseCache(MemoryStore(max_entries=10), CachePolicy("faq")).sync.invalidate(tag="kb")
        1
        """
        return run_sync(lambda: self._cache.invalidate(tag=tag, tags=tags, request=request, tenant=tenant))

    def clear(self) -> int:
        """Delete every entry of the namespace; see `ResponseCache.clear`.

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> ResponseCache(MemoryStore(max_entries=10), CachePolicy("faq")).sync.clear()
        0
        """
        return run_sync(self._cache.clear)

    # -- internals ---------------------------------------------------------------------------------------------

    def _call(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except Exception:
            self._cache._count(errors=1)
            raise

    def _bypass(self, call: Callable[[], T], reason: str) -> T:
        """Call upstream for a call the policy does not cache (internal, used by the decorators)."""
        self._cache._note_bypass(reason)
        return self._call(call)

    def _read(self, plan: Plan, *, count: bool = True, first: bool = False) -> Any:
        """`ResponseCache._read`, in this thread for an in-process MemoryStore, through the bridge otherwise."""
        cache = self._cache
        found = cache._read_local(plan, count)
        if found is _IN_PROCESS_ONLY:
            found = run_sync(lambda: cache._read(plan, count=count, first=first))
        return found

    def _lead(self, plan: Plan, call: Callable[[], T], marked: bool = False) -> tuple[CacheResult[T], _Shared]:
        """`ResponseCache._lead` with a sync call, made in this thread; the lock and the store go through the
        bridge (where the lease is renewed while the call runs)."""
        cache = self._cache
        found, lease = _MISS, None
        if cache.lock is not None and not marked:
            found, lease = run_sync(lambda: cache._begin(plan))
        if found is not _MISS:
            cache._count(joins=1)
            return CacheResult(found, Source.JOINED, plan.key), _Shared(found, None)
        try:
            cache._count(upstream_calls=1)
            value = self._call(call)
        except BaseException:
            if lease is not None:
                held = lease
                run_sync(lambda: cache._end(plan, held))
            raise
        data = cache._dump_for_store(plan, value)
        verified = run_sync(lambda: cache._conclude(plan, data, lease))
        return CacheResult(value, Source.MISS, plan.key), _Shared(value, verified)

    def _bypass_stream(
        self, stream: SyncCachedStream[T], call: Callable[[], Iterable[T]], reason: str
    ) -> Generator[T, None, None]:
        stream.source = Source.BYPASS
        self._cache._note_bypass(reason)
        upstream = open_sync_upstream(self._call(call))
        try:
            yield from upstream
        except Exception:
            self._cache._count(errors=1)
            raise
        finally:
            close_sync_upstream(upstream)

    def _stream(
        self, stream: SyncCachedStream[T], plan: Plan, call: Callable[[], Iterable[T]]
    ) -> Generator[T, None, None]:
        cache = self._cache
        found = self._read(plan, first=True)
        if found is not _MISS:
            stream.source = Source.HIT
            yield from found
            return
        stream.source = Source.MISS
        cache._count(misses=1, upstream_calls=1)
        records: list[Any] | None = []
        upstream = open_sync_upstream(self._call(call))
        complete = False
        watch = EndWatch()
        try:
            for chunk in upstream:
                watch.see(chunk)
                if records is not None:
                    try:
                        records.append(cache._record(plan, chunk))
                    except Exception:
                        records = None
                        cache._count(unstorable=1)
                yield chunk
            complete = True
        except Exception:
            cache._count(errors=1)
            raise
        finally:
            if not complete:
                cache._count(interrupted_streams=1)
                close_sync_upstream(upstream)
        if records is not None and not watch.complete:
            records = None
            cache._cut_short()
        if records is not None:
            stored = records
            run_sync(lambda: cache._write(plan, stored))


class SyncCachedStream(Generic[T], Iterator[T]):
    """A sync iterator over a replayed or recorded stream (see `SyncResponseCache.stream`).

    ``source`` is ``None`` until the first chunk is requested, then a `Source`; ``hit`` tells a replay;
    ``reason`` says why a bypassed stream is not cached (known at once).

    >>> from cachepoint.core.stores import MemoryStore
    >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
    >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
    >>> with cache.sync.stream({"model": "m"}, lambda: iter("ab")) as s:
    ...     chunks = list(s)
    >>> s.source.value, chunks
    ('miss', ['a', 'b'])
    """

    def __init__(
        self,
        gen: Callable[[SyncCachedStream[T]], Generator[T, None, None]],
        key: str | None,
        reason: str | None = None,
    ) -> None:
        self.source: Source | None = None
        self.key = key
        self.reason = reason
        self._gen = gen(self)

    @property
    def hit(self) -> bool:
        """Whether the stream is replayed from the cache (known once the first chunk was requested).

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> [list(s) and s.hit for s in (cache.sync.stream({"model": "m"}, lambda: "ab") for _ in range(2))]
        [False, True]
        """
        return self.source is Source.HIT

    def __iter__(self) -> SyncCachedStream[T]:
        return self

    def __next__(self) -> T:
        return next(self._gen)

    def close(self) -> None:
        """Stop consuming; an unfinished upstream stream is closed and not stored.

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> stream = cache.sync.stream({"model": "m"}, lambda: iter("abc"))
        >>> next(stream), stream.close(), cache.stats().stored
        ('a', None, 0)
        """
        self._gen.close()

    def __enter__(self) -> SyncCachedStream[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
