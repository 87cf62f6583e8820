"""What a call cost with caching, what it would have cost without, and when a cache write pays for itself.

Prices come from `cachepoint.core.providers` (USD per million tokens) unless you pass your own `Pricing`. An
unknown price never turns into $0: the cost is ``None`` and `CallCost.reason` says why. Every assumption made
on the way (writes with no reported TTL priced at the cheapest write rate...) is listed in `CallCost.notes`.

Batch and regional multipliers scale every token class alike (they stack with the cache multipliers, as
Anthropic's and Bedrock's price lists say), so they change costs and savings but never a break-even point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cachepoint.core.providers import Pricing, ProviderTable, model_info
from cachepoint.core.usage.cache_usage import CacheUsage

__all__ = [
    "BATCH_MULTIPLIER",
    "REGIONAL_MULTIPLIER",
    "BreakEven",
    "CallCost",
    "break_even",
    "call_cost",
    "ttl_break_even",
]

#: Batch APIs (Anthropic Message Batches, OpenAI Batch) bill every token class at half price.
BATCH_MULTIPLIER = 0.5
#: Anthropic's US-only ``inference_geo`` and Bedrock's regional (non-global) endpoints add 10%.
REGIONAL_MULTIPLIER = 1.1

_PER_TOKEN = 1e-6  # table prices are per million tokens


@dataclass(frozen=True)
class CallCost:
    """The cost of one call (or a sum of calls) in USD, split by token class, and what caching saved.

    ``savings_usd`` is ``without_cache_usd - total_usd``; it is negative when the call paid for cache writes
    that no read has used yet. All amounts are ``None`` when the call cannot be priced; ``reason`` says why.

    >>> from cachepoint.core.providers import Pricing
    >>> p = Pricing(input=3.0, output=15.0, cache_read=0.3, cache_write={"5m": 3.75, "1h": 6.0})
    >>> c = call_cost(CacheUsage(input_tokens=1_000_000, cache_read_tokens=1_000_000, cache_write_tokens=0,
    ...                          output_tokens=0), pricing=p)
    >>> round(c.total_usd, 6), round(c.without_cache_usd, 6), round(c.savings_usd, 6)
    (0.3, 3.0, 2.7)
    """

    provider: str | None
    model: str | None
    input_usd: float | None = None
    cache_read_usd: float | None = None
    cache_write_usd: float | None = None
    output_usd: float | None = None
    total_usd: float | None = None
    without_cache_usd: float | None = None
    savings_usd: float | None = None
    reason: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def priced(self) -> bool:
        """Whether the amounts are known (``False``: see `reason`)."""
        return self.total_usd is not None


def _unpriced(usage: CacheUsage, reason: str) -> CallCost:
    return CallCost(provider=usage.provider, model=usage.model, reason=reason)


def _pricing_for(usage: CacheUsage, table: ProviderTable | None) -> tuple[Pricing | None, str | None]:
    if usage.provider is None or usage.model is None:
        return None, "the usage names no provider and model to look prices up; pass pricing=Pricing(...)"
    info = model_info(usage.provider, usage.model, table=table)
    if info.pricing is None:
        known = "has no price" if info.known else "is not in the provider table"
        return None, (
            f"model {usage.model!r} of provider {usage.provider!r} {known}; pass pricing=Pricing(...) or "
            "register it with cachepoint.core.providers.register_model"
        )
    return info.pricing, None


def call_cost(
    usage: CacheUsage,
    *,
    pricing: Pricing | None = None,
    table: ProviderTable | None = None,
    batch: bool = False,
    regional: bool = False,
    multiplier: float = 1.0,
) -> CallCost:
    """Price ``usage``: with caching as billed, without caching (every input token at the input rate), savings.

    ``pricing`` overrides the provider table (your negotiated prices); ``batch`` halves every price;
    ``regional`` adds Anthropic's / Bedrock's 10% regional surcharge; ``multiplier`` is any further factor.

    >>> from cachepoint.core.providers import Pricing
    >>> p = Pricing(input=3.0, output=15.0, cache_read=0.3, cache_write={"5m": 3.75, "1h": 6.0})
    >>> u = CacheUsage(input_tokens=1510, cache_read_tokens=1200, cache_write_tokens=300, output_tokens=5,
    ...                cache_write_by_ttl={"5m": 300})
    >>> c = call_cost(u, pricing=p)
    >>> round(c.total_usd, 8), round(c.without_cache_usd, 8)
    (0.00159, 0.004605)
    """
    if multiplier < 0 or not math.isfinite(multiplier):
        raise ValueError(f"multiplier: expected a non-negative finite number, got {multiplier!r}")
    reason = None
    if pricing is None:
        pricing, reason = _pricing_for(usage, table)
    if pricing is None:
        return _unpriced(usage, reason or "no pricing")
    prompt, output, read = usage.input_tokens, usage.output_tokens, usage.cache_read_tokens
    if prompt is None or output is None or read is None:
        missing = next(n for n in ("input_tokens", "output_tokens", "cache_read_tokens") if getattr(usage, n) is None)
        return _unpriced(usage, f"{missing} is unknown (the provider did not report it)")
    notes: list[str] = []
    scale = multiplier * (BATCH_MULTIPLIER if batch else 1.0) * (REGIONAL_MULTIPLIER if regional else 1.0)
    rate = scale * _PER_TOKEN

    write_usd = 0.0
    written = usage.cache_write_tokens
    if written is None:
        if pricing.cache_write:
            return _unpriced(
                usage, "cache_write_tokens is unknown and this model bills cache writes above the input rate"
            )
        notes.append("cache writes were not reported; this model bills them at the input rate, so cost is exact")
        written = 0
    else:
        for ttl, count in usage.cache_write_by_ttl.items():
            try:
                write_usd += count * pricing.write_price(ttl)
            except ValueError as exc:
                return _unpriced(usage, f"cache_write_by_ttl[{ttl!r}]: {exc}")
        rest = usage.cache_write_unknown_ttl_tokens or 0
        if rest:
            write_usd += rest * pricing.write_price(None)
            if len(set(pricing.cache_write.values())) > 1:
                cheapest = min(pricing.cache_write, key=lambda t: pricing.cache_write[t])
                notes.append(f"{rest} written tokens had no reported TTL; priced at the cheapest ({cheapest}) rate")
    uncached = prompt - read - written
    input_usd = uncached * pricing.input * rate
    read_usd = read * pricing.cache_read * rate
    write_usd *= rate
    output_usd = output * pricing.output * rate
    total = input_usd + read_usd + write_usd + output_usd
    without = (prompt * pricing.input + output * pricing.output) * rate
    return CallCost(
        provider=usage.provider,
        model=usage.model,
        input_usd=input_usd,
        cache_read_usd=read_usd,
        cache_write_usd=write_usd,
        output_usd=output_usd,
        total_usd=total,
        without_cache_usd=without,
        savings_usd=without - total,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class BreakEven:
    """When one cache write pays for itself.

    A prefix written once at ``write_multiplier`` times the input price and then read ``k`` times (within the
    TTL) at ``read_multiplier`` costs ``write + k * read`` input-prices instead of ``1 + k``. ``exact_reads`` is
    the ``k`` where both are equal; ``reads`` is the smallest whole number of reads that makes caching strictly
    cheaper (``None`` when reads cost as much as fresh input, so caching never pays).

    >>> from cachepoint.core.providers import Pricing
    >>> p = Pricing(input=3.0, output=15.0, cache_read=0.3, cache_write={"5m": 3.75, "1h": 6.0})
    >>> break_even(p, "5m").reads, break_even(p, "1h").reads
    (1, 2)
    """

    ttl: str | None
    write_multiplier: float
    read_multiplier: float
    exact_reads: float | None
    reads: int | None


def break_even(pricing: Pricing, ttl: str | None = None) -> BreakEven:
    """How many reads within ``ttl`` one write needs to pay off (``ttl=None``: the cheapest write TTL).

    >>> from cachepoint.core.providers import model_info
    >>> b = break_even(model_info("anthropic", "claude-sonnet-4-5").pricing, "1h")
    >>> b.write_multiplier, round(b.exact_reads, 4), b.reads
    (2.0, 1.1111, 2)
    """
    if pricing.input <= 0:
        raise ValueError("pricing.input: expected a positive input price to compare against")
    write = pricing.write_price(ttl) / pricing.input
    read = pricing.cache_read / pricing.input
    if read >= 1.0:
        return BreakEven(ttl, write, read, None, None)
    exact = (write - 1.0) / (1.0 - read)
    reads = max(0, math.floor(exact) + 1)
    return BreakEven(ttl, write, read, exact, reads)


def ttl_break_even(pricing: Pricing, *, longer: str = "1h", shorter: str = "5m") -> int | None:
    """From how many calls a longer TTL beats a shorter one, when calls come further apart than the shorter
    TTL (so it expires and each call writes again) but within the longer one.

    ``n`` such calls cost ``write(longer) + (n - 1) * read`` with the longer TTL and ``n * write(shorter)``
    with the shorter; the answer is the smallest ``n`` where the first is strictly cheaper (``None``: never).
    Calls closer together than the shorter TTL keep it alive (each read refreshes it) and need no longer TTL.

    >>> from cachepoint.core.providers import model_info
    >>> ttl_break_even(model_info("anthropic", "claude-sonnet-4-5").pricing)
    2
    """
    write_long = pricing.write_price(longer)
    write_short = pricing.write_price(shorter)
    read = pricing.cache_read
    if write_short <= read:
        return None
    exact = (write_long - read) / (write_short - read)
    return max(1, math.floor(exact) + 1)
