"""`placed_breakpoints` (the analyzer's placement, without decisions or reasons) gives exactly the breakpoints and
cache key of `plan_cache_points`, on random requests of every format (with the caller's own markers, which bind
the budget and the TTL order, and with them stripped, as the analyzer places), for every built-in strategy, the
incumbents and TTLs a model does not take; and a view answers `resolve_target` the same on every call."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachepoint.core.analyze.scenarios import parse_strategy, place, place_breakpoints, unmarked
from cachepoint.core.prompt import Breakpoint, PlacementContext, PrefixView, Request, plan_cache_points
from cachepoint.core.prompt.breakpoints import At, new_breakpoint, resolve_target, target_positions
from cachepoint.core.prompt.formats import get_format
from cachepoint.core.prompt.model import Locator
from cachepoint.core.prompt.plan import placed_breakpoints
from cachepoint.core.providers import ModelInfo, model_info

CASES = [
    ("anthropic", "anthropic"),
    ("bedrock", "bedrock"),
    ("openai-chat", "openai"),
    ("openai-responses", "openai"),
    ("openai-chat", "openrouter"),
]
SPECS = [
    "auto",
    'auto(static_ttl="5m", conversation_ttl="1h")',
    "auto(anchors=3)",
    "auto(anchors=0)",
    "stable_prefix",
    "stable_prefix(min_tokens=3000)",
    "cache_until(-1)",
    'cache_until("system", ttl="1h")',
    'cache_at("tools", "system", -1)',
    'cache_at(-1, 0, -1, 1, -2, ttl="30m")',
    'cache_at("system", -1, ttl="2h")',
    'cache_at(-1, ttl="in_memory")',
    "rolling(4)",
    "rolling(1)",
    'rolling(2, min_tokens=2000, max_points=3, ttl="1h")',
    "langchain_anthropic_middleware",
    'langchain_anthropic_middleware(ttl="1h")',
    "crewai_default",
    "litellm_injection",
    'openai_automatic("support-bot")',
]
# Models whose rules differ where placement looks: TTLs offered (1h or not; OpenAI's labels that are no
# durations), budget, explicit markers or automatic caching only.
MODELS = {
    "anthropic": ["claude-sonnet-4-5", "claude-3-haiku-20240307", "claude-unknown-9"],
    "bedrock": ["anthropic.claude-sonnet-4-5-20250929-v1:0", "amazon.nova-pro-v1:0"],
    "openai": ["gpt-5.6-sol", "gpt-4o"],
    "openrouter": ["anthropic/claude-sonnet-4-5", "openai/gpt-4o"],
}


def _info(fmt: str, provider: str, model: str) -> ModelInfo:
    rules = {"openrouter": "anthropic" if "claude" in model else "openai"}.get(provider, provider)
    name = model.split("/", 1)[-1]
    return get_format(fmt).effective_info(model_info(rules, name))


class Drawn:
    """A strategy returning the breakpoints drawn for it: any positions (out of range too), repeats, any TTLs."""

    def __init__(self, wanted: list[Breakpoint]) -> None:
        self.wanted = wanted

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        return list(self.wanted)


TTLS = st.sampled_from([None, None, "5m", "1h", "30m", "2h", "10s", "in_memory", "24h"])


@pytest.mark.parametrize(("fmt", "provider"), CASES)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_placed_breakpoints_are_the_plans(fmt: str, provider: str, data: st.DataObject, gen: Any, words: Any) -> None:
    payload = data.draw(gen.for_format(fmt))
    model = data.draw(st.sampled_from(MODELS[provider]))
    info = _info(fmt, provider, model)
    view = Request.parse(payload, format=fmt).positions(info=info, counter=words)
    how = data.draw(st.sampled_from(["as is", "unmarked", "shuffled"]))
    if how == "unmarked":
        view = unmarked(view)
    elif how == "shuffled":  # the request's own breakpoints in any order (the plan lists them by position)
        order = data.draw(st.permutations(view.breakpoints))
        view = PrefixView(view.request, view.positions, order, view.info, view.counter)
    strategy: Any
    if data.draw(st.booleans()):
        strategy = parse_strategy(data.draw(st.sampled_from(SPECS))).strategy
    else:
        spots = st.integers(-2, len(view) + 1) | st.sampled_from([len(view) - 1] * 3)
        strategy = Drawn(data.draw(st.lists(st.builds(Breakpoint, spots, TTLS), max_size=8)))
    assert strategy is not None
    key = strategy.cache_key if hasattr(strategy, "cache_key") else True
    plan = plan_cache_points(view, strategy, provider=provider, info=info, cache_key=key)
    assert placed_breakpoints(view, strategy, provider=provider, info=info, cache_key=key) == (
        plan.breakpoints,
        plan.cache_key,
    )
    slow = place(view, strategy, info=info, provider=provider)
    assert place_breakpoints(unmarked(view), strategy, info=info, provider=provider) == (
        slow.breakpoints,
        slow.cache_key,
    )


TARGETS = st.one_of(
    st.integers(-6, 6),
    st.sampled_from(["tools", "system", "messages"]),
    st.builds(At, st.integers(-8, 8)),
    st.builds(Locator, st.sampled_from(["tools", "system"]), st.none(), st.integers(0, 3)),
    st.builds(Locator, st.just("messages"), st.integers(0, 4), st.integers(0, 3)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_view_remembers_resolve_target_right(data: st.DataObject, gen: Any, words: Any) -> None:
    fmt = data.draw(st.sampled_from(["anthropic", "bedrock", "openai-chat", "openai-responses"]))
    request = Request.parse(data.draw(gen.for_format(fmt)), format=fmt)
    view = request.positions(counter=words)
    fresh = request.positions(counter=words)
    for target in data.draw(st.lists(TARGETS, max_size=12)):
        candidates = target_positions(fresh, target)
        want = None
        if candidates:
            want = next((i for i in reversed(candidates) if fresh[i].eligible), candidates[-1])
        assert resolve_target(view, target) == want
        assert resolve_target(view, target) == want  # remembered
    with pytest.raises(TypeError):
        resolve_target(view, True)  # a bool is no message index, even once 1 is remembered
    with pytest.raises(ValueError, match="target"):
        resolve_target(view, "conversation")


@given(st.integers(-3, 300), st.none() | st.sampled_from(["5m", "1h", "in_memory"]), st.text(max_size=6), st.text())
def test_new_breakpoint_is_the_constructors(position: int, ttl: str | None, name: str, reason: str) -> None:
    fast, slow = new_breakpoint(position, ttl, name, reason), Breakpoint(position, ttl, name, reason)
    assert (fast, hash(fast), repr(fast), list(vars(fast).items())) == (
        slow,
        hash(slow),
        repr(slow),
        list(vars(slow).items()),
    )
    with pytest.raises(FrozenInstanceError):
        fast.position = 0  # type: ignore[misc]
