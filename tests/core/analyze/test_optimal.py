"""`exact_optimum` and `lower_bound` (cachepoint.core.analyze.optimal).

Properties on small random sessions: the exact search finds what brute force over every placement sequence
finds; the bound never exceeds it; and neither is ever costlier than a strategy whose placements lie in the
searched space (auto and the incumbents, placed on the same requests and simulated by the same model).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachepoint.core.analyze.incumbents import crewai_default, langchain_anthropic_middleware, litellm_injection
from cachepoint.core.analyze.optimal import (
    SearchRequest,
    clairvoyant,
    exact_optimum,
    lower_bound,
    placements_for,
    request_cost,
)
from cachepoint.core.analyze.scenarios import place
from cachepoint.core.prompt import Request, auto, rolling
from cachepoint.core.providers import model_info
from cachepoint.core.simulate import SimBreakpoint, SimPrompt, Simulator

MODEL = "claude-sonnet-4-5"
INFO = model_info("anthropic", MODEL)
PRICE = INFO.pricing
assert PRICE is not None


class _Item:
    """A request as `lower_bound` reads it."""

    def __init__(self, prompt: SimPrompt, at: float) -> None:
        self.time = at
        self.tenant = "t"
        self.provider = "anthropic"
        self.model = MODEL
        self.hashes = tuple(prompt.hashes)
        self.cumulative = tuple(prompt.cumulative)
        self.output = 0
        self.retention = None


def simulate(requests: list[SearchRequest], placements: tuple[tuple[tuple[int, str], ...], ...]) -> float:
    """Cost of one placement sequence, through the simulator as the analyzer uses it."""
    sim = Simulator("anthropic")
    total = 0.0
    for req, placement in zip(requests, placements, strict=True):
        prompt = req.prompt.with_placement(tuple(SimBreakpoint(p, t) for p, t in placement))
        r = sim.request(prompt, at=req.at, model=MODEL)
        assert PRICE is not None
        total += request_cost(PRICE, prompt.total_tokens, r.read_tokens, dict(r.write_by_ttl), 0)
    return total


def brute_force(requests: list[SearchRequest]) -> float:
    options = [placements_for(r.candidates, ("5m", "1h"), 4) for r in requests]
    return min(simulate(requests, combo) for combo in itertools.product(*options))


@st.composite
def sessions(draw: st.DrawFn) -> list[SearchRequest]:
    """2-3 requests over a small prefix tree: each extends an earlier one or the root, 1-3 blocks of 200-2000
    tokens, gaps from seconds to over an hour (so both TTLs and expiry matter)."""
    count = draw(st.integers(2, 3))
    prompts: list[tuple[tuple[str, ...], tuple[int, ...]]] = []
    at = 0.0
    requests = []
    for n in range(count):
        base: tuple[tuple[str, ...], tuple[int, ...]] = ((), ())
        if prompts and draw(st.booleans()):
            base = prompts[draw(st.integers(0, len(prompts) - 1))]
        hashes, cumulative = list(base[0]), list(base[1])
        keep = draw(st.integers(0, len(hashes)))
        hashes, cumulative = hashes[:keep], cumulative[:keep]
        for b in range(draw(st.integers(1, 3 - min(len(hashes), 2)))):
            tokens = draw(st.sampled_from((200, 900, 1500, 2000)))
            hashes.append(f"{hashes[-1] if hashes else ''}/{n}.{b}")
            cumulative.append((cumulative[-1] if cumulative else 0) + tokens)
        prompts.append((tuple(hashes), tuple(cumulative)))
        candidates = tuple(i for i, c in enumerate(cumulative) if c >= INFO.min_cache_tokens)
        requests.append(SearchRequest(SimPrompt(tuple(hashes), tuple(cumulative), model=MODEL), at, candidates))
        at += draw(st.sampled_from((5.0, 200.0, 400.0, 2000.0, 4000.0)))
    return requests


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_exact_search_matches_brute_force_and_the_bound_stays_below(requests: list[SearchRequest]) -> None:
    best = exact_optimum(requests, info=INFO)
    assert best is not None
    assert abs(best.cost_usd - brute_force(requests)) < 1e-12
    # The plan it reports is a real one: replayed through the simulator, it costs what it says.
    assert abs(simulate(requests, best.placements) - best.cost_usd) < 1e-12
    bound = lower_bound([_Item(r.prompt, r.at) for r in requests])
    assert bound.cost_usd <= best.cost_usd + 1e-12


# --- against strategies on real requests ----------------------------------------------------------------------

STRATEGIES = [auto(), langchain_anthropic_middleware(), langchain_anthropic_middleware(ttl="1h"), crewai_default()]
STRATEGIES += [litellm_injection(), rolling(2)]


def _payload(system_words: int, turns: list[int]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for n, words in enumerate(turns):
        if messages:
            messages.append({"role": "assistant", "content": f"Answer {n}. " + "fine " * 40})
        messages.append({"role": "user", "content": f"Question {n}. " + "detail " * words})
    return {"model": MODEL, "max_tokens": 8, "system": "Policy rule. " * system_words, "messages": messages}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    system=st.sampled_from((100, 700)),
    turns=st.lists(st.sampled_from((20, 600)), min_size=1, max_size=2),
    gaps=st.lists(st.sampled_from((30.0, 400.0, 4000.0)), min_size=2, max_size=2),
)
def test_the_optimum_is_never_costlier_than_a_strategy(system: int, turns: list[int], gaps: list[float]) -> None:
    # A conversation of len(turns) + 1 requests, each turn one more question.
    plans = [_payload(system, turns[: k + 1]) for k in range(len(turns))]
    plans.append(_payload(system, [*turns, 20]))
    views = [Request.parse(p).positions(info=INFO) for p in plans]
    times = [0.0, *itertools.accumulate(gaps)][: len(views)]
    requests = [
        SearchRequest(
            SimPrompt.from_view(view),
            at,
            tuple(p.index for p in view if p.eligible and p.cumulative_tokens >= INFO.min_cache_tokens),
        )
        for view, at in zip(views, times, strict=True)
    ]
    best = exact_optimum(requests, info=INFO)
    assert best is not None
    bound = lower_bound([_Item(r.prompt, r.at) for r in requests])
    assert bound.cost_usd <= best.cost_usd + 1e-12
    for strategy in STRATEGIES:
        placed = [place(view, strategy, info=INFO, provider="anthropic").breakpoints for view in views]
        ttls = tuple(tuple((b.position, b.ttl or INFO.default_ttl) for b in bps) for bps in placed)
        assert best.cost_usd <= simulate(requests, ttls) + 1e-12, strategy


def test_a_prefix_reused_every_twenty_minutes_is_written_for_an_hour() -> None:
    # A 3000-token system prompt sent three times 20 minutes apart: a 5m entry would expire between them; 1h
    # costs 2x once and 0.1x per read (2.2x in all, against 3x uncached).
    prompts = [SimPrompt(("s", f"s/q{n}"), (3000, 3050), model=MODEL) for n in range(3)]
    every_20m = [SearchRequest(p, 1200.0 * n, (0, 1)) for n, p in enumerate(prompts)]
    best = exact_optimum(every_20m, info=INFO)
    assert best is not None
    assert best.placements[0] == ((0, "1h"),)
    assert best.read_tokens == 6000
    # Sent twice only, one hour write does not pay (2.1x against 2x); 5 minutes apart, 5m does (1.35x).
    twice = exact_optimum(every_20m[:2], info=INFO)
    assert twice is not None
    assert (twice.placements, twice.read_tokens) == (((), ()), 0)
    close = exact_optimum([SearchRequest(p, 60.0 * n, (0, 1)) for n, p in enumerate(prompts[:2])], info=INFO)
    assert close is not None
    assert close.placements[0] == ((0, "5m"),)


def test_the_search_gives_up_past_its_state_limit() -> None:
    prompts = [SimPrompt(tuple(f"p{i}" for i in range(k)), tuple(1100 * i for i in range(1, k + 1))) for k in (4, 5)]
    requests = [SearchRequest(p, 10.0 * n, tuple(range(len(p.hashes)))) for n, p in enumerate(prompts)]
    assert exact_optimum(requests, info=INFO, max_states=3) is None


def test_openai_automatic_bound_reads_what_an_earlier_request_sent() -> None:
    a = _Item(SimPrompt(("d", "d/q1"), (3000, 3100)), 0.0)
    b = _Item(SimPrompt(("d", "d/q2"), (3000, 3070)), 60.0)
    for item in (a, b):
        item.provider, item.model = "openai", "gpt-4.1"
    bound = lower_bound([a, b])
    assert (bound.read_tokens, bound.write_tokens, bound.hit_requests) == (2944, 0, 1)  # 23 x 128 tokens


class _Replayed(_Item):
    """A request as `clairvoyant` replays it."""

    def __init__(self, prompt: SimPrompt, at: float) -> None:
        super().__init__(prompt, at)
        self.ttft = 0.0
        self.lookback = tuple(range(len(prompt.hashes)))
        self.format = "anthropic"
        self.cache_mode = None


def test_the_clairvoyant_placement_lengthens_ttls_to_reach_the_next_use() -> None:
    prompts = [SimPrompt(("s", f"s/q{n}"), (3000, 3050), model=MODEL) for n in range(3)]
    items = [_Replayed(p, 1200.0 * n) for n, p in enumerate(prompts)]
    five_minutes = [(SimBreakpoint(0, "5m"),)] * 3
    upper = clairvoyant(items, five_minutes)
    best = exact_optimum([SearchRequest(p, 1200.0 * n, (0, 1)) for n, p in enumerate(prompts)], info=INFO)
    assert best is not None
    assert upper.kind == "upper"
    assert upper.cost_usd == pytest.approx(best.cost_usd)  # 1h on the system prompt: the optimum here
    assert upper.read_tokens == 6000
    assert lower_bound(items).cost_usd <= upper.cost_usd
    # Asked to fit, a prefix that comes back within five minutes keeps 5m; one that does not come back keeps its own.
    close = [_Replayed(p, 60.0 * n) for n, p in enumerate(prompts)]
    hour = [(SimBreakpoint(0, "1h"),)] * 3
    assert clairvoyant(close, hour, fit=True).cost_usd < clairvoyant(close, hour).cost_usd
