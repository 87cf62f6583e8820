"""Scraping vLLM / SGLang /metrics from a real local HTTP server, and turning two scrapes into CacheUsage."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachepoint.core.engines.errors import (
    EngineConnectError,
    EngineResponseError,
    EngineStatusError,
    EngineTimeoutError,
)
from cachepoint.core.engines.metrics import (
    parse_engine_metrics,
    scrape_engine_metrics,
    scrape_engine_metrics_async,
)
from cachepoint.core.usage import CacheUsage

MODEL = "Qwen/Qwen3-8B"

# Two data-parallel engines of one vLLM server. Engine 0: 1000 prompt tokens, 400 of them cached (300 from the
# local prefix cache, 100 from LMCache). Engine 1: 3000 prompt tokens, 1500 cached (1200 local + 300 external).
ENGINE_0 = {
    "prompt_tokens": 1000,
    "generation_tokens": 50,
    "prompt_tokens_cached": 400,
    "local_compute": 600,
    "local_cache_hit": 300,
    "external_kv_transfer": 100,
    "prefix_cache_queries": 1000,
    "prefix_cache_hits": 300,
    "external_prefix_cache_queries": 700,
    "external_prefix_cache_hits": 100,
    "requests_stop": 3,
    "requests_length": 1,
    "kv_cache_usage_perc": 0.25,
}
ENGINE_1 = {
    "prompt_tokens": 3000,
    "generation_tokens": 150,
    "prompt_tokens_cached": 1500,
    "local_compute": 1500,
    "local_cache_hit": 1200,
    "external_kv_transfer": 300,
    "prefix_cache_queries": 3000,
    "prefix_cache_hits": 1200,
    "external_prefix_cache_queries": 1800,
    "external_prefix_cache_hits": 300,
    "requests_stop": 5,
    "kv_cache_usage_perc": 0.75,
}
CACHE_CONFIG = {"block_size": "16", "enable_prefix_caching": "True", "prefix_caching_hash_algo": "sha256"}

# Verbatim from SGLang's docs (docs/references/production_metrics.md): an older release without cached_tokens.
SGLANG_DOCUMENTED = """\
# HELP sglang:prompt_tokens_total Number of prefill tokens processed.
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="meta-llama/Llama-3.1-8B-Instruct"} 8.128902e+06
# HELP sglang:generation_tokens_total Number of generation tokens processed.
# TYPE sglang:generation_tokens_total counter
sglang:generation_tokens_total{model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.557572e+06
# HELP sglang:token_usage The token usage
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.28
# HELP sglang:cache_hit_rate The cache hit rate
# TYPE sglang:cache_hit_rate gauge
sglang:cache_hit_rate{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.007507552643049313
# HELP sglang:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE sglang:time_to_first_token_seconds histogram
sglang:time_to_first_token_seconds_sum{model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.3518979474117756e+06
sglang:time_to_first_token_seconds_bucket{le="0.001",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
sglang:time_to_first_token_seconds_bucket{le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.0
sglang:time_to_first_token_seconds_count{model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.0
"""


# -- parsing one scrape --------------------------------------------------------------------------------------


def test_vllm_figures_sum_data_parallel_engines(vllm_metrics: Callable[..., str]) -> None:
    text = vllm_metrics(MODEL, {0: ENGINE_0, 1: ENGINE_1}, cache_config=CACHE_CONFIG)
    snapshot = parse_engine_metrics(text)
    figures = snapshot.model()
    assert snapshot.engine == "vllm"
    assert figures.prompt_tokens == 4000
    assert figures.cached_prompt_tokens == 1900
    assert figures.cached_tokens_metric == "vllm:prompt_tokens_cached"
    assert dict(figures.cached_by_source) == {"local_cache_hit": 1500, "external_kv_transfer": 400}
    assert figures.cached_token_ratio == pytest.approx(1900 / 4000)
    assert figures.prefix_hit_rate == pytest.approx(1500 / 4000)
    assert figures.external_hit_rate == pytest.approx(400 / 2500)
    assert figures.hit_rate == figures.prefix_hit_rate
    assert figures.generation_tokens == 200
    assert figures.requests == 9
    assert figures.kv_cache_usage == pytest.approx(0.5)  # gauges are averaged over engines
    assert dict(snapshot.cache_config) == CACHE_CONFIG


def test_documented_sglang_example_parses_and_missing_cached_tokens_stay_unknown() -> None:
    figures = parse_engine_metrics(SGLANG_DOCUMENTED).model("meta-llama/Llama-3.1-8B-Instruct")
    assert figures.engine == "sglang"
    assert figures.prompt_tokens == 8_128_902
    assert figures.generation_tokens == 7_557_572
    assert figures.kv_cache_usage == pytest.approx(0.28)
    assert figures.prefix_hit_rate == pytest.approx(0.007507552643049313)
    # This release does not export sglang:cached_tokens_total: unknown, not zero.
    assert figures.cached_prompt_tokens is None
    assert figures.cached_token_ratio is None
    assert figures.requests is None


def test_sglang_cached_tokens_by_cache_source(sglang_metrics: Callable[..., str]) -> None:
    text = sglang_metrics(
        "qwen", prompt_tokens=10_000, cached_by_source={"device": 5000, "host": 2000, "storage": 500}, requests=12
    )
    figures = parse_engine_metrics(text).model()
    assert figures.cached_prompt_tokens == 7500
    assert dict(figures.cached_by_source) == {"device": 5000, "host": 2000, "storage": 500}
    assert figures.cached_token_ratio == pytest.approx(0.75)
    assert figures.requests == 12
    # No hit-rate gauge in this exposition, so the hit rate falls back to the cached-token ratio.
    assert figures.prefix_hit_rate is None
    assert figures.hit_rate == pytest.approx(0.75)


def test_counter_declared_without_total_suffix_is_still_read() -> None:
    # Some expositions (and SGLang's older docs) declare TYPE under the base name while the sample has _total.
    text = """\
# TYPE sglang:cached_tokens counter
sglang:cached_tokens_total{model_name="m"} 30.0
# TYPE sglang:prompt_tokens counter
sglang:prompt_tokens_total{model_name="m"} 120.0
"""
    figures = parse_engine_metrics(text).model()
    assert (figures.prompt_tokens, figures.cached_prompt_tokens) == (120, 30)


def test_deprecated_vllm_names_are_a_fallback_and_never_double_counted(vllm_metrics: Callable[..., str]) -> None:
    # vLLM 0.9 exported the gpu_ names alongside the new ones, with the same values.
    both = parse_engine_metrics(vllm_metrics(MODEL, {0: ENGINE_0}, deprecated=True)).model()
    assert (both.prefix_cache_queries, both.prefix_cache_hits) == (1000, 300)
    # An older exposition with only the deprecated names and no cached-token counters: the hits stand in.
    only_old = vllm_metrics(
        MODEL,
        {0: ENGINE_0},
        deprecated=True,
        omit=(
            "vllm:prefix_cache_queries",
            "vllm:prefix_cache_hits",
            "vllm:prompt_tokens_cached",
            "vllm:prompt_tokens_by_source",
            "vllm:external_prefix_cache_queries",
            "vllm:external_prefix_cache_hits",
        ),
    )
    figures = parse_engine_metrics(only_old).model()
    assert (figures.prefix_cache_queries, figures.prefix_cache_hits) == (1000, 300)
    assert figures.cached_prompt_tokens == 300
    assert figures.cached_tokens_metric == "vllm:gpu_prefix_cache_hits"


def test_by_source_is_used_when_the_cached_counter_is_missing(vllm_metrics: Callable[..., str]) -> None:
    figures = parse_engine_metrics(vllm_metrics(MODEL, {0: ENGINE_0}, omit=("vllm:prompt_tokens_cached",))).model()
    assert figures.cached_prompt_tokens == 400  # local_cache_hit 300 + external_kv_transfer 100
    assert figures.cached_tokens_metric == "vllm:prompt_tokens_by_source"


def test_vllm_without_any_cache_counter_reports_unknown_not_zero(vllm_metrics: Callable[..., str]) -> None:
    text = vllm_metrics(
        MODEL,
        {0: ENGINE_0},
        omit=(
            "vllm:prompt_tokens_cached",
            "vllm:prompt_tokens_by_source",
            "vllm:prefix_cache_queries",
            "vllm:prefix_cache_hits",
            "vllm:kv_cache_usage_perc",
        ),
    )
    figures = parse_engine_metrics(text).model()
    assert figures.prompt_tokens == 1000
    assert figures.cached_prompt_tokens is None
    assert figures.prefix_hit_rate is None
    assert figures.hit_rate is None
    assert figures.kv_cache_usage is None


def test_model_label_missing_uses_the_given_model() -> None:
    text = 'vllm:prompt_tokens_total{engine="0"} 5.0\n'
    assert list(parse_engine_metrics(text, model="served-alias").models) == ["served-alias"]
    assert list(parse_engine_metrics(text).models) == ["unknown"]


def test_several_models_must_be_named() -> None:
    text = 'vllm:prompt_tokens_total{model_name="a"} 5.0\nvllm:prompt_tokens_total{model_name="b"} 7.0\n'
    snapshot = parse_engine_metrics(text)
    assert snapshot.model("b").prompt_tokens == 7
    with pytest.raises(KeyError, match="2 models"):
        snapshot.model()
    with pytest.raises(KeyError, match="no metrics for model 'c'; the engine serves: a, b"):
        snapshot.model("c")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# HELP node_load1 x\n# TYPE node_load1 gauge\nnode_load1 0.5\n", "no vLLM or SGLang cache metrics"),
        ("<html><body>Not the metrics</body></html>", "not Prometheus text exposition format"),
        (
            'vllm:prompt_tokens_total{model_name="m"} 1\nsglang:prompt_tokens_total{model_name="m"} 1\n',
            "found both vllm:\\* and sglang:\\* metrics \\(model 'm' appears under both\\)",
        ),
    ],
)
def test_text_that_is_not_engine_metrics_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_engine_metrics(text)


# -- the difference of two scrapes -----------------------------------------------------------------------------


def _grown(values: dict[str, float], factor: int) -> dict[str, float]:
    return {k: (v if k == "kv_cache_usage_perc" else v * factor) for k, v in values.items()}


def test_difference_of_two_scrapes_becomes_cache_usage(http_server, vllm_metrics: Callable[..., str]) -> None:
    # Same engine process (same creation time); every counter triples between the scrapes.
    before = vllm_metrics(MODEL, {0: ENGINE_0, 1: ENGINE_1}, created=1_700_000_000.0)
    after = vllm_metrics(MODEL, {0: _grown(ENGINE_0, 3), 1: _grown(ENGINE_1, 3)}, created=1_700_000_000.0)
    http_server.text("/metrics", before, after)
    first = scrape_engine_metrics(http_server.url)
    second = scrape_engine_metrics(http_server.url)
    window = second.since(first)
    delta = window.models[MODEL]
    assert not window.reset
    # Twice the first scrape's totals happened in between: 2 x 4000 prompt, 2 x 1900 cached, 2 x 200 generated.
    assert (delta.prompt_tokens, delta.cached_prompt_tokens, delta.generation_tokens) == (8000, 3800, 400)
    assert (delta.prefix_cache_queries, delta.prefix_cache_hits) == (8000, 3000)
    assert (delta.external_prefix_cache_queries, delta.external_prefix_cache_hits) == (5000, 800)
    assert dict(delta.cached_by_source) == {"local_cache_hit": 3000, "external_kv_transfer": 800}
    assert delta.requests == 18
    assert delta.cached_token_ratio == pytest.approx(3800 / 8000)
    assert delta.prefix_hit_rate == pytest.approx(3000 / 8000)
    assert delta.seconds >= 0
    [usage] = window.to_cache_usage()
    assert usage == CacheUsage(
        provider="vllm",
        model=MODEL,
        input_tokens=8000,
        cache_read_tokens=3800,
        cache_write_tokens=None,
        output_tokens=400,
    )
    assert usage.cache_read_ratio == pytest.approx(0.475)
    assert delta.to_cache_usage(model="qwen3-8b").model == "qwen3-8b"


def test_counter_reset_counts_from_zero(http_server, sglang_metrics: Callable[..., str]) -> None:
    before = sglang_metrics("qwen", prompt_tokens=10_000, cached_by_source={"device": 6000}, created=1000.0)
    # The engine restarted: a new process whose counters are below the old ones.
    after = sglang_metrics("qwen", prompt_tokens=700, cached_by_source={"device": 200}, created=2000.0)
    http_server.text("/metrics", before, after)
    first = scrape_engine_metrics(http_server.url)
    second = scrape_engine_metrics(http_server.url)
    window = second.since(first)
    delta = window.models["qwen"]
    assert window.reset
    assert delta.reset
    assert (delta.prompt_tokens, delta.cached_prompt_tokens) == (700, 200)


def test_restart_detected_from_creation_time_even_when_counters_grew_past(sglang_metrics: Callable[..., str]) -> None:
    first = parse_engine_metrics(sglang_metrics("qwen", prompt_tokens=100, created=1000.0))
    second = parse_engine_metrics(sglang_metrics("qwen", prompt_tokens=500, created=5000.0))
    delta = second.since(first).models["qwen"]
    assert delta.reset
    assert delta.prompt_tokens == 500  # everything since the restart, not 500 - 100


def test_series_new_in_the_window_count_from_zero(sglang_metrics: Callable[..., str]) -> None:
    first = parse_engine_metrics(
        sglang_metrics("qwen", prompt_tokens=1000, cached_by_source={"device": 100}, created=1.0)
    )
    second = parse_engine_metrics(
        sglang_metrics("qwen", prompt_tokens=1500, cached_by_source={"device": 150, "host": 40}, created=1.0)
    )
    delta = second.since(first).models["qwen"]
    assert not delta.reset
    assert dict(delta.cached_by_source) == {"device": 50, "host": 40}
    assert delta.cached_prompt_tokens == 90


def test_metric_missing_from_the_later_scrape_is_unknown(vllm_metrics: Callable[..., str]) -> None:
    first = parse_engine_metrics(vllm_metrics(MODEL, {0: ENGINE_0}, created=1.0))
    missing = (
        "vllm:prompt_tokens_cached",
        "vllm:prompt_tokens_by_source",
        "vllm:prefix_cache_queries",
        "vllm:prefix_cache_hits",
        "vllm:generation_tokens",
    )
    second = parse_engine_metrics(vllm_metrics(MODEL, {0: _grown(ENGINE_0, 2)}, omit=missing, created=1.0))
    delta = second.since(first).models[MODEL]
    assert delta.prompt_tokens == 1000
    assert delta.cached_prompt_tokens is None
    assert delta.generation_tokens is None
    usage = delta.to_cache_usage()
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (1000, None, None)
    assert usage.cache_hit is None


def test_cached_never_exceeds_prompt_in_the_usage_record() -> None:
    # A scrape can land between the engine's two counter updates: more cached than prompt tokens in the window.
    first = parse_engine_metrics(
        'sglang:prompt_tokens_total{model_name="m"} 100\nsglang:cached_tokens_total{model_name="m"} 0\n'
    )
    second = parse_engine_metrics(
        'sglang:prompt_tokens_total{model_name="m"} 200\nsglang:cached_tokens_total{model_name="m"} 120\n'
    )
    delta = second.since(first).models["m"]
    assert (delta.prompt_tokens, delta.cached_prompt_tokens) == (100, 120)
    assert delta.to_cache_usage().cache_read_tokens == 100


def test_snapshots_of_different_engines_cannot_be_compared(vllm_metrics, sglang_metrics) -> None:
    with pytest.raises(ValueError, match="earlier: a sglang snapshot cannot be compared with a vllm one"):
        parse_engine_metrics(vllm_metrics()).since(parse_engine_metrics(sglang_metrics()))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**9), st.integers(0, 10**9)),
        min_size=1,
        max_size=4,
    )
)
def test_increase_matches_prometheus_semantics(pairs: list[tuple[int, int]]) -> None:
    # One series per data-parallel engine; a series that went down was reset and counts from zero.
    before = "".join(f'vllm:prompt_tokens_total{{model_name="m",engine="{i}"}} {a}\n' for i, (a, _) in enumerate(pairs))
    after = "".join(f'vllm:prompt_tokens_total{{model_name="m",engine="{i}"}} {b}\n' for i, (_, b) in enumerate(pairs))
    delta = parse_engine_metrics(after).since(parse_engine_metrics(before)).models["m"]
    assert delta.prompt_tokens == sum(b - a if b >= a else b for a, b in pairs)
    assert delta.reset == any(b < a for a, b in pairs)


# -- the HTTP side -------------------------------------------------------------------------------------------------


def test_bare_base_url_scrapes_metrics_path_and_asks_for_text_format(http_server, sglang_metrics) -> None:
    http_server.text("/metrics", sglang_metrics("qwen", prompt_tokens=10))
    snapshot = scrape_engine_metrics(http_server.url + "/")
    assert snapshot.url == f"{http_server.url}/metrics"
    [request] = http_server.received
    assert request.path == "/metrics"
    assert request.headers["Accept"].startswith("text/plain;version=0.0.4")


def test_explicit_path_is_kept(http_server, sglang_metrics) -> None:
    http_server.text("/engine/metrics", sglang_metrics("qwen", prompt_tokens=10))
    assert scrape_engine_metrics(http_server.url + "/engine/metrics").model().prompt_tokens == 10


def test_openmetrics_body_is_parsed_with_the_openmetrics_parser(http_server) -> None:
    # OpenMetrics 1.0 as a proxy in front of the engine may serve it: TYPE before HELP, _created samples, # EOF.
    body = """\
# TYPE vllm:prompt_tokens counter
# HELP vllm:prompt_tokens Number of prefill tokens processed.
vllm:prompt_tokens_total{engine="0",model_name="Qwen/Qwen3-8B"} 1000.0
vllm:prompt_tokens_created{engine="0",model_name="Qwen/Qwen3-8B"} 1.7e+09
# TYPE vllm:prompt_tokens_cached counter
# HELP vllm:prompt_tokens_cached Number of cached prompt tokens (local + external).
vllm:prompt_tokens_cached_total{engine="0",model_name="Qwen/Qwen3-8B"} 400.0
vllm:prompt_tokens_cached_created{engine="0",model_name="Qwen/Qwen3-8B"} 1.7e+09
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="Qwen/Qwen3-8B"} 0.5
# EOF
"""
    http_server.text("/metrics", body, content_type="application/openmetrics-text; version=1.0.0; charset=utf-8")
    figures = scrape_engine_metrics(http_server.url).model()
    assert (figures.prompt_tokens, figures.cached_prompt_tokens, figures.kv_cache_usage) == (1000, 400, 0.5)


def test_names_escaped_with_underscores_are_recognised() -> None:
    # Some exporters and federation setups rewrite the colon in metric names to an underscore.
    text = 'vllm_prompt_tokens_total{model_name="m"} 10\nvllm_prompt_tokens_cached_total{model_name="m"} 4\n'
    figures = parse_engine_metrics(text).model()
    assert (figures.prompt_tokens, figures.cached_prompt_tokens) == (10, 4)


def test_non_2xx_carries_the_status(http_server) -> None:
    with pytest.raises(EngineStatusError) as info:
        scrape_engine_metrics(http_server.url)  # no route: 404 {"detail": "Not Found"}
    assert info.value.status_code == 404
    assert info.value.detail == "Not Found"
    assert info.value.url == f"{http_server.url}/metrics"


def test_html_instead_of_metrics_is_a_response_error(http_server) -> None:
    http_server.text("/metrics", "<html><body>Grafana</body></html>", content_type="text/html")
    with pytest.raises(EngineResponseError, match="not Prometheus text exposition format"):
        scrape_engine_metrics(http_server.url)


def test_node_exporter_metrics_are_not_engine_metrics(http_server) -> None:
    http_server.text("/metrics", "# TYPE node_load1 gauge\nnode_load1 0.5\n")
    with pytest.raises(EngineResponseError, match="--enable-metrics"):
        scrape_engine_metrics(http_server.url)


def test_closed_port_is_a_connect_error(closed_port_url: str) -> None:
    with pytest.raises(EngineConnectError, match="cannot connect"):
        scrape_engine_metrics(closed_port_url, timeout=5)


def test_hung_engine_times_out(silent_server: str) -> None:
    with pytest.raises(EngineTimeoutError, match=r"no answer within 0\.3s"):
        scrape_engine_metrics(silent_server, timeout=0.3)


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://127.0.0.1/metrics", "", "http://"])
def test_bad_url_is_refused_before_any_request(url: str) -> None:
    with pytest.raises(ValueError, match="url: "):
        scrape_engine_metrics(url)


def test_bad_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout: expected a positive number of seconds, got 0"):
        scrape_engine_metrics("http://127.0.0.1:8000", timeout=0)


def test_a_given_client_is_used_and_left_open(http_server, sglang_metrics) -> None:
    http_server.text("/metrics", sglang_metrics("qwen", prompt_tokens=3))
    with httpx.Client() as client:
        scrape_engine_metrics(http_server.url, client=client)
        assert not client.is_closed
        assert scrape_engine_metrics(http_server.url, client=client).model().prompt_tokens == 3


async def test_async_scrape_and_difference(http_server, sglang_metrics) -> None:
    http_server.text(
        "/metrics",
        sglang_metrics("qwen", prompt_tokens=1000, cached_by_source={"device": 300}, generation_tokens=10, created=7.0),
        sglang_metrics(
            "qwen", prompt_tokens=4000, cached_by_source={"device": 2100}, generation_tokens=70, created=7.0
        ),
    )
    first = await scrape_engine_metrics_async(http_server.url)
    second = await scrape_engine_metrics_async(http_server.url)
    [usage] = second.since(first).to_cache_usage()
    assert usage == CacheUsage(
        provider="sglang", model="qwen", input_tokens=3000, cache_read_tokens=1800, output_tokens=60
    )


async def test_async_errors_match_sync(closed_port_url: str, silent_server: str, http_server) -> None:
    with pytest.raises(EngineConnectError):
        await scrape_engine_metrics_async(closed_port_url)
    with pytest.raises(EngineTimeoutError):
        await scrape_engine_metrics_async(silent_server, timeout=0.3)
    with pytest.raises(EngineStatusError):
        await scrape_engine_metrics_async(http_server.url)


def test_engine_windows_land_in_the_usage_ledger(sglang_metrics: Callable[..., str]) -> None:
    from cachepoint.core.providers import Pricing
    from cachepoint.core.usage.ledger import UsageLedger

    scrapes = [
        sglang_metrics("qwen", prompt_tokens=0, cached_by_source={"device": 0}, generation_tokens=0, created=3.0),
        sglang_metrics("qwen", prompt_tokens=1000, cached_by_source={"device": 600}, generation_tokens=50, created=3.0),
        sglang_metrics(
            "qwen", prompt_tokens=4000, cached_by_source={"device": 3000}, generation_tokens=90, created=3.0
        ),
    ]
    snapshots = [parse_engine_metrics(text) for text in scrapes]
    # Self-hosted tokens have no list price; an explicit price (here: free) keeps the ledger from guessing.
    ledger = UsageLedger(pricing=Pricing(input=0.0, output=0.0, cache_read=0.0))
    for earlier, later in itertools.pairwise(snapshots):
        for usage in later.since(earlier).to_cache_usage():
            ledger.record(usage, {"source": "engine-metrics"})
    stats = ledger.stats(source="engine-metrics", provider="sglang", model="qwen")
    # Windows: (1000 prompt, 600 cached, 50 out) and (3000 prompt, 2400 cached, 40 out).
    assert (stats.input_tokens, stats.cache_read_tokens, stats.output_tokens) == (4000, 3000, 90)
    assert stats.cached_token_ratio == pytest.approx(0.75)
