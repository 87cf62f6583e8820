"""Prefix-cache figures from a vLLM or SGLang ``/metrics`` endpoint, and what changed between two scrapes.

Both engines expose Prometheus text (via ``prometheus_client``). `scrape_engine_metrics` (and its async
twin) fetches it, parses it with ``prometheus_client``'s own parser and returns an `EngineMetricsSnapshot`:
cumulative counters and current gauges per served model. Counters only ever grow, so the interesting
figure is the **difference** of two snapshots: ``later.since(earlier)`` gives an `EngineCacheDelta`, whose
``to_cache_usage()`` yields `cachepoint.core.usage.CacheUsage` records the usage ledger holds next to the
providers' figures.

Metric names recognised (checked against ``vllm/v1/metrics/loggers.py`` and
``python/sglang/srt/metrics/collector.py``, 2026 main; counters are scraped with a ``_total`` suffix):

========================  ==========================================================================
vLLM V1                   ``vllm:prompt_tokens``, ``vllm:generation_tokens``, ``vllm:prompt_tokens_cached``
                          (local + external), ``vllm:prompt_tokens_by_source{source}``,
                          ``vllm:prefix_cache_queries`` / ``_hits`` (tokens, local GPU cache),
                          ``vllm:external_prefix_cache_queries`` / ``_hits`` (KV connector, e.g. LMCache),
                          ``vllm:request_success{finished_reason}``, gauge ``vllm:kv_cache_usage_perc``,
                          info gauge ``vllm:cache_config_info``; deprecated ``vllm:gpu_prefix_cache_*``,
                          ``vllm:gpu_cache_usage_perc`` and the V0 gauge ``vllm:gpu_prefix_cache_hit_rate``
SGLang                    ``sglang:prompt_tokens``, ``sglang:generation_tokens``,
                          ``sglang:cached_tokens{cache_source}``, ``sglang:num_requests``, gauges
                          ``sglang:cache_hit_rate`` and ``sglang:token_usage``
========================  ==========================================================================

Series are grouped by their ``model_name`` label (older SGLang: ``name``); counters are summed over the
other labels (data-parallel ``engine``, ranks), gauges averaged. A metric the engine does not export is
``None`` -- never 0 -- and so is anything computed from it. Differences follow Prometheus' ``increase()``:
a counter that went down (the engine restarted) counts from zero, and the delta says ``reset=True``.

>>> from cachepoint.core.engines.metrics import parse_engine_metrics
>>> before = parse_engine_metrics('''
... # TYPE sglang:prompt_tokens_total counter
... sglang:prompt_tokens_total{model_name="qwen"} 1000.0
... # TYPE sglang:cached_tokens_total counter
... sglang:cached_tokens_total{model_name="qwen"} 400.0
... ''')
>>> after = parse_engine_metrics('''
... # TYPE sglang:prompt_tokens_total counter
... sglang:prompt_tokens_total{model_name="qwen"} 3000.0
... # TYPE sglang:cached_tokens_total counter
... sglang:cached_tokens_total{model_name="qwen"} 1900.0
... ''')
>>> window = after.since(before).models["qwen"]
>>> window.prompt_tokens, window.cached_prompt_tokens, window.cached_token_ratio
(2000, 1500, 0.75)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import httpx

from cachepoint.core.engines._http import check_base_url, check_status, check_timeout, transport_error
from cachepoint.core.engines.errors import EngineResponseError

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from cachepoint.core.usage import CacheUsage

__all__ = [
    "EngineCacheDelta",
    "EngineKind",
    "EngineMetricsSnapshot",
    "ModelCacheDelta",
    "ModelCacheFigures",
    "parse_engine_metrics",
    "scrape_engine_metrics",
    "scrape_engine_metrics_async",
]

EngineKind = Literal["vllm", "sglang"]

# Counter base names (without ``_total``) -> engine. Everything the figures need, nothing else.
_COUNTERS: Mapping[str, EngineKind] = MappingProxyType(
    {
        "vllm:prompt_tokens": "vllm",
        "vllm:generation_tokens": "vllm",
        "vllm:prompt_tokens_cached": "vllm",
        "vllm:prompt_tokens_by_source": "vllm",
        "vllm:prefix_cache_queries": "vllm",
        "vllm:prefix_cache_hits": "vllm",
        "vllm:gpu_prefix_cache_queries": "vllm",
        "vllm:gpu_prefix_cache_hits": "vllm",
        "vllm:external_prefix_cache_queries": "vllm",
        "vllm:external_prefix_cache_hits": "vllm",
        "vllm:request_success": "vllm",
        "sglang:prompt_tokens": "sglang",
        "sglang:generation_tokens": "sglang",
        "sglang:cached_tokens": "sglang",
        "sglang:num_requests": "sglang",
    }
)
_GAUGES: Mapping[str, EngineKind] = MappingProxyType(
    {
        "vllm:kv_cache_usage_perc": "vllm",
        "vllm:gpu_cache_usage_perc": "vllm",
        "vllm:gpu_prefix_cache_hit_rate": "vllm",
        "sglang:cache_hit_rate": "sglang",
        "sglang:token_usage": "sglang",
    }
)
_CACHE_CONFIG_INFO = "vllm:cache_config_info"
_MODEL_LABELS = ("model_name", "name", "model")
# vLLM's ``source`` values that are cache hits (the third, ``local_compute``, is computed prefill).
_VLLM_CACHED_SOURCES = ("local_cache_hit", "external_kv_transfer")
_UNKNOWN_MODEL = "unknown"

# A series: (metric name, model, the other labels sorted) -> value.
_Key = tuple[str, str, tuple[tuple[str, str], ...]]


# -- figures ----------------------------------------------------------------------------------------------


def _ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or whole is None or whole <= 0:
        return None
    return part / whole


@dataclass(frozen=True)
class ModelCacheFigures:
    """Cumulative cache counters (since the engine started) and current gauges for one served model.

    Token counters are floats as Prometheus reports them; ``None`` means the engine does not export
    that metric. ``cached_tokens_metric`` names the metric ``cached_prompt_tokens`` came from.

    >>> f = ModelCacheFigures(engine="vllm", model="m", prompt_tokens=1000.0, cached_prompt_tokens=250.0,
    ...                       prefix_cache_queries=1000.0, prefix_cache_hits=200.0)
    >>> f.cached_token_ratio, f.prefix_hit_rate, f.hit_rate
    (0.25, 0.2, 0.2)
    """

    engine: EngineKind
    model: str
    prompt_tokens: float | None = None
    cached_prompt_tokens: float | None = None
    cached_tokens_metric: str | None = None
    cached_by_source: Mapping[str, float] = field(default_factory=dict, hash=False)
    generation_tokens: float | None = None
    requests: float | None = None
    prefix_cache_queries: float | None = None
    prefix_cache_hits: float | None = None
    external_prefix_cache_queries: float | None = None
    external_prefix_cache_hits: float | None = None
    kv_cache_usage: float | None = None
    hit_rate_gauge: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cached_by_source", MappingProxyType(dict(self.cached_by_source)))

    @property
    def cached_token_ratio(self) -> float | None:
        """Share of prompt tokens served from a cache (local or external): cached / prompt."""
        return _ratio(self.cached_prompt_tokens, self.prompt_tokens)

    @property
    def prefix_hit_rate(self) -> float | None:
        """The engine's own prefix-cache hit rate: vLLM hits / queries, else SGLang's ``cache_hit_rate`` gauge."""
        rate = _ratio(self.prefix_cache_hits, self.prefix_cache_queries)
        return rate if rate is not None else self.hit_rate_gauge

    @property
    def external_hit_rate(self) -> float | None:
        """Hit rate of the KV connector's cache (LMCache...): external hits / external queries."""
        return _ratio(self.external_prefix_cache_hits, self.external_prefix_cache_queries)

    @property
    def hit_rate(self) -> float | None:
        """`prefix_hit_rate` when the engine reports one, else `cached_token_ratio`."""
        rate = self.prefix_hit_rate
        return rate if rate is not None else self.cached_token_ratio


def _as_int(value: float | None) -> int | None:
    return None if value is None else max(0, round(value))


@dataclass(frozen=True)
class ModelCacheDelta:
    """What one model's cache counters did between two scrapes (token counts as ints).

    ``reset`` is true when a counter went backwards in between (the engine restarted): those counters
    are counted from zero, so the window may miss what happened just before the restart.

    >>> d = ModelCacheDelta(engine="sglang", model="qwen", seconds=60.0, prompt_tokens=2000,
    ...                     cached_prompt_tokens=1500, generation_tokens=300)
    >>> d.cached_token_ratio, d.hit_rate
    (0.75, 0.75)
    """

    engine: EngineKind
    model: str
    seconds: float
    prompt_tokens: int | None = None
    cached_prompt_tokens: int | None = None
    cached_tokens_metric: str | None = None
    cached_by_source: Mapping[str, int] = field(default_factory=dict, hash=False)
    generation_tokens: int | None = None
    requests: int | None = None
    prefix_cache_queries: int | None = None
    prefix_cache_hits: int | None = None
    external_prefix_cache_queries: int | None = None
    external_prefix_cache_hits: int | None = None
    kv_cache_usage: float | None = None
    reset: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "cached_by_source", MappingProxyType(dict(self.cached_by_source)))

    @property
    def cached_token_ratio(self) -> float | None:
        """Share of the window's prompt tokens served from a cache: cached / prompt."""
        return _ratio(self.cached_prompt_tokens, self.prompt_tokens)

    @property
    def prefix_hit_rate(self) -> float | None:
        """vLLM's prefix-cache hit rate over the window (hits / queries); ``None`` for SGLang."""
        return _ratio(self.prefix_cache_hits, self.prefix_cache_queries)

    @property
    def external_hit_rate(self) -> float | None:
        """The KV connector's hit rate over the window (external hits / external queries)."""
        return _ratio(self.external_prefix_cache_hits, self.external_prefix_cache_queries)

    @property
    def hit_rate(self) -> float | None:
        """`prefix_hit_rate` when the engine reports one, else `cached_token_ratio`."""
        rate = self.prefix_hit_rate
        return rate if rate is not None else self.cached_token_ratio

    def to_cache_usage(self, model: str | None = None) -> CacheUsage:
        """The window as one `CacheUsage` (the sum of its calls) for the usage ledger.

        ``input_tokens`` is the window's prompt tokens, ``cache_read_tokens`` its cached prompt tokens,
        ``output_tokens`` its generated tokens. Engines do not report cache writes, so
        ``cache_write_tokens`` is ``None`` (unknown), as `normalize_usage` reports for their responses.
        ``model`` overrides the served model name from the metric labels.

        >>> d = ModelCacheDelta(engine="vllm", model="qwen", seconds=10.0, prompt_tokens=900,
        ...                     cached_prompt_tokens=600, generation_tokens=40)
        >>> u = d.to_cache_usage()
        >>> u.provider, u.model, u.input_tokens, u.cache_read_tokens, u.cache_write_tokens, u.output_tokens
        ('vllm', 'qwen', 900, 600, None, 40)
        """
        from cachepoint.core.usage import CacheUsage

        cached = self.cached_prompt_tokens
        if cached is not None and self.prompt_tokens is not None:
            # The two counters are bumped at slightly different moments inside the engine; a scrape between
            # them must not produce an impossible record (more cached than prompt tokens).
            cached = min(cached, self.prompt_tokens)
        return CacheUsage(
            provider=self.engine,
            model=model if model is not None else self.model,
            input_tokens=self.prompt_tokens,
            cache_read_tokens=cached,
            cache_write_tokens=None,
            output_tokens=self.generation_tokens,
        )


# -- aggregation shared by snapshots (cumulative values) and deltas (increases) ---------------------------


@dataclass
class _Totals:
    prompt_tokens: float | None = None
    cached_prompt_tokens: float | None = None
    cached_tokens_metric: str | None = None
    cached_by_source: dict[str, float] = field(default_factory=dict)
    generation_tokens: float | None = None
    requests: float | None = None
    prefix_cache_queries: float | None = None
    prefix_cache_hits: float | None = None
    external_prefix_cache_queries: float | None = None
    external_prefix_cache_hits: float | None = None


def _by_metric(values: Mapping[_Key, float], model: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    grouped: dict[str, list[tuple[dict[str, str], float]]] = {}
    for (name, series_model, labels), value in values.items():
        if series_model == model:
            grouped.setdefault(name, []).append((dict(labels), value))
    return grouped


def _sum(grouped: Mapping[str, list[tuple[dict[str, str], float]]], *names: str) -> float | None:
    """The sum over the first of ``names`` that has any series (newer names first, deprecated after)."""
    for name in names:
        if name in grouped:
            return sum(value for _, value in grouped[name])
    return None


def _by_label(series: Iterable[tuple[dict[str, str], float]], label: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for labels, value in series:
        key = labels.get(label, "")
        totals[key] = totals.get(key, 0.0) + value
    return totals


def _totals(engine: EngineKind, values: Mapping[_Key, float], model: str) -> _Totals:
    grouped = _by_metric(values, model)
    totals = _Totals()
    if engine == "vllm":
        totals.prompt_tokens = _sum(grouped, "vllm:prompt_tokens")
        totals.generation_tokens = _sum(grouped, "vllm:generation_tokens")
        totals.requests = _sum(grouped, "vllm:request_success")
        totals.prefix_cache_queries = _sum(grouped, "vllm:prefix_cache_queries", "vllm:gpu_prefix_cache_queries")
        totals.prefix_cache_hits = _sum(grouped, "vllm:prefix_cache_hits", "vllm:gpu_prefix_cache_hits")
        totals.external_prefix_cache_queries = _sum(grouped, "vllm:external_prefix_cache_queries")
        totals.external_prefix_cache_hits = _sum(grouped, "vllm:external_prefix_cache_hits")
        sources = _by_label(grouped.get("vllm:prompt_tokens_by_source", ()), "source")
        totals.cached_by_source = {s: v for s, v in sources.items() if s in _VLLM_CACHED_SOURCES}
        if "vllm:prompt_tokens_cached" in grouped:
            totals.cached_prompt_tokens = _sum(grouped, "vllm:prompt_tokens_cached")
            totals.cached_tokens_metric = "vllm:prompt_tokens_cached"
        elif totals.cached_by_source:
            totals.cached_prompt_tokens = sum(totals.cached_by_source.values())
            totals.cached_tokens_metric = "vllm:prompt_tokens_by_source"
        elif totals.prefix_cache_hits is not None:
            # Older V1 releases: prefix-cache hits (plus connector hits) approximate the cached prompt tokens.
            external = totals.external_prefix_cache_hits or 0.0
            totals.cached_prompt_tokens = totals.prefix_cache_hits + external
            totals.cached_tokens_metric = (
                "vllm:prefix_cache_hits" if "vllm:prefix_cache_hits" in grouped else "vllm:gpu_prefix_cache_hits"
            )
    else:
        totals.prompt_tokens = _sum(grouped, "sglang:prompt_tokens")
        totals.generation_tokens = _sum(grouped, "sglang:generation_tokens")
        totals.requests = _sum(grouped, "sglang:num_requests")
        if "sglang:cached_tokens" in grouped:
            totals.cached_prompt_tokens = _sum(grouped, "sglang:cached_tokens")
            totals.cached_tokens_metric = "sglang:cached_tokens"
            sources = _by_label(grouped["sglang:cached_tokens"], "cache_source")
            totals.cached_by_source = {s: v for s, v in sources.items() if s}
    return totals


def _mean_gauge(gauges: Mapping[_Key, float], model: str, *names: str) -> float | None:
    for name in names:
        found = [value for (gauge, series_model, _), value in gauges.items() if gauge == name and series_model == model]
        finite = [value for value in found if math.isfinite(value)]
        if finite:
            return sum(finite) / len(finite)
    return None


# -- snapshots ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineMetricsSnapshot:
    """One scrape of an engine's ``/metrics``: figures per served model, plus vLLM's cache config.

    ``scraped_at`` is the local wall-clock time of the scrape (``time.time()``). Compare two snapshots of
    the same engine with `since`.

    >>> snap = parse_engine_metrics('vllm:prompt_tokens_total{engine="0",model_name="llama"} 512.0')
    >>> snap.engine, list(snap.models), snap.model().prompt_tokens
    ('vllm', ['llama'], 512.0)
    """

    engine: EngineKind
    models: Mapping[str, ModelCacheFigures] = field(hash=False)
    cache_config: Mapping[str, str] = field(default_factory=dict, hash=False)
    url: str | None = None
    scraped_at: float = 0.0
    _counters: Mapping[_Key, tuple[float, float | None]] = field(default_factory=dict, hash=False, repr=False)
    _gauges: Mapping[_Key, float] = field(default_factory=dict, hash=False, repr=False)

    def model(self, name: str | None = None) -> ModelCacheFigures:
        """Figures of model ``name``; without a name, of the only model (``KeyError`` if there are several).

        >>> parse_engine_metrics('sglang:prompt_tokens_total{model_name="a"} 1').model("b")
        Traceback (most recent call last):
        ...
        KeyError: "no metrics for model 'b'; the engine serves: a"
        """
        if name is None:
            if len(self.models) != 1:
                raise KeyError(f"the engine serves {len(self.models)} models ({', '.join(self.models)}); name one")
            return next(iter(self.models.values()))
        try:
            return self.models[name]
        except KeyError:
            raise KeyError(f"no metrics for model {name!r}; the engine serves: {', '.join(self.models)}") from None

    def since(self, earlier: EngineMetricsSnapshot) -> EngineCacheDelta:
        """What changed from ``earlier`` to this snapshot, per model (Prometheus ``increase()`` semantics).

        A series missing from ``earlier`` was created in between and counts from zero; a metric missing
        from this snapshot is unknown (``None``) in the delta.

        >>> a = parse_engine_metrics('vllm:prompt_tokens_total{model_name="m"} 100', scraped_at=10.0)
        >>> b = parse_engine_metrics('vllm:prompt_tokens_total{model_name="m"} 40', scraped_at=70.0)
        >>> d = b.since(a).models["m"]
        >>> d.prompt_tokens, d.reset, d.seconds
        (40, True, 60.0)
        """
        if earlier.engine != self.engine:
            raise ValueError(f"earlier: a {earlier.engine} snapshot cannot be compared with a {self.engine} one")
        increases: dict[_Key, float] = {}
        reset_models: set[str] = set()
        for key, (value, created) in self._counters.items():
            before = earlier._counters.get(key)
            if before is None:
                increases[key] = value
                continue
            old_value, old_created = before
            # A new creation time means a new process even if the counter already climbed past its old value.
            recreated = created is not None and old_created is not None and abs(created - old_created) > 1e-3
            restarted = value < old_value or recreated
            if restarted:
                reset_models.add(key[1])
            increases[key] = value if restarted else value - old_value
        seconds = max(0.0, self.scraped_at - earlier.scraped_at)
        models = {}
        for name, figures in self.models.items():
            totals = _totals(self.engine, increases, name)
            models[name] = ModelCacheDelta(
                engine=self.engine,
                model=name,
                seconds=seconds,
                prompt_tokens=_as_int(totals.prompt_tokens),
                cached_prompt_tokens=_as_int(totals.cached_prompt_tokens),
                cached_tokens_metric=totals.cached_tokens_metric,
                cached_by_source={source: round(v) for source, v in totals.cached_by_source.items()},
                generation_tokens=_as_int(totals.generation_tokens),
                requests=_as_int(totals.requests),
                prefix_cache_queries=_as_int(totals.prefix_cache_queries),
                prefix_cache_hits=_as_int(totals.prefix_cache_hits),
                external_prefix_cache_queries=_as_int(totals.external_prefix_cache_queries),
                external_prefix_cache_hits=_as_int(totals.external_prefix_cache_hits),
                kv_cache_usage=figures.kv_cache_usage,
                reset=name in reset_models,
            )
        return EngineCacheDelta(engine=self.engine, models=models, url=self.url, seconds=seconds)


@dataclass(frozen=True)
class EngineCacheDelta:
    """The difference of two snapshots of one engine: a `ModelCacheDelta` per model.

    >>> a = parse_engine_metrics('sglang:prompt_tokens_total{model_name="m"} 10')
    >>> b = parse_engine_metrics('sglang:prompt_tokens_total{model_name="m"} 25')
    >>> b.since(a).models["m"].prompt_tokens
    15
    """

    engine: EngineKind
    models: Mapping[str, ModelCacheDelta] = field(hash=False)
    url: str | None = None
    seconds: float = 0.0

    @property
    def reset(self) -> bool:
        """True when any model's counters were reset in the window (engine restart)."""
        return any(delta.reset for delta in self.models.values())

    def to_cache_usage(self) -> list[CacheUsage]:
        """One `CacheUsage` per model, ready for the usage ledger (see `ModelCacheDelta.to_cache_usage`)."""
        return [delta.to_cache_usage() for delta in self.models.values()]


# -- parsing ------------------------------------------------------------------------------------------------


def _split_model(labels: Mapping[str, str], default_model: str | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    model = None
    rest = dict(labels)
    for label in _MODEL_LABELS:
        if label in rest:
            model = rest.pop(label)
            break
    return model or default_model or _UNKNOWN_MODEL, tuple(sorted(rest.items()))


def parse_engine_metrics(
    text: str,
    *,
    model: str | None = None,
    url: str | None = None,
    scraped_at: float | None = None,
    openmetrics: bool = False,
) -> EngineMetricsSnapshot:
    """Parse Prometheus text from a vLLM or SGLang ``/metrics`` endpoint into a snapshot.

    ``model`` names the model when the series carry no model label. ``openmetrics`` selects the
    OpenMetrics parser (for a body served as ``application/openmetrics-text``). ``ValueError`` when the
    text is not Prometheus exposition format or holds no vLLM/SGLang cache metric.

    >>> parse_engine_metrics("# HELP node_load1 x\\nnode_load1 0.5\\n")
    Traceback (most recent call last):
    ...
    ValueError: no vLLM or SGLang cache metrics found (no vllm:* or sglang:* series); \
is this an engine's /metrics endpoint? SGLang exports metrics only with --enable-metrics
    """
    if openmetrics:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

        families: Iterable[Metric] = parse_openmetrics(text)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client.parser import text_string_to_metric_families as parse_text

        families = parse_text(text)
    series: dict[str, dict[_Key, float]] = {"counter": {}, "created": {}, "gauge": {}}
    cache_config: dict[str, str] = {}
    engines: dict[str, set[EngineKind]] = {}
    try:
        for family in families:
            # Work from sample names, not family names: an exposition may declare a counter's TYPE under the
            # name with or without _total (SGLang's docs show both), which the parser files differently.
            for sample in family.samples:
                if sample.name == _CACHE_CONFIG_INFO:
                    cache_config = cache_config or {k: v for k, v in sample.labels.items() if k != "engine"}
                    continue
                found = _classify(sample.name)
                if found is None:
                    continue
                kind, base, engine = found
                series_model, rest = _split_model(sample.labels, model)
                target = series[kind]
                key = (base, series_model, rest)
                target[key] = target.get(key, 0.0) + float(sample.value)
                engines.setdefault(series_model, set()).add(engine)
    except ValueError as exc:
        raise ValueError(f"not Prometheus text exposition format ({exc})") from None
    engine = _one_engine(engines)
    counters, created, gauges = series["counter"], series["created"], series["gauge"]
    return EngineMetricsSnapshot(
        engine=engine,
        models=MappingProxyType({name: _figures(engine, name, counters, gauges) for name in sorted(engines)}),
        cache_config=MappingProxyType(cache_config),
        url=url,
        scraped_at=time.time() if scraped_at is None else scraped_at,
        _counters=MappingProxyType({key: (value, created.get(key)) for key, value in counters.items()}),
        _gauges=MappingProxyType(gauges),
    )


def _classify(name: str) -> tuple[str, str, EngineKind] | None:
    """``(kind, metric, engine)`` for a recognised sample name; kind is counter, created or gauge."""
    if name.startswith(("vllm_", "sglang_")):
        # Exporters that cannot carry ':' in names (federation, underscore escaping) write vllm_prompt_tokens.
        name = name.replace("_", ":", 1)
    if name in _GAUGES:
        return "gauge", name, _GAUGES[name]
    if name.endswith("_total") and name[:-6] in _COUNTERS:
        return "counter", name[:-6], _COUNTERS[name[:-6]]
    if name.endswith("_created") and name[:-8] in _COUNTERS:
        return "created", name[:-8], _COUNTERS[name[:-8]]
    if name in _COUNTERS:  # an untyped exposition without the _total suffix
        return "counter", name, _COUNTERS[name]
    return None


def _one_engine(engines: Mapping[str, set[EngineKind]]) -> EngineKind:
    if not engines:
        raise ValueError(
            "no vLLM or SGLang cache metrics found (no vllm:* or sglang:* series); is this an engine's /metrics "
            "endpoint? SGLang exports metrics only with --enable-metrics"
        )
    kinds = {kind for found in engines.values() for kind in found}
    if len(kinds) > 1:
        both = sorted(name for name, found in engines.items() if len(found) > 1)
        detail = f" (model {both[0]!r} appears under both)" if both else ""
        raise ValueError(f"found both vllm:* and sglang:* metrics{detail}; scrape each engine separately")
    return next(iter(kinds))


def _figures(
    engine: EngineKind, name: str, counters: Mapping[_Key, float], gauges: Mapping[_Key, float]
) -> ModelCacheFigures:
    totals = _totals(engine, counters, name)
    if engine == "vllm":
        usage = _mean_gauge(gauges, name, "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
        gauge = _mean_gauge(gauges, name, "vllm:gpu_prefix_cache_hit_rate")
    else:
        usage = _mean_gauge(gauges, name, "sglang:token_usage")
        gauge = _mean_gauge(gauges, name, "sglang:cache_hit_rate")
    return ModelCacheFigures(
        engine=engine,
        model=name,
        prompt_tokens=totals.prompt_tokens,
        cached_prompt_tokens=totals.cached_prompt_tokens,
        cached_tokens_metric=totals.cached_tokens_metric,
        cached_by_source=totals.cached_by_source,
        generation_tokens=totals.generation_tokens,
        requests=totals.requests,
        prefix_cache_queries=totals.prefix_cache_queries,
        prefix_cache_hits=totals.prefix_cache_hits,
        external_prefix_cache_queries=totals.external_prefix_cache_queries,
        external_prefix_cache_hits=totals.external_prefix_cache_hits,
        kv_cache_usage=usage,
        hit_rate_gauge=gauge,
    )


# -- scraping -----------------------------------------------------------------------------------------------

_ACCEPT = "text/plain;version=0.0.4;q=1.0, application/openmetrics-text;version=1.0.0;q=0.5"


def _metrics_url(url: str) -> str:
    parsed = check_base_url(url, field="url")
    if parsed.path in ("", "/"):
        parsed = parsed.copy_with(path="/metrics")
    return str(parsed)


def _snapshot(url: str, response: httpx.Response, model: str | None, scraped_at: float) -> EngineMetricsSnapshot:
    check_status(url, response)
    content_type = response.headers.get("content-type", "")
    try:
        text = response.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EngineResponseError(url, f"metrics body is not UTF-8 text ({exc})") from None
    try:
        return parse_engine_metrics(
            text,
            model=model,
            url=url,
            scraped_at=scraped_at,
            openmetrics=content_type.startswith("application/openmetrics-text"),
        )
    except ValueError as exc:
        raise EngineResponseError(url, str(exc)) from None


def scrape_engine_metrics(
    url: str, *, timeout: float = 5.0, model: str | None = None, client: httpx.Client | None = None
) -> EngineMetricsSnapshot:
    """Fetch and parse an engine's Prometheus metrics (``/metrics`` is added to a bare ``host:port`` URL).

    Raises an `cachepoint.core.engines.errors.EngineError` subclass when the engine cannot be reached,
    does not answer within ``timeout`` seconds, answers non-2xx, or serves no vLLM/SGLang cache metrics.

    >>> snap = scrape_engine_metrics("http://127.0.0.1:8000")  # doctest: +SKIP
    >>> snap.model().cached_token_ratio  # doctest: +SKIP
    0.62
    """
    target = _metrics_url(url)
    seconds = check_timeout(timeout)
    owned = client is None
    http = client if client is not None else httpx.Client(timeout=seconds)
    try:
        scraped_at = time.time()
        response = http.get(target, headers={"Accept": _ACCEPT}, timeout=seconds)
    except httpx.HTTPError as exc:
        raise transport_error(target, exc, seconds) from None
    finally:
        if owned:
            http.close()
    return _snapshot(target, response, model, scraped_at)


async def scrape_engine_metrics_async(
    url: str, *, timeout: float = 5.0, model: str | None = None, client: httpx.AsyncClient | None = None
) -> EngineMetricsSnapshot:
    """Async `scrape_engine_metrics`: same arguments, same snapshot, same errors.

    >>> snap = await scrape_engine_metrics_async("http://127.0.0.1:30000/metrics")  # doctest: +SKIP
    """
    target = _metrics_url(url)
    seconds = check_timeout(timeout)
    owned = client is None
    http = client if client is not None else httpx.AsyncClient(timeout=seconds)
    try:
        scraped_at = time.time()
        response = await http.get(target, headers={"Accept": _ACCEPT}, timeout=seconds)
    except httpx.HTTPError as exc:
        raise transport_error(target, exc, seconds) from None
    finally:
        if owned:
            await http.aclose()
    return _snapshot(target, response, model, scraped_at)
