"""What every framework adapter does around one LLM call, in one place.

- `place_cache_points`: `apply_cache_points` that never breaks the call. A payload it cannot read (a new block
  type, a provider field it does not know) goes out exactly as the framework built it, and the reason is logged
  once; the report's warnings (too many markers already, an unknown model) are logged once each. With
  ``adopt_markers=True`` the markers a framework placed by itself are taken as breakpoints it asks for, ranked
  after the strategy's: where both mark one block the longer TTL wins, and the total stays within the limit.
- `place_safely`: the same guarantee for an adapter that places breakpoints its own way (LangChain writes a
  plan back into message objects rather than into a payload): any placement step, never breaking the call.
- `CallRecorder`: one call's usage, normalized, into a `UsageLedger` under the adapter's labels, a `TraceWriter`
  line that ``cachepoint analyze`` reads, and OpenTelemetry; `CallRecorder.record_hit` for a call a response
  cache answered (a hit with zero provider tokens). Telemetry never fails a call: a usage payload it cannot read
  or a sink that raises is a log line (once per kind of failure, through `cachepoint.core.once`).

>>> from cachepoint.core.usage import UsageLedger
>>> ledger = UsageLedger()
>>> calls = CallRecorder(ledger=ledger)
>>> payload, report = place_cache_points(
...     {"model": "claude-sonnet-4-5", "max_tokens": 64, "system": "You answer from the manual. " * 300,
...      "messages": [{"role": "user", "content": "How do I reset it?"}]}, None, provider="anthropic")
>>> "cache_control" in payload["system"][0]
True
>>> _ = calls.record(payload, {"usage": {"input_tokens": 9, "cache_creation_input_tokens": 1805,
...     "cache_read_input_tokens": 0, "output_tokens": 12}}, provider="anthropic", model="claude-sonnet-4-5",
...     labels={"agent": "Researcher"})
>>> ledger.stats(agent="Researcher").calls
1
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cachepoint.core.once import log_once
from cachepoint.core.prompt import (
    Breakpoint,
    CachePlan,
    CacheReport,
    Locator,
    PlacementContext,
    Request,
    Strategy,
    ViewBuilder,
    apply_cache_points,
    auto,
)
from cachepoint.core.prompt.formats import get_format
from cachepoint.core.traces import TraceWriter
from cachepoint.core.usage import CacheUsage, OtelUsageRecorder, UsageLedger, normalize_usage

__all__ = ["CallRecorder", "place_cache_points", "place_safely"]

logger = logging.getLogger(__name__)

# One view builder for the process: an adapter places breakpoints on every call of an agent, whose requests repeat
# the tools, system prompt and conversation so far; the builder parses and views only what is new (same result).
_VIEWS = ViewBuilder()

T = TypeVar("T")


@dataclass(frozen=True)
class _Adopting:
    """A strategy's breakpoints, then one per block that carried a marker before (its TTL as requested)."""

    inner: Strategy
    markers: tuple[tuple[Locator, str | None], ...]

    def __call__(self, ctx: PlacementContext) -> Sequence[Breakpoint]:
        at = {p.locator: p.index for p in ctx.view}
        adopted = [
            Breakpoint(at[loc], ttl, "framework", "a marker the framework placed")
            for loc, ttl in self.markers
            if loc in at
        ]
        return [*self.inner(ctx), *adopted]


def _adopt(
    payload: Mapping[str, Any], strategy: Strategy | None, provider: str, fmt: str | None, views: ViewBuilder
) -> Any:
    request = views.parse(payload, format=fmt, provider=provider)
    markers = tuple(
        (loc, cache.ttl) for loc in request.marked_locators() if (cache := request.get(loc).cache) is not None
    )
    if not markers:
        return payload, strategy
    # The payload without its markers, as a payload: the builder reuses what it saw of the earlier calls.
    bare = request.without_markers()
    return get_format(bare.format).render(bare), _Adopting(strategy if strategy is not None else auto(), markers)


def place_cache_points(
    payload: Mapping[str, Any],
    strategy: Strategy | None,
    *,
    provider: str,
    model: str | None = None,
    format: str | None = None,
    adopt_markers: bool = False,
    builder: ViewBuilder | None = None,
) -> tuple[dict[str, Any], CacheReport | None]:
    """``apply_cache_points(payload, strategy, provider=..., model=..., format=...)``, or, when it cannot place
    breakpoints on this payload, the payload unchanged (a shallow copy) and ``None`` with the reason logged once.

    ``adopt_markers``: the payload's own markers (a framework's defaults, like CrewAI's on the system and task
    prompt) become breakpoints ranked after the strategy's, instead of fixed ones: a block both mark gets the
    longer TTL, and those that do not fit in the provider's limit are dropped with a reason in the report.

    ``builder``: the `ViewBuilder` that remembers what earlier calls sent (the process-wide one if not given). It
    holds the text of the conversations it saw, within its bounds, for as long as it lives: an adapter whose
    objects end with a conversation (a CrewAI LLM built per request) passes its own, to let that text go with them.

    >>> payload, report = place_cache_points({"model": "gpt-4o", "messages": "not a list"}, None, provider="openai")
    >>> payload["messages"], report
    ('not a list', None)
    >>> framework = {"model": "claude-sonnet-4-5", "max_tokens": 9, "messages": [{"role": "user", "content": "Hi"}],
    ...     "system": [{"type": "text", "text": "Policy. " * 900, "cache_control": {"type": "ephemeral"}}]}
    >>> place_cache_points(framework, None, provider="anthropic", adopt_markers=True)[0]["system"][0]["cache_control"]
    {'type': 'ephemeral', 'ttl': '1h'}
    """

    def place() -> tuple[tuple[dict[str, Any], CacheReport], CacheReport]:
        request: Any = payload
        chosen = strategy
        views = builder if builder is not None else _VIEWS
        if adopt_markers:
            request, chosen = _adopt(payload, strategy, provider, format, views)
        placed = apply_cache_points(request, chosen, provider=provider, model=model, format=format, builder=views)
        return placed, placed[1]

    done = place_safely(place, provider=provider)
    return done if done is not None else (dict(payload), None)


def place_safely(
    place: Callable[[], tuple[T, CacheReport | CachePlan | None]], *, provider: str, what: str = "request"
) -> T | None:
    """Run one placement step so that it never breaks the call: ``place()`` returns its result and the report
    (or `CachePlan`) it made. A step that raises gives ``None`` (the caller sends the request as built) with the
    reason logged once; the report's warnings are logged once each, dropped breakpoints at DEBUG.

    >>> place_safely(lambda: 1 / 0, provider="anthropic") is None
    True
    """
    try:
        result, report = place()
    except Exception as exc:
        log_once(
            f"place:{provider}:{type(exc).__name__}:{exc}",
            "cachepoint: no cache breakpoints placed on the %s (provider %s), sent as built (%s: %s)",
            what,
            provider,
            type(exc).__name__,
            exc,
            logger=logger,
        )
        return None
    if report is not None:
        for warning in report.warnings:
            log_once(f"report:{provider}:{warning}", "cachepoint: %s", warning, logger=logger)
        for decision in report.dropped:
            logger.debug(
                "cachepoint: breakpoint %r dropped (%s): %s", decision.breakpoint.id, decision.code, decision.detail
            )
    return result


class CallRecorder:
    """Where an adapter sends each call's usage: a ledger, a trace, OpenTelemetry (any of them, or none).

    Args:
        ledger: a `UsageLedger`; each call is recorded under the labels given to `record`.
        recorder: a `TraceWriter`; each call becomes one trace line (the request as sent, its usage, the labels
            in ``metadata``).
        otel: ``True`` for an `OtelUsageRecorder` on the global meter provider, or your own recorder.

    >>> CallRecorder().active
    False
    """

    def __init__(
        self,
        *,
        ledger: UsageLedger | None = None,
        recorder: TraceWriter | None = None,
        otel: bool | OtelUsageRecorder = False,
    ) -> None:
        if ledger is not None and not isinstance(ledger, UsageLedger):
            raise TypeError(f"ledger: expected a UsageLedger or None, got {type(ledger).__name__}")
        if recorder is not None and not isinstance(recorder, TraceWriter):
            raise TypeError(f"recorder: expected a TraceWriter or None, got {type(recorder).__name__}")
        if not isinstance(otel, (bool, OtelUsageRecorder)):
            raise TypeError(f"otel: expected a bool or an OtelUsageRecorder, got {type(otel).__name__}")
        self.ledger = ledger
        self.recorder = recorder
        self.otel: OtelUsageRecorder | None = OtelUsageRecorder() if otel is True else (otel or None)

    @property
    def active(self) -> bool:
        """Whether anything is recorded at all (adapters skip reading usage otherwise)."""
        return self.ledger is not None or self.recorder is not None or self.otel is not None

    def record(
        self,
        request: Mapping[str, Any] | Request | None,
        usage: Any,
        *,
        provider: str | None,
        model: str | None,
        labels: Mapping[str, str] | None = None,
        started: float | None = None,
        duration_s: float | None = None,
        ttft_s: float | None = None,
        session: str | None = None,
    ) -> CacheUsage | None:
        """Record one call that reached the provider: ``request`` as sent (``None``: no trace line, e.g. for a
        model whose body the adapter cannot rebuild), ``usage`` as the provider returned it (its response, usage
        object or stream events: anything `normalize_usage` reads; ``None`` when the call reported none: nothing
        is counted), ``started`` its wall-clock start (epoch seconds), ``session`` the conversation it belongs to
        (a trace field, like ``tenant``, which is taken from the labels). Pass the provider's usage object (not a
        whole stream) so the trace line stays small. Returns the normalized usage, or ``None`` when there was
        none or it could not be read (logged once)."""
        normalized: CacheUsage | None = None
        if usage is not None:
            try:
                normalized = normalize_usage(usage, provider=provider, model=model)
            except Exception as exc:
                log_once(
                    f"usage:{provider}:{type(exc).__name__}",
                    "cachepoint: could not read the usage of a %s call, not recorded (%s: %s)",
                    provider,
                    type(exc).__name__,
                    exc,
                    logger=logger,
                )
                return None
        labels = dict(labels or {})
        ledger, recorder, otel = self.ledger, self.recorder, self.otel
        if ledger is not None and normalized is not None:
            counted = normalized
            self._safely("ledger", lambda: ledger.record(counted, labels, duration_s=duration_s, ttft_s=ttft_s))
        if recorder is not None and request is not None:
            self._safely(
                "trace",
                lambda: recorder.write(
                    request,
                    usage=usage,
                    timestamp=started if started is not None else time.time(),
                    provider=provider,
                    model=model,
                    tenant=labels.get("tenant"),
                    session=session,
                    ttft_s=ttft_s,
                    metadata=labels or None,
                ),
            )
        if otel is not None and normalized is not None:
            counted = normalized
            self._safely("otel", lambda: otel.record(counted, duration_s=duration_s, ttft_s=ttft_s))
        return normalized

    def record_hit(
        self,
        *,
        provider: str | None,
        model: str | None,
        labels: Mapping[str, str] | None = None,
        duration_s: float | None = None,
        usage: Any = None,
        label: tuple[str, str] = ("response_cache", "hit"),
    ) -> CacheUsage:
        """Record a call a cache answered: no provider call, so zero provider tokens and no cost, counted as a
        replayed hit (`UsageLedger.record_replay`), labelled ``label`` (``response_cache="hit"``; LangGraph's node
        cache uses ``node_cache="hit"``). ``usage``: the stored answer's usage as the provider reported it the
        first time (anything `normalize_usage` reads), when known: what that call cost is counted as saved.
        No trace line: nothing was sent (a trace records provider traffic only). Returns the usage recorded.

        >>> ledger = UsageLedger()
        >>> first = {"input_tokens": 2000, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0,
        ...          "output_tokens": 100}
        >>> usage = CallRecorder(ledger=ledger).record_hit(provider="anthropic", model="claude-sonnet-4-5",
        ...                                                usage=first)
        >>> usage.input_tokens, ledger.stats(response_cache="hit").hit_rate
        (0, 1.0)
        >>> round(ledger.stats().replay_savings_usd, 4), ledger.stats().cost_usd
        (0.0075, 0.0)
        """
        saved: CacheUsage | None = None
        if usage is not None and self.ledger is not None:
            try:
                saved = normalize_usage(usage, provider=provider, model=model)
            except Exception as exc:  # the hit still counts; only its savings are unknown
                log_once(
                    f"hit-usage:{provider}:{type(exc).__name__}",
                    "cachepoint: could not read the stored usage of a %s cache hit, no savings counted (%s: %s)",
                    provider,
                    type(exc).__name__,
                    exc,
                    logger=logger,
                )
        zero = CacheUsage(
            provider=provider,
            model=model,
            input_tokens=0,
            cache_read_tokens=0,
            cache_write_tokens=0,
            output_tokens=0,
            reasoning_tokens=0,
        )
        key, value = label
        labelled = {**(labels or {}), key: value}
        for name in ("provider", "model"):  # as `UsageLedger.record` adds them from the usage
            found = getattr(zero, name)
            if found is not None:
                labelled.setdefault(name, found)
        ledger, otel = self.ledger, self.otel
        if ledger is not None:
            self._safely("ledger", lambda: ledger.record_replay(labelled, duration_s=duration_s, saved=saved))
        if otel is not None:
            self._safely("otel", lambda: otel.record(zero, duration_s=duration_s))
        return zero

    @staticmethod
    def _safely(sink: str, write: Callable[[], object]) -> None:
        try:
            write()
        except Exception as exc:
            log_once(f"sink:{sink}:{type(exc).__name__}", "cachepoint: %s write failed (%s)", sink, exc, logger=logger)
