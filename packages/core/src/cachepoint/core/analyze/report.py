"""`AnalysisReport`: everything ``cachepoint analyze`` found, as data (the JSON output is `AnalysisReport.to_dict`).

JSON keys are stable (``format`` = `REPORT_FORMAT` changes when they do not stay compatible). Ratios are
fractions (0.42, not 42%); token counts are the analyzer's estimates unless the key says ``observed``; costs
are USD from the provider table (``null`` when a model has no price).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson

__all__ = [
    "REPORT_FORMAT",
    "AnalysisReport",
    "CauseSummary",
    "MissExample",
    "MissReport",
    "ObservedComparison",
    "OptimumRow",
    "OptimumSummary",
    "ScenarioResult",
    "SessionSharing",
    "SharingStats",
    "Timeline",
]

#: Version of the JSON report layout.
REPORT_FORMAT = 1
_EMPTY: Mapping[str, int] = MappingProxyType({})


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario replayed over the whole trace.

    ``hit_rate``: share of requests that read anything from the cache; ``cached_token_ratio``: share of prompt
    tokens read from the cache; ``write_rate``: share of requests that wrote to it; ``savings_usd``: cost
    without any caching minus cost under this scenario.

    >>> s = ScenarioResult("auto", "strategy", "auto()", requests=4, hit_requests=3, write_requests=1,
    ...                    input_tokens=10_000, cache_read_tokens=6_000, cache_write_tokens=2_000)
    >>> s.hit_rate, s.cached_token_ratio, s.write_rate, s.uncached_tokens
    (0.75, 0.6, 0.25, 2000)
    """

    name: str
    kind: str
    label: str
    spec: str = ""
    requests: int = 0
    hit_requests: int = 0
    write_requests: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    cache_write_by_ttl: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    cost_usd: float | None = None
    without_cache_usd: float | None = None
    unpriced_requests: int = 0

    @property
    def uncached_tokens(self) -> int:
        """Prompt tokens neither read from nor written to the cache."""
        return self.input_tokens - self.cache_read_tokens - self.cache_write_tokens

    @property
    def hit_rate(self) -> float | None:
        """Share of requests that read from the cache."""
        return _ratio(self.hit_requests, self.requests)

    @property
    def cached_token_ratio(self) -> float | None:
        """Share of prompt tokens read from the cache."""
        return _ratio(self.cache_read_tokens, self.input_tokens)

    @property
    def write_rate(self) -> float | None:
        """Share of requests that wrote to the cache."""
        return _ratio(self.write_requests, self.requests)

    @property
    def savings_usd(self) -> float | None:
        """Cost without caching minus cost with this scenario."""
        if self.cost_usd is None or self.without_cache_usd is None:
            return None
        return self.without_cache_usd - self.cost_usd

    @property
    def savings_ratio(self) -> float | None:
        """Savings as a share of the cost without caching."""
        saved = self.savings_usd
        return None if saved is None or not self.without_cache_usd else saved / self.without_cache_usd

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "label": self.label,
            "spec": self.spec,
            "requests": self.requests,
            "hit_requests": self.hit_requests,
            "write_requests": self.write_requests,
            "hit_rate": self.hit_rate,
            "cached_token_ratio": self.cached_token_ratio,
            "write_rate": self.write_rate,
            "tokens": {
                "input": self.input_tokens,
                "cache_read": self.cache_read_tokens,
                "cache_write": self.cache_write_tokens,
                "uncached": self.uncached_tokens,
                "output": self.output_tokens,
                "cache_write_by_ttl": dict(self.cache_write_by_ttl),
            },
            "cost_usd": self.cost_usd,
            "without_cache_usd": self.without_cache_usd,
            "savings_usd": self.savings_usd,
            "savings_ratio": self.savings_ratio,
            "unpriced_requests": self.unpriced_requests,
        }


@dataclass(frozen=True)
class SessionSharing:
    """Prefix sharing of one session: tokens that repeat a prefix sent earlier in the same session.

    >>> SessionSharing("ticket-1", "default", 3, 9000, 6000).shared_ratio
    0.6666666666666666
    """

    session: str
    tenant: str
    requests: int
    input_tokens: int
    shared_tokens: int

    @property
    def shared_ratio(self) -> float | None:
        """Share of the session's prompt tokens that repeat one of its earlier prefixes."""
        return _ratio(self.shared_tokens, self.input_tokens)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "session": self.session,
            "tenant": self.tenant,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "shared_tokens": self.shared_tokens,
            "shared_ratio": self.shared_ratio,
        }


@dataclass(frozen=True)
class SharingStats:
    """How much of the trace repeats a prefix seen before (the ceiling of any prefix cache).

    ``shared_tokens``: per request, the longest prefix an earlier request of the same cache partition (tenant,
    model) sent, summed; ``cacheable_shared_tokens`` counts only those at or above the model's minimum;
    ``session_shared_tokens`` only prefixes from the same session, so ``shared - session_shared`` is what
    sessions share with each other (tools, system prompt, documents). ``cold_requests`` share nothing.

    >>> SharingStats(requests=2, input_tokens=8000, shared_tokens=3000, cacheable_shared_tokens=3000,
    ...              session_shared_tokens=0, cold_requests=1, sessions=2).cross_session_shared_tokens
    3000
    """

    requests: int = 0
    input_tokens: int = 0
    shared_tokens: int = 0
    cacheable_shared_tokens: int = 0
    session_shared_tokens: int = 0
    cold_requests: int = 0
    sessions: int = 0
    top_sessions: tuple[SessionSharing, ...] = ()

    @property
    def shared_ratio(self) -> float | None:
        """Share of prompt tokens that repeat an earlier prefix."""
        return _ratio(self.shared_tokens, self.input_tokens)

    @property
    def cacheable_ratio(self) -> float | None:
        """Share of prompt tokens that repeat an earlier prefix long enough to cache."""
        return _ratio(self.cacheable_shared_tokens, self.input_tokens)

    @property
    def cross_session_shared_tokens(self) -> int:
        """Shared tokens that come from other sessions."""
        return self.shared_tokens - self.session_shared_tokens

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "shared_tokens": self.shared_tokens,
            "shared_ratio": self.shared_ratio,
            "cacheable_shared_tokens": self.cacheable_shared_tokens,
            "cacheable_ratio": self.cacheable_ratio,
            "session_shared_tokens": self.session_shared_tokens,
            "cross_session_shared_tokens": self.cross_session_shared_tokens,
            "cold_requests": self.cold_requests,
            "sessions": self.sessions,
            "top_sessions": [s.to_dict() for s in self.top_sessions],
        }


@dataclass(frozen=True)
class ObservedComparison:
    """The usage the trace reports next to the ``recorded`` scenario's prediction, over the requests that carry
    usage. The reports call them "billed, as reported" and "recorded markers, replayed". Where the usage came from
    is the trace's business: the provider's, when `TraceWriter` recorded its responses.

    ``observed`` and ``predicted`` are `ScenarioResult`s over the same requests (observed tokens are the
    reported ones, predicted ones the analyzer's estimate); ``input_token_ratio`` = observed / estimated prompt
    tokens (how far the offline token estimate is from the provider's tokenizer); ``agreement`` = share of those
    requests where both say hit or both say miss.

    >>> o = ScenarioResult("observed", "observed", "", requests=2, hit_requests=1, input_tokens=100)
    >>> ObservedComparison(2, o, o, 1.05, 1.0).to_dict()["agreement"]
    1.0
    """

    requests: int
    observed: ScenarioResult
    predicted: ScenarioResult
    input_token_ratio: float | None
    agreement: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "requests": self.requests,
            "observed": self.observed.to_dict(),
            "predicted": self.predicted.to_dict(),
            "input_token_ratio": self.input_token_ratio,
            "agreement": self.agreement,
        }


@dataclass(frozen=True)
class MissExample:
    """One explained miss: this request's ``line``, the ``earlier_line`` it was compared with, where they part
    (``path`` / ``position``), the tokens at stake, and (content causes) the text on both sides.

    >>> MissExample("timestamp", 12, 11, "system[0]", 3, 2048, "differs at char 31").to_dict()["lost_tokens"]
    2048
    """

    cause: str
    line: int
    earlier_line: int | None
    path: str | None
    position: int | None
    lost_tokens: int
    detail: str
    before: str = ""
    after: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "cause": self.cause,
            "line": self.line,
            "earlier_line": self.earlier_line,
            "path": self.path,
            "position": self.position,
            "lost_tokens": self.lost_tokens,
            "detail": self.detail,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class CauseSummary:
    """Every miss of one cause: how many requests, how many tokens were not read, the fix, and examples.

    >>> CauseSummary("ttl_expired", "mechanics", "expired", "use 1h", 3, 9000).to_dict()["requests"]
    3
    """

    cause: str
    kind: str
    title: str
    fix: str
    requests: int
    lost_tokens: int
    examples: tuple[MissExample, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "cause": self.cause,
            "kind": self.kind,
            "title": self.title,
            "fix": self.fix,
            "requests": self.requests,
            "lost_tokens": self.lost_tokens,
            "examples": [e.to_dict() for e in self.examples],
        }


@dataclass(frozen=True)
class MissReport:
    """Misses under one scenario, by cause (most tokens lost first). ``missed_requests`` counts requests that
    read less than an earlier request made possible (a hit on the system prompt that missed the conversation
    counts), ``lost_tokens`` the tokens they left unread.

    >>> MissReport("auto", 0, 0, ()).to_dict()["causes"]
    []
    """

    scenario: str
    missed_requests: int
    lost_tokens: int
    causes: tuple[CauseSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "scenario": self.scenario,
            "missed_requests": self.missed_requests,
            "lost_tokens": self.lost_tokens,
            "causes": [c.to_dict() for c in self.causes],
        }


@dataclass(frozen=True)
class Timeline:
    """Series for charts: cumulative cost per scenario at sampled requests, and hit rates over time buckets.

    ``at`` is the request count at each sample and ``times`` its start time; ``cost_usd[scenario]`` the
    cumulative cost there. ``buckets`` are ``(start, end, requests, hit_requests, input_tokens, read_tokens)``
    per scenario in ``bucket_scenarios``.

    >>> Timeline((1, 2), (0.0, 5.0), {"none": (0.1, 0.2)}).to_dict()["at"]
    [1, 2]
    """

    at: tuple[int, ...]
    times: tuple[float, ...]
    cost_usd: Mapping[str, tuple[float, ...]]
    bucket_scenarios: tuple[str, ...] = ()
    buckets: Mapping[str, tuple[tuple[float, float, int, int, int, int], ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "at": list(self.at),
            "times": list(self.times),
            "cost_usd": {k: list(v) for k, v in self.cost_usd.items()},
            "buckets": {
                k: [
                    {
                        "start": b[0],
                        "end": b[1],
                        "requests": b[2],
                        "hit_requests": b[3],
                        "input_tokens": b[4],
                        "cache_read_tokens": b[5],
                    }
                    for b in v
                ]
                for k, v in self.buckets.items()
            },
        }


@dataclass(frozen=True)
class OptimumRow:
    """One scenario's cost next to the optimum (``cachepoint analyze --optimum``): ``to_lower_bound`` is
    ``cost_usd / lower_bound_usd`` (at least its ratio to the true optimum), ``to_best_found`` is
    ``cost_usd / best_found_usd`` (at most it). ``incumbent``: a placement a framework makes today.

    >>> OptimumRow("auto", 1.2, 1.2, 1.0).to_dict()["to_lower_bound"]
    1.2
    """

    name: str
    cost_usd: float
    to_lower_bound: float | None
    to_best_found: float | None
    incumbent: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "name": self.name,
            "cost_usd": self.cost_usd,
            "to_lower_bound": self.to_lower_bound,
            "to_best_found": self.to_best_found,
            "incumbent": self.incumbent,
        }


@dataclass(frozen=True)
class OptimumSummary:
    """The cheapest placement the provider rules allow, bracketed (``cachepoint analyze --optimum``; see
    `cachepoint.core.analyze.optimal`): no placement costs less than ``lower_bound_usd``, and a real placement
    costs ``best_found_usd`` (``best_found`` names it: ``clairvoyant``, auto's breakpoints with TTLs chosen
    knowing when each prefix comes back, or the cheapest scenario replayed). ``rows``: every priced scenario as a
    ratio to both ends. Costs cover the priced requests only (``unpriced_requests`` are left out of both).

    >>> s = OptimumSummary(1.0, 1.1, "clairvoyant", (OptimumRow("auto", 1.2, 1.2, 1.2 / 1.1),), 10)
    >>> s.to_dict()["rows"][0]["name"], s.gap
    ('auto', 1.1)
    """

    lower_bound_usd: float
    best_found_usd: float
    best_found: str
    rows: tuple[OptimumRow, ...]
    requests: int
    unpriced_requests: int = 0

    @property
    def gap(self) -> float | None:
        """``best_found_usd / lower_bound_usd``: how wide the bracket is."""
        return _ratio(self.best_found_usd, self.lower_bound_usd)

    def row(self, name: str) -> OptimumRow | None:
        """The row of the scenario called ``name``, or ``None``."""
        return next((r for r in self.rows if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "lower_bound_usd": self.lower_bound_usd,
            "best_found_usd": self.best_found_usd,
            "best_found": self.best_found,
            "gap": self.gap,
            "requests": self.requests,
            "unpriced_requests": self.unpriced_requests,
            "rows": [r.to_dict() for r in self.rows],
        }


@dataclass(frozen=True)
class AnalysisReport:
    """The whole analysis (see the module notes for the JSON layout).

    ``focus`` is the scenario the miss diagnosis and ``--fail-under-*`` checks use; ``best`` the cheapest
    scenario (``None`` when costs are unknown). ``optimum``: the bracket on the optimum (``--optimum``; ``None``
    when not asked). ``invalid_lines`` counts lines skipped with ``--skip-invalid``;
    ``errors`` holds their first messages.

    >>> r = AnalysisReport(source="t.jsonl", requests=0, scenarios=(), focus="auto")
    >>> r.to_dict()["format"], r.scenario("auto")
    (1, None)
    """

    source: str
    requests: int
    scenarios: tuple[ScenarioResult, ...]
    focus: str
    best: str | None = None
    invalid_lines: int = 0
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    timestamps: str = "recorded"
    first_time: float | None = None
    last_time: float | None = None
    providers: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    models: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    tenants: int = 0
    sharing: SharingStats = field(default_factory=SharingStats)
    observed: ObservedComparison | None = None
    misses: MissReport | None = None
    timeline: Timeline | None = None
    elapsed_s: float | None = None
    optimum: OptimumSummary | None = None

    def scenario(self, name: str) -> ScenarioResult | None:
        """The scenario called ``name``, or ``None``."""
        return next((s for s in self.scenarios if s.name == name), None)

    @property
    def duration_s(self) -> float | None:
        """Seconds from the first request's start to the last one's."""
        if self.first_time is None or self.last_time is None:
            return None
        return self.last_time - self.first_time

    def to_dict(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "format": REPORT_FORMAT,
            "source": self.source,
            "trace": {
                "requests": self.requests,
                "invalid_lines": self.invalid_lines,
                "errors": list(self.errors),
                "timestamps": self.timestamps,
                "first_time": self.first_time,
                "last_time": self.last_time,
                "duration_s": self.duration_s,
                "providers": dict(self.providers),
                "models": dict(self.models),
                "tenants": self.tenants,
                "sessions": self.sharing.sessions,
            },
            "sharing": self.sharing.to_dict(),
            "scenarios": [s.to_dict() for s in self.scenarios],
            "focus": self.focus,
            "best": self.best,
            "observed": self.observed.to_dict() if self.observed else None,
            "misses": self.misses.to_dict() if self.misses else None,
            "timeline": self.timeline.to_dict() if self.timeline else None,
            "optimum": self.optimum.to_dict() if self.optimum else None,
            "warnings": list(self.warnings),
            "elapsed_s": self.elapsed_s,
        }

    def to_json(self, *, indent: bool = True) -> str:
        """`to_dict` as JSON text."""
        option = orjson.OPT_INDENT_2 if indent else 0
        return orjson.dumps(self.to_dict(), option=option | orjson.OPT_NON_STR_KEYS).decode("utf-8")
