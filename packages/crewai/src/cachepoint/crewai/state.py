"""`Caching`: the settings of one LLM and what every provider wrapper does with them around an SDK call.

One object per `enable_cache_points` call, shared by the LLM, its shallow copies (CrewAI copies an agent's LLM
when it copies the agent) and the SDK-client wrappers it hands out.

An answer the response cache replays reached no model: it reports zero tokens to CrewAI's counters (`free`), and
it is recorded as a replayed hit (`Caching.replayed`): no tokens, no cost, labelled ``response_cache="hit"``; a
replayed answer carries what its first call cost as saved, a replayed stream carries none (its stored events are
read with their usage at zero). A hit writes no trace line: a trace records provider traffic only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

from cachepoint.core.instrument import CallRecorder, place_cache_points
from cachepoint.core.once import log_once
from cachepoint.core.prompt import ViewBuilder
from cachepoint.core.response_cache import ResponseCache, Source
from cachepoint.crewai.config import CachePoints
from cachepoint.crewai.labels import current_labels

__all__ = ["Caching", "RecordingStream", "TimedEvents", "Timer", "free", "reached_model", "request_key", "zeroed"]

logger = logging.getLogger("cachepoint.crewai")

# What one LLM remembers of the requests it sent, to place the next turn's breakpoints without parsing again
# what it repeats: its live conversations fit (an agent's turns, a few crews at once), not every conversation the
# process ever served; the memory goes with the LLM (a crew built per request takes it along).
_VIEW_ENTRIES = 20_000
_VIEW_BYTES = 32 * 1024 * 1024

T = TypeVar("T")


class Timer:
    """Wall-clock start, time to first chunk and duration of one call."""

    def __init__(self) -> None:
        self.started = time.time()
        self._t0 = time.perf_counter()
        self.ttft_s: float | None = None

    def first_chunk(self) -> None:
        """Mark the first chunk of a stream (only the first call counts)."""
        if self.ttft_s is None:
            self.ttft_s = time.perf_counter() - self._t0

    def elapsed(self) -> float:
        """Seconds since the call started."""
        return time.perf_counter() - self._t0


class TimedEvents:
    """An SDK stream (sync or async) that marks its first event on ``timer`` (time to first token); anything else
    is the stream's own."""

    def __init__(self, inner: Any, timer: Timer) -> None:
        self._inner = inner
        self._timer = timer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __iter__(self) -> Iterator[Any]:
        for event in self._inner:
            self._timer.first_chunk()
            yield event

    async def __aiter__(self) -> AsyncIterator[Any]:
        async for event in self._inner:
            self._timer.first_chunk()
            yield event


class RecordingStream:
    """An SDK stream manager (sync or async) whose stream marks its first event, and whose block, ended without an
    error, hands the stream's final object to ``record`` (``final``: the name of the stream's getter, awaited for
    an async stream) — or, when the stream never reached the model (``reached`` false: a replay), calls
    ``replay``.

    A block that ends in an error, or is cancelled, hands ``record`` what the stream accumulated so far (``partial``:
    the name of the stream's property holding it) if that carries usage: the provider billed what it reported
    (Anthropic's ``message_start`` carries the input, cache reads and cache writes). With no usage reported yet
    (OpenAI reports it only in the last chunk) there is nothing to record."""

    def __init__(
        self,
        inner: Any,
        *,
        final: str,
        record: Callable[[Any, Timer], None],
        partial: str | None = None,
        reached: Callable[[], bool] = lambda: True,
        replay: Callable[[Timer], None] | None = None,
    ) -> None:
        self._inner = inner
        self._final = final
        self._record = record
        self._partial = partial
        self._reached = reached
        self._replay = replay
        self._stream: Any = None
        self._timer = Timer()

    def _record_partial(self) -> None:
        """Record what an ended-early stream reported, if it reached the model and reported usage."""
        if self._partial is None or self._stream is None:
            return
        try:
            if not self._reached():
                return
            so_far = getattr(self._stream, self._partial)
        except Exception:  # nothing accumulated yet (the SDK's snapshot asserts one exists)
            return
        if getattr(so_far, "usage", None) is not None:
            self._record(so_far, self._timer)

    def __enter__(self) -> TimedEvents:
        self._timer = Timer()
        self._stream = self._inner.__enter__()
        return TimedEvents(self._stream, self._timer)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        if exc_type is not None:
            self._record_partial()
        elif self._stream is not None:
            if self._reached():
                self._record(getattr(self._stream, self._final)(), self._timer)
            elif self._replay is not None:
                self._replay(self._timer)
        return self._inner.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> TimedEvents:
        self._timer = Timer()
        self._stream = await self._inner.__aenter__()
        return TimedEvents(self._stream, self._timer)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        if exc_type is not None:
            self._record_partial()
        elif self._stream is not None:
            if self._reached():
                self._record(await getattr(self._stream, self._final)(), self._timer)
            elif self._replay is not None:
                self._replay(self._timer)
        return await self._inner.__aexit__(exc_type, exc, tb)


class Caching:
    """What an LLM with ``cache_points`` does: place breakpoints, answer from the response cache, record usage.

    ``provider`` is the provider whose caching rules and payload format apply (``anthropic``, ``bedrock``,
    ``openai``).
    """

    def __init__(self, config: CachePoints, provider: str) -> None:
        self.config = config
        self.provider = provider
        self.calls = CallRecorder(ledger=config.ledger, recorder=config.recorder, otel=config.otel)
        self.response_cache: ResponseCache | None = config.response_cache
        # Its own, not the process-wide one: what it holds of the conversations goes with the LLM (a crew built per
        # request takes its requests' text with it), and a long-lived LLM keeps only its recent ones.
        self.views = ViewBuilder(max_entries=_VIEW_ENTRIES, max_bytes=_VIEW_BYTES)

    def place(self, payload: Mapping[str, Any], *, format: str | None = None) -> dict[str, Any]:
        """``payload`` with the strategy's breakpoints (unchanged if they cannot be placed; logged once).

        The markers CrewAI placed itself (Anthropic: system and task prompt) are adopted as breakpoints ranked
        after the strategy's: where both want one block the longer TTL wins (the strategy's 1h on the system
        prompt), and the total stays within the provider's four.
        """
        placed, _ = place_cache_points(
            payload, self.config.strategy, provider=self.provider, format=format, adopt_markers=True, builder=self.views
        )
        return placed

    def record(self, request: Mapping[str, Any], usage: Any, timer: Timer, *, model: str | None) -> None:
        """Record one call that reached the provider, labelled with the CrewAI agent, task and crew calling."""
        if not self.calls.active:
            return
        self.calls.record(
            request,
            usage,
            provider=self.provider,
            model=model,
            labels=current_labels(),
            started=timer.started,
            duration_s=timer.elapsed(),
            ttft_s=timer.ttft_s,
        )

    def replayed(self, timer: Timer, *, model: str | None, usage: Any = None) -> None:
        """Record a call the response cache answered (a hit, or a share of an identical call in flight): ``usage``
        is the stored answer's, as the provider reported it the first time (``None``: unknown, nothing counted as
        saved)."""
        if self.calls.ledger is None and self.calls.otel is None:
            return
        self.calls.record_hit(
            provider=self.provider, model=model, labels=current_labels(), duration_s=timer.elapsed(), usage=usage
        )

    def replayed_stream(self, stream: Any, timer: Timer, *, model: str | None) -> None:
        """Record ``stream`` (a stream the response cache served, read to its end) as a hit if it was a replay, or
        shared an identical stream in flight."""
        if stream.source is Source.HIT or stream.source is Source.JOINED:
            self.replayed(timer, model=model)

    def cached(
        self,
        key: Mapping[str, Any],
        call: Callable[[], T],
        *,
        load: Callable[[Any], T],
        dump: Callable[[T], Any] | None = None,
        timer: Timer | None = None,
        model: str | None = None,
    ) -> tuple[T, bool]:
        """``call()``'s result, or the response cache's answer for ``key``; and whether this call reached the
        model (its usage is then to be recorded; another caller's shared call's is not). A replay is recorded
        here as a hit (with ``timer`` and ``model``) carrying the stored answer's usage as saved."""
        cache = self.response_cache
        if cache is None:
            return call(), True
        stored = _Stored(load)
        result = cache.sync.get_or_call(key, call, dump=dump, load=stored)
        if not result.called_upstream:  # a hit, or a call that shared an identical one in flight: nothing sent
            self.replayed(timer or Timer(), model=model, usage=stored.usage)
        return result.value, result.called_upstream

    async def acached(
        self,
        key: Mapping[str, Any],
        call: Callable[[], Awaitable[T]],
        *,
        load: Callable[[Any], T],
        dump: Callable[[T], Any] | None = None,
        timer: Timer | None = None,
        model: str | None = None,
    ) -> tuple[T, bool]:
        """`cached` for async calls."""
        cache = self.response_cache
        if cache is None:
            return await call(), True
        stored = _Stored(load)
        result = await cache.get_or_call(key, call, dump=dump, load=stored)
        if not result.called_upstream:
            self.replayed(timer or Timer(), model=model, usage=stored.usage)
        return result.value, result.called_upstream

    def streams_uncached(self, what: str) -> None:
        """Say once that ``what`` (a kind of streamed call) is not answered from the response cache (it still
        gets breakpoints and is recorded)."""
        if self.response_cache is not None:
            log_once(
                f"stream:{self.provider}:{what}",
                "cachepoint.crewai: %s %s calls are not served from the response cache; they still get cache "
                "breakpoints and their usage is recorded",
                what,
                self.provider,
                logger=logger,
            )


class _Stored:
    """A response cache ``load`` that keeps the usage of the stored answer (what its first call reported) before
    ``load`` zeroes it for CrewAI's counters."""

    __slots__ = ("_load", "usage")

    def __init__(self, load: Callable[[Any], Any]) -> None:
        self._load = load
        self.usage: Any = None

    def __call__(self, data: Any) -> Any:
        found = data.get("usage") if isinstance(data, Mapping) else getattr(data, "usage", None)
        self.usage = found if found is not None and not callable(found) else None
        return self._load(data)


def request_key(payload: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The response-cache key of an SDK call: its payload with the SDK request options it was given
    (``extra_headers``, ``timeout``...). Core's key keeps of those only what changes the answer (a beta or
    API-version header, ``betas``, ``extra_body``, ``extra_query``) and drops the rest (the timeout, tracing and
    auth headers), so a request's key does not depend on how long its caller waits.

    >>> request_key({"model": "m"}, {"timeout": 30, "extra_body": None})
    {'model': 'm', 'timeout': 30}
    """
    return {**payload, **{k: v for k, v in options.items() if v is not None}}


def reached_model(stream: Any) -> bool:
    """Whether a stream served through the response cache (a `CachedStream` or its sync twin) reached the model:
    a live stream this caller started, or one the policy does not cache; not a replay, nor a stream another
    caller in this process started (that one records it)."""
    return stream.source is Source.MISS or stream.source is Source.BYPASS


def free(obj: Any) -> Any:
    """``obj`` (an SDK response, stream event or chunk) with every token count of its usage at zero, also where it
    carries a whole message or response (``message_start``, ``response.completed``): a replay reached no model,
    so CrewAI's own token counters must not count it again. Anything without usage is returned as it is."""
    update = {}
    usage = getattr(obj, "usage", None)
    if usage is not None:
        update["usage"] = type(usage).model_construct(**zeroed(usage.model_dump(exclude_unset=True, warnings=False)))
    for carrier in ("message", "response"):
        inner = getattr(obj, carrier, None)
        if inner is not None and getattr(inner, "usage", None) is not None:
            update[carrier] = free(inner)
    return obj.model_copy(update=update) if update else obj


def zeroed(value: Any) -> Any:
    """``value`` (plain data: a usage dict, or a model's dump) with every count at zero."""
    if isinstance(value, bool) or not isinstance(value, (int, float, dict, list)):
        return value
    if isinstance(value, dict):
        return {key: zeroed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [zeroed(item) for item in value]
    return type(value)(0)
