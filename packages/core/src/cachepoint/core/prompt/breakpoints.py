"""What a strategy returns (`Breakpoint`), what it is given (`PlacementContext`), and the `Strategy` protocol.

A strategy is any callable ``strategy(ctx) -> Sequence[Breakpoint]``. It returns the breakpoints it wants,
**most valuable first**: when the provider's budget (4 markers, minus those already in the request) cannot hold
them all, the first ones are kept. It does not need to check the provider rules itself — `apply_cache_points`
drops what is ineligible, below the model's minimum or over budget, fixes TTL order, and reports every decision
— but it may explain candidates it chose to skip with `PlacementContext.skip`.

>>> from cachepoint.core.prompt import Breakpoint, PlacementContext
>>> def system_only(ctx: PlacementContext) -> list[Breakpoint]:
...     end = ctx.view.layer_end("system")
...     return [] if end is None else [Breakpoint(end, ttl=ctx.long_ttl, id="system", reason="static prompt")]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Protocol, Union, cast, runtime_checkable

from cachepoint.core.prompt.model import Locator, Request
from cachepoint.core.prompt.positions import ExistingBreakpoint, PrefixView
from cachepoint.core.prompt.ttl import longest, shortest
from cachepoint.core.providers import ModelInfo

__all__ = [
    "At",
    "Breakpoint",
    "PlacementContext",
    "Skipped",
    "Strategy",
    "Target",
    "resolve_target",
    "target_positions",
]


@dataclass(frozen=True)
class Breakpoint:
    """A cache breakpoint a strategy asks for: after the block at ``position`` (an index into the `PrefixView`).

    ``ttl`` is a TTL label or ``None`` for the provider default; ``id`` names the breakpoint's role
    (``tools``, ``system``, ``tail``...), ``reason`` says why it is there. Both end up in the `CacheReport`.

    >>> Breakpoint(3, ttl="1h", id="system", reason="end of the static system prompt")
    Breakpoint(position=3, ttl='1h', id='system', reason='end of the static system prompt')
    """

    position: int
    ttl: str | None = None
    id: str = ""
    reason: str = ""


_new = object.__new__
_set = object.__setattr__


def new_breakpoint(position: int, ttl: str | None, id: str, reason: str) -> Breakpoint:
    """``Breakpoint(position, ttl, id, reason)``, built without the dataclass ``__init__`` (which stores each
    field with its own ``object.__setattr__``): the built-in strategies make a few per request, and the analyzer
    places five strategies on every request of a trace. The same object; `tests/core/prompt/test_placed_breakpoints.py`
    checks it against the constructor.

    >>> new_breakpoint(3, "1h", "system", "static prompt") == Breakpoint(3, "1h", "system", "static prompt")
    True
    """
    bp: Breakpoint = _new(Breakpoint)
    _set(bp, "__dict__", {"position": position, "ttl": ttl, "id": id, "reason": reason})
    return bp


if tuple(f.name for f in fields(Breakpoint)) != ("position", "ttl", "id", "reason"):  # pragma: no cover
    raise RuntimeError("Breakpoint's fields changed: update new_breakpoint")


@dataclass(frozen=True)
class Skipped:
    """A candidate a strategy considered and left out, with a reason code and a sentence."""

    breakpoint: Breakpoint
    code: str
    detail: str


@dataclass
class PlacementContext:
    """Everything a strategy may look at.

    Attributes:
        view: the request's positions (`PrefixView`), with token counts and eligibility for this provider.
        info: the model's caching rules (minimum tokens, max breakpoints, TTLs, lookback).
        provider: canonical provider name.
        budget: markers still available after the ones the request already carries.
        skipped: candidates the strategy chose not to return (filled through `skip`).
    """

    view: PrefixView
    info: ModelInfo
    provider: str
    budget: int
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def request(self) -> Request:
        """The request being placed."""
        return self.view.request

    @property
    def existing(self) -> tuple[ExistingBreakpoint, ...]:
        """Breakpoints the request already has."""
        return self.view.breakpoints

    @property
    def long_ttl(self) -> str:
        """The longest TTL the model allows (``"1h"`` for Claude 4.5+, ``"5m"`` otherwise)."""
        return longest(self.info.ttls, default=self.info.default_ttl)

    @property
    def short_ttl(self) -> str:
        """The shortest (default) TTL the model allows."""
        return shortest(self.info.ttls, default=self.info.default_ttl)

    @property
    def min_tokens(self) -> int:
        """The model's minimum cacheable prefix."""
        return self.info.min_cache_tokens

    def skip(self, breakpoint: Breakpoint, code: str, detail: str) -> None:
        """Record a candidate left out on purpose, so the report can say why."""
        self.skipped.append(Skipped(breakpoint, code, detail))


@runtime_checkable
class Strategy(Protocol):
    """Decides where breakpoints go: ``strategy(ctx) -> Sequence[Breakpoint]``, most valuable first.

    >>> class EndOfSystem:
    ...     def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
    ...         end = ctx.view.layer_end("system")
    ...         return [] if end is None else [Breakpoint(end, ttl=ctx.long_ttl, id="system")]
    >>> isinstance(EndOfSystem(), Strategy)
    True
    """

    def __call__(self, ctx: PlacementContext) -> Sequence[Breakpoint]:
        """The breakpoints to place, most valuable first."""
        ...


@dataclass(frozen=True)
class At:
    """A target by position index in the `PrefixView` (``At(0)`` is the first tool or system block).

    >>> At(5)
    At(position=5)
    """

    position: int


#: Where a breakpoint should go: a message index (negative from the end), ``"tools"`` or ``"system"`` (the end
#: of that layer), a `Locator` (one block), or `At` (a position index).
Target = Union[int, str, Locator, At]  # noqa: UP007 - a runtime alias; `|` on classes needs 3.10+ types only


def resolve_target(view: PrefixView, target: Target) -> int | None:
    """The position a target closes: the last eligible block of a message or layer (else its last block, so
    the report can say it was ineligible), a locator's block, or a position index. ``None`` if out of range."""
    kind = type(target)
    if kind is int or kind is str:  # exactly: a bool is an int that target_positions rejects
        memo = view._targets
        key = (kind, cast("int | str", target))
        if key in memo:
            return memo[key]
        found = memo[key] = _resolve(view, target)
        return found
    return _resolve(view, target)


def _resolve(view: PrefixView, target: Target) -> int | None:
    candidates: Sequence[int]
    kind = type(target)
    if kind is str and target in _LAYERS:
        candidates = view._layer(target)  # `target_positions` without its copy
    elif kind is int:
        count = len(view.request.messages)
        index = cast("int", target)
        candidates = view._message(index % count) if -count <= index < count else ()
    else:
        candidates = target_positions(view, target)
    if not candidates:
        return None
    positions = view.positions
    return next((i for i in reversed(candidates) if positions[i].eligible), candidates[-1])


_LAYERS = ("tools", "system", "messages")


def target_positions(view: PrefixView, target: Target) -> list[int]:
    """Every position a target covers (all blocks of a message, a layer, or one block)."""
    if isinstance(target, bool):
        raise TypeError("target: expected a message index, 'tools', 'system', a Locator or At, got a bool")
    if isinstance(target, int):
        count = len(view.request.messages)
        if not -count <= target < count:
            return []
        return [p.index for p in view.message_positions(target)]
    if isinstance(target, str):
        if target not in ("tools", "system", "messages"):
            raise ValueError(f"target: expected 'tools', 'system' or 'messages', got {target!r}")
        return view.layer_indexes(target)
    if isinstance(target, Locator):
        return [p.index for p in view if p.locator == target]
    if isinstance(target, At):
        index = target.position if target.position >= 0 else len(view) + target.position
        return [index] if 0 <= index < len(view) else []
    raise TypeError(f"target: expected a message index, 'tools', 'system', a Locator or At, got {target!r}")
