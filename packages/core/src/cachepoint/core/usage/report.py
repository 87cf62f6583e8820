"""A ledger as a `rich` table: one row per group, a total row, numbers a human can scan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.table import Table

from cachepoint.core.usage.latency import LatencySummary
from cachepoint.core.usage.ledger import LedgerStats

__all__ = ["ledger_table"]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _tokens(value: int, unreported: int) -> str:
    text = f"{value:,}"
    return f"{text} (+{unreported} calls ?)" if unreported else text


def _usd(value: float | None, unpriced: int) -> str:
    if value is None:
        return "unknown"
    text = f"${value:,.4f}"
    return f">= {text} ({unpriced} unpriced)" if unpriced else text


def _ms(summary: LatencySummary) -> str:
    return "-" if summary.mean_s is None else f"{summary.mean_s * 1000:,.0f} ms"


def _latency(stats: LedgerStats) -> str:
    # Time to first token when the calls were streamed, whole-call duration otherwise.
    if stats.ttft_hit.count or stats.ttft_miss.count:
        hit, miss, kind = stats.ttft_hit, stats.ttft_miss, "TTFT"
    else:
        hit, miss, kind = stats.duration_hit, stats.duration_miss, "total"
    if not hit.count and not miss.count:
        return "-"
    return f"{_ms(hit)} / {_ms(miss)} ({kind})"


def _calls(stats: LedgerStats) -> str:
    # Calls a cache answered without the provider (node-cache hits) are said apart: they hold no tokens.
    text = f"{stats.calls:,}"
    return f"{text} ({stats.replayed_calls:,} replayed)" if stats.replayed_calls else text


def _row(stats: LedgerStats) -> list[str]:
    unreported = stats.unreported
    return [
        _calls(stats),
        _pct(stats.hit_rate),
        _pct(stats.cached_token_ratio),
        _pct(stats.write_rate),
        _tokens(stats.input_tokens, unreported.get("input_tokens", 0)),
        _tokens(stats.cache_read_tokens, unreported.get("cache_read_tokens", 0)),
        _tokens(stats.cache_write_tokens, unreported.get("cache_write_tokens", 0)),
        _tokens(stats.output_tokens, unreported.get("output_tokens", 0)),
        _usd(stats.cost_usd, stats.unpriced_calls),
        _usd(stats.savings_usd, stats.unpriced_calls),
        _latency(stats),
    ]


def ledger_table(
    groups: Mapping[tuple[str | None, ...], LedgerStats],
    keys: Sequence[str],
    total: LedgerStats,
    *,
    title: str | None = None,
) -> Table:
    """A table with one row per group of ``keys`` and a total row."""
    table = Table(title=title, show_footer=False)
    for key in keys:
        table.add_column(key)
    for name in ("calls", "hit rate", "cached tokens", "write rate", "input", "cache read", "cache write"):
        table.add_column(name, justify="right")
    for name in ("output", "cost", "saved", "latency hit / miss"):
        table.add_column(name, justify="right")
    for group, stats in groups.items():
        table.add_row(*[value if value is not None else "-" for value in group], *_row(stats))
    table.add_section()
    table.add_row("total", *[""] * (len(keys) - 1), *_row(total), style="bold")
    return table
