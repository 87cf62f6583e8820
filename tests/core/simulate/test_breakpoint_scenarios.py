"""Anthropic / Bedrock breakpoint semantics, one hand-computed scenario per rule.

Model: claude-sonnet-4-5 (minimum 1024 tokens, TTLs 5m and 1h, lookback 20). Tokens come from the word
counter (see conftest): a block of N words is N tokens, the first block of a message adds 3 (message
overhead), the first Anthropic tool adds 346 (tool-use system preamble).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cachepoint.core.simulate import ManualClock, SimBreakpoint, SimPrompt, SimResult, Simulator

Check = Callable[[SimResult], SimResult]
Words = Callable[[int, str], str]
Payload = Callable[..., dict[str, Any]]


def test_cold_write_then_warm_read(
    anthropic_sim: Simulator, anthropic_payload: Payload, words: Words, consistent: Check
) -> None:
    payload = anthropic_payload(system=[(words(2000, "s"), None)], messages=[("user", words(2, "q"), False)])
    # system 2000 (marker, 5m) + user message 2 + 3 overhead = 2005 total.
    cold = consistent(anthropic_sim.request(payload, at=0))
    assert (cold.read_tokens, cold.write_tokens, cold.uncached_tokens) == (0, 2000, 5)
    assert cold.write_by_ttl == {"5m": 2000}
    assert cold.native() == {
        "input_tokens": 5,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 0,
        "service_tier": "standard",
    }
    warm = consistent(anthropic_sim.request(payload, at=60))
    assert (warm.read_tokens, warm.write_tokens, warm.uncached_tokens) == (0 + 2000, 0, 5)
    assert warm.hit_position == 0


def test_partial_hit_reads_the_shared_prefix_and_writes_the_rest(
    anthropic_sim: Simulator, anthropic_payload: Payload, words: Words, consistent: Check
) -> None:
    system = (words(2000, "s"), None)
    first = anthropic_payload(system=[system], messages=[("user", words(100, "a"), None)])
    second = anthropic_payload(system=[system], messages=[("user", words(50, "b"), None)])
    # R1: system 2000 + message 100+3 = 2103, both breakpoints written, all 5m.
    r1 = consistent(anthropic_sim.request(first, at=0))
    assert (r1.read_tokens, r1.write_tokens, r1.uncached_tokens) == (0, 2103, 0)
    # R2: the message breakpoint (position 1) misses, looks back to position 0 and finds the system entry:
    # read 2000, write 50+3 = 53 from there to the last breakpoint.
    r2 = consistent(anthropic_sim.request(second, at=10))
    assert (r2.read_tokens, r2.write_tokens, r2.uncached_tokens) == (2000, 53, 0)
    assert [(o.position, o.found, o.wrote, o.note) for o in r2.breakpoints] == [
        (0, 0, False, "covered"),
        (1, 0, True, ""),
    ]


def _chain(n: int, *, first: int = 2000, step: int = 10) -> SimPrompt:
    # Position 0 is a 2000-token document; each later position adds `step` tokens; breakpoint on the last one.
    hashes = tuple(f"p{i}" for i in range(n))
    cumulative = tuple(first + step * i for i in range(n))
    return SimPrompt(hashes, cumulative, breakpoints=(SimBreakpoint(n - 1),), model="claude-sonnet-4-5")


def test_lookback_reaches_20_positions_counting_the_breakpoint(consistent: Check) -> None:
    sim = Simulator("anthropic")
    consistent(sim.request(_chain(1), at=0))  # writes the entry at position 0 (2000 tokens)
    # 20 positions (0..19), breakpoint at 19: it checks 19, 18, ..., 0 -- twenty positions -- and finds 0.
    # read 2000; write 19 * 10 = 190 up to the breakpoint.
    within = consistent(sim.request(_chain(20), at=1))
    assert (within.read_tokens, within.write_tokens) == (2000, 190)


def test_lookback_exceeded_at_21_blocks(consistent: Check) -> None:
    sim = Simulator("anthropic")
    consistent(sim.request(_chain(1), at=0))
    # 21 positions, breakpoint at 20: it checks 20..1 (twenty positions) and never reaches the entry at 0.
    # Nothing read; the whole 2000 + 20 * 10 = 2200 is written; the diagnosis points at the entry beyond reach.
    beyond = consistent(sim.request(_chain(21), at=1))
    assert (beyond.read_tokens, beyond.write_tokens) == (0, 2200)
    assert beyond.breakpoints[0].found is None
    assert beyond.breakpoints[0].found_beyond == 0


def test_a_run_of_tool_results_counts_as_one_lookback_position(
    word_counter: Any, words: Words, consistent: Check
) -> None:
    sim = Simulator("anthropic", counter=word_counter)
    doc = {
        "role": "user",
        "content": [{"type": "text", "text": words(2000, "d"), "cache_control": {"type": "ephemeral"}}],
    }
    calls = [{"type": "tool_use", "id": f"t{i}", "name": "f", "input": {}} for i in range(25)]
    results = [{"type": "tool_result", "tool_use_id": f"t{i}", "content": "ok"} for i in range(25)]
    results[-1]["cache_control"] = {"type": "ephemeral"}
    base = {"model": "claude-sonnet-4-5", "max_tokens": 8}
    consistent(sim.request({**base, "messages": [doc]}, at=0))  # entry at the document: 2000 + 3 = 2003
    grown = {
        **base,
        "messages": [doc, {"role": "assistant", "content": calls}, {"role": "user", "content": results}],
    }
    # 51 positions, but the 25 tool_use blocks are one lookback position and the 25 tool_results another:
    # the breakpoint on the last tool_result is lookback index 2 and reaches the document at index 0.
    # tool_use: "f {}" = 2 words each, tool_result "ok" = 1 word; +3 per message: 25*2+3 + 25*1+3 = 81 written.
    r = consistent(sim.request(grown, at=1))
    assert (r.read_tokens, r.write_tokens, r.uncached_tokens) == (2003, 81, 0)


def test_below_the_minimum_nothing_is_cached_and_nothing_fails(
    anthropic_sim: Simulator, anthropic_payload: Payload, words: Words, consistent: Check
) -> None:
    payload = anthropic_payload(system=[(words(1000, "s"), None)], messages=[("user", words(2, "q"), False)])
    # 1000 tokens at the breakpoint < 1024: processed without caching, both counters 0, every token uncached.
    for at in (0, 10):
        r = consistent(anthropic_sim.request(payload, at=at))
        assert (r.read_tokens, r.write_tokens, r.uncached_tokens) == (0, 0, 1005)
        assert r.breakpoints[0].note == "below_minimum"
        assert r.native()["cache_creation"] == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}
    assert anthropic_sim.entries(at=10) == []


def test_the_minimum_counts_the_whole_prefix_through_the_breakpoint(
    anthropic_sim: Simulator, anthropic_payload: Payload, words: Words, consistent: Check
) -> None:
    # A 1000-token system block without a marker, then a 30-word message with one: 1000 + 30 + 3 = 1033 >= 1024.
    payload = anthropic_payload(system=[(words(1000, "s"), False)], messages=[("user", words(30, "q"), None)])
    r = consistent(anthropic_sim.request(payload, at=0))
    assert (r.read_tokens, r.write_tokens) == (0, 1033)


def test_ttl_runs_from_the_request_start_and_a_hit_refreshes_it(
    anthropic_sim: Simulator, anthropic_payload: Payload, words: Words, consistent: Check
) -> None:
    payload = anthropic_payload(system=[(words(2000, "s"), None)], messages=[("user", "hi", False)])
    assert consistent(anthropic_sim.request(payload, at=0)).write_tokens == 2000  # lives until 0 + 300
    assert consistent(anthropic_sim.request(payload, at=200)).read_tokens == 2000  # hit: now lives to 500
    # 450 > 300: alive only because the hit at 200 refreshed it.
    assert consistent(anthropic_sim.request(payload, at=450)).read_tokens == 2000  # lives to 750
    expired = consistent(anthropic_sim.request(payload, at=750))  # exactly 300 s after the last use
    assert (expired.read_tokens, expired.write_tokens) == (0, 2000)


def test_without_a_hit_an_entry_expires_five_minutes_after_it_was_written(
    anthropic_sim: Simulator, anthropic_payload: Payload, words: Words, consistent: Check
) -> None:
    payload = anthropic_payload(system=[(words(2000, "s"), None)], messages=[("user", "hi", False)])
    consistent(anthropic_sim.request(payload, at=0))
    assert consistent(anthropic_sim.request(payload, at=299.9)).read_tokens == 2000
    clock = ManualClock(0)
    sim = Simulator("anthropic", clock=clock, counter=anthropic_sim.counter)
    consistent(sim.request(payload))
    clock.advance(300)
    assert consistent(sim.request(payload)).write_tokens == 2000


def test_mixed_ttls_split_writes_by_positions_a_b_c(
    anthropic_sim: Simulator, anthropic_payload: Payload, words: Words, consistent: Check
) -> None:
    one = (words(1200, "x"), "1h")
    two = (words(800, "y"), "1h")
    # R1 caches only the first system block for an hour: 1h write 1200.
    r1 = consistent(
        anthropic_sim.request(anthropic_payload(system=[one, (two[0], False)], messages=[("user", "hi", False)]), at=0)
    )
    assert r1.write_by_ttl == {"1h": 1200}
    # R2 has breakpoints at system[0] (1h), system[1] (1h) and the message (5m, 5 words + 3 = 8 tokens).
    # A = system[0] (read 1200), B = system[1] (last 1h breakpoint after A), C = the message:
    # 1h write B - A = 2000 - 1200 = 800; 5m write C - B = 2008 - 2000 = 8.
    r2 = consistent(
        anthropic_sim.request(anthropic_payload(system=[one, two], messages=[("user", words(5, "m"), None)]), at=10)
    )
    assert (r2.read_tokens, r2.write_by_ttl) == (1200, {"1h": 800, "5m": 8})
    assert r2.native()["cache_creation"] == {"ephemeral_5m_input_tokens": 8, "ephemeral_1h_input_tokens": 800}
    # Ten minutes later the 5m entry is gone, the 1h ones live: read 2000 (B), write the message again (8, 5m).
    r3 = consistent(
        anthropic_sim.request(anthropic_payload(system=[one, two], messages=[("user", words(5, "m"), None)]), at=610)
    )
    assert (r3.read_tokens, r3.write_by_ttl) == (2000, {"5m": 8})


def test_changing_a_tool_invalidates_everything(
    anthropic_sim: Simulator, anthropic_payload: Payload, words: Words, consistent: Check
) -> None:
    system = [(words(2000, "s"), None)]
    messages = [("user", words(10, "q"), None)]
    # tool JSON: '{"name":"lookup","description":"d0' + d1..d998 + 'd999","input_schema":{"type":"object"}}' = 1000
    # words, + 346 preamble = 1346; system 2000 -> 3346; message 10 + 3 -> 3359.
    before = anthropic_payload(tool=(words(1000, "d"), None), system=system, messages=messages)
    after = anthropic_payload(tool=(words(1000, "e"), None), system=system, messages=messages)
    assert consistent(anthropic_sim.request(before, at=0)).write_tokens == 3359
    changed = consistent(anthropic_sim.request(after, at=1))
    assert (changed.read_tokens, changed.write_tokens) == (0, 3359)


def test_changing_the_system_prompt_keeps_the_tools(
    anthropic_sim: Simulator, anthropic_payload: Payload, words: Words, consistent: Check
) -> None:
    tool = (words(1000, "d"), None)  # 1346 tokens, marker on the tool
    messages = [("user", words(10, "q"), None)]
    before = anthropic_payload(tool=tool, system=[(words(2000, "s"), None)], messages=messages)
    after = anthropic_payload(tool=tool, system=[(words(2000, "t"), None)], messages=messages)
    consistent(anthropic_sim.request(before, at=0))
    # The tools entry survives: read 1346; the new system (2000) and the message (13) are written.
    changed = consistent(anthropic_sim.request(after, at=1))
    assert (changed.read_tokens, changed.write_tokens) == (1346, 2013)


def test_changing_tool_choice_keeps_tools_and_system_but_not_messages(
    anthropic_sim: Simulator, anthropic_payload: Payload, words: Words, consistent: Check
) -> None:
    payload = anthropic_payload(
        tool=(words(1000, "d"), None), system=[(words(2000, "s"), None)], messages=[("user", words(10, "q"), None)]
    )
    consistent(anthropic_sim.request(payload, at=0))
    other = {**payload, "tool_choice": {"type": "any"}}
    # tool_choice invalidates the messages level only: read tools + system = 3346, write the message (13).
    r = consistent(anthropic_sim.request(other, at=1))
    assert (r.read_tokens, r.write_tokens) == (3346, 13)


def test_concurrent_cold_requests_each_write() -> None:
    sim = Simulator("anthropic")
    p = SimPrompt(("doc", "q"), (3000, 3010), breakpoints=(SimBreakpoint(1),), model="claude-sonnet-4-5")
    a = sim.start(p, at=0.0)
    b = sim.start(p, at=0.5)  # A has not started responding: its entry is not readable yet
    a.respond(at=1.0)
    b.respond(at=1.2)
    assert (a.result.write_tokens, b.result.write_tokens) == (3010, 3010)
    assert sim.request(p, at=2.0).read_tokens == 3010


def test_first_byte_times_order_writes_in_a_replayed_trace() -> None:
    sim = Simulator("anthropic")
    p = SimPrompt(("doc",), (3000,), breakpoints=(SimBreakpoint(0),), model="claude-sonnet-4-5")
    # Replayed in start order: R1 starts at 0 and answers at 3; R2 starts at 1 (before R1's first byte): writes.
    r1 = sim.request(p, at=0, first_byte_at=3)
    r2 = sim.request(p, at=1, first_byte_at=4)
    r3 = sim.request(p, at=3.5)  # after R1's first byte: reads
    assert (r1.write_tokens, r2.write_tokens, r3.read_tokens) == (3000, 3000, 3000)


def test_a_cancelled_request_writes_nothing() -> None:
    sim = Simulator("anthropic")
    p = SimPrompt(("doc",), (3000,), breakpoints=(SimBreakpoint(0),), model="claude-sonnet-4-5")
    sim.start(p, at=0).cancel()
    assert sim.request(p, at=1).write_tokens == 3000


def test_tenants_and_models_are_isolated(
    anthropic_sim: Simulator, anthropic_payload: Payload, words: Words, consistent: Check
) -> None:
    payload = anthropic_payload(system=[(words(2000, "s"), None)], messages=[("user", "hi", False)])
    consistent(anthropic_sim.request(payload, at=0, tenant="workspace-a"))
    assert consistent(anthropic_sim.request(payload, at=1, tenant="workspace-b")).read_tokens == 0
    opus = {**payload, "model": "claude-opus-4-1"}
    assert consistent(anthropic_sim.request(opus, at=1, tenant="workspace-a")).read_tokens == 0
    assert consistent(anthropic_sim.request(payload, at=2, tenant="workspace-a")).read_tokens == 2000


def test_bedrock_converse_usage_and_its_own_minimum(word_counter: Any, words: Words, consistent: Check) -> None:
    sim = Simulator("bedrock", counter=word_counter)
    model = "us.anthropic.claude-opus-4-5-20251101-v1:0"  # Bedrock minimum for Opus 4.5: 4096
    payload = {
        "modelId": model,
        "system": [{"text": words(3000, "s")}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": [{"text": words(2000, "q")}, {"cachePoint": {"type": "default"}}]}],
    }
    # system 3000 (1h point, below 4096: ignored); message 2000 + 3 -> 5003 (5m point, written).
    r = consistent(sim.request(payload, at=0))
    assert (r.read_tokens, r.write_by_ttl, r.uncached_tokens) == (0, {"5m": 5003}, 0)
    assert r.native() == {
        "inputTokens": 0,
        "outputTokens": 0,
        "totalTokens": 5003,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 5003,
        "cacheDetails": [{"ttl": "5m", "inputTokens": 5003}],
    }


def test_bedrock_lists_1h_writes_before_5m(word_counter: Any, words: Words, consistent: Check) -> None:
    sim = Simulator("bedrock", counter=word_counter)
    payload = {
        "modelId": "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "system": [{"text": words(2000, "s")}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": [{"text": words(7, "q")}, {"cachePoint": {"type": "default"}}]}],
    }
    r = consistent(sim.request(payload, at=0))
    # 1h: 2000 (system); 5m: 7 + 3 = 10 (message).
    assert r.native()["cacheDetails"] == [{"ttl": "1h", "inputTokens": 2000}, {"ttl": "5m", "inputTokens": 10}]


def test_bedrock_without_cache_points_reports_no_cache_fields(
    word_counter: Any, words: Words, consistent: Check
) -> None:
    sim = Simulator("bedrock", counter=word_counter)
    payload = {
        "modelId": "anthropic.claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [{"text": words(4, "q")}]}],
    }
    r = consistent(sim.request(payload, at=0))
    assert r.native() == {"inputTokens": 7, "outputTokens": 0, "totalTokens": 7}


def test_automatic_cache_control_moves_with_the_conversation(
    words: Words, word_counter: Any, consistent: Check
) -> None:
    sim = Simulator("anthropic", counter=word_counter)
    turn1 = [{"role": "user", "content": words(1500, "a")}]
    turn2 = [*turn1, {"role": "assistant", "content": words(20, "b")}, {"role": "user", "content": words(30, "c")}]
    base = {"model": "claude-sonnet-4-5", "max_tokens": 8, "cache_control": {"type": "ephemeral"}}
    # Top-level cache_control lands on the last block: turn 1 writes 1500 + 3 = 1503.
    assert consistent(sim.request({**base, "messages": turn1}, at=0)).write_tokens == 1503
    # Turn 2's breakpoint is its last block; it looks back 2 positions to turn 1's entry: read 1503,
    # write 20 + 3 + 30 + 3 = 56.
    r = consistent(sim.request({**base, "messages": turn2}, at=1))
    assert (r.read_tokens, r.write_tokens) == (1503, 56)


def test_entries_show_what_is_cached_and_when_it_expires(
    anthropic_sim: Simulator, anthropic_payload: Payload, words: Words
) -> None:
    payload = anthropic_payload(system=[(words(2000, "s"), "1h")], messages=[("user", words(10, "q"), None)])
    anthropic_sim.request(payload, at=100, tenant="k")
    entries = sorted(anthropic_sim.entries(at=100), key=lambda e: e.tokens)
    assert [(e.path, e.tokens, e.ttl, e.expires_at, e.tenant) for e in entries] == [
        ("system[0]", 2000, "1h", 3700.0, "k"),
        ("messages[0].content[0]", 2013, "5m", 400.0, "k"),
    ]
    assert [e.tokens for e in anthropic_sim.entries(at=401)] == [2000]
    assert anthropic_sim.entries(at=401, tenant="other") == []


def test_a_time_is_required_without_a_clock() -> None:
    p = SimPrompt(("a",), (10,), model="claude-sonnet-4-5")
    with pytest.raises(TypeError, match="at: pass the request's start time"):
        Simulator("anthropic").request(p)


def test_unknown_providers_are_refused() -> None:
    with pytest.raises(ValueError, match="provider: 'gemini' is not simulated"):
        Simulator("gemini")
