"""Property tests: every normalizer recovers the numbers a provider payload was generated from, the
accounting invariants hold, addition is associative and commutative with unknowns, ledgers merge exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachepoint.core.usage import CacheUsage, UsageLedger, normalize_stream, normalize_usage

counts = st.integers(min_value=0, max_value=2_000_000)


@dataclass(frozen=True)
class Call:
    """The truth a provider payload is generated from."""

    uncached: int
    read: int
    write_short: int  # 5m (Anthropic, Bedrock) / 30m (OpenAI Responses)
    write_long: int  # 1h / 12h
    output: int
    reasoning: int

    @property
    def write(self) -> int:
        return self.write_short + self.write_long

    @property
    def total(self) -> int:
        return self.uncached + self.read + self.write


@st.composite
def calls(draw: st.DrawFn) -> Call:
    output = draw(counts)
    return Call(
        uncached=draw(counts),
        read=draw(counts),
        write_short=draw(counts),
        write_long=draw(counts),
        output=output,
        reasoning=draw(st.integers(min_value=0, max_value=output)),
    )


def anthropic_message(c: Call) -> dict[str, Any]:
    return {
        "id": "msg_prop",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-5-20251101",
        "content": [{"type": "text", "text": "x"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": c.uncached,
            "cache_read_input_tokens": c.read,
            "cache_creation_input_tokens": c.write,
            "cache_creation": {"ephemeral_5m_input_tokens": c.write_short, "ephemeral_1h_input_tokens": c.write_long},
            "output_tokens": c.output,
            "output_tokens_details": {"thinking_tokens": c.reasoning},
        },
    }


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(calls())
def test_anthropic_sdk_message_recovers_the_numbers(c: Call) -> None:
    u = normalize_usage(anthropic.types.Message.model_validate(anthropic_message(c)))
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (c.total, c.read, c.write)
    assert u.uncached_input_tokens == c.uncached
    assert u.cache_write_by_ttl.get("5m", 0) == c.write_short
    assert u.cache_write_by_ttl.get("1h", 0) == c.write_long
    assert (u.output_tokens, u.reasoning_tokens) == (c.output, c.reasoning)


@SETTINGS
@given(calls(), st.integers(min_value=0, max_value=1000))
def test_anthropic_stream_recovers_the_numbers(c: Call, first_output: int) -> None:
    message = anthropic_message(c)
    start_usage = {**message["usage"], "output_tokens": min(first_output, c.output)}
    del start_usage["output_tokens_details"]
    start = {"type": "message_start", "message": {**message, "content": [], "usage": start_usage}}
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {
            "input_tokens": c.uncached,
            "cache_read_input_tokens": c.read,
            "cache_creation_input_tokens": c.write,
            "output_tokens": c.output,
        },
    }
    u = normalize_stream([start, {"type": "ping"}, delta, {"type": "message_stop"}])
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens, u.output_tokens) == (
        c.total,
        c.read,
        c.write,
        c.output,
    )
    assert u.cache_write_by_ttl.get("1h", 0) == c.write_long


@SETTINGS
@given(calls())
def test_bedrock_converse_recovers_the_numbers(c: Call) -> None:
    details = [{"ttl": ttl, "inputTokens": n} for ttl, n in (("1h", c.write_long), ("5m", c.write_short)) if n]
    body = {
        "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": c.uncached,
            "outputTokens": c.output,
            "totalTokens": c.total + c.output,
            "cacheReadInputTokens": c.read,
            "cacheWriteInputTokens": c.write,
            "cacheDetails": details,
        },
    }
    u = normalize_usage(body, model="anthropic.claude-opus-4-5")
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (c.total, c.read, c.write)
    assert u.uncached_input_tokens == c.uncached
    assert (u.cache_write_by_ttl.get("5m", 0), u.cache_write_by_ttl.get("1h", 0)) == (c.write_short, c.write_long)
    assert u.total_tokens == body["usage"]["totalTokens"]


@SETTINGS
@given(calls())
def test_openai_chat_recovers_the_numbers(c: Call) -> None:
    body = {
        "id": "chatcmpl-prop",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-5.6",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": c.total,
            "completion_tokens": c.output,
            "total_tokens": c.total + c.output,
            "prompt_tokens_details": {"cached_tokens": c.read, "cache_write_tokens": c.write},
            "completion_tokens_details": {"reasoning_tokens": c.reasoning},
        },
    }
    u = normalize_usage(openai.types.chat.ChatCompletion.model_validate(body))
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (c.total, c.read, c.write)
    assert u.uncached_input_tokens == c.uncached
    assert (u.output_tokens, u.reasoning_tokens) == (c.output, c.reasoning)


@SETTINGS
@given(calls())
def test_openai_responses_recovers_the_numbers(c: Call) -> None:
    usage = {
        "input_tokens": c.total,
        "input_tokens_details": {
            "cached_tokens": c.read,
            "cache_write_tokens": c.write,
            "cache_write_tokens_details": {"ttl_30m_tokens": c.write_short, "ttl_12h_tokens": c.write_long},
        },
        "output_tokens": c.output,
        "output_tokens_details": {"reasoning_tokens": c.reasoning},
        "total_tokens": c.total + c.output,
    }
    u = normalize_usage(openai.types.responses.ResponseUsage.model_validate(usage), provider="openai")
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (c.total, c.read, c.write)
    assert (u.cache_write_by_ttl.get("30m", 0), u.cache_write_by_ttl.get("12h", 0)) == (c.write_short, c.write_long)
    assert u.reasoning_tokens == c.reasoning


@SETTINGS
@given(calls())
def test_gemini_recovers_the_numbers(c: Call) -> None:
    # Gemini has no writes; protobuf JSON leaves zero counters out (a real prompt always has tokens, so
    # promptTokenCount is always there; an empty usage object is refused rather than read as zeros).
    candidates = c.output - c.reasoning
    meta = {
        "promptTokenCount": c.uncached + c.read,
        "cachedContentTokenCount": c.read,
        "candidatesTokenCount": candidates,
        "thoughtsTokenCount": c.reasoning,
        "totalTokenCount": c.uncached + c.read + c.output,
    }
    kept = {k: v for k, v in meta.items() if v or k == "promptTokenCount"}
    body = {"usageMetadata": kept, "modelVersion": "gemini-2.5-pro"}
    u = normalize_usage(body)
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (c.uncached + c.read, c.read, None)
    assert (u.output_tokens, u.reasoning_tokens) == (c.output, c.reasoning)
    assert u.total_tokens == meta["totalTokenCount"]


@SETTINGS
@given(calls(), st.booleans())
def test_langchain_anthropic_convention_recovers_the_numbers(c: Call, streamed: bool) -> None:
    details: dict[str, int] = {"cache_read": c.read}
    if streamed or c.write == 0:  # message_delta has no split: everything in cache_creation
        details["cache_creation"] = c.write
    else:  # LangChain copies the split and zeroes cache_creation
        details.update(
            cache_creation=0, ephemeral_5m_input_tokens=c.write_short, ephemeral_1h_input_tokens=c.write_long
        )
    metadata = {
        "input_tokens": c.total,
        "output_tokens": c.output,
        "total_tokens": c.total + c.output,
        "input_token_details": details,
        "output_token_details": {"reasoning": c.reasoning},
    }
    message = {
        "type": "ai",
        "content": "x",
        "usage_metadata": metadata,
        "response_metadata": {"model_provider": "anthropic"},
    }
    u = normalize_usage(message)
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (c.total, c.read, c.write)
    assert u.uncached_input_tokens == c.uncached


@SETTINGS
@given(calls())
def test_crewai_recovers_the_numbers(c: Call) -> None:
    metrics = {
        "total_tokens": c.total + c.output,
        "prompt_tokens": c.total,
        "cached_prompt_tokens": c.read,
        "completion_tokens": c.output,
        "reasoning_tokens": c.reasoning,
        "cache_creation_tokens": c.write,
        "successful_requests": 1,
    }
    u = normalize_usage(metrics, provider="anthropic")
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens, u.uncached_input_tokens) == (
        c.total,
        c.read,
        c.write,
        c.uncached,
    )


# -- algebra -----------------------------------------------------------------------------------------------

maybe = st.none() | st.integers(min_value=0, max_value=10**9)


@st.composite
def usages(draw: st.DrawFn) -> CacheUsage:
    read, write, uncached = draw(maybe), draw(maybe), draw(maybe)
    known_total = draw(st.booleans())
    total = None
    if known_total:
        total = (read or 0) + (write or 0) + (uncached if uncached is not None else draw(counts))
    split: dict[str, int] = {}
    if write is not None:
        short = draw(st.integers(min_value=0, max_value=write))
        long_ = draw(st.integers(min_value=0, max_value=write - short))
        split = {"5m": short, "1h": long_}
    output = draw(maybe)
    reasoning = None if output is None else draw(st.none() | st.integers(min_value=0, max_value=output))
    return CacheUsage(
        provider=draw(st.sampled_from(["anthropic", "bedrock", None])),
        model=draw(st.sampled_from(["m1", "m2", None])),
        input_tokens=total,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_by_ttl=split,
        output_tokens=output,
        reasoning_tokens=reasoning,
    )


@settings(max_examples=300, deadline=None)
@given(usages(), usages(), usages())
def test_addition_is_associative(a: CacheUsage, b: CacheUsage, c: CacheUsage) -> None:
    assert (a + b) + c == a + (b + c)


@settings(max_examples=300, deadline=None)
@given(usages(), usages())
def test_addition_is_commutative_and_unknown_is_contagious(a: CacheUsage, b: CacheUsage) -> None:
    total = a + b
    assert total == b + a
    for name in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens"):
        x, y = getattr(a, name), getattr(b, name)
        assert getattr(total, name) == (None if x is None or y is None else x + y)


@settings(max_examples=300, deadline=None)
@given(usages())
def test_invariants_hold_for_any_valid_usage(u: CacheUsage) -> None:
    for name in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens"):
        value = getattr(u, name)
        assert value is None or value >= 0
    if u.uncached_input_tokens is not None:
        assert u.uncached_input_tokens >= 0
        assert u.input_tokens == u.uncached_input_tokens + u.cache_read_tokens + u.cache_write_tokens
    if u.cache_write_tokens is not None:
        assert 0 <= u.cache_write_unknown_ttl_tokens <= u.cache_write_tokens  # type: ignore[operator]
    assert CacheUsage.from_dict(u.to_dict()) == u


@pytest.mark.filterwarnings("ignore::cachepoint.core.providers.UnknownModelWarning")
@settings(max_examples=60, deadline=None)
@given(st.lists(usages(), max_size=30), st.integers(min_value=0, max_value=30))
def test_merged_ledgers_equal_one_ledger(items: list[CacheUsage], cut: int) -> None:
    labels = [{"node": f"n{i % 3}"} for i in range(len(items))]
    whole, left, right = UsageLedger(), UsageLedger(), UsageLedger()
    for i, (u, lab) in enumerate(zip(items, labels, strict=True)):
        whole.record(u, lab, duration_s=i * 0.1)
        (left if i < cut else right).record(u, lab, duration_s=i * 0.1)
    left.merge(right)
    a, b = whole.to_dict(), left.to_dict()
    assert [s["labels"] for s in a["series"]] == [s["labels"] for s in b["series"]]
    for sa, sb in zip(a["series"], b["series"], strict=True):
        ra, rb = sa["raw"], sb["raw"]
        for key in ra:
            if key in ("cost_usd", "without_cache_usd"):
                assert ra[key] == pytest.approx(rb[key])
            elif key == "latency":
                for name in ra[key]:
                    assert ra[key][name]["counts"] == rb[key][name]["counts"]
                    assert ra[key][name]["sum"] == pytest.approx(rb[key][name]["sum"])
            else:
                assert ra[key] == rb[key]
    known_inputs = [u.input_tokens for u in items if u.input_tokens is not None]
    stats = left.stats()
    assert stats.calls == len(items)
    assert stats.input_tokens == sum(known_inputs)
    assert stats.unreported.get("input_tokens", 0) == len(items) - len(known_inputs)
