"""Cost, savings and break-even, checked against numbers worked out by hand from the published prices
(USD per million tokens): Claude Opus 4.5 $5 in / $25 out / $0.50 read / $6.25 5m write / $10 1h write;
Claude Sonnet 4.6 $3 / $15 / $0.30 / $3.75 / $6; gpt-4o $2.50 in / $1.25 cached / $10 out."""

from __future__ import annotations

import warnings

import pytest

from cachepoint.core.providers import Pricing, UnknownModelWarning, model_info
from cachepoint.core.usage import CacheUsage, break_even, call_cost, ttl_break_even

OPUS_45 = CacheUsage(
    provider="anthropic",
    model="claude-opus-4-5-20251101",
    input_tokens=42550,
    cache_read_tokens=40000,
    cache_write_tokens=2500,
    cache_write_by_ttl={"5m": 500, "1h": 2000},
    output_tokens=700,
)


def test_cost_with_and_without_caching() -> None:
    cost = call_cost(OPUS_45)
    # 50*5 + 40000*0.5 + 500*6.25 + 2000*10 + 700*25 = 250 + 20000 + 3125 + 20000 + 17500 = 60875 per million
    assert cost.input_usd == pytest.approx(250e-6)
    assert cost.cache_read_usd == pytest.approx(20000e-6)
    assert cost.cache_write_usd == pytest.approx(23125e-6)
    assert cost.output_usd == pytest.approx(17500e-6)
    assert cost.total_usd == pytest.approx(0.060875)
    # 42550*5 + 700*25 = 230250 per million
    assert cost.without_cache_usd == pytest.approx(0.23025)
    assert cost.savings_usd == pytest.approx(0.169375)
    assert cost.priced
    assert cost.reason is None
    assert cost.notes == ()


@pytest.mark.parametrize(
    ("options", "factor"),
    [
        ({"batch": True}, 0.5),
        ({"regional": True}, 1.1),
        ({"batch": True, "regional": True}, 0.55),
        ({"multiplier": 2.0}, 2.0),
    ],
)
def test_batch_and_regional_multipliers(options: dict[str, object], factor: float) -> None:
    cost = call_cost(OPUS_45, **options)  # type: ignore[arg-type]
    assert cost.total_usd == pytest.approx(0.060875 * factor)
    assert cost.without_cache_usd == pytest.approx(0.23025 * factor)
    assert cost.savings_usd == pytest.approx(0.169375 * factor)


def test_openai_without_a_write_counter_is_still_exact() -> None:
    usage = CacheUsage(
        provider="openai", model="gpt-4o-2024-08-06", input_tokens=2006, cache_read_tokens=1920, output_tokens=300
    )
    cost = call_cost(usage)
    # 86*2.5 + 1920*1.25 + 300*10 = 215 + 2400 + 3000 = 5615 per million
    assert cost.total_usd == pytest.approx(0.005615)
    assert cost.without_cache_usd == pytest.approx(0.008015)  # 2006*2.5 + 3000
    assert cost.savings_usd == pytest.approx(0.0024)
    assert any("not reported" in note for note in cost.notes)


def test_a_first_call_that_only_writes_costs_more_than_no_cache() -> None:
    usage = CacheUsage(
        provider="anthropic",
        model="claude-sonnet-4-6",
        input_tokens=5010,
        cache_read_tokens=0,
        cache_write_tokens=5000,
        cache_write_by_ttl={"5m": 5000},
        output_tokens=100,
    )
    cost = call_cost(usage)
    assert cost.total_usd == pytest.approx(0.02028)  # 10*3 + 5000*3.75 + 100*15
    assert cost.without_cache_usd == pytest.approx(0.01653)  # 5010*3 + 100*15
    assert cost.savings_usd == pytest.approx(-0.00375)


def test_writes_without_a_ttl_are_priced_at_the_cheapest_rate_and_say_so() -> None:
    usage = CacheUsage(
        provider="anthropic",
        model="claude-sonnet-4-6",
        input_tokens=310,
        cache_read_tokens=200,
        cache_write_tokens=100,
        output_tokens=5,
    )
    cost = call_cost(usage)
    assert cost.total_usd == pytest.approx(0.00054)  # 10*3 + 200*0.3 + 100*3.75 + 5*15 = 540
    assert any("no reported TTL" in note and "5m" in note for note in cost.notes)


def test_explicit_pricing_overrides_the_table() -> None:
    mine = Pricing(input=1.0, output=2.0, cache_read=0.1, cache_write={"5m": 1.25, "1h": 2.0})
    cost = call_cost(OPUS_45, pricing=mine)
    # 50*1 + 40000*0.1 + 500*1.25 + 2000*2 + 700*2 = 50 + 4000 + 625 + 4000 + 1400 = 10075
    assert cost.total_usd == pytest.approx(0.010075)


def test_unknown_model_is_unpriced_never_zero() -> None:
    usage = CacheUsage(
        provider="anthropic",
        model="claude-internal-x",
        input_tokens=1000,
        cache_read_tokens=0,
        cache_write_tokens=0,
        output_tokens=10,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)
        cost = call_cost(usage)
    assert not cost.priced
    assert cost.total_usd is None
    assert cost.savings_usd is None
    assert cost.without_cache_usd is None
    assert "claude-internal-x" in (cost.reason or "")
    assert "pricing=Pricing" in (cost.reason or "")


def test_model_in_the_table_without_a_price_is_unpriced() -> None:
    usage = CacheUsage(provider="openai", model="gpt-5.6", input_tokens=10, cache_read_tokens=0, output_tokens=1)
    cost = call_cost(usage)
    assert not cost.priced
    assert "has no price" in (cost.reason or "")


@pytest.mark.parametrize(
    ("usage", "fragment"),
    [
        (CacheUsage(provider="anthropic", model="claude-sonnet-4-6", output_tokens=1), "input_tokens is unknown"),
        (CacheUsage(provider="vllm", model="q", input_tokens=10, output_tokens=1), "cache_read_tokens is unknown"),
        (
            CacheUsage(
                provider="bedrock", model="anthropic.claude-sonnet-4-6", cache_read_tokens=1200, output_tokens=5
            ),
            "input_tokens is unknown",
        ),
        (
            CacheUsage(
                provider="anthropic", model="claude-sonnet-4-6", input_tokens=10, cache_read_tokens=0, output_tokens=1
            ),
            "cache_write_tokens is unknown",
        ),
        (CacheUsage(input_tokens=10, cache_read_tokens=0, cache_write_tokens=0, output_tokens=1), "no provider"),
    ],
)
def test_unreported_counts_make_the_cost_unknown(usage: CacheUsage, fragment: str) -> None:
    pricing = Pricing(input=3.0, output=15.0, cache_read=0.3, cache_write={"5m": 3.75})
    cost = call_cost(usage, pricing=pricing if usage.provider else None)
    assert cost.total_usd is None
    assert fragment in (cost.reason or "")


def test_a_ttl_the_model_does_not_offer_is_unpriced() -> None:
    usage = CacheUsage(
        provider="bedrock",
        model="anthropic.claude-3-7-sonnet-20250219-v1:0",  # 5m only on Bedrock
        input_tokens=2000,
        cache_read_tokens=0,
        cache_write_tokens=2000,
        cache_write_by_ttl={"1h": 2000},
        output_tokens=1,
    )
    cost = call_cost(usage)
    assert not cost.priced
    assert "cache_write_by_ttl['1h']" in (cost.reason or "")


def test_bad_multiplier() -> None:
    with pytest.raises(ValueError, match="multiplier"):
        call_cost(OPUS_45, multiplier=-1.0)


# -- break-even ---------------------------------------------------------------------------------------------


def _cheaper_with_cache(pricing: Pricing, ttl: str, reads: int) -> bool:
    # Independent check: one write then `reads` reads, against 1 + reads fresh prompts.
    return pricing.write_price(ttl) + reads * pricing.cache_read < (1 + reads) * pricing.input


@pytest.mark.parametrize(
    ("model", "ttl", "reads", "exact"),
    [
        ("claude-sonnet-4-6", "5m", 1, 0.25 / 0.9),  # 1.25x write, 0.1x read
        ("claude-sonnet-4-6", "1h", 2, 1.0 / 0.9),  # 2x write: one read is not enough (2.1 > 2.0)
        ("claude-opus-5-5", "1h", 2, 1.0 / 0.95),  # 0.05x reads
        ("claude-fable-5-1", "5m", 1, 0.25 / 0.975),  # 0.025x reads
    ],
)
def test_break_even_anthropic(model: str, ttl: str, reads: int, exact: float) -> None:
    pricing = model_info("anthropic", model).pricing
    assert pricing is not None
    result = break_even(pricing, ttl)
    assert result.reads == reads
    assert result.exact_reads == pytest.approx(exact)
    assert _cheaper_with_cache(pricing, ttl, reads)
    assert not _cheaper_with_cache(pricing, ttl, reads - 1)


def test_break_even_without_a_write_fee() -> None:
    pricing = model_info("openai", "gpt-4o").pricing
    assert pricing is not None
    result = break_even(pricing)
    assert (result.write_multiplier, result.read_multiplier, result.reads) == (1.0, 0.5, 1)


def test_break_even_never_when_reads_cost_as_much_as_input() -> None:
    result = break_even(Pricing(input=1.0, output=1.0, cache_read=1.0, cache_write={"5m": 1.25}), "5m")
    assert result.reads is None
    assert result.exact_reads is None


def test_longer_ttl_break_even() -> None:
    pricing = model_info("anthropic", "claude-sonnet-4-6").pricing
    assert pricing is not None
    n = ttl_break_even(pricing)
    assert n == 2
    # Calls further apart than 5m: the 5m TTL rewrites every call, the 1h TTL writes once and then reads.
    long_cost = [pricing.write_price("1h") + (k - 1) * pricing.cache_read for k in (1, 2)]
    short_cost = [k * pricing.write_price("5m") for k in (1, 2)]
    assert long_cost[0] > short_cost[0]
    assert long_cost[1] < short_cost[1]


def test_break_even_for_a_ttl_the_model_lacks() -> None:
    pricing = model_info("bedrock", "anthropic.claude-3-7-sonnet").pricing
    assert pricing is not None
    with pytest.raises(ValueError, match="ttl"):
        break_even(pricing, "1h")
