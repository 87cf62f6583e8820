"""Trace analysis: how much of my traffic is cacheable, what do I get today, what would a strategy get, and
what breaks my cache. Powers ``cachepoint analyze``.

- **Prefix sharing**: per request, the longest prefix an earlier request of the same cache partition sent
  (overall and within its session): the ceiling of any prefix cache.
- **Replay** through `cachepoint.core.simulate` under the markers already in the trace (``recorded``), no
  caching (``none``), and each strategy: hit rate, cached-token ratio, write rate, cost and savings; observed
  usage next to the prediction where the trace has it.
- **Miss diagnosis** under the focus scenario: the first divergence from the nearest earlier prefix (which
  block, which characters), classified (timestamp, id, reordered tools, whitespace, content change, TTL
  expiry, below minimum, lookback exceeded...), with counts and examples.

>>> from cachepoint.core.analyze import analyze
>>> system = "You are the support agent for Acme routers. " * 120
>>> trace = [{"request": {"model": "claude-sonnet-4-5", "max_tokens": 256,
...                       "system": f"{system} Current time: 2026-11-23T10:{minute:02d}:00Z",
...                       "messages": [{"role": "user", "content": f"Question {minute}"}]},
...           "timestamp": 1795428000 + 60 * minute} for minute in range(4)]
>>> report = analyze(trace, strategies=["auto"])
>>> report.scenario("auto").hit_rate, [c.cause for c in report.misses.causes]
(0.0, ['timestamp'])
"""

from cachepoint.core.analyze.causes import CAUSES, Cause
from cachepoint.core.analyze.report import (
    REPORT_FORMAT,
    AnalysisReport,
    CauseSummary,
    MissExample,
    MissReport,
    ObservedComparison,
    ScenarioResult,
    SessionSharing,
    SharingStats,
    Timeline,
)
from cachepoint.core.analyze.run import Progress, TraceOrderError, analyze, auto_jobs
from cachepoint.core.analyze.scenarios import DEFAULT_STRATEGIES, Scenario, parse_strategy, place, scenarios_for
from cachepoint.core.analyze.workers import WorkerError

__all__ = [
    "CAUSES",
    "DEFAULT_STRATEGIES",
    "REPORT_FORMAT",
    "AnalysisReport",
    "Cause",
    "CauseSummary",
    "MissExample",
    "MissReport",
    "ObservedComparison",
    "Progress",
    "Scenario",
    "ScenarioResult",
    "SessionSharing",
    "SharingStats",
    "Timeline",
    "TraceOrderError",
    "WorkerError",
    "analyze",
    "auto_jobs",
    "parse_strategy",
    "place",
    "scenarios_for",
]
