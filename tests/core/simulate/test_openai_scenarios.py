"""OpenAI automatic caching (1024 floor, 128-token increments, routing, retention) and GPT-5.6+ breakpoints.

Automatic-caching prompts are built directly as `SimPrompt`s so the token counts are the ones written here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cachepoint.core.simulate import OpenAIOptions, SimPrompt, SimResult, Simulator

Check = Callable[[SimResult], SimResult]


def prompt(
    *blocks: tuple[str, int], key: str | None = None, retention: str | None = None, fmt: str = "openai-chat"
) -> SimPrompt:
    """Positions named by content, with their token sizes (hashes chain the names so prefixes compare)."""
    hashes, cumulative, total, chain = [], [], 0, ""
    for name, size in blocks:
        chain += "/" + name
        total += size
        hashes.append(chain)
        cumulative.append(total)
    return SimPrompt(tuple(hashes), tuple(cumulative), format=fmt, model="gpt-4o", cache_key=key, retention=retention)


def test_hits_come_in_128_token_increments(consistent: Check) -> None:
    sim = Simulator("openai")
    p = prompt(("doc", 1500), ("q", 500))  # 2000 tokens
    cold = consistent(sim.request(p, at=0))
    assert (cold.read_tokens, cold.write_tokens, cold.uncached_tokens) == (0, 0, 2000)
    # 2000 = 15 * 128 + 80: the cached prefix is 1920 tokens (1024 + 7 * 128).
    warm = consistent(sim.request(p, at=1))
    assert (warm.read_tokens, warm.uncached_tokens) == (1920, 80)
    assert warm.native()["prompt_tokens_details"] == {"cached_tokens": 1920, "audio_tokens": 0}
    assert warm.usage.cache_write_tokens is None  # Chat Completions reports no writes for automatic caching


def test_a_partial_match_rounds_down_to_the_increment(consistent: Check) -> None:
    sim = Simulator("openai")
    consistent(sim.request(prompt(("doc", 1500), ("q1", 600)), at=0))
    # Shares "doc" (1500 tokens) only: 1500 = 11 * 128 + 92 -> 1408 cached.
    r = consistent(sim.request(prompt(("doc", 1500), ("q2", 700)), at=1))
    assert (r.read_tokens, r.uncached_tokens) == (1408, 2200 - 1408)


def test_nothing_below_1024_tokens(consistent: Check) -> None:
    sim = Simulator("openai")
    short = prompt(("doc", 1000))
    consistent(sim.request(short, at=0))
    assert consistent(sim.request(short, at=1)).read_tokens == 0  # never stored
    # A 1100-token prompt is stored up to 1024 (8 * 128); a later prompt sharing only 900 of them reads nothing,
    # because a hit below 1024 tokens does not count.
    consistent(sim.request(prompt(("head", 900), ("tail", 200)), at=2))
    assert consistent(sim.request(prompt(("head", 900), ("tail", 200)), at=3)).read_tokens == 1024
    assert consistent(sim.request(prompt(("head", 900), ("other", 300)), at=4)).read_tokens == 0


def test_prompt_cache_key_routes_to_separate_caches(consistent: Check) -> None:
    sim = Simulator("openai")
    consistent(sim.request(prompt(("doc", 3000), key="tenant-a"), at=0))
    assert consistent(sim.request(prompt(("doc", 3000), key="tenant-b"), at=1)).read_tokens == 0
    assert consistent(sim.request(prompt(("doc", 3000), key="tenant-a"), at=2)).read_tokens == 2944  # 23 * 128


def test_a_busy_route_overflows_onto_more_machines(consistent: Check) -> None:
    sim = Simulator("openai", openai=OpenAIOptions(overflow_rpm=15))
    p = prompt(("doc", 3000), key="k")
    reads = [consistent(sim.request(p, at=float(t))).read_tokens for t in range(17)]
    # Requests 0..14: one machine; request 0 is cold, 1..14 hit (2944 = 23 * 128).
    # Request 15 is the 16th within 60 s: 2 machines, 15 mod 2 = machine 1, which is cold.
    # Request 16: 17 in the window, still 2 machines, 16 mod 2 = machine 0: a hit.
    assert reads == [0] + [2944] * 14 + [0, 2944]
    # Without overflow modelling every request after the first hits.
    quiet = Simulator("openai", openai=OpenAIOptions(overflow_rpm=None))
    assert [quiet.request(p, at=float(t)).read_tokens for t in range(17)] == [0] + [2944] * 16


def test_in_memory_retention_expires_after_idle_time(consistent: Check) -> None:
    sim = Simulator("openai", openai=OpenAIOptions(overflow_rpm=None))
    p = prompt(("doc", 3000), retention="in_memory")
    consistent(sim.request(p, at=0))
    assert consistent(sim.request(p, at=299)).read_tokens == 2944  # idle < 300 s; refreshed to 599
    assert consistent(sim.request(p, at=598)).read_tokens == 2944
    assert consistent(sim.request(p, at=898)).read_tokens == 0  # 300 s after the last use


def test_extended_retention_is_the_default(consistent: Check) -> None:
    sim = Simulator("openai")
    p = prompt(("doc", 3000))
    consistent(sim.request(p, at=0))
    assert consistent(sim.request(p, at=20 * 3600)).read_tokens == 2944
    assert consistent(sim.request(p, at=20 * 3600 + 86_400)).read_tokens == 0
    zdr = Simulator("openai", openai=OpenAIOptions(default_retention="in_memory"))
    zdr.request(p, at=0)
    assert zdr.request(p, at=400).read_tokens == 0


def test_responses_usage_reports_zero_writes_for_automatic_caching(consistent: Check) -> None:
    sim = Simulator("openai")
    p = prompt(("doc", 2000), fmt="openai-responses")
    consistent(sim.request(p, at=0))
    warm = consistent(sim.request(p, at=1))
    assert warm.native()["input_tokens_details"] == {"cached_tokens": 1920, "cache_write_tokens": 0}


def test_gpt_5_6_implicit_breakpoint_writes_and_reads_whole_prefixes(
    word_counter: Any, words: Callable[[int, str], str], consistent: Check
) -> None:
    sim = Simulator("openai", counter=word_counter)
    system = {"role": "developer", "content": words(3000, "s")}
    turn1 = [system, {"role": "user", "content": words(20, "a")}]
    # The implicit breakpoint sits on the latest user message: 3000 + 3 + 20 + 3 = 3026, written for 30m.
    r1 = consistent(sim.request({"model": "gpt-5.6", "messages": turn1}, at=0))
    assert (r1.read_tokens, r1.write_by_ttl) == (0, {"30m": 3026})
    assert r1.native()["prompt_tokens_details"]["cache_write_tokens"] == 3026
    turn2 = [*turn1, {"role": "assistant", "content": words(10, "b")}, {"role": "user", "content": words(5, "c")}]
    # Turn 2 reads turn 1's prefix (no lookback limit) and writes 10 + 3 + 5 + 3 = 21.
    r2 = consistent(sim.request({"model": "gpt-5.6", "messages": turn2}, at=60))
    assert (r2.read_tokens, r2.write_tokens, r2.uncached_tokens) == (3026, 21, 0)
    # Past 30 minutes without use the entries are gone.
    r3 = consistent(sim.request({"model": "gpt-5.6", "messages": turn2}, at=60 + 1800))
    assert (r3.read_tokens, r3.write_tokens) == (0, 3047)


def test_gpt_5_6_explicit_mode_without_markers_does_not_cache(
    word_counter: Any, words: Callable[[int, str], str], consistent: Check
) -> None:
    sim = Simulator("openai", counter=word_counter)
    payload = {
        "model": "gpt-5.6",
        "prompt_cache_options": {"mode": "explicit"},
        "messages": [{"role": "user", "content": words(3000, "s")}],
    }
    for at in (0, 1):
        r = consistent(sim.request(payload, at=at))
        assert (r.read_tokens, r.write_tokens) == (0, 0)
        assert [o.note for o in r.breakpoints] == []


def test_gpt_5_6_writes_only_the_latest_explicit_breakpoints(
    word_counter: Any, words: Callable[[int, str], str], consistent: Check
) -> None:
    sim = Simulator("openai", counter=word_counter)
    marker = {"mode": "explicit"}
    parts = [
        {"type": "text", "text": words(1100 if i == 0 else 10, f"p{i}"), "prompt_cache_breakpoint": marker}
        for i in range(5)
    ]
    payload = {
        "model": "gpt-5.6",
        "prompt_cache_options": {"mode": "explicit"},
        "messages": [{"role": "user", "content": parts}],
    }
    # Explicit mode writes the latest four markers (parts 1..4); part 0 (1100 + 3 = 1103) is not written, but
    # the write still spans from the start: 1103 + 4 * 10 = 1143 tokens.
    r = consistent(sim.request(payload, at=0))
    assert r.write_tokens == 1143
    assert [(o.position, o.wrote, o.note) for o in r.breakpoints] == [
        (0, False, "not_written"),
        (1, True, ""),
        (2, True, ""),
        (3, True, ""),
        (4, True, ""),
    ]
