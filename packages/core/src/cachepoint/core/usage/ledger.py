"""`UsageLedger`: usage, cost and latency of many calls, aggregated under labels.

Every call is recorded under a set of labels (any keys: namespace, tenant, node, agent...; ``provider`` and
``model`` are added from the usage). Queries aggregate the series that match a filter or group them by some
label keys. A count a provider did not report is left out of the sums and counted in `LedgerStats.unreported`,
so a total is never silently short; ratios use only the calls that reported what they need.

A call a cache answered without asking the provider (a LangGraph node-cache hit, a replayed response) is recorded
with `UsageLedger.record_replay`: a hit with no tokens and no cost, counted apart in `LedgerStats.replayed_calls`;
given the usage of the call it replays, what that call cost is counted as saved (`LedgerStats.replay_savings_usd`,
part of ``savings_usd``).

Recording takes one short lock and never awaits, so one ledger is safe from many threads and many tasks.
Ledgers merge (``a.merge(b)``), also across processes through `UsageLedger.to_dict` / `UsageLedger.from_dict`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from cachepoint.core.providers import Pricing, ProviderTable
from cachepoint.core.usage.cache_usage import CacheUsage
from cachepoint.core.usage.cost import CallCost, call_cost
from cachepoint.core.usage.latency import DEFAULT_LATENCY_BUCKETS, LatencyHistogram, LatencySummary

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["LATENCY_KINDS", "OUTCOMES", "LedgerStats", "UsageLedger"]

#: ``ttft``: time to first token (streams); ``duration``: the whole call.
LATENCY_KINDS = ("ttft", "duration")
#: A call is a ``hit`` when it read anything from the cache, a ``miss`` when it read nothing, ``unknown`` when
#: the provider did not report reads.
OUTCOMES = ("hit", "miss", "unknown")

_TOKEN_FIELDS = (
    "input_tokens",
    "uncached_input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)
_LEDGER_FORMAT = 1

Labels = tuple[tuple[str, str], ...]
_COUNTERS = ("calls", "replayed_calls", "hit_calls", "miss_calls", "write_calls", "write_known_calls", "priced_calls")


@dataclass
class _Series:
    """Mutable sums of one label set (internal; `LedgerStats` is the public, frozen view)."""

    calls: int = 0
    replayed_calls: int = 0
    hit_calls: int = 0
    miss_calls: int = 0
    write_calls: int = 0
    write_known_calls: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_TOKEN_FIELDS, 0))
    unreported: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_TOKEN_FIELDS, 0))
    cache_write_by_ttl: dict[str, int] = field(default_factory=dict)
    ratio_input_tokens: int = 0
    ratio_read_tokens: int = 0
    priced_calls: int = 0
    cost_usd: float = 0.0
    without_cache_usd: float = 0.0
    replay_savings_usd: float = 0.0
    latency: dict[str, LatencyHistogram] = field(default_factory=dict)

    def add(
        self,
        usage: CacheUsage,
        cost: CallCost,
        latencies: Mapping[str, float],
        buckets: Sequence[float],
        hit: bool | None,
    ) -> None:
        self.calls += 1
        outcome = "unknown" if hit is None else ("hit" if hit else "miss")
        if hit is True:
            self.hit_calls += 1
        elif hit is False:
            self.miss_calls += 1
        if usage.cache_write_tokens is not None:
            self.write_known_calls += 1
            self.write_calls += usage.cache_write_tokens > 0
            for ttl, count in usage.cache_write_by_ttl.items():
                self.cache_write_by_ttl[ttl] = self.cache_write_by_ttl.get(ttl, 0) + count
        for name in _TOKEN_FIELDS:
            value = getattr(usage, name)
            if value is None:
                self.unreported[name] += 1
            else:
                self.tokens[name] += value
        if usage.input_tokens is not None and usage.cache_read_tokens is not None:
            self.ratio_input_tokens += usage.input_tokens
            self.ratio_read_tokens += usage.cache_read_tokens
        if cost.priced:
            self.priced_calls += 1
            self.cost_usd += cost.total_usd or 0.0
            self.without_cache_usd += cost.without_cache_usd or 0.0
        self._observe(latencies, outcome, buckets)

    def add_replay(self, latencies: Mapping[str, float], buckets: Sequence[float], saved_usd: float) -> None:
        # No provider call: every count is a known zero, the cost a known $0, nothing was written. Without the
        # cache the call would have been made again: what it cost the first time is what it would have cost.
        self.without_cache_usd += saved_usd
        self.replay_savings_usd += saved_usd
        self.calls += 1
        self.replayed_calls += 1
        self.hit_calls += 1
        self.write_known_calls += 1
        self.priced_calls += 1
        self._observe(latencies, "hit", buckets)

    def _observe(self, latencies: Mapping[str, float], outcome: str, buckets: Sequence[float]) -> None:
        for kind, seconds in latencies.items():
            key = f"{kind}.{outcome}"
            hist = self.latency.get(key)
            if hist is None:
                hist = self.latency[key] = LatencyHistogram(buckets)
            hist.observe(seconds)

    def merge(self, other: _Series) -> None:
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("ratio_input_tokens", "ratio_read_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cost_usd += other.cost_usd
        self.without_cache_usd += other.without_cache_usd
        self.replay_savings_usd += other.replay_savings_usd
        for name in _TOKEN_FIELDS:
            self.tokens[name] += other.tokens[name]
            self.unreported[name] += other.unreported[name]
        for ttl, count in other.cache_write_by_ttl.items():
            self.cache_write_by_ttl[ttl] = self.cache_write_by_ttl.get(ttl, 0) + count
        for key, hist in other.latency.items():
            mine = self.latency.get(key)
            if mine is None:
                self.latency[key] = hist.copy()
            else:
                mine.merge(hist)

    def copy(self) -> _Series:
        twin = _Series()
        twin.merge(self)
        return twin

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "replayed_calls": self.replayed_calls,
            "hit_calls": self.hit_calls,
            "miss_calls": self.miss_calls,
            "write_calls": self.write_calls,
            "write_known_calls": self.write_known_calls,
            "tokens": dict(self.tokens),
            "unreported": dict(self.unreported),
            "cache_write_by_ttl": dict(self.cache_write_by_ttl),
            "ratio_input_tokens": self.ratio_input_tokens,
            "ratio_read_tokens": self.ratio_read_tokens,
            "priced_calls": self.priced_calls,
            "cost_usd": self.cost_usd,
            "without_cache_usd": self.without_cache_usd,
            "replay_savings_usd": self.replay_savings_usd,
            "latency": {key: hist.to_dict() for key, hist in sorted(self.latency.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], buckets: Sequence[float]) -> _Series:
        series = cls()
        for name in _COUNTERS:
            if name == "replayed_calls" and name not in data:
                continue  # a dump from before replays were counted
            setattr(series, name, _non_negative_int(data, name))
        series.ratio_input_tokens = _non_negative_int(data, "ratio_input_tokens")
        series.ratio_read_tokens = _non_negative_int(data, "ratio_read_tokens")
        series.cost_usd = float(data["cost_usd"])
        series.without_cache_usd = float(data["without_cache_usd"])
        series.replay_savings_usd = float(data.get("replay_savings_usd", 0.0))  # absent from older dumps
        for name in _TOKEN_FIELDS:
            series.tokens[name] = _non_negative_int(data["tokens"], name)
            series.unreported[name] = _non_negative_int(data["unreported"], name)
        series.cache_write_by_ttl = {str(k): int(v) for k, v in dict(data.get("cache_write_by_ttl") or {}).items()}
        for key, hist in dict(data.get("latency") or {}).items():
            kind, _, outcome = str(key).partition(".")
            if kind not in LATENCY_KINDS or outcome not in OUTCOMES:
                raise ValueError(f"series.latency: unknown key {key!r} (expected e.g. 'ttft.hit')")
            series.latency[key] = LatencyHistogram.from_dict(hist, buckets)
        return series


def _non_negative_int(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"ledger series: {name} must be a non-negative int, got {value!r}")
    return value


def _empty_summary() -> LatencySummary:
    return LatencySummary(0, None, None, None, None, None)


@dataclass(frozen=True)
class LedgerStats:
    """Aggregated usage of a set of calls: counts, tokens, cost, and latency by cache outcome.

    Token sums cover the calls that reported each count; ``unreported[name]`` says how many did not.

    >>> ledger = UsageLedger()
    >>> _ = ledger.record(CacheUsage(provider="anthropic", model="claude-sonnet-4-5", input_tokens=1000,
    ...     cache_read_tokens=0, cache_write_tokens=900, output_tokens=10), {"node": "plan"})
    >>> _ = ledger.record(CacheUsage(provider="anthropic", model="claude-sonnet-4-5", input_tokens=1000,
    ...     cache_read_tokens=900, cache_write_tokens=0, output_tokens=10), {"node": "plan"})
    >>> s = ledger.stats()
    >>> s.calls, s.hit_rate, s.cached_token_ratio, s.write_rate
    (2, 0.5, 0.45, 0.5)
    """

    calls: int
    hit_calls: int
    miss_calls: int
    write_calls: int
    input_tokens: int
    uncached_input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cache_write_by_ttl: Mapping[str, int]
    unreported: Mapping[str, int]
    priced_calls: int
    cost_usd: float | None
    without_cache_usd: float | None
    savings_usd: float | None
    ttft_hit: LatencySummary
    ttft_miss: LatencySummary
    duration_hit: LatencySummary
    duration_miss: LatencySummary
    write_known_calls: int = 0
    cached_token_ratio: float | None = None
    replayed_calls: int = 0
    """Calls a cache answered without a provider call (`UsageLedger.record_replay`); part of ``calls`` and
    ``hit_calls``."""
    replay_savings_usd: float = 0.0
    """What the replayed calls cost when they were made (for those whose usage was given and priced): the money
    the response / node cache saved. Part of ``savings_usd``."""

    @property
    def hit_rate(self) -> float | None:
        """Share of calls (among those that reported reads) that read anything from the cache."""
        known = self.hit_calls + self.miss_calls
        return self.hit_calls / known if known else None

    @property
    def write_rate(self) -> float | None:
        """Share of calls (among those that reported writes) that wrote to the cache."""
        return self.write_calls / self.write_known_calls if self.write_known_calls else None

    @property
    def unpriced_calls(self) -> int:
        """Calls whose cost is unknown (no price, or a count the price needs was not reported)."""
        return self.calls - self.priced_calls

    @property
    def ttft_gain_s(self) -> float | None:
        """Mean time to first token of misses minus that of hits (how much faster a hit starts)."""
        return _gain(self.ttft_miss, self.ttft_hit)

    @property
    def duration_gain_s(self) -> float | None:
        """Mean duration of misses minus that of hits."""
        return _gain(self.duration_miss, self.duration_hit)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every figure, derived ratios included."""
        latency = {
            name: asdict(getattr(self, name)) for name in ("ttft_hit", "ttft_miss", "duration_hit", "duration_miss")
        }
        return {
            "calls": self.calls,
            "replayed_calls": self.replayed_calls,
            "hit_calls": self.hit_calls,
            "miss_calls": self.miss_calls,
            "write_calls": self.write_calls,
            "hit_rate": self.hit_rate,
            "cached_token_ratio": self.cached_token_ratio,
            "write_rate": self.write_rate,
            "tokens": {name: getattr(self, name) for name in _TOKEN_FIELDS},
            "cache_write_by_ttl": dict(self.cache_write_by_ttl),
            "unreported": dict(self.unreported),
            "priced_calls": self.priced_calls,
            "unpriced_calls": self.unpriced_calls,
            "cost_usd": self.cost_usd,
            "without_cache_usd": self.without_cache_usd,
            "savings_usd": self.savings_usd,
            "replay_savings_usd": self.replay_savings_usd,
            "latency": latency,
            "ttft_gain_s": self.ttft_gain_s,
            "duration_gain_s": self.duration_gain_s,
        }


def _gain(miss: LatencySummary, hit: LatencySummary) -> float | None:
    if miss.mean_s is None or hit.mean_s is None:
        return None
    return miss.mean_s - hit.mean_s


def _stats(series: _Series) -> LedgerStats:
    def summary(key: str) -> LatencySummary:
        hist = series.latency.get(key)
        return hist.summary() if hist is not None else _empty_summary()

    priced = series.priced_calls > 0
    return LedgerStats(
        calls=series.calls,
        replayed_calls=series.replayed_calls,
        hit_calls=series.hit_calls,
        miss_calls=series.miss_calls,
        write_calls=series.write_calls,
        write_known_calls=series.write_known_calls,
        cache_write_by_ttl=MappingProxyType(dict(sorted(series.cache_write_by_ttl.items()))),
        unreported=MappingProxyType({k: v for k, v in series.unreported.items() if v}),
        priced_calls=series.priced_calls,
        cost_usd=series.cost_usd if priced else None,
        without_cache_usd=series.without_cache_usd if priced else None,
        savings_usd=series.without_cache_usd - series.cost_usd if priced else None,
        replay_savings_usd=series.replay_savings_usd,
        cached_token_ratio=series.ratio_read_tokens / series.ratio_input_tokens if series.ratio_input_tokens else None,
        ttft_hit=summary("ttft.hit"),
        ttft_miss=summary("ttft.miss"),
        duration_hit=summary("duration.hit"),
        duration_miss=summary("duration.miss"),
        **series.tokens,
    )


def _labels(labels: Mapping[str, object] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in (labels or {}).items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"labels: expected non-empty string keys, got {key!r}")
        if value is None:
            continue
        if isinstance(value, (str, int, float, bool)):
            found[key] = str(value)
        else:
            raise TypeError(f"labels[{key!r}]: expected a string (or a number), got {type(value).__name__}")
    return found


class UsageLedger:
    """Aggregates `CacheUsage` of many calls by labels, with cost, savings and hit/miss latency.

    >>> ledger = UsageLedger()
    >>> cost = ledger.record(CacheUsage(provider="anthropic", model="claude-sonnet-4-5", input_tokens=1510,
    ...     cache_read_tokens=1200, cache_write_tokens=300, output_tokens=5, cache_write_by_ttl={"5m": 300}),
    ...     {"tenant": "acme", "agent": "planner"}, ttft_s=0.4)
    >>> round(cost.total_usd, 6), round(ledger.stats(tenant="acme").savings_usd, 6)
    (0.00159, 0.003015)
    >>> list(ledger.group_by("agent"))
    [('planner',)]

    Args:
        table: provider table to price calls with (default: the built-in one).
        pricing: one `Pricing` for every call, instead of the table.
        batch, regional: price with the batch discount / regional surcharge (see `call_cost`).
        auto_labels: usage fields added as labels unless the call's labels set them.
        latency_buckets: histogram bucket upper bounds, in seconds.
    """

    def __init__(
        self,
        *,
        table: ProviderTable | None = None,
        pricing: Pricing | None = None,
        batch: bool = False,
        regional: bool = False,
        auto_labels: Iterable[str] = ("provider", "model"),
        latency_buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS,
    ) -> None:
        self._table = table
        self._pricing = pricing
        self._batch = batch
        self._regional = regional
        self._auto_labels = tuple(auto_labels)
        unknown = sorted(set(self._auto_labels) - {"provider", "model"})
        if unknown:
            raise ValueError(f"auto_labels: expected 'provider' and/or 'model', got {unknown[0]!r}")
        self._buckets = LatencyHistogram(latency_buckets).buckets
        self._lock = threading.Lock()
        self._series: dict[Labels, _Series] = {}

    @property
    def latency_buckets(self) -> tuple[float, ...]:
        """The latency histogram bucket bounds (seconds)."""
        return self._buckets

    def record(
        self,
        usage: CacheUsage,
        labels: Mapping[str, object] | None = None,
        *,
        duration_s: float | None = None,
        ttft_s: float | None = None,
        cache_hit: bool | None = None,
    ) -> CallCost:
        """Add one call; returns its cost. ``ttft_s`` is the time to first token of a stream, ``duration_s``
        the whole call; each is kept apart for hits and misses. ``cache_hit`` overrides ``usage.cache_hit``:
        ``True`` for a call a response cache answered without reaching the provider (its usage is zero tokens,
        and it is still a hit).

        >>> UsageLedger().record(CacheUsage(provider="vllm", model="llama", input_tokens=9,
        ...                      output_tokens=1)).reason.startswith("model 'llama'")
        True
        """
        if not isinstance(usage, CacheUsage):
            raise TypeError(f"usage: expected a CacheUsage (see normalize_usage), got {type(usage).__name__}")
        merged = _labels(labels)
        for name in self._auto_labels:
            value = getattr(usage, name)
            if value is not None:
                merged.setdefault(name, value)
        latencies: dict[str, float] = {}
        for kind, seconds in (("ttft", ttft_s), ("duration", duration_s)):
            if seconds is not None:
                LatencyHistogram((1.0,)).observe(seconds)  # validate before taking the lock
                latencies[kind] = seconds
        cost = call_cost(usage, pricing=self._pricing, table=self._table, batch=self._batch, regional=self._regional)
        key: Labels = tuple(sorted(merged.items()))
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            series.add(usage, cost, latencies, self._buckets, usage.cache_hit if cache_hit is None else cache_hit)
        return cost

    def record_replay(
        self,
        labels: Mapping[str, object] | None = None,
        *,
        duration_s: float | None = None,
        saved: CacheUsage | None = None,
    ) -> CallCost | None:
        """Count a call a cache answered without asking the provider (a LangGraph node served from its node cache,
        a response replayed from a response cache): a hit with no tokens, no cost and no cache write.
        ``duration_s`` (the lookup) goes to the hit latency. ``saved``: the usage of the call replayed, when it
        is known; what it cost (priced like any call) is counted as saved, in ``replay_savings_usd`` and
        ``savings_usd``. Returns that cost, or ``None`` when no usage was given or it could not be priced.

        >>> ledger = UsageLedger()
        >>> ledger.record_replay({"node": "summarize"}, duration_s=0.002)
        >>> s = ledger.stats(node="summarize")
        >>> s.calls, s.replayed_calls, s.hit_rate, s.input_tokens, s.cost_usd
        (1, 1, 1.0, 0, 0.0)
        >>> first = CacheUsage(provider="anthropic", model="claude-sonnet-4-5", input_tokens=2000,
        ...                    cache_read_tokens=0, cache_write_tokens=0, output_tokens=100)
        >>> round(ledger.record_replay({"node": "summarize"}, saved=first).total_usd, 4)
        0.0075
        >>> round(ledger.stats(node="summarize").replay_savings_usd, 4)
        0.0075
        """
        cost: CallCost | None = None
        if saved is not None:
            if not isinstance(saved, CacheUsage):
                raise TypeError(f"saved: expected a CacheUsage (see normalize_usage), got {type(saved).__name__}")
            priced = call_cost(
                saved, pricing=self._pricing, table=self._table, batch=self._batch, regional=self._regional
            )
            cost = priced if priced.priced else None
        merged = _labels(labels)
        latencies: dict[str, float] = {}
        if duration_s is not None:
            LatencyHistogram((1.0,)).observe(duration_s)  # validate before taking the lock
            latencies["duration"] = duration_s
        key: Labels = tuple(sorted(merged.items()))
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            series.add_replay(latencies, self._buckets, (cost.total_usd or 0.0) if cost is not None else 0.0)
        return cost

    def _snapshot(self) -> dict[Labels, _Series]:
        with self._lock:
            return {key: series.copy() for key, series in self._series.items()}

    def series(self) -> list[tuple[dict[str, str], LedgerStats]]:
        """Every label set recorded, with its stats, sorted by labels."""
        return [(dict(key), _stats(series)) for key, series in sorted(self._snapshot().items())]

    def stats(self, where: Mapping[str, str] | None = None, **labels: str) -> LedgerStats:
        """Stats of every call whose labels include ``where`` / ``labels`` (all calls when none given).

        >>> UsageLedger().stats(node="plan").calls
        0
        """
        wanted = {**(where or {}), **labels}
        total = _Series()
        for key, series in self._snapshot().items():
            found = dict(key)
            if all(found.get(k) == v for k, v in wanted.items()):
                total.merge(series)
        return _stats(total)

    def group_by(self, *keys: str, where: Mapping[str, str] | None = None) -> dict[tuple[str | None, ...], LedgerStats]:
        """Stats per combination of the values of ``keys`` (``None`` where a call lacks the label).

        >>> ledger = UsageLedger()
        >>> _ = ledger.record(CacheUsage(provider="openai", model="gpt-4o", input_tokens=10, cache_read_tokens=0,
        ...                              output_tokens=1), {"node": "a"})
        >>> {k: s.calls for k, s in ledger.group_by("node", "provider").items()}
        {('a', 'openai'): 1}
        """
        if not keys:
            raise ValueError("group_by: name at least one label key")
        wanted = dict(where or {})
        groups: dict[tuple[str | None, ...], _Series] = {}
        for key, series in self._snapshot().items():
            found = dict(key)
            if not all(found.get(k) == v for k, v in wanted.items()):
                continue
            group = tuple(found.get(k) for k in keys)
            groups.setdefault(group, _Series()).merge(series)
        return {group: _stats(series) for group, series in sorted(groups.items(), key=lambda kv: _sort_key(kv[0]))}

    def merge(self, other: UsageLedger) -> None:
        """Add every call of ``other`` to this ledger (same latency buckets required).

        >>> a, b = UsageLedger(), UsageLedger()
        >>> _ = b.record(CacheUsage(provider="openai", model="gpt-4o", input_tokens=5, output_tokens=1))
        >>> a.merge(b); a.stats().calls
        1
        """
        if other.latency_buckets != self._buckets:
            raise ValueError("merge: the ledgers have different latency_buckets")
        theirs = other._snapshot()  # taken before our lock: merging a ledger into itself cannot deadlock
        with self._lock:
            for key, series in theirs.items():
                mine = self._series.get(key)
                if mine is None:
                    self._series[key] = series
                else:
                    mine.merge(series)

    def reset(self) -> None:
        """Forget every call."""
        with self._lock:
            self._series.clear()

    def to_dict(self) -> dict[str, Any]:
        """The full state as JSON-ready data: totals, and every series with its raw sums (for `from_dict`)."""
        snapshot = self._snapshot()
        total = _Series()
        for series in snapshot.values():
            total.merge(series)
        return {
            "format": _LEDGER_FORMAT,
            "latency_buckets": list(self._buckets),
            "total": _stats(total).to_dict(),
            "series": [
                {"labels": dict(key), "stats": _stats(series).to_dict(), "raw": series.to_dict()}
                for key, series in sorted(snapshot.items())
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **options: Any) -> UsageLedger:
        """A ledger holding the calls of a `to_dict` dump (``options`` as for the constructor).

        >>> a = UsageLedger()
        >>> _ = a.record(CacheUsage(provider="openai", model="gpt-4o", input_tokens=5, output_tokens=1), {"n": "x"})
        >>> UsageLedger.from_dict(a.to_dict()).stats(n="x").calls
        1
        """
        if data.get("format") != _LEDGER_FORMAT:
            raise ValueError(f"format: expected {_LEDGER_FORMAT}, got {data.get('format')!r}")
        ledger = cls(latency_buckets=data["latency_buckets"], **options)
        for i, entry in enumerate(data.get("series") or []):
            try:
                key: Labels = tuple(sorted(_labels(entry["labels"]).items()))
                series = _Series.from_dict(entry["raw"], ledger._buckets)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"series[{i}]: {exc}") from None
            ledger._series.setdefault(key, _Series()).merge(series)
        return ledger

    def to_prometheus(self, *, prefix: str = "cachepoint_llm") -> str:
        """The ledger in Prometheus text exposition format (counters, a savings gauge, latency histograms).

        >>> ledger = UsageLedger()
        >>> _ = ledger.record(CacheUsage(provider="openai", model="gpt-4o", input_tokens=5, cache_read_tokens=0,
        ...                              output_tokens=1), {"node": "plan"})
        >>> print(ledger.to_prometheus().splitlines()[2])
        cachepoint_llm_calls_total{model="gpt-4o",node="plan",provider="openai",cache_outcome="hit"} 0
        """
        from cachepoint.core.usage.prometheus import exposition

        return exposition([(dict(k), s) for k, s in sorted(self._snapshot().items())], self._buckets, prefix)

    def to_rich_table(self, *group_keys: str, title: str | None = "LLM cache usage") -> Table:
        """A `rich` table, one row per group of ``group_keys`` (default: per provider and model).

        >>> from rich.console import Console
        >>> Console(width=200).print(UsageLedger().to_rich_table("node"))  # doctest: +SKIP
        """
        from cachepoint.core.usage.report import ledger_table

        keys = group_keys or ("provider", "model")
        return ledger_table(self.group_by(*keys), keys, self.stats(), title=title)

    def __rich__(self) -> Table:
        return self.to_rich_table()


def _sort_key(group: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is None, value or "") for value in group)
