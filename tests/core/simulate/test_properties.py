"""Properties that hold for any sequence of requests, drawn by hypothesis."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cachepoint.core.simulate import EngineCache, SimBreakpoint, SimPrompt, SimResult, Simulator
from cachepoint.core.usage import normalize_usage

# A small alphabet of blocks, so random prompts share prefixes often.
BLOCKS = [("a", 700), ("b", 400), ("c", 90), ("d", 1500), ("e", 3), ("f", 250), ("g", 60)]


@st.composite
def prompts(draw: Any, fmt: str = "anthropic", model: str = "claude-sonnet-4-5") -> SimPrompt:
    names = draw(st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=30))
    hashes, cumulative, chain, total = [], [], "", 0
    for name, size in names:
        chain += name
        total += size
        hashes.append(chain)
        cumulative.append(total)
    n = len(hashes)
    positions = draw(st.lists(st.integers(0, n - 1), max_size=4, unique=True))
    ttls = draw(st.lists(st.sampled_from([None, "5m", "1h"]), min_size=len(positions), max_size=len(positions)))
    breakpoints = tuple(
        SimBreakpoint(p, t) for p, t in zip(sorted(positions), sorted(ttls, key=lambda t: t != "1h"), strict=True)
    )
    return SimPrompt(tuple(hashes), tuple(cumulative), breakpoints=breakpoints, format=fmt, model=model)


def _check(result: SimResult) -> None:
    assert min(result.read_tokens, result.write_tokens, result.uncached_tokens) >= 0
    assert result.read_tokens + result.write_tokens + result.uncached_tokens == result.total_tokens
    assert sum(result.write_by_ttl.values()) == result.write_tokens
    assert normalize_usage(result.native(), provider=result.provider, model=result.model) == result.usage


requests = st.lists(st.tuples(prompts(), st.floats(0, 400), st.sampled_from(["t1", "t2"])), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(requests)
def test_anthropic_usage_always_adds_up(sequence: list[tuple[SimPrompt, float, str]]) -> None:
    sim = Simulator("anthropic")
    now = 0.0
    for prompt, gap, tenant in sequence:
        now += gap
        _check(sim.request(prompt, at=now, tenant=tenant))


@settings(max_examples=150, deadline=None)
@given(requests, st.floats(0, 299))
def test_a_repeated_request_never_writes_twice_within_its_ttl(
    sequence: list[tuple[SimPrompt, float, str]], delay: float
) -> None:
    sim = Simulator("anthropic")
    now = 0.0
    for prompt, gap, tenant in sequence:
        now += gap
        first = sim.request(prompt, at=now, tenant=tenant)
        again = sim.request(prompt, at=now + delay, tenant=tenant)
        now += delay
        assert again.write_tokens == 0
        # ...and reads at least what the first one read or wrote, up to its last written breakpoint.
        assert again.read_tokens >= first.read_tokens
        if first.write_tokens:
            assert again.read_tokens == first.read_tokens + first.write_tokens


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(prompts(fmt="openai-chat", model="gpt-4o"), st.floats(0, 400)), min_size=1, max_size=25))
def test_openai_hits_are_whole_increments_from_1024(sequence: list[tuple[SimPrompt, float]]) -> None:
    sim = Simulator("openai")
    now = 0.0
    for prompt, gap in sequence:
        now += gap
        result = sim.request(prompt, at=now)
        _check(result)
        assert result.read_tokens == 0 or result.read_tokens >= 1024
        assert result.read_tokens % 128 == 0
        assert result.write_tokens == 0


@settings(max_examples=100, deadline=None)
@given(requests)
def test_replaying_a_trace_is_deterministic(sequence: list[tuple[SimPrompt, float, str]]) -> None:
    outcomes = []
    for _ in range(2):
        sim = Simulator("anthropic")
        now = 0.0
        run = []
        for prompt, gap, tenant in sequence:
            now += gap
            r = sim.request(prompt, at=now, tenant=tenant, first_byte_at=now + 1.5)
            run.append((r.read_tokens, dict(r.write_by_ttl), r.hit_position))
        outcomes.append(run)
    assert outcomes[0] == outcomes[1]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 5), min_size=0, max_size=80), min_size=1, max_size=20),
    st.integers(1, 16),
    st.one_of(st.none(), st.integers(1, 40)),
)
def test_engine_reuses_whole_blocks_and_never_the_last_token(
    sequences: list[list[int]], block_size: int, capacity: int | None
) -> None:
    cache = EngineCache(block_size=block_size, capacity_blocks=capacity)
    for tokens in sequences:
        hit = cache.request(tokens)
        assert hit.cached_tokens % block_size == 0
        assert hit.cached_tokens <= max(len(tokens) - 1, 0)
        if capacity is not None:
            assert len(cache) <= capacity


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(prompts(fmt="openai-chat", model="gpt-5.6"), st.floats(0, 900)), min_size=1, max_size=20),
    st.sampled_from(["openai-chat", "openai-responses"]),
)
def test_gpt_5_6_breakpoints_add_up_in_both_openai_shapes(sequence: list[tuple[SimPrompt, float]], fmt: str) -> None:
    sim = Simulator("openai")
    now = 0.0
    for prompt, gap in sequence:
        now += gap
        # The last position plays the implicit breakpoint (the latest user message); markers get GPT-5.6 TTLs.
        marks = tuple(SimBreakpoint(b.position, "30m") for b in prompt.breakpoints)
        shaped = SimPrompt(
            prompt.hashes,
            prompt.cumulative,
            breakpoints=(*marks, SimBreakpoint(len(prompt.hashes) - 1, None, implicit=True)),
            format=fmt,
            model="gpt-5.6",
        )
        result = sim.request(shaped, at=now)
        _check(result)
        assert result.read_tokens == 0 or result.read_tokens >= 1024
