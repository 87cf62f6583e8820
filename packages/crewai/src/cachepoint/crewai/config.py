"""`CachePoints`: what caching an LLM gets (the value of ``cache_points=``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cachepoint.core.prompt import Strategy, auto, cache_at, cache_until, rolling, stable_prefix
from cachepoint.core.response_cache import ResponseCache
from cachepoint.core.traces import TraceWriter
from cachepoint.core.usage import OtelUsageRecorder, UsageLedger

__all__ = ["CachePoints", "resolve_cache_points"]

# Callables that look like a Strategy to isinstance (they are callable) but build one: passing `auto` for
# `auto()` would only fail inside the first call, where a placement error is a log line, not an exception.
_FACTORIES = (auto, cache_at, cache_until, rolling, stable_prefix)


def _check_strategy(value: object, field: str) -> None:
    if isinstance(value, type) or any(value is factory for factory in _FACTORIES):
        name = getattr(value, "__name__", repr(value))
        raise TypeError(f"{field}: got {name} itself, not a strategy; call it, e.g. {name}()")
    if not isinstance(value, Strategy):
        raise TypeError(
            f"{field}: expected a Strategy (auto(), cache_until(...), a callable), got {type(value).__name__}"
        )


@dataclass(frozen=True)
class CachePoints:
    """Caching for one CrewAI LLM.

    Attributes:
        strategy: where breakpoints go (a core `Strategy`; `auto()` by default: tools, system prompt and the
            conversation so far, with the long TTL on the static layers where the model allows it).
        ledger: a `UsageLedger` that gets every call's usage, labelled ``agent`` (role), ``task``, ``crew``,
            ``provider`` and ``model``.
        recorder: a `TraceWriter`; every call becomes a trace line for ``cachepoint analyze``.
        response_cache: a `ResponseCache`; identical calls its policy allows are answered from its store.
        otel: ``True`` to record usage in OpenTelemetry (global meter provider), or an `OtelUsageRecorder`.

    >>> from cachepoint.core.usage import UsageLedger
    >>> CachePoints(ledger=UsageLedger()).strategy
    Auto(static_ttl=None, conversation_ttl=None, anchors=1)
    """

    strategy: Strategy = field(default_factory=auto)
    ledger: UsageLedger | None = None
    recorder: TraceWriter | None = None
    response_cache: ResponseCache | None = None
    otel: bool | OtelUsageRecorder = False

    def __post_init__(self) -> None:
        _check_strategy(self.strategy, "cache_points.strategy")
        checks = (("ledger", UsageLedger), ("recorder", TraceWriter), ("response_cache", ResponseCache))
        for name, kind in checks:
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                got = type(value).__name__
                raise TypeError(f"cache_points.{name}: expected a {kind.__name__} or None, got {got}")
        if not isinstance(self.otel, (bool, OtelUsageRecorder)):
            raise TypeError(
                f"cache_points.otel: expected a bool or an OtelUsageRecorder, got {type(self.otel).__name__}"
            )


def resolve_cache_points(value: object) -> CachePoints:
    """The `CachePoints` that ``cache_points=value`` means: ``True`` (the defaults), a `Strategy`, or a
    `CachePoints`. Anything else is a ``TypeError`` naming the parameter.

    >>> from cachepoint.core.prompt import cache_until
    >>> resolve_cache_points(cache_until("system")).strategy
    CacheUntil(target='system', ttl=None)
    """
    if isinstance(value, CachePoints):
        return value
    if value is True:
        return CachePoints()
    if value is False or value is None or not callable(value):
        raise TypeError(f"cache_points: expected True, a Strategy or a CachePoints, got {value!r}")
    _check_strategy(value, "cache_points")
    return CachePoints(strategy=value)
