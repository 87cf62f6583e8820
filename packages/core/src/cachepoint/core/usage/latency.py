"""Latency histograms with fixed buckets: exact counts, sums and extremes, approximate quantiles.

Fixed buckets (not raw samples) keep a ledger's memory constant however many calls it sees, make two ledgers
mergeable by adding counts, and map one-to-one onto a Prometheus histogram.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_LATENCY_BUCKETS", "LatencyHistogram", "LatencySummary"]

#: Upper bounds in seconds: fine below a second (where cached TTFT lives), coarse up to minutes.
DEFAULT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 30.0, 60.0, 120.0,
)  # fmt: skip


@dataclass(frozen=True)
class LatencySummary:
    """Latency of a set of calls, in seconds; the quantiles are interpolated within histogram buckets.

    >>> h = LatencyHistogram()
    >>> for s in (0.2, 0.4, 0.6):
    ...     h.observe(s)
    >>> s = h.summary()
    >>> s.count, round(s.mean_s, 3), s.min_s, s.max_s
    (3, 0.4, 0.2, 0.6)
    """

    count: int
    mean_s: float | None
    p50_s: float | None
    p95_s: float | None
    min_s: float | None
    max_s: float | None


class LatencyHistogram:
    """Counts of observations per bucket (``le`` upper bounds, plus ``+Inf``), their sum, min and max.

    >>> h = LatencyHistogram(buckets=(0.5, 1.0))
    >>> h.observe(0.3); h.observe(0.7); h.observe(4.0)
    >>> h.counts
    [1, 1, 1]
    """

    __slots__ = ("buckets", "count", "counts", "max", "min", "total")

    def __init__(self, buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS) -> None:
        bounds = tuple(float(b) for b in buckets)
        if not bounds or any(b <= 0 or not math.isfinite(b) for b in bounds) or list(bounds) != sorted(set(bounds)):
            raise ValueError(f"buckets: expected increasing positive finite bounds, got {list(buckets)!r}")
        self.buckets = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.total = 0.0
        self.min: float | None = None
        self.max: float | None = None

    def observe(self, seconds: float) -> None:
        """Add one observation (seconds, non-negative and finite)."""
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
            raise TypeError(f"latency: expected seconds as a number, got {type(seconds).__name__}")
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError(f"latency: expected a non-negative finite number of seconds, got {seconds!r}")
        index = len(self.buckets)
        for i, bound in enumerate(self.buckets):
            if seconds <= bound:
                index = i
                break
        self.counts[index] += 1
        self.count += 1
        self.total += seconds
        self.min = seconds if self.min is None else min(self.min, seconds)
        self.max = seconds if self.max is None else max(self.max, seconds)

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s observations (same buckets required)."""
        if other.buckets != self.buckets:
            raise ValueError("latency buckets differ: only ledgers with the same latency_buckets can merge")
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.count += other.count
        self.total += other.total
        if other.min is not None:
            self.min = other.min if self.min is None else min(self.min, other.min)
        if other.max is not None:
            self.max = other.max if self.max is None else max(self.max, other.max)

    def copy(self) -> LatencyHistogram:
        """An independent copy."""
        twin = LatencyHistogram(self.buckets)
        twin.merge(self)
        return twin

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile, interpolated linearly inside its bucket and clamped to the observed min/max."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q: expected 0..1, got {q!r}")
        if self.count == 0 or self.min is None or self.max is None:
            return None
        rank = q * self.count
        seen = 0
        for i, n in enumerate(self.counts):
            if n and seen + n >= rank:
                lower = self.buckets[i - 1] if i > 0 else 0.0
                upper = self.buckets[i] if i < len(self.buckets) else self.max
                value = lower + (upper - lower) * ((rank - seen) / n)
                return min(max(value, self.min), self.max)
            seen += n
        return self.max

    def summary(self) -> LatencySummary:
        """Count, mean, p50, p95, min and max."""
        mean = self.total / self.count if self.count else None
        return LatencySummary(self.count, mean, self.quantile(0.5), self.quantile(0.95), self.min, self.max)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (`from_dict` reads it back)."""
        return {"counts": list(self.counts), "count": self.count, "sum": self.total, "min": self.min, "max": self.max}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], buckets: Sequence[float]) -> LatencyHistogram:
        """Rebuild a histogram written by `to_dict`."""
        hist = cls(buckets)
        counts = list(data["counts"])
        if len(counts) != len(hist.counts) or any(not isinstance(n, int) or n < 0 for n in counts):
            raise ValueError(f"latency counts: expected {len(hist.counts)} non-negative ints, got {counts!r}")
        hist.counts = counts
        hist.count = int(data["count"])
        hist.total = float(data["sum"])
        hist.min = None if data.get("min") is None else float(data["min"])
        hist.max = None if data.get("max") is None else float(data["max"])
        if hist.count != sum(counts):
            raise ValueError(f"latency count: {hist.count} does not match the bucket counts (sum {sum(counts)})")
        return hist
