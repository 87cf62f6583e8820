"""`OtelUsageRecorder`: usage on the current span and in OpenTelemetry metrics (needs the ``otel`` extra).

On the span: the GenAI usage attributes (`CacheUsage.to_otel_attributes`) plus the call's cost and savings.
Metrics:

- ``gen_ai.client.token.usage`` (histogram, ``{token}``, ``gen_ai.token.type`` = ``input`` | ``output``): the
  GenAI conventions' token histogram; input includes cache reads and writes.
- ``gen_ai.client.operation.duration`` (histogram, seconds) when a duration is given.
- ``cachepoint.llm.time_to_first_token`` (histogram, seconds) when a TTFT is given.
- ``cachepoint.llm.calls`` (counter) with ``cachepoint.cache.outcome`` = ``hit`` | ``miss`` | ``unknown``.
- ``cachepoint.llm.tokens`` (counter, ``{token}``) with ``cachepoint.token.type`` = ``input`` |
  ``uncached_input`` | ``cache_read`` | ``cache_write`` | ``output`` | ``reasoning``; writes also carry
  ``cachepoint.cache.ttl`` when the provider reported it.
- ``cachepoint.llm.cost`` (counter, USD) and ``cachepoint.llm.savings`` (up-down counter, USD: a write that
  no read has used yet makes it go down).

The duration and TTFT histograms also carry ``cachepoint.cache.outcome``, so hit and miss latency can be
compared. Recording never raises: a telemetry failure is logged (logger ``cachepoint.core.usage.otel``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cachepoint.core.providers import Pricing, ProviderTable
from cachepoint.core.usage.cache_usage import CacheUsage
from cachepoint.core.usage.cost import CallCost, call_cost
from cachepoint.core.usage.normalize import normalize_usage
from cachepoint.core.usage.semconv import (
    CACHEPOINT_CACHE_OUTCOME,
    CACHEPOINT_CACHE_TTL,
    CACHEPOINT_TOKEN_TYPE,
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_TOKEN_TYPE,
    METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
    METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
    OtelValue,
    otel_provider_name,
)

__all__ = ["OtelUsageRecorder"]

logger = logging.getLogger(__name__)

# The bucket boundaries the GenAI conventions recommend for gen_ai.client.token.usage.
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
# ... and for gen_ai.client.operation.duration (seconds).
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)

_TOKEN_TYPES = (
    ("input", "input_tokens"),
    ("uncached_input", "uncached_input_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("output", "output_tokens"),
    ("reasoning", "reasoning_tokens"),
)


class OtelUsageRecorder:
    """Records `CacheUsage` (or any payload `normalize_usage` reads) on the current span and in metrics.

    >>> from opentelemetry.sdk.metrics import MeterProvider
    >>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    >>> reader = InMemoryMetricReader()
    >>> recorder = OtelUsageRecorder(meter_provider=MeterProvider(metric_readers=[reader]))
    >>> _ = recorder.record(CacheUsage(provider="anthropic", model="claude-sonnet-4-5", input_tokens=1510,
    ...     cache_read_tokens=1200, cache_write_tokens=300, output_tokens=5), duration_s=0.8)
    >>> sorted(m.name for rm in reader.get_metrics_data().resource_metrics
    ...        for sm in rm.scope_metrics for m in sm.metrics)[:2]
    ['cachepoint.llm.calls', 'cachepoint.llm.cost']

    Args:
        meter_provider: where metrics go (default: the global one).
        operation_name: ``gen_ai.operation.name`` on metrics (``chat``, ``generate_content``...).
        cache_write_attribute: also set ``gen_ai.usage.cache_write.input_tokens`` on spans.
        legacy_system: also set the deprecated ``gen_ai.system`` on spans.
        table, pricing, batch, regional: how calls are priced (see `call_cost`); ``price=False`` skips pricing.
    """

    def __init__(
        self,
        *,
        meter_provider: Any = None,
        operation_name: str = "chat",
        cache_write_attribute: bool = False,
        legacy_system: bool = False,
        price: bool = True,
        table: ProviderTable | None = None,
        pricing: Pricing | None = None,
        batch: bool = False,
        regional: bool = False,
    ) -> None:
        try:
            from opentelemetry import metrics, trace
        except ImportError:
            raise ImportError("OtelUsageRecorder needs OpenTelemetry: pip install 'cachepoint-core[otel]'") from None
        from cachepoint.core import __version__

        self._trace = trace
        self._operation = operation_name
        self._span_options = {"cache_write_attribute": cache_write_attribute, "legacy_system": legacy_system}
        self._price = price
        self._cost_options: dict[str, Any] = {"table": table, "pricing": pricing, "batch": batch, "regional": regional}
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        meter = provider.get_meter("cachepoint.core.usage", __version__)
        self._token_usage = meter.create_histogram(
            METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Tokens used per call, by input (cache included) and output.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self._duration = meter.create_histogram(
            METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="Duration of the LLM call.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._ttft = meter.create_histogram(
            "cachepoint.llm.time_to_first_token",
            unit="s",
            description="Time to the first token of a streamed LLM call.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._calls = meter.create_counter("cachepoint.llm.calls", unit="{call}", description="LLM calls.")
        self._tokens = meter.create_counter(
            "cachepoint.llm.tokens", unit="{token}", description="Tokens by type; input includes the cache."
        )
        self._cost = meter.create_counter("cachepoint.llm.cost", unit="USD", description="Cost with caching.")
        self._savings = meter.create_up_down_counter(
            "cachepoint.llm.savings", unit="USD", description="Cost without caching minus cost with caching."
        )

    def record(
        self,
        usage: Any,
        *,
        provider: str | None = None,
        model: str | None = None,
        span: Any = None,
        attributes: Mapping[str, OtelValue] | None = None,
        duration_s: float | None = None,
        ttft_s: float | None = None,
    ) -> CacheUsage | None:
        """Set usage attributes on ``span`` (default: the current span) and feed the metrics.

        ``usage`` is a `CacheUsage` or a payload for `normalize_usage` (with ``provider`` / ``model``).
        ``attributes`` are added to every metric point (keep them low-cardinality). Returns the usage recorded,
        or ``None`` when recording failed, which is logged, never raised.
        """
        try:
            found = usage if isinstance(usage, CacheUsage) else normalize_usage(usage, provider=provider, model=model)
            cost = call_cost(found, **self._cost_options) if self._price else None
            self._set_span(found, cost, span)
            self._add_metrics(found, cost, dict(attributes or {}), duration_s, ttft_s)
        except Exception:  # telemetry must never break the call it observes
            logger.warning("cachepoint: could not record LLM usage telemetry", exc_info=True)
            return None
        return found

    def _set_span(self, usage: CacheUsage, cost: CallCost | None, span: Any) -> None:
        target = span if span is not None else self._trace.get_current_span()
        if target.is_recording():
            span_attrs = usage.to_otel_attributes(**self._span_options)
            if cost is not None and cost.priced:
                span_attrs["cachepoint.usage.cost_usd"] = cost.total_usd or 0.0
                span_attrs["cachepoint.usage.savings_usd"] = cost.savings_usd or 0.0
            target.set_attributes(span_attrs)

    def _add_metrics(
        self,
        usage: CacheUsage,
        cost: CallCost | None,
        extra: dict[str, OtelValue],
        duration_s: float | None,
        ttft_s: float | None,
    ) -> None:
        base: dict[str, OtelValue] = {**extra, GEN_AI_OPERATION_NAME: self._operation}
        if usage.provider is not None:
            base[GEN_AI_PROVIDER_NAME] = otel_provider_name(usage.provider)
        if usage.model is not None:
            base[GEN_AI_REQUEST_MODEL] = usage.model
        hit = usage.cache_hit
        outcome = {**base, CACHEPOINT_CACHE_OUTCOME: "unknown" if hit is None else ("hit" if hit else "miss")}

        if usage.input_tokens is not None:
            self._token_usage.record(usage.input_tokens, {**base, GEN_AI_TOKEN_TYPE: "input"})
        if usage.output_tokens is not None:
            self._token_usage.record(usage.output_tokens, {**base, GEN_AI_TOKEN_TYPE: "output"})
        self._calls.add(1, outcome)
        for token_type, name in _TOKEN_TYPES:
            value = getattr(usage, name)
            if value:
                self._tokens.add(value, {**base, CACHEPOINT_TOKEN_TYPE: token_type})
        for ttl, count in usage.cache_write_by_ttl.items():
            self._tokens.add(count, {**base, CACHEPOINT_TOKEN_TYPE: "cache_write", CACHEPOINT_CACHE_TTL: ttl})
        rest = usage.cache_write_unknown_ttl_tokens
        if rest:
            self._tokens.add(rest, {**base, CACHEPOINT_TOKEN_TYPE: "cache_write"})
        if cost is not None and cost.priced:
            self._cost.add(cost.total_usd or 0.0, base)
            self._savings.add(cost.savings_usd or 0.0, base)
        if duration_s is not None:
            self._duration.record(duration_s, outcome)
        if ttft_s is not None:
            self._ttft.record(ttft_s, outcome)
