"""`CachedStream`: record and replay of streamed responses (see `ResponseCache.stream`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from cachepoint.core.response_cache.complete import EndWatch
from cachepoint.core.response_cache.result import Source
from cachepoint.core.response_cache.streamflight import State, StreamFlight, StreamFlights
from cachepoint.core.response_cache.upstream import close_upstream, open_upstream

if TYPE_CHECKING:
    from cachepoint.core.response_cache.cache import Plan, ResponseCache

__all__ = ["CachedStream", "StreamInterruptedError"]

log = logging.getLogger(__name__)

T = TypeVar("T")
StreamCall = Callable[[], "AsyncIterable[T] | Awaitable[AsyncIterable[T]]"]


class StreamInterruptedError(RuntimeError):
    """A shared stream ended mid-way for a reason outside this consumer (the event loop running the upstream
    stream shut down). Only raised to consumers that had already received chunks; the others start over.

    >>> issubclass(StreamInterruptedError, RuntimeError)
    True
    """


class CachedStream(Generic[T], AsyncIterator[T]):
    """An async iterator over a stream that is replayed from the cache or relayed (and recorded) from upstream.

    - ``source`` is ``None`` until the first chunk is requested, then `Source.HIT` (replay), ``MISS`` (this
      consumer started the upstream stream), ``JOINED`` (it follows an identical stream already running in
      this process, live) or ``BYPASS`` (and then ``reason`` says why). ``hit`` is ``source is Source.HIT``.
    - Stored only when the upstream stream **completes**: it ends without an error and, for the provider SDK
      streams core knows, with the events that end an answer (see `cachepoint.core.response_cache.complete`; a
      stream a proxy cut short just ends, and is handed on as it came). If the upstream raises, the error reaches every
      consumer after the chunks before it, and nothing is stored. If every consumer leaves (``aclose()``,
      ``async with`` exit, or garbage collection after ``break``) before the upstream finishes, the upstream is
      closed and nothing is stored.
    - Concurrent identical streams share one upstream stream (see `cachepoint.core.response_cache.streamflight`);
      they do not use the distributed lock: waiting for another process's stream would cost each consumer the
      whole generation time before its first chunk.

    >>> import asyncio
    >>> from cachepoint.core.stores import MemoryStore
    >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
    >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
    >>> async def upstream():
    ...     yield {"delta": "Hi"}
    >>> async def twice() -> list[str]:
    ...     sources = []
    ...     for _ in range(2):
    ...         async with cache.stream({"model": "m"}, upstream) as stream:
    ...             chunks = [c async for c in stream]
    ...             sources.append(stream.source.value)
    ...     return sources
    >>> asyncio.run(twice())
    ['miss', 'hit']
    """

    def __init__(
        self, cache: ResponseCache, plan: Plan | None, call: StreamCall[T], *, reason: str | None = None
    ) -> None:
        self._cache = cache
        self._plan = plan
        self._call = call
        self.source: Source | None = None
        self.reason = reason
        """Why the stream is not cached (``None`` unless it is bypassed), known at once."""
        self._agen: AsyncGenerator[T, None] = self._run()

    @property
    def hit(self) -> bool:
        """Whether the stream is replayed from the cache (known once the first chunk was requested).

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> cache.stream({"model": "m"}, lambda: None).hit  # nothing requested yet
        False
        """
        return self.source is Source.HIT

    @property
    def key(self) -> str | None:
        """The store key (``None`` for a bypassed stream).

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> cache = ResponseCache(MemoryStore(max_entries=10), CachePolicy("chat"))
        >>> cache.stream({"model": "m", "temperature": 1}, lambda: None).key is None
        True
        """
        return None if self._plan is None else self._plan.key

    def __aiter__(self) -> CachedStream[T]:
        return self

    async def __anext__(self) -> T:
        return await self._agen.__anext__()

    async def aclose(self) -> None:
        """Stop consuming. If no other consumer follows the same upstream stream, it is closed, not stored.

        >>> # async with cache.stream(request, call) as stream: ...   (leaving the block calls aclose())
        """
        await self._agen.aclose()

    async def __aenter__(self) -> CachedStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[T, None]:
        from cachepoint.core.response_cache.cache import _MISS

        cache, plan = self._cache, self._plan
        if plan is None:
            async for chunk in self._bypass():
                yield chunk
            return
        found = await cache._read(plan, first=True)
        if found is not _MISS:
            self.source = Source.HIT
            for chunk in found:
                yield chunk
            return
        cache._count(misses=1)
        flights: StreamFlights = cache._stream_flights
        while True:
            flight = self._lead_or_join(flights, plan)
            progress = _Progress()
            # A consumer that joined gets chunks of its own, as a replay would give it; the one that started the
            # upstream stream gets the upstream's chunks.
            joined = self.source is Source.JOINED
            follow = _follow(flight, progress, cache._private_copy if joined else None)
            try:
                async for chunk in follow:
                    yield chunk
            finally:
                await follow.aclose()
            if progress.finished:
                return
            # The flight was aborted by something other than this consumer (its pump's loop shut down).
            if progress.index:
                raise StreamInterruptedError(
                    f"the shared stream for {plan.key} was interrupted after {progress.index} chunks"
                )
            found = await cache._read(plan, count=False)
            if found is not _MISS:
                self.source = Source.JOINED
                for chunk in found:
                    yield chunk
                return

    def _lead_or_join(self, flights: StreamFlights, plan: Plan) -> StreamFlight:
        flight, leader = flights.lead_or_join(plan.key)
        if leader:
            flight.loop = asyncio.get_running_loop()
            flight.task = flight.loop.create_task(_pump(self._cache, plan, self._call, flight, flights))
            self.source = Source.MISS
        else:
            self.source = Source.JOINED
            self._cache._count(joins=1)
        return flight

    async def _bypass(self) -> AsyncGenerator[T, None]:
        cache = self._cache
        self.source = Source.BYPASS
        cache._note_bypass(self.reason or "not cacheable")
        upstream = None
        try:
            upstream = await open_upstream(self._call)
            async for chunk in upstream:
                yield chunk
        except Exception:
            cache._count(errors=1)
            raise
        finally:
            if upstream is not None:
                await close_upstream(upstream)


class _Progress:
    __slots__ = ("finished", "index")

    def __init__(self) -> None:
        self.index = 0
        self.finished = False


async def _follow(
    flight: StreamFlight, progress: _Progress, copy: Callable[[Any], Any] | None
) -> AsyncGenerator[Any, None]:
    """Yield ``flight``'s chunks as they arrive (each through ``copy``, if given); mark ``progress.finished`` at
    the end, raise its error, or just return if the flight is aborted."""
    sub = flight.subscribe()
    try:
        while True:
            with flight.lock:
                if progress.index < len(flight.chunks):
                    chunk = flight.chunks[progress.index]
                    progress.index += 1
                    state = None
                else:
                    state = flight.state
                    if state is State.RUNNING:
                        sub.event.clear()  # under the lock: a publish after this check will set it again
            if state is None:
                yield chunk if copy is None else copy(chunk)
            elif state is State.RUNNING:
                await sub.event.wait()
            elif state is State.DONE:
                progress.finished = True
                return
            elif state is State.FAILED:
                assert flight.error is not None
                raise flight.error
            else:
                return
    finally:
        flight.unsubscribe(sub)


async def _pump(
    cache: ResponseCache, plan: Plan, call: StreamCall[Any], flight: StreamFlight, flights: StreamFlights
) -> None:
    """Read the upstream stream into ``flight``; store it once complete."""
    records: list[Any] | None = []
    upstream: AsyncIterator[Any] | None = None
    watch = EndWatch()
    cache._count(upstream_calls=1)
    try:
        try:
            upstream = await open_upstream(call)
            async for chunk in upstream:
                watch.see(chunk)
                if records is not None:
                    try:
                        records.append(cache._record(plan, chunk))
                    except Exception as exc:
                        records = None
                        cache._count(unstorable=1)
                        log.warning("response cache: a stream chunk could not be dumped (%s); not storing it", exc)
                flight.publish(chunk)
        finally:
            if upstream is not None:
                await close_upstream(upstream)
    except asyncio.CancelledError:
        cache._count(interrupted_streams=1)
        flight.finish(State.ABORTED)
        flights.remove(plan.key, flight)
        raise
    except Exception as exc:
        cache._count(errors=1, interrupted_streams=1)
        flight.finish(State.FAILED, exc)
        flights.remove(plan.key, flight)
        return
    except BaseException:
        flight.finish(State.ABORTED)
        flights.remove(plan.key, flight)
        raise
    flight.finish(State.DONE)
    if records is not None and not watch.complete:
        records = None
        cache._cut_short()
    try:
        if records is not None:
            await cache._write(plan, records)
    finally:
        flights.remove(plan.key, flight)
