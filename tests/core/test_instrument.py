"""`cachepoint.core.instrument`: what adapters do around a call, never breaking it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cachepoint.core.instrument import CallRecorder, place_cache_points, place_safely
from cachepoint.core.prompt import apply_cache_points
from cachepoint.core.traces import TraceWriter, read_trace
from cachepoint.core.usage import UsageLedger

SYSTEM = "You answer from the router manual. " * 300


def framework_payload() -> dict:
    """A request as CrewAI builds it: its own 5m markers on the system prompt and the first user turn."""
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Reset?", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "manual", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "Hold 10 s."}]},
        ],
    }


def test_existing_markers_stay_fixed_unless_adopted() -> None:
    kept, _ = place_cache_points(framework_payload(), None, provider="anthropic")
    adopted, report = place_cache_points(framework_payload(), None, provider="anthropic", adopt_markers=True)

    assert kept["system"][0]["cache_control"] == {"type": "ephemeral"}  # as written
    assert adopted["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}  # the strategy's TTL
    assert adopted["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}  # still there
    assert adopted["messages"][2]["content"][0]["cache_control"] == {"type": "ephemeral"}  # the tail
    assert report is not None
    assert len(report.placed) == 3


def test_adopted_markers_rank_after_the_strategys_within_the_limit() -> None:
    payload = framework_payload()
    for message in payload["messages"]:
        for block in message["content"]:
            block["cache_control"] = {"type": "ephemeral"}
    payload["messages"].insert(
        1,
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Let me check.", "cache_control": {"type": "ephemeral"}}],
        },
    )
    payload["messages"].insert(
        2, {"role": "user", "content": [{"type": "text", "text": "Please.", "cache_control": {"type": "ephemeral"}}]}
    )

    placed, report = place_cache_points(payload, None, provider="anthropic", adopt_markers=True)

    marked = [b for m in placed["messages"] for b in m["content"] if "cache_control" in b]
    assert len(marked) + ("cache_control" in placed["system"][0]) == 4
    assert report is not None
    assert [d.code for d in report.dropped] == ["over_budget", "over_budget"]
    assert {d.breakpoint.id for d in report.dropped} == {"framework"}


def test_a_payload_it_cannot_read_goes_out_as_built_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    payload = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": 42}]}
    with caplog.at_level(logging.WARNING, logger="cachepoint.core.instrument"):
        first = place_cache_points(payload, None, provider="anthropic")
        second = place_cache_points(payload, None, provider="anthropic")
    assert first == second == (payload, None)
    assert len([r for r in caplog.records if "no cache breakpoints placed" in r.getMessage()]) == 1


def test_recorder_writes_ledger_and_trace(tmp_path: Path) -> None:
    ledger = UsageLedger()
    path = tmp_path / "calls.jsonl"
    usage = {"input_tokens": 5, "cache_read_input_tokens": 1800, "cache_creation_input_tokens": 0, "output_tokens": 9}
    with TraceWriter(path) as writer:
        recorded = CallRecorder(ledger=ledger, recorder=writer).record(
            framework_payload(),
            usage,
            provider="anthropic",
            model="claude-sonnet-4-5",
            labels={"agent": "Support"},
            started=1_800_000_000.0,
            duration_s=0.4,
        )
    assert recorded is not None
    assert recorded.input_tokens == 1805
    assert ledger.stats(agent="Support").cache_read_tokens == 1800
    (line,) = read_trace(path)
    assert line.usage == usage
    assert line.timestamp == 1_800_000_000.0
    assert line.metadata == {"agent": "Support"}


def test_unreadable_usage_or_a_failing_sink_is_a_log_line_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = TraceWriter(tmp_path / "closed.jsonl")
    writer.close()  # every write now raises
    ledger = UsageLedger()
    calls = CallRecorder(ledger=ledger, recorder=writer)
    with caplog.at_level(logging.WARNING, logger="cachepoint.core.instrument"):
        assert calls.record({}, {"no": "usage"}, provider="anthropic", model="claude-sonnet-4-5") is None
        usage = {"input_tokens": 3, "output_tokens": 1}
        assert calls.record({}, usage, provider="anthropic", model="claude-sonnet-4-5") is not None
    assert ledger.stats().calls == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not read the usage" in m for m in messages)
    assert any("trace write failed" in m for m in messages)


def test_recorder_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="ledger: expected a UsageLedger or None, got dict"):
        CallRecorder(ledger={})  # type: ignore[arg-type]


def test_place_safely_sends_the_request_as_built_when_placement_raises(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> tuple[int, None]:
        raise RuntimeError("strategy exploded")

    with caplog.at_level(logging.DEBUG, logger="cachepoint.core.instrument"):
        assert place_safely(broken, provider="anthropic", what="LangChain request") is None
        assert place_safely(broken, provider="anthropic", what="LangChain request") is None
    levels = [(r.levelname, "strategy exploded" in r.getMessage()) for r in caplog.records]
    assert levels == [("WARNING", True), ("DEBUG", True)]  # said once, then only at debug: never silent


def test_place_safely_logs_the_reports_warnings_once_each(caplog: pytest.LogCaptureFixture) -> None:
    payload = framework_payload()
    payload["model"] = "claude-unknown-9"  # an unknown model is a report warning

    def placed() -> tuple[dict, object]:
        return apply_cache_points(payload, provider="anthropic")

    with caplog.at_level(logging.WARNING, logger="cachepoint.core.instrument"):
        first = place_safely(placed, provider="anthropic")
        place_safely(placed, provider="anthropic")
    assert first is not None
    assert "cache_control" in first["system"][0]
    warned = [r.getMessage() for r in caplog.records if "claude-unknown-9" in r.getMessage()]
    assert len(warned) == 1


def test_a_call_without_usage_or_request_records_only_what_there_is(tmp_path: Path) -> None:
    ledger = UsageLedger()
    path = tmp_path / "calls.jsonl"
    with TraceWriter(path) as writer:
        calls = CallRecorder(ledger=ledger, recorder=writer)
        # A model that reports no usage: its request is still a trace line, nothing is counted.
        assert calls.record(framework_payload(), None, provider="anthropic", model="claude-sonnet-4-5") is None
        # A model whose body cannot be rebuilt: counted, no trace line.
        usage = {"input_tokens": 3, "output_tokens": 1}
        assert calls.record(None, usage, provider="anthropic", model="claude-sonnet-4-5") is not None
        calls.record(
            framework_payload(),
            usage,
            provider="anthropic",
            model="claude-sonnet-4-5",
            labels={"tenant": "acme"},
            session="ticket-7",
        )
    assert ledger.stats().calls == 2
    first, second = read_trace(path)
    assert first.usage is None
    assert (second.tenant, second.session, second.metadata) == ("acme", "ticket-7", {"tenant": "acme"})


def test_a_response_cache_hit_is_a_hit_with_zero_provider_tokens(tmp_path: Path) -> None:
    ledger = UsageLedger()
    path = tmp_path / "calls.jsonl"
    with TraceWriter(path) as writer:
        calls = CallRecorder(ledger=ledger, recorder=writer)
        calls.record(
            framework_payload(),
            {"input_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 1800, "output_tokens": 9},
            provider="anthropic",
            model="claude-sonnet-4-5",
        )
        calls.record_hit(provider="anthropic", model="claude-sonnet-4-5", labels={"tenant": "acme"})
    stats = ledger.stats()
    assert (stats.calls, stats.hit_calls, stats.miss_calls) == (2, 1, 1)
    assert stats.input_tokens == 1805  # the first call's only: the hit reached no provider
    assert stats.output_tokens == 9
    hits = ledger.stats(response_cache="hit")
    assert (hits.calls, hits.hit_rate, hits.cost_usd) == (1, 1.0, 0.0)
    assert len(read_trace(path)) == 1  # nothing was sent for the hit
    assert hits.replayed_calls == 1


def test_a_response_cache_hit_carries_what_the_first_call_cost() -> None:
    ledger = UsageLedger()
    calls = CallRecorder(ledger=ledger)
    stored = {"input_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 1800, "output_tokens": 9}
    first = calls.record(None, stored, provider="anthropic", model="claude-sonnet-4-5")
    calls.record_hit(provider="anthropic", model="claude-sonnet-4-5", usage=stored)
    calls.record_hit(provider="anthropic", model="claude-sonnet-4-5", usage=stored, label=("node_cache", "hit"))
    assert first is not None
    hits = ledger.stats(response_cache="hit")
    assert hits.cost_usd == 0.0
    assert hits.replay_savings_usd == pytest.approx(ledger.stats().cost_usd)  # the first call's cost, saved
    assert ledger.stats(node_cache="hit").replay_savings_usd == pytest.approx(hits.replay_savings_usd)
    assert ledger.stats().replay_savings_usd == pytest.approx(2 * hits.replay_savings_usd)
