"""What a trace is replayed under: the markers it already carries, no caching, and each breakpoint strategy.

A strategy is given as a spec string, the way you would write it in Python: ``auto``, ``rolling(4)``,
``cache_at("system", -1)``, ``stable_prefix(min_tokens=4096)``. Specs are read with `ast` (literals only), never
evaluated.

`place` runs a strategy on a request's `PrefixView` through `cachepoint.core.prompt.plan_cache_points` (the
decisions `apply_cache_points` makes: eligibility, minimum, budget, TTL order, OpenAI's cache key) and returns
the breakpoints the provider would see, without rendering a payload and without building the view again: the
analyzer parses each request once and places every strategy on the same view.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cachepoint.core.analyze.adaptive import auto_adaptive
from cachepoint.core.analyze.incumbents import INCUMBENTS, Incumbent
from cachepoint.core.prompt import Decision, PrefixView, Strategy, plan_cache_points
from cachepoint.core.prompt import strategies as builtins
from cachepoint.core.prompt.plan import placed_breakpoints
from cachepoint.core.providers import ModelInfo
from cachepoint.core.simulate import SimBreakpoint

__all__ = [
    "DEFAULT_STRATEGIES",
    "STRATEGY_FACTORIES",
    "Placement",
    "Scenario",
    "ScenarioKind",
    "default_scenarios",
    "parse_strategy",
    "place",
    "place_breakpoints",
    "scenarios_for",
    "unmarked",
]

ScenarioKind = Literal["recorded", "none", "strategy"]

#: The strategies a spec may name: the built-ins, what frameworks place today (`analyze.incumbents`), and
#: `auto_adaptive` (`analyze.adaptive`).
STRATEGY_FACTORIES: dict[str, Callable[..., Strategy]] = {
    "auto": builtins.auto,
    "stable_prefix": builtins.stable_prefix,
    "cache_until": builtins.cache_until,
    "cache_at": builtins.cache_at,
    "rolling": builtins.rolling,
    **INCUMBENTS,
    # Analyzer only (`analyze.adaptive`): TTLs from each session's past gaps, which no live adapter keeps yet.
    "auto_adaptive": auto_adaptive,
}

#: Strategies replayed by default: each built-in, with the arguments a first-time user would pick.
DEFAULT_STRATEGIES: tuple[str, ...] = (
    "auto",
    "stable_prefix",
    "cache_until(-1)",
    'cache_at("tools", "system", -1)',
    "rolling(4)",
)


@dataclass(frozen=True)
class Scenario:
    """One way to replay the trace.

    ``name`` is the key in reports (``recorded``, ``none``, ``auto``, ``rolling``... or the full spec when two
    specs share a function); ``spec`` the strategy as written; ``label`` a short description.

    >>> [s.name for s in default_scenarios()]
    ['recorded', 'none', 'auto', 'stable_prefix', 'cache_until', 'cache_at', 'rolling']
    >>> parse_strategy("rolling(every=8, max_points=2)").label
    'rolling(every=8, max_points=2)'
    """

    name: str
    kind: ScenarioKind
    label: str
    spec: str = ""
    strategy: Strategy | None = None


_RECORDED = Scenario("recorded", "recorded", "the cache markers already in the trace, replayed through the model")
_NONE = Scenario("none", "none", "no caching (the baseline every saving is measured against)")


def _literal(node: ast.expr, spec: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(
            f"strategy {spec!r}: arguments must be literals (numbers, strings, None), got {ast.unparse(node)!r}"
        ) from None


def parse_strategy(spec: str) -> Scenario:
    """A strategy scenario from a spec: a built-in name, optionally called with literal arguments.

    >>> s = parse_strategy("cache_at('system', -1)")
    >>> s.name, s.strategy
    ('cache_at', CacheAt(targets=('system', -1), ttl=None))
    >>> parse_strategy("magic()")
    Traceback (most recent call last):
    ...
    ValueError: strategy 'magic()': unknown strategy 'magic' (known: auto, auto_adaptive, cache_at, cache_until, ...)
    """
    text = spec.strip()
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise ValueError(f"strategy {spec!r}: expected a name or a call such as rolling(4)") from None
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if isinstance(tree, ast.Name):
        name = tree.id
    elif isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name):
        name = tree.func.id
        args = [_literal(a, spec) for a in tree.args]
        for kw in tree.keywords:
            if kw.arg is None:
                raise ValueError(f"strategy {spec!r}: **kwargs are not supported")
            kwargs[kw.arg] = _literal(kw.value, spec)
    else:
        raise ValueError(f"strategy {spec!r}: expected a name or a call such as rolling(4)")
    factory = STRATEGY_FACTORIES.get(name)
    if factory is None:
        known = ", ".join(sorted(STRATEGY_FACTORIES))
        raise ValueError(f"strategy {spec!r}: unknown strategy {name!r} (known: {known})")
    try:
        strategy = factory(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"strategy {spec!r}: {exc}") from None
    label = text if isinstance(tree, ast.Call) else f"{name}()"
    return Scenario(name, "strategy", label, text, strategy)


def scenarios_for(strategies: Sequence[str] = DEFAULT_STRATEGIES) -> list[Scenario]:
    """``recorded`` and ``none`` followed by one scenario per strategy spec (names made unique).

    >>> [s.name for s in scenarios_for(["auto", "rolling(2)", "rolling(8)"])]
    ['recorded', 'none', 'auto', 'rolling(2)', 'rolling(8)']
    """
    parsed = [parse_strategy(spec) for spec in strategies]
    counts: dict[str, int] = {}
    for s in parsed:
        counts[s.name] = counts.get(s.name, 0) + 1
    out = [_RECORDED, _NONE]
    seen: set[str] = {"recorded", "none"}
    for s in parsed:
        name = s.name if counts[s.name] == 1 else s.spec
        if name in seen:
            raise ValueError(f"strategy {s.spec!r} is listed twice")
        seen.add(name)
        out.append(Scenario(name, s.kind, s.label, s.spec, s.strategy))
    return out


def default_scenarios() -> list[Scenario]:
    """`scenarios_for` the `DEFAULT_STRATEGIES`."""
    return scenarios_for(DEFAULT_STRATEGIES)


@dataclass(frozen=True)
class Placement:
    """Where a strategy's breakpoints land on one request: one `SimBreakpoint` ``(position, ttl or None for the
    default, implicit)`` each, as the simulator takes them, and the OpenAI ``prompt_cache_key`` the request would carry.

    >>> Placement((SimBreakpoint(3, "1h"),), None).positions
    (3,)
    """

    breakpoints: tuple[SimBreakpoint, ...]
    cache_key: str | None = None
    dropped: tuple[Decision, ...] = ()

    @property
    def positions(self) -> tuple[int, ...]:
        """The breakpoint positions."""
        return tuple(b[0] for b in self.breakpoints)


def unmarked(view: PrefixView) -> PrefixView:
    """``view`` without the request's own cache markers (OpenAI's implicit breakpoint stays: the provider adds
    it): what a strategy is placed on. The same view when there is nothing to remove, so place every strategy
    on one `unmarked` view (its position indexes are built once).

    >>> from cachepoint.core.prompt import Request
    >>> view = Request.parse({"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user",
    ...     "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]}]}).positions()
    >>> clean = unmarked(view)
    >>> len(view.breakpoints), len(clean.breakpoints), unmarked(clean) is clean
    (1, 0, True)
    """
    implicit = tuple(b for b in view.breakpoints if b.source == "implicit")
    if len(implicit) == len(view.breakpoints):
        return view
    return PrefixView(view.request, view.positions, implicit, view.info, view.counter)


def place(view: PrefixView, strategy: Strategy, *, info: ModelInfo, provider: str) -> Placement:
    """Run ``strategy`` on ``view`` as `apply_cache_points` would on the same request stripped of its own
    markers (OpenAI's implicit breakpoint stays: the provider adds it). ``info`` must be the rules the view was
    built with.

    >>> from cachepoint.core.prompt import Request, auto
    >>> from cachepoint.core.providers import model_info
    >>> info = model_info("anthropic", "claude-sonnet-4-5")
    >>> req = Request.parse({"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "Policy. " * 900,
    ...                      "messages": [{"role": "user", "content": "Hi"}]})
    >>> place(req.positions(info=info), auto(), info=info, provider="anthropic").breakpoints == ((0, "1h", False),
    ...                                                                                      (1, None, False))
    True
    """
    # An incumbent sets the OpenAI key it says (usually none); every other strategy gets the derived one.
    cache_key = strategy.cache_key if isinstance(strategy, Incumbent) else True
    plan = plan_cache_points(unmarked(view), strategy, provider=provider, info=info, cache_key=cache_key)
    found = tuple(SimBreakpoint(b.position, b.ttl, b.source == "implicit") for b in plan.breakpoints)
    return Placement(found, plan.cache_key, tuple(plan.dropped))


def place_breakpoints(
    view: PrefixView, strategy: Strategy, *, info: ModelInfo, provider: str
) -> tuple[tuple[SimBreakpoint, ...], str | None]:
    """``(placement.breakpoints, placement.cache_key)`` of `place`, without the decisions dropped: what the
    replay needs, computed as `cachepoint.core.prompt.plan.placed_breakpoints` computes them (the same rules,
    no reports).
    ``view`` is placed on as given: pass it through `unmarked` first, once for every strategy.

    >>> from cachepoint.core.prompt import Request, auto
    >>> from cachepoint.core.providers import model_info
    >>> info = model_info("anthropic", "claude-sonnet-4-5")
    >>> req = Request.parse({"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "Policy. " * 900,
    ...                      "messages": [{"role": "user", "content": "Hi"}]})
    >>> view = unmarked(req.positions(info=info))
    >>> place_breakpoints(view, auto(), info=info, provider="anthropic") == (
    ...     place(view, auto(), info=info, provider="anthropic").breakpoints, None)
    True
    """
    cache_key = strategy.cache_key if isinstance(strategy, Incumbent) else True
    found, key = placed_breakpoints(view, strategy, provider=provider, info=info, cache_key=cache_key)
    return tuple([SimBreakpoint(b.position, b.ttl, b.source == "implicit") for b in found]), key
