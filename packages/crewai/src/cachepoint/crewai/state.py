"""`Caching`: the settings of one LLM and what every provider wrapper does with them around an SDK call.

One object per `enable_cache_points` call, shared by the LLM, its shallow copies (CrewAI copies an agent's LLM
when it copies the agent) and the SDK-client wrappers it hands out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from cachepoint.core.instrument import CallRecorder, place_cache_points
from cachepoint.core.once import log_once
from cachepoint.core.response_cache import ResponseCache
from cachepoint.crewai.config import CachePoints
from cachepoint.crewai.labels import current_labels

__all__ = ["Caching", "Timer"]

logger = logging.getLogger("cachepoint.crewai")

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

    def place(self, payload: Mapping[str, Any], *, format: str | None = None) -> dict[str, Any]:
        """``payload`` with the strategy's breakpoints (unchanged if they cannot be placed; logged once).

        The markers CrewAI placed itself (Anthropic: system and task prompt) are adopted as breakpoints ranked
        after the strategy's: where both want one block the longer TTL wins (the strategy's 1h on the system
        prompt), and the total stays within the provider's four.
        """
        placed, _ = place_cache_points(
            payload, self.config.strategy, provider=self.provider, format=format, adopt_markers=True
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

    def cached(
        self,
        key: Mapping[str, Any],
        call: Callable[[], T],
        *,
        dump: Callable[[T], Any],
        load: Callable[[Any], T],
    ) -> tuple[T, bool]:
        """``call()``'s result, or the response cache's answer for ``key``; and whether it was a hit."""
        cache = self.response_cache
        if cache is None:
            return call(), False
        result = cache.sync.get_or_call(key, call, dump=dump, load=load)
        return result.value, result.hit

    async def acached(
        self,
        key: Mapping[str, Any],
        call: Callable[[], Awaitable[T]],
        *,
        dump: Callable[[T], Any],
        load: Callable[[Any], T],
    ) -> tuple[T, bool]:
        """`cached` for async calls."""
        cache = self.response_cache
        if cache is None:
            return await call(), False
        result = await cache.get_or_call(key, call, dump=dump, load=load)
        return result.value, result.hit

    def streams_uncached(self) -> None:
        """Say once that streamed calls are not answered from the response cache (they still get breakpoints
        and are recorded)."""
        if self.response_cache is not None:
            log_once(
                f"stream:{self.provider}",
                "cachepoint.crewai: streamed %s calls are not served from the response cache (LLM(stream=True)); "
                "they still get cache breakpoints and their usage is recorded",
                self.provider,
                logger=logger,
            )
