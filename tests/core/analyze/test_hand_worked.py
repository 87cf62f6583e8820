"""The analyzer's numbers on small traces whose answers are worked out by hand (arithmetic next to each check).

Model: claude-sonnet-4-5 (minimum 1024 tokens; $3 / M input, $0.30 / M cache read, $3.75 / M 5m write, $6 / M 1h
write, $15 / M output). Tokens: one per word (`WordCounter`), plus 3 at the first block of each message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cachepoint.core.analyze import AnalysisReport

MODEL = "claude-sonnet-4-5"


def body(system: str, messages: list[dict[str, Any]], *, marker: bool = True, **extra: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": system}
    if marker:
        block["cache_control"] = {"type": "ephemeral"}
    return {"model": MODEL, "max_tokens": 100, "system": [block], "messages": messages, **extra}


@pytest.fixture
def conversation(words: Callable[[int, str], str]) -> list[dict[str, Any]]:
    """Three turns of one session. System: 2000 tokens (marker, 5m). Each user turn 10 words (13 tokens with
    the message overhead), each assistant turn 20 words (23 tokens).

    r1 at t=0:   [S, U1]                 2000 + 13                  = 2013 tokens
    r2 at t=60:  [S, U1, A1, U2]         2013 + 23 + 13             = 2049
    r3 at t=460: [S, U1, A1, U2, A2, U3] 2049 + 23 + 13             = 2085   (400 s after r2: past 5 minutes)
    """
    system = words(2000, "s")
    u1, a1, u2, a2, u3 = (
        {"role": "user", "content": words(10, "ua")},
        {"role": "assistant", "content": words(20, "aa")},
        {"role": "user", "content": words(10, "ub")},
        {"role": "assistant", "content": words(20, "ab")},
        {"role": "user", "content": words(10, "uc")},
    )
    return [
        {"request": body(system, [u1]), "timestamp": 0, "session": "s1"},
        {"request": body(system, [u1, a1, u2]), "timestamp": 60, "session": "s1"},
        {"request": body(system, [u1, a1, u2, a2, u3]), "timestamp": 460, "session": "s1"},
    ]


def test_recorded_markers_numbers(run: Callable[..., AnalysisReport], conversation: list[dict[str, Any]]) -> None:
    report = run(conversation, strategies=["auto"])
    recorded = report.scenario("recorded")
    assert recorded is not None
    # r1 writes the system prompt (2000, 5m); r2 (60 s later) reads it and refreshes it to 360 s; r3 at 460 s
    # finds it expired and writes it again.
    assert (recorded.requests, recorded.hit_requests, recorded.write_requests) == (3, 1, 2)
    assert recorded.input_tokens == 2013 + 2049 + 2085 == 6147
    assert (recorded.cache_read_tokens, recorded.cache_write_tokens) == (2000, 4000)
    assert recorded.cache_write_by_ttl == {"5m": 4000}
    # uncached 6147 - 2000 - 4000 = 147 at $3, read 2000 at $0.30, written 4000 at $3.75, per million
    assert recorded.cost_usd == pytest.approx((147 * 3 + 2000 * 0.3 + 4000 * 3.75) / 1e6)
    assert recorded.without_cache_usd == pytest.approx(6147 * 3 / 1e6)
    none = report.scenario("none")
    assert none is not None
    assert none.cost_usd == pytest.approx(6147 * 3 / 1e6)
    assert none.savings_usd == pytest.approx(0.0)


def test_auto_numbers(run: Callable[..., AnalysisReport], conversation: list[dict[str, Any]]) -> None:
    report = run(conversation, strategies=["auto"])
    auto = report.scenario("auto")
    assert auto is not None
    # auto: system at 1h, conversation tail at 5m.
    # r1: writes system 2000 (1h) and U1 13 (5m).
    # r2: its tail (U2, position 3) looks back and finds r1's U1 entry (position 1): reads 2013, writes 36 (5m).
    # r3 at 460 s: r2's tail entry (5m, refreshed... written at 60) expired at 360, r1's U1 entry too; the 1h
    #     system entry lives: reads 2000, writes 2085 - 2000 = 85 (5m).
    assert (auto.hit_requests, auto.write_requests) == (2, 3)
    assert (auto.cache_read_tokens, auto.cache_write_tokens) == (2013 + 2000, 2013 + 36 + 85)
    assert auto.cache_write_by_ttl == {"1h": 2000, "5m": 13 + 36 + 85}
    assert auto.uncached_tokens == 0
    # reads 4013 x 0.30 + 1h writes 2000 x 6 + 5m writes 134 x 3.75
    assert auto.cost_usd == pytest.approx((4013 * 0.3 + 2000 * 6.0 + 134 * 3.75) / 1e6)
    assert report.best == "auto"
    assert auto.hit_rate == pytest.approx(2 / 3)
    assert auto.cached_token_ratio == pytest.approx(4013 / 6147)


def test_sharing_numbers(run: Callable[..., AnalysisReport], conversation: list[dict[str, Any]]) -> None:
    sharing = run(conversation, strategies=["auto"]).sharing
    # r1 shares nothing; r2 repeats r1 whole (2013); r3 repeats r2 whole (2049); all within session s1.
    assert (sharing.shared_tokens, sharing.session_shared_tokens, sharing.cold_requests) == (2013 + 2049, 4062, 1)
    assert sharing.cacheable_shared_tokens == 4062  # both >= 1024
    assert sharing.shared_ratio == pytest.approx(4062 / 6147)
    assert [(s.session, s.requests, s.input_tokens, s.shared_tokens) for s in sharing.top_sessions] == [
        ("s1", 3, 6147, 4062)
    ]


def test_recorded_misses_are_explained(run: Callable[..., AnalysisReport], conversation: list[dict[str, Any]]) -> None:
    report = run(conversation, strategies=["auto"])
    assert report.focus == "recorded"  # the trace carries markers: explain today's setup
    misses = report.misses
    assert misses is not None
    causes = {c.cause: (c.requests, c.lost_tokens) for c in misses.causes}
    # r2 shares 2013 tokens with r1 but only the system prompt (2000) has an entry: U1 (13) had no breakpoint.
    # r3 shares 2049 with r2 and reads nothing: r2 refreshed the system entry at 60 s, it lived until 360.
    assert causes == {"no_breakpoint": (1, 13), "ttl_expired": (1, 2049)}
    assert (misses.missed_requests, misses.lost_tokens) == (2, 2062)
    (example,) = next(c for c in misses.causes if c.cause == "ttl_expired").examples
    assert (example.line, example.earlier_line) == (3, 2)
    assert "6m40s since line 2" in example.detail  # 460 - 60 = 400 s
    assert "entries live 5m" in example.detail


def test_auto_misses_are_explained(run: Callable[..., AnalysisReport], conversation: list[dict[str, Any]]) -> None:
    misses = run(conversation, strategies=["auto"], focus="auto").misses
    assert misses is not None
    # Under auto only r3 misses: it shares 2049 with r2 and reads 2000 (the 1h system entry); r2's 5m tail
    # entry had expired: 49 tokens.
    assert [(c.cause, c.requests, c.lost_tokens) for c in misses.causes] == [("ttl_expired", 1, 49)]


def test_timestamp_in_system_prompt(run: Callable[..., AnalysisReport], words: Callable[[int, str], str]) -> None:
    policy = words(1500, "p")
    question = {"role": "user", "content": words(10, "q")}
    records = [
        {"request": body(f"Now: 2026-11-23T10:{m:02d}:00Z. {policy}", [question]), "timestamp": 60 * m}
        for m in range(3)
    ]
    report = run(records, strategies=["auto"])
    recorded = report.scenario("recorded")
    assert recorded is not None
    # Every system prompt differs: each request writes its own 1502-token entry and nothing is read.
    # System: "Now:" + timestamp + 1500 words = 1502 tokens; the question 13. Total 1515 per request.
    assert (recorded.hit_requests, recorded.cache_write_tokens) == (0, 3 * 1502)
    assert report.sharing.shared_tokens == 0
    # Writes nobody reads cost more than no caching; auto sees the timestamp to the second and places nothing.
    costs = {s.name: s.cost_usd for s in report.scenarios}
    assert costs["recorded"] > costs["none"] == costs["auto"]
    misses = report.misses
    assert misses is not None
    (cause,) = misses.causes
    # r2 and r3 part from the previous request at system[0]; everything after (the same question) would be
    # reused: 1515 tokens each.
    assert (cause.cause, cause.requests, cause.lost_tokens) == ("timestamp", 2, 2 * 1515)
    example = cause.examples[0]
    assert example.path == "system[0]"
    assert "2026-11-23T10:01:00Z" in example.before or "2026-11-23T10:01:00Z" in example.after
    assert example.before != example.after


def test_reordered_tools(run: Callable[..., AnalysisReport], words: Callable[[int, str], str]) -> None:
    tools = [
        {"name": name, "description": words(300, name), "input_schema": {"type": "object", "properties": {}}}
        for name in ("alpha", "beta", "gamma")
    ]
    question = {"role": "user", "content": words(10, "q")}
    first = body(words(800, "s"), [question], tools=tools)
    second = body(words(800, "s"), [question], tools=[tools[1], tools[0], tools[2]])
    report = run([{"request": first, "timestamp": 0}, {"request": second, "timestamp": 10}], strategies=["auto"])
    misses = report.misses
    assert misses is not None
    (cause,) = misses.causes
    # Tools: alpha 300 + 346 (tools preamble, at the first tool) = 646, beta 300, gamma 300; system 800;
    # question 13. The second request parts at tools[0] and is the same after the reordered tools: everything
    # (646 + 300 + 300 + 800 + 13 = 2059) would have been reused.
    assert (cause.cause, cause.requests, cause.lost_tokens) == ("tool_order", 1, 2059)
    assert cause.examples[0].path == "tools[0]"


def test_shared_prefix_below_minimum(run: Callable[..., AnalysisReport], words: Callable[[int, str], str]) -> None:
    system = words(500, "s")
    records = [
        {"request": body(system, [{"role": "user", "content": words(900, "q" + "xy"[n])}]), "timestamp": 10 * n}
        for n in range(2)
    ]
    misses = run(records, strategies=["auto"]).misses
    assert misses is not None
    # The requests share the 500-token system prompt only: under the 1024 minimum, nothing can be cached.
    assert [(c.cause, c.requests, c.lost_tokens) for c in misses.causes] == [("below_minimum", 1, 500)]


def test_lookback_exceeded(run: Callable[..., AnalysisReport], words: Callable[[int, str], str]) -> None:
    # The client marks only the last message. r1 has 2 messages; r2 adds 24 more: its tail breakpoint looks back
    # 20 positions and never reaches r1's entry 24 positions back.
    base = [{"role": "user", "content": words(1200, "doc")}, {"role": "assistant", "content": words(10, "ok")}]
    more = [{"role": "user" if i % 2 == 0 else "assistant", "content": words(5, "m" + chr(97 + i))} for i in range(24)]

    def marked(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        last = messages[-1]
        tail = {"type": "text", "text": last["content"], "cache_control": {"type": "ephemeral"}}
        return [*messages[:-1], {"role": last["role"], "content": [tail]}]

    records = [
        {"request": body("Be brief.", marked(base), marker=False), "timestamp": 0},
        {"request": body("Be brief.", marked(base + more), marker=False), "timestamp": 30},
    ]
    report = run(records, strategies=["auto"])
    misses = report.misses
    assert misses is not None
    # Shared: system 2 + doc 1203 + ok 13 = 1218 tokens; nothing is read.
    assert [(c.cause, c.lost_tokens) for c in misses.causes] == [("lookback_exceeded", 1218)]
    assert "25 positions back" in misses.causes[0].examples[0].detail  # 24 new blocks + the breakpoint's own
    auto = report.scenario("auto")
    assert auto is not None
    assert auto.hit_requests == 1  # auto's lookback anchor keeps the conversation in reach


def test_observed_next_to_predicted(run: Callable[..., AnalysisReport], conversation: list[dict[str, Any]]) -> None:
    # What the provider said (its tokenizer counts 10% more; it missed on r2 where the model predicts a hit).
    observed = [
        {"input_tokens": 22, "cache_creation_input_tokens": 2200, "cache_read_input_tokens": 0, "output_tokens": 50},
        {"input_tokens": 54, "cache_creation_input_tokens": 2200, "cache_read_input_tokens": 0, "output_tokens": 50},
        {"input_tokens": 94, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2200, "output_tokens": 50},
    ]
    records = [{**r, "usage": u} for r, u in zip(conversation, observed, strict=True)]
    o = run(records, strategies=["auto"]).observed
    assert o is not None
    assert o.requests == 3
    # Observed: prompt tokens 2222 + 2254 + 2294 = 6770, read 2200 (r3), written 4400; one hit of three.
    assert (o.observed.input_tokens, o.observed.cache_read_tokens, o.observed.cache_write_tokens) == (6770, 2200, 4400)
    assert (o.observed.hit_requests, o.predicted.hit_requests) == (1, 1)
    # Predicted (recorded markers): hits r2 only; observed: hits r3 only -> agree on r1 (both miss) only.
    assert o.agreement == pytest.approx(1 / 3)
    assert o.input_token_ratio == pytest.approx(6770 / 6147)
    # observed cost: uncached 170 x 3 + read 2200 x 0.3 + written 4400 x 3.75 + output 150 x 15
    assert o.observed.cost_usd == pytest.approx((170 * 3 + 2200 * 0.3 + 4400 * 3.75 + 150 * 15) / 1e6)


def test_sessions_share_the_system_prompt(run: Callable[..., AnalysisReport], words: Callable[[int, str], str]) -> None:
    system = words(2000, "s")
    records = [
        {
            "request": body(system, [{"role": "user", "content": words(10, "q" + "xyz"[n])}]),
            "timestamp": n,
            "session": s,
        }
        for n, s in enumerate(["a", "b", "a"])
    ]
    sharing = run(records, strategies=["auto"]).sharing
    # Request 2 (session b) shares the 2000-token system prompt with request 1 (session a); request 3 (session
    # a) shares it too, but within session a only the system prompt as well (different questions).
    assert sharing.shared_tokens == 2000 + 2000
    assert sharing.session_shared_tokens == 2000  # request 3, from request 1 of its own session
    assert sharing.cross_session_shared_tokens == 2000
    assert sharing.sessions == 2


def test_openai_automatic_caching(run: Callable[..., AnalysisReport], words: Callable[[int, str], str]) -> None:
    system = {"role": "system", "content": words(2000, "s")}
    records = [
        {
            "request": {"model": "gpt-4o", "messages": [system, {"role": "user", "content": words(10, "q" + "xy"[n])}]},
            "timestamp": 60 * n,
        }
        for n in range(2)
    ]
    report = run(records, strategies=["auto"])
    recorded = report.scenario("recorded")
    assert recorded is not None
    # Request 1: 2003 (system + overhead) + 13 = 2016 tokens, cached from 1024 in 128-token steps: stores 1920.
    # Request 2 shares the 2003-token system message: reads floor(2003 / 128) * 128 = 1920. No write fee.
    assert (recorded.cache_read_tokens, recorded.cache_write_tokens) == (1920, 0)
    assert report.focus == "recorded"  # OpenAI caches by itself: today's setup is what is explained
    misses = report.misses
    assert misses is not None
    assert misses.causes == ()  # 2003 - 1920 = 83 tokens lost to 128-token rounding is not a miss
