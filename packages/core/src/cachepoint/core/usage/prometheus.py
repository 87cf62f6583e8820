"""Prometheus text exposition of a ledger.

Written by hand: the text format is a few lines of escaping, and core must not depend on ``prometheus_client``
(an optional extra) just to print counters. The tests parse the output with ``prometheus_client``'s parser.

Families (``<p>`` is the prefix, ``cachepoint_llm`` by default), each labelled with the ledger's labels:

- ``<p>_calls_total{cache_outcome="hit|miss|unknown"}``; ``<p>_cache_write_calls_total``
- ``<p>_tokens_total{token_type="input|uncached_input|cache_read|cache_write|output|reasoning"}``
- ``<p>_cache_write_tokens_total{ttl="5m|1h|...|unknown"}``
- ``<p>_unreported_calls_total{token_type=...}``: calls that did not report that count
- ``<p>_cost_usd_total``, ``<p>_without_cache_cost_usd_total``, ``<p>_savings_usd`` (a gauge: it can drop),
  ``<p>_unpriced_calls_total``
- ``<p>_latency_seconds{latency_kind="ttft|duration", cache_outcome=...}``: histogram
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cachepoint.core.usage.ledger import _Series

__all__ = ["exposition"]

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")
# Label names the exposition uses itself; a ledger label with one of these names is exported as label_<name>.
_RESERVED = {"cache_outcome", "token_type", "ttl", "latency_kind", "le", "quantile"}
_TOKEN_TYPES = {
    "input_tokens": "input",
    "uncached_input_tokens": "uncached_input",
    "cache_read_tokens": "cache_read",
    "cache_write_tokens": "cache_write",
    "output_tokens": "output",
    "reasoning_tokens": "reasoning",
}


def _label_name(key: str) -> str:
    name = _LABEL_BAD.sub("_", key)
    if name[0].isdigit() or name.startswith("__") or name in _RESERVED:
        name = f"label_{name}"
    return name


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name, self.kind, self.help = name, kind, help_text
        self.lines: list[str] = []

    def sample(self, labels: dict[str, str], value: float, suffix: str = "") -> None:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        self.lines.append(
            f"{self.name}{suffix}{{{inner}}} {_number(value)}" if inner else f"{self.name}{suffix} {_number(value)}"
        )

    def render(self) -> list[str]:
        if not self.lines:
            return []
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}", *self.lines]


def exposition(series: Iterable[tuple[dict[str, str], _Series]], buckets: Sequence[float], prefix: str) -> str:
    """Render ledger series as Prometheus text (see the module docstring for the families)."""
    if not _NAME.match(prefix):
        raise ValueError(f"prefix: expected a Prometheus metric name prefix like 'cachepoint_llm', got {prefix!r}")
    f = {
        "calls": _Family(f"{prefix}_calls_total", "counter", "LLM calls recorded, by cache outcome."),
        "writes": _Family(f"{prefix}_cache_write_calls_total", "counter", "LLM calls that wrote to the cache."),
        "tokens": _Family(
            f"{prefix}_tokens_total", "counter", "Tokens by type; input includes cache reads and writes."
        ),
        "ttl": _Family(f"{prefix}_cache_write_tokens_total", "counter", "Tokens written to the cache, by TTL."),
        "unreported": _Family(
            f"{prefix}_unreported_calls_total", "counter", "Calls whose provider did not report this token count."
        ),
        "cost": _Family(f"{prefix}_cost_usd_total", "counter", "Cost of the priced calls in USD, with caching."),
        "without": _Family(
            f"{prefix}_without_cache_cost_usd_total",
            "counter",
            "What the priced calls would have cost without caching.",
        ),
        "savings": _Family(f"{prefix}_savings_usd", "gauge", "Without-cache cost minus actual cost, in USD."),
        "unpriced": _Family(f"{prefix}_unpriced_calls_total", "counter", "Calls that could not be priced."),
        "latency": _Family(f"{prefix}_latency_seconds", "histogram", "Call latency by kind and cache outcome."),
    }
    for raw_labels, s in series:
        labels = {_label_name(k): v for k, v in raw_labels.items()}
        for outcome, n in (("hit", s.hit_calls), ("miss", s.miss_calls)):
            f["calls"].sample({**labels, "cache_outcome": outcome}, n)
        unknown = s.calls - s.hit_calls - s.miss_calls
        if unknown:
            f["calls"].sample({**labels, "cache_outcome": "unknown"}, unknown)
        f["writes"].sample(labels, s.write_calls)
        for name, token_type in _TOKEN_TYPES.items():
            f["tokens"].sample({**labels, "token_type": token_type}, s.tokens[name])
            if s.unreported[name]:
                f["unreported"].sample({**labels, "token_type": token_type}, s.unreported[name])
        for ttl, n in sorted(s.cache_write_by_ttl.items()):
            f["ttl"].sample({**labels, "ttl": ttl}, n)
        rest = s.tokens["cache_write_tokens"] - sum(s.cache_write_by_ttl.values())
        if rest > 0:
            f["ttl"].sample({**labels, "ttl": "unknown"}, rest)
        f["cost"].sample(labels, s.cost_usd)
        f["without"].sample(labels, s.without_cache_usd)
        f["savings"].sample(labels, s.without_cache_usd - s.cost_usd)
        f["unpriced"].sample(labels, s.calls - s.priced_calls)
        for key, hist in sorted(s.latency.items()):
            kind, _, outcome = key.partition(".")
            base = {**labels, "latency_kind": kind, "cache_outcome": outcome}
            cumulative = 0
            for bound, n in zip((*buckets, math.inf), hist.counts, strict=True):
                cumulative += n
                f["latency"].sample({**base, "le": _number(float(bound))}, cumulative, "_bucket")
            f["latency"].sample(base, hist.total, "_sum")
            f["latency"].sample(base, hist.count, "_count")
    lines = [line for family in f.values() for line in family.render()]
    return "\n".join(lines) + "\n" if lines else ""
