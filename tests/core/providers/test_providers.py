"""The provider table: prefix matching for versioned ids, overrides, unknown models, and the data itself."""

from __future__ import annotations

import warnings

import pytest

from cachepoint.core.providers import (
    AS_OF,
    DEFAULT_TABLE,
    ModelInfo,
    Pricing,
    ProviderTable,
    UnknownModelWarning,
    model_info,
    normalize_provider,
    register_model,
)


@pytest.mark.parametrize(
    ("provider", "model", "key"),
    [
        ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),  # Vertex spelling
        ("anthropic", "claude-opus-4-1-latest", "claude-opus-4-1"),
        ("anthropic", "Claude-Opus-4-1", "claude-opus-4-1"),
        ("anthropic", "claude-opus-4-20250514", "claude-opus-4"),
        ("anthropic", "claude-sonnet-4-5[1m]", "claude-sonnet-4-5"),
        ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5"),
        ("bedrock", "us.anthropic.claude-opus-4-5-20251101-v1:0", "anthropic.claude-opus-4-5"),
        ("bedrock", "global.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5"),
        ("bedrock", "eu.amazon.nova-pro-v1:0", "amazon.nova-pro"),
        ("openai", "gpt-5.6", "gpt-5.6"),
        ("openai", "gpt-5.6-2026-07-10", "gpt-5.6"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4o-mini", "gpt-4o-mini"),
        ("openai", "gpt-5-mini", "gpt-5-mini"),
    ],
)
def test_versioned_ids_match_their_model(provider: str, model: str, key: str) -> None:
    found = DEFAULT_TABLE.find(provider, model)
    assert found is not None
    assert found.model == key


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("anthropic", "claude-opus-4-9"),  # must not inherit claude-opus-4's rules
        ("anthropic", "claude-opus-4-10-20270101"),
        ("anthropic", "claude-sonnet-4-55"),
        ("anthropic", "claude-sonnet"),
        ("openai", "gpt-4o-realtime"),
        ("openai", "gpt-5.65"),
        ("bedrock", "anthropic.claude-opus-4-9-v1:0"),
    ],
)
def test_other_models_do_not_swallow_each_other(provider: str, model: str) -> None:
    assert DEFAULT_TABLE.find(provider, model) is None


def test_the_longest_key_wins() -> None:
    assert DEFAULT_TABLE.find("anthropic", "claude-opus-4-1-20250805").model == "claude-opus-4-1"
    assert DEFAULT_TABLE.find("openai", "gpt-5.4-mini").model == "gpt-5.4-mini"


def test_unknown_models_get_conservative_defaults_and_one_warning_at_the_callers_line() -> None:
    table = DEFAULT_TABLE.copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = table.lookup("anthropic", "claude-future-7")
        table.lookup("anthropic", "claude-future-7")
    assert [w.category for w in caught] == [UnknownModelWarning]
    assert caught[0].filename == __file__
    assert info.known is False
    assert info.min_cache_tokens == 4096  # the largest minimum of any Claude model
    assert info.ttls == ("5m",)
    assert info.pricing is None


@pytest.mark.parametrize(
    ("model", "takes_markers"),
    [
        ("meta.llama3-1-70b-instruct-v1:0", False),
        ("us.deepseek.r1-v1:0", False),
        ("mistral.mistral-large-2407-v1:0", False),
        ("cohere.command-r-plus-v1:0", False),
        ("openai.gpt-oss-120b-1:0", False),
        ("anthropic.claude-3-haiku-20240307-v1:0", False),  # Claude 3 (not 3.5+): no prompt caching
        ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3", False),  # opaque
        ("anthropic.claude-opus-9-20290101-v1:0", True),  # a future Claude: conservative defaults
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", True),
        ("amazon.nova-ultra-v9:0", True),
    ],
)
def test_unknown_bedrock_models_take_markers_only_in_the_families_that_cache(model: str, takes_markers: bool) -> None:
    # Bedrock rejects a request with a cache point on a model without prompt caching: such a model gets none.
    with pytest.warns(UnknownModelWarning):
        info = DEFAULT_TABLE.copy().lookup("bedrock", model)
    assert (info.explicit, info.max_breakpoints > 0) == (takes_markers, takes_markers)
    assert info.automatic is False


def test_register_model_overrides_at_run_time() -> None:
    table = DEFAULT_TABLE.copy()
    table.register(ModelInfo("anthropic", "claude-sonnet-4-5", min_cache_tokens=2048, ttls=("5m", "1h")))
    assert table.lookup("anthropic", "claude-sonnet-4-5-20250929").min_cache_tokens == 2048
    assert DEFAULT_TABLE.lookup("anthropic", "claude-sonnet-4-5").min_cache_tokens == 1024  # copy is independent
    register_model(
        ModelInfo("openai", "my-ft-model", min_cache_tokens=1024, max_breakpoints=0, explicit=False), table=table
    )
    assert model_info("openai", "my-ft-model", table=table).known


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("aws.bedrock", "bedrock"),
        ("amazon_bedrock", "bedrock"),
        ("Anthropic", "anthropic"),
        ("azure.ai.openai", "openai"),
        ("gcp.vertex_ai", "vertex_ai"),
        ("google_vertexai", "vertex_ai"),
        ("google_anthropic_vertex", "vertex_ai"),
    ],
)
def test_provider_aliases(alias: str, canonical: str) -> None:
    assert normalize_provider(alias) == canonical


def test_vertex_ai_serves_claude_with_anthropic_rules_and_gemini_with_gemini_rules() -> None:
    # Claude on Vertex is named "claude-sonnet-4-5@20250929"; it caches and costs like the Claude API model.
    claude = model_info("gcp.vertex_ai", "claude-sonnet-4-5@20250929")
    assert claude.known
    assert (claude.min_cache_tokens, claude.ttls) == (1024, ("5m", "1h"))
    assert claude.pricing is not None
    assert claude.pricing.cache_read == 0.3
    gemini = model_info("google_vertexai", "gemini-2.5-pro")
    assert gemini.known
    assert gemini.automatic
    assert not gemini.explicit


def test_the_table_is_dated() -> None:
    assert AS_OF.year >= 2026
    assert DEFAULT_TABLE.as_of == AS_OF


def test_anthropic_prices_follow_the_published_multipliers() -> None:
    # Claude Sonnet 4.5: $3 input, $3.75 5m write (1.25x), $6 1h write (2x), $0.30 read (0.1x), $15 output.
    pricing = model_info("anthropic", "claude-sonnet-4-5").pricing
    assert pricing == Pricing(input=3.0, output=15.0, cache_read=0.3, cache_write={"5m": 3.75, "1h": 6.0})
    # Claude Opus 4.1: $15 / $18.75 / $30 / $1.50 / $75 (Anthropic pricing table).
    opus = model_info("anthropic", "claude-opus-4-1").pricing
    assert (opus.input, opus.cache_write["5m"], opus.cache_write["1h"], opus.cache_read, opus.output) == (
        15.0,
        18.75,
        30.0,
        1.5,
        75.0,
    )


@pytest.mark.parametrize(
    ("provider", "model", "minimum"),
    [
        ("anthropic", "claude-sonnet-4-5", 1024),
        ("anthropic", "claude-haiku-4-5", 4096),
        ("anthropic", "claude-opus-4-5", 4096),
        ("anthropic", "claude-3-5-haiku", 2048),
        ("anthropic", "claude-opus-5", 512),
        ("bedrock", "anthropic.claude-opus-4-7", 4096),  # Bedrock's own table: 4096 where the Claude API says 2048
        ("bedrock", "anthropic.claude-sonnet-4-5", 1024),
        ("bedrock", "amazon.nova-lite", 1024),
        ("openai", "gpt-4o", 1024),
    ],
)
def test_minimums(provider: str, model: str, minimum: int) -> None:
    assert model_info(provider, model).min_cache_tokens == minimum


def test_gpt_5_6_sizes_have_their_preview_prices() -> None:
    # OpenAI's GPT-5.6 preview: Sol $5 / $30, Terra $2.50 / $15, Luna $1 / $6 per 1M; writes 1.25x, reads 0.1x.
    sol = model_info("openai", "gpt-5.6-sol").pricing
    assert (sol.input, sol.output, sol.cache_read, sol.cache_write["30m"]) == (5.0, 30.0, 0.5, 6.25)
    luna = model_info("openai", "gpt-5.6-luna-2026-09-01").pricing
    assert (luna.input, luna.output, luna.cache_read, luna.cache_write["12h"]) == (1.0, 6.0, 0.1, 1.25)


def test_rules_per_family() -> None:
    assert model_info("bedrock", "anthropic.claude-3-7-sonnet").ttls == ("5m",)  # no 1h on Bedrock 3.7
    assert model_info("bedrock", "amazon.nova-pro").cacheable == ("system", "messages")
    gpt56 = model_info("openai", "gpt-5.6")
    assert (gpt56.explicit, gpt56.max_breakpoints, gpt56.ttls) == (True, 4, ("30m", "12h"))
    gpt4o = model_info("openai", "gpt-4o")
    assert (gpt4o.explicit, gpt4o.max_breakpoints, gpt4o.increment, gpt4o.pricing.cache_write) == (False, 0, 128, {})


def test_bad_table_data_is_rejected() -> None:
    with pytest.raises(ValueError, match="min_cache_tokens"):
        ModelInfo("x", "y", min_cache_tokens=-1)
    with pytest.raises(ValueError, match=r"no price for TTL '1h'"):
        ModelInfo("x", "y", min_cache_tokens=1, ttls=("5m", "1h"), pricing=Pricing(1, 1, 0.1, {"5m": 1.25}))
    with pytest.raises(ValueError, match=r"Pricing\.input"):
        Pricing(-1, 1, 0.1)


def test_every_entry_is_consistent() -> None:
    table = ProviderTable(DEFAULT_TABLE.entries())
    for info in table.entries():
        assert info.min_cache_tokens > 0
        if info.explicit:
            assert info.max_breakpoints >= 1
        if info.pricing is not None and info.provider == "anthropic":
            assert info.pricing.cache_read < info.pricing.input < info.pricing.cache_write["5m"]
