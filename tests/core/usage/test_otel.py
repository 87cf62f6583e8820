"""OpenTelemetry export, with the real OpenTelemetry SDK: span attributes through the in-memory span exporter,
metrics through the in-memory metric reader."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext

from cachepoint.core.usage import CacheUsage, OtelUsageRecorder, otel_provider_name
from cachepoint.core.usage.semconv import (
    GEN_AI_PROVIDER_NAME,
    GEN_AI_SYSTEM,
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
)

BEDROCK_CALL = CacheUsage(
    provider="bedrock",
    model="us.anthropic.claude-opus-4-5-20251101-v1:0",
    input_tokens=3158,
    cache_read_tokens=0,
    cache_write_tokens=3151,
    cache_write_by_ttl={"1h": 3000, "5m": 151},
    output_tokens=143,
)


def test_semconv_strings_are_the_published_ones() -> None:
    # The exact strings of opentelemetry-semantic-conventions' gen_ai attributes (and the GenAI repo's rename).
    assert GEN_AI_USAGE_INPUT_TOKENS == "gen_ai.usage.input_tokens"
    assert GEN_AI_USAGE_OUTPUT_TOKENS == "gen_ai.usage.output_tokens"
    assert GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS == "gen_ai.usage.cache_read.input_tokens"
    assert GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS == "gen_ai.usage.cache_creation.input_tokens"
    assert GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS == "gen_ai.usage.cache_write.input_tokens"
    assert GEN_AI_USAGE_REASONING_OUTPUT_TOKENS == "gen_ai.usage.reasoning.output_tokens"
    assert GEN_AI_PROVIDER_NAME == "gen_ai.provider.name"
    assert [otel_provider_name(p) for p in ("anthropic", "bedrock", "openai", "gemini")] == [
        "anthropic",
        "aws.bedrock",
        "openai",
        "gcp.gemini",
    ]


def test_attributes_include_cache_in_input_tokens() -> None:
    attrs = BEDROCK_CALL.to_otel_attributes()
    assert attrs == {
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": "us.anthropic.claude-opus-4-5-20251101-v1:0",
        "gen_ai.usage.input_tokens": 3158,  # Bedrock's inputTokens was 7: the convention wants the whole prompt
        "gen_ai.usage.output_tokens": 143,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cache_creation.input_tokens": 3151,
        "cachepoint.usage.cache_write.1h.input_tokens": 3000,
        "cachepoint.usage.cache_write.5m.input_tokens": 151,
    }


def test_attribute_options() -> None:
    attrs = BEDROCK_CALL.to_otel_attributes(cache_write_attribute=True, legacy_system=True, ttl_split=False)
    assert attrs[GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 3151
    assert attrs[GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 3151
    assert attrs[GEN_AI_SYSTEM] == "aws.bedrock"
    assert not any(key.startswith("cachepoint.") for key in attrs)


def test_unknown_counts_are_left_out_not_zero() -> None:
    attrs = CacheUsage(provider="vllm", model="q", input_tokens=900, output_tokens=20).to_otel_attributes()
    assert GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS not in attrs
    assert GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS not in attrs
    assert GEN_AI_USAGE_REASONING_OUTPUT_TOKENS not in attrs
    assert attrs[GEN_AI_USAGE_INPUT_TOKENS] == 900


@pytest.fixture
def otel() -> Iterator[tuple[TracerProvider, InMemorySpanExporter, InMemoryMetricReader, MeterProvider]]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield tracer_provider, exporter, reader, meter_provider
    meter_provider.shutdown()
    tracer_provider.shutdown()


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def test_recorder_sets_span_attributes_and_feeds_metrics(otel: Any) -> None:
    tracer_provider, exporter, reader, meter_provider = otel
    recorder = OtelUsageRecorder(meter_provider=meter_provider)
    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("chat claude"):
        recorded = recorder.record(BEDROCK_CALL, duration_s=2.154, attributes={"app.node": "plan"})
    assert recorded == BEDROCK_CALL
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["gen_ai.usage.input_tokens"] == 3158
    assert span.attributes["gen_ai.usage.cache_creation.input_tokens"] == 3151
    assert span.attributes["gen_ai.provider.name"] == "aws.bedrock"
    # Opus 4.5: 7*5 + 151*6.25 + 3000*10 + 143*25 = 35 + 943.75 + 30000 + 3575 = 34553.75 per million
    assert span.attributes["cachepoint.usage.cost_usd"] == pytest.approx(0.03455375)
    # without cache: 3158*5 + 143*25 = 19365 -> savings = -0.01518875 (the write has not paid off yet)
    assert span.attributes["cachepoint.usage.savings_usd"] == pytest.approx(-0.01518875)

    points = _points(reader)
    token_usage = {p.attributes["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]}
    assert token_usage["input"].sum == 3158
    assert token_usage["input"].count == 1
    assert token_usage["output"].sum == 143
    assert token_usage["input"].attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert token_usage["input"].attributes["gen_ai.request.model"] == BEDROCK_CALL.model
    assert token_usage["input"].attributes["app.node"] == "plan"
    (calls,) = points["cachepoint.llm.calls"]
    assert calls.value == 1
    assert calls.attributes["cachepoint.cache.outcome"] == "miss"
    tokens = {
        (p.attributes["cachepoint.token.type"], p.attributes.get("cachepoint.cache.ttl")): p.value
        for p in points["cachepoint.llm.tokens"]
    }
    assert tokens == {
        ("input", None): 3158,
        ("uncached_input", None): 7,
        ("cache_write", "1h"): 3000,
        ("cache_write", "5m"): 151,
        ("output", None): 143,
    }
    (duration,) = points["gen_ai.client.operation.duration"]
    assert duration.sum == pytest.approx(2.154)
    assert duration.attributes["cachepoint.cache.outcome"] == "miss"
    (savings,) = points["cachepoint.llm.savings"]
    assert savings.value == pytest.approx(-0.01518875)


def test_recorder_normalizes_raw_payloads_and_splits_ttft_by_outcome(otel: Any) -> None:
    _, _, reader, meter_provider = otel
    recorder = OtelUsageRecorder(meter_provider=meter_provider, operation_name="chat")
    hit = {"model": "gpt-4o", "usage": {"prompt_tokens": 2006, "completion_tokens": 300,
                                        "prompt_tokens_details": {"cached_tokens": 1920}}}  # fmt: skip
    miss = {"model": "gpt-4o", "usage": {"prompt_tokens": 2006, "completion_tokens": 300,
                                         "prompt_tokens_details": {"cached_tokens": 0}}}  # fmt: skip
    recorder.record(hit, ttft_s=0.2)
    recorder.record(miss, ttft_s=0.9)
    ttft = {p.attributes["cachepoint.cache.outcome"]: p for p in _points(reader)["cachepoint.llm.time_to_first_token"]}
    assert ttft["hit"].sum == pytest.approx(0.2)
    assert ttft["miss"].sum == pytest.approx(0.9)
    assert ttft["hit"].attributes["gen_ai.operation.name"] == "chat"


def test_no_span_no_problem(otel: Any) -> None:
    _, _, reader, meter_provider = otel
    recorder = OtelUsageRecorder(meter_provider=meter_provider)
    assert recorder.record(BEDROCK_CALL) == BEDROCK_CALL  # no current span: metrics only
    assert "cachepoint.llm.calls" in _points(reader)


class ExplodingSpan(NonRecordingSpan):
    """A span implementation that fails when written to (a real fault, e.g. a broken exporter hook)."""

    def is_recording(self) -> bool:
        return True

    def set_attributes(self, attributes: Any) -> None:
        raise RuntimeError("span backend exploded")


def test_telemetry_failure_is_a_log_line_not_an_exception(otel: Any, caplog: pytest.LogCaptureFixture) -> None:
    _, _, _, meter_provider = otel
    recorder = OtelUsageRecorder(meter_provider=meter_provider)
    with caplog.at_level(logging.WARNING, logger="cachepoint.core.usage.otel"):
        assert recorder.record(BEDROCK_CALL, span=ExplodingSpan(SpanContext(0, 0, False))) is None
        assert recorder.record({"nothing": "here"}) is None  # unreadable payload
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("cachepoint: could not record LLM usage telemetry") == 2
    assert "span backend exploded" in caplog.text
    assert "no token usage found" in caplog.text


def test_missing_opentelemetry_is_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"cachepoint-core\[otel\]"):
        OtelUsageRecorder()


def test_global_meter_provider_is_the_default() -> None:
    # With only the API's default (no-op) providers, recording works and does nothing.
    recorder = OtelUsageRecorder()
    assert recorder.record(BEDROCK_CALL) == BEDROCK_CALL
