"""Built-in strategies: `auto` (the default), `cache_until`, `cache_at`, `rolling`, `stable_prefix`.

Every built-in has ``.excluding(*targets)`` to keep breakpoints off some blocks. Targets are message indexes
(negative from the end), ``"tools"``, ``"system"``, a `Locator` or `At` (see `Target`).

>>> from cachepoint.core.prompt import apply_cache_points, cache_at
>>> payload, report = apply_cache_points(
...     {"model": "claude-sonnet-4-5", "max_tokens": 10, "system": "policy " * 2000,
...      "messages": [{"role": "user", "content": "Hi"}]},
...     strategy=cache_at("system"))
>>> payload["system"][0]["cache_control"]
{'type': 'ephemeral'}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cachepoint.core.prompt.breakpoints import (
    Breakpoint,
    PlacementContext,
    Strategy,
    Target,
    new_breakpoint,
    resolve_target,
    target_positions,
)
from cachepoint.core.prompt.model import Block
from cachepoint.core.prompt.positions import Position, PrefixView

__all__ = [
    "Auto",
    "CacheAt",
    "CacheUntil",
    "Excluding",
    "Rolling",
    "StablePrefix",
    "TTLHistory",
    "auto",
    "cache_at",
    "cache_until",
    "rolling",
    "stable_prefix",
]


class _Excludable:
    def excluding(self, *targets: Target) -> Excluding:
        """This strategy, minus any breakpoint that lands on one of ``targets``.

        >>> auto().excluding("tools")
        Excluding(inner=Auto(static_ttl=None, conversation_ttl=None, anchors=1), targets=('tools',))
        """
        return Excluding(self, targets)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Excluding(_Excludable):
    """A strategy with some targets ruled out (built by ``.excluding(...)``); exclusions show in the report."""

    inner: Strategy
    targets: tuple[Target, ...]

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        excluded: set[int] = set()
        for target in self.targets:
            excluded.update(target_positions(ctx.view, target))
        kept = []
        for bp in self.inner(ctx):
            if bp.position in excluded:
                where = ctx.view[bp.position].path
                ctx.skip(bp, "excluded", f"{where} is excluded by .excluding(...)")
            else:
                kept.append(bp)
        return kept


def _layer_end(view: PrefixView, layer: str) -> int | None:
    # `resolve_target` of a layer with no position is None already; it remembers its answers on the view.
    return resolve_target(view, layer)


def _stable_context(view: PrefixView) -> tuple[int | None, bool]:
    """End of the last run of stable-marked message blocks, and whether everything before it is stable."""
    positions = view.positions
    last = next((i for i in reversed(view._layer("messages")) if positions[i].stable), None)
    if last is None:
        return None, False
    start = last
    while start - 1 >= 0 and view[start - 1].layer == "messages" and view[start - 1].stable:
        start -= 1
    run = [i for i in range(start, last + 1) if view[i].eligible]
    end = run[-1] if run else last
    return end, all(p.stable for p in view[: end + 1])


@runtime_checkable
class TTLHistory(Protocol):
    """What `auto` consults, given ``history=``, to pick TTLs from the traffic it has placed so far
    (`cachepoint.core.analyze.adaptive.GapHistory` is the built-in one).

    ``advise`` gets the request being placed and `auto`'s breakpoints (positions final, most valuable first) and
    returns them in the same order with the TTLs it picks; it records the request, so call it once per request.

    >>> from cachepoint.core.analyze.adaptive import GapHistory
    >>> isinstance(GapHistory(), TTLHistory), isinstance("1h", TTLHistory)
    (True, False)
    """

    def advise(self, ctx: PlacementContext, wanted: Sequence[Breakpoint]) -> list[Breakpoint]:
        """``wanted`` with TTLs picked from the history (same breakpoints, same order)."""
        ...


@dataclass(frozen=True)
class Auto(_Excludable):
    """The default strategy (build it with `auto`)."""

    static_ttl: str | None = None
    conversation_ttl: str | None = None
    anchors: int = 1
    # Not part of the strategy's identity: one history is shared by every request it places (and by copies).
    history: TTLHistory | None = field(default=None, repr=False, compare=False, kw_only=True)

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        view = ctx.view
        long_ttl = self.static_ttl or ctx.long_ttl
        short_ttl = self.conversation_ttl or ctx.short_ttl

        statics: list[Breakpoint] = []
        tools_end = _layer_end(view, "tools")
        if tools_end is not None:
            statics.append(new_breakpoint(tools_end, long_ttl, "tools", "end of the tool definitions"))
        system_end = _layer_end(view, "system")
        if system_end is not None:
            statics.append(new_breakpoint(system_end, long_ttl, "system", "end of the system prompt"))
        stable_end, fully_static = _stable_context(view)
        if stable_end is not None:
            ttl = long_ttl if fully_static else short_ttl
            why = "end of the stable context" + ("" if fully_static else " (after conversation turns: short TTL)")
            statics.append(new_breakpoint(stable_end, ttl, "stable", why))

        tail_index = _layer_end(view, "messages")
        tail = None
        if tail_index is not None:
            tail = new_breakpoint(tail_index, short_ttl, "tail", "conversation tail: the next turn reads this prefix")

        anchors = self._anchors(ctx, tail, statics)

        # Most valuable first. The tail is read back in full by the next turn. The last static boundary is shared
        # by every conversation with the same tools and system prompt and survives edits to the conversation.
        # Anchors keep long turns cached (lookback). Earlier static boundaries only pay when a later layer changes
        # alone, so they go last, biggest segment first.
        ordered: list[Breakpoint] = []
        if tail is not None:
            ordered.append(tail)
        if statics:
            ordered.append(statics[-1])
        ordered.extend(anchors)
        rest = statics[:-1]
        rest.sort(key=lambda bp: -_segment(view, bp.position, statics))
        ordered.extend(rest)
        volatile = _first_volatile(view)
        placed = ordered if volatile is None else _before_volatile(ctx, volatile, ordered)
        return placed if self.history is None or not placed else self.history.advise(ctx, placed)

    def _anchors(self, ctx: PlacementContext, tail: Breakpoint | None, statics: list[Breakpoint]) -> list[Breakpoint]:
        view = ctx.view
        window = ctx.info.lookback_blocks
        if tail is None or not window or self.anchors <= 0:
            return []
        floor = max((bp.position for bp in statics), default=-1) + 1
        first = next((i for i in view._layer("messages") if i >= floor), None)  # the conversation's first block
        if first is None:
            return []
        first_lookback = view[first].lookback_index
        tail_lookback = view[tail.position].lookback_index
        found: list[Breakpoint] = []
        for k in range(1, self.anchors + 1):
            target = tail_lookback - k * window
            if target < first_lookback:
                break
            anchor = _last_eligible_with_lookback(view, target, floor)
            if anchor is None:
                break
            span = tail_lookback - first_lookback + 1
            reason = (
                f"lookback anchor: the conversation spans {span} block positions and a breakpoint finds earlier "
                f"cache entries only within {window}; this one keeps a turn that adds {window}+ blocks cached"
            )
            found.append(
                new_breakpoint(
                    anchor,
                    ctx.short_ttl if self.conversation_ttl is None else self.conversation_ttl,
                    f"anchor-{k}",
                    reason,
                )
            )
        return found


# A date and time to the second: rendered per request, it makes every prefix through it unique (a date alone, or a
# time to the minute, still repeats; ids and epochs are left to `lint`, whose looser patterns would misfire here).
_TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}")
_VOLATILE_MEMO: dict[str, bool] = {}  # block hash -> has a timestamp (blocks repeat on every turn: scan once)


def _first_volatile(view: PrefixView) -> int | None:
    """The first stable block (system, context marked stable) holding a timestamp to the second."""
    memo = _VOLATILE_MEMO
    for p in view.positions:
        if not p.stable:
            break
        if p.section == "tools":  # definitions are written once, not rendered per request
            continue
        block = view.request.get(p.locator)
        assert isinstance(block, Block)
        found = memo.get(p.block_hash)
        if found is None:
            if len(memo) > 4096:
                memo.clear()
            found = memo[p.block_hash] = bool(_TIMESTAMP.search(block.text))
        if found:
            return p.index
    return None


_MOVABLE = ("system", "stable")  # static boundaries that can close the same layer earlier


def _before_volatile(ctx: PlacementContext, volatile: int, wanted: list[Breakpoint]) -> list[Breakpoint]:
    """Nothing at or after a per-request timestamp: such an entry is written on every request and never read.
    The last static boundary moves instead to the block before the timestamp when that block is in the same
    layer and after every breakpoint kept (a system prompt whose last block holds the time: the rest repeats)."""
    view = ctx.view
    where = view[volatile].path
    floor = max((bp.position for bp in wanted if bp.position < volatile), default=-1)
    earlier = next(
        (i for i in range(volatile - 1, floor, -1) if view[i].eligible and view[i].layer == view[volatile].layer),
        None,
    )
    kept = []
    for bp in wanted:  # in the order of value they came in: the provider's budget keeps the first ones
        if bp.position < volatile:
            kept.append(bp)
            continue
        if earlier is not None and bp.id in _MOVABLE and view[bp.position].layer == view[volatile].layer:
            reason = (
                f"{bp.reason}, moved before {where}, which holds a timestamp to the second: what comes before it "
                "repeats on every request"
            )
            kept.append(new_breakpoint(earlier, bp.ttl, bp.id, reason))
            earlier = None
            continue
        detail = (
            f"{where} holds a timestamp to the second: every request has a new prefix from there, so an entry "
            "written here would never be read (move the time after the last breakpoint to cache the rest)"
        )
        ctx.skip(bp, "volatile", detail)
    return kept


def _last_eligible_with_lookback(view: PrefixView, target: int, floor: int) -> int | None:
    best = None
    for i in view._layer("messages"):
        if i < floor:
            continue
        p = view[i]
        if p.lookback_index > target:
            break
        if p.eligible:
            best = p.index
    return best


def _segment(view: PrefixView, position: int, statics: Sequence[Breakpoint]) -> int:
    earlier = [bp.position for bp in statics if bp.position < position]
    start = view[max(earlier)].cumulative_tokens if earlier else 0
    return view[position].cumulative_tokens - start


def auto(
    *,
    static_ttl: str | None = None,
    conversation_ttl: str | None = None,
    anchors: int = 1,
    history: TTLHistory | None = None,
) -> Auto:
    """The default strategy: cache every layer that stays the same, and the conversation so far.

    Candidates, most valuable first:

    1. **tail** — the last block that can carry a breakpoint, so the next turn reads this whole prefix;
    2. the last **static** boundary — end of the stable context (message blocks the caller marked stable, see
       `Request.mark_stable`), else end of the system prompt, else end of the tools;
    3. **anchor** — when the conversation is longer than the provider's lookback window (Anthropic and Bedrock
       check 20 block positions per breakpoint), an earlier breakpoint one window before the tail, so a turn that
       adds 20 or more blocks (a burst of tool calls) still finds the previous turn's cache entry;
    4. the other static boundaries (end of tools, end of system), biggest segment first.

    Nothing goes at or after a stable block holding a date and time to the second (``2026-11-23T10:15:03``):
    such a prompt is rendered anew on every request, so an entry written there would be paid for and never read;
    the report lists those breakpoints as skipped (``volatile``). When the time sits in a later block of the
    system prompt, the system breakpoint moves to the block before it, so what repeats is still cached.

    Static layers get the longest TTL the model allows (``1h`` on Claude 4.5+; writing 1h costs 2x input instead
    of 1.25x, and keeps the prefix through idle periods), the conversation the shortest (``5m``). Override with
    ``static_ttl`` / ``conversation_ttl``; ``anchors`` sets how many lookback anchors at most (0 for none).

    Why not a TTL picked per request by expected reuse: a strategy sees one request, not the traffic around it.
    An entry is refreshed by every read, so a 1h static entry costs 0.75x input more per token once per cold
    start (nothing read it for an hour), while a 5m one costs 1.15x more every time the prefix comes back 5 to 60
    minutes after its last use (a rewrite instead of a read): 1h is the cheaper bet as soon as there are two such
    returns for every three cold starts, and costs 0.75x the static tokens once when there are none (a short run
    whose requests all fall within five minutes, where ``static_ttl="5m"`` is cheaper). The conversation tail
    stays at 5m: it grows every turn, and writing each turn's new tokens at 2x costs more than rewriting the
    conversation after the occasional long pause (``benchmarks/bench_economics.py`` measures both).
    `apply_cache_points` then drops what falls below the model's minimum or over budget, with reasons.

    ``history`` (a `TTLHistory`, e.g. `cachepoint.core.analyze.adaptive.GapHistory`) picks the TTLs instead,
    from the gaps each conversation has shown so far: what one request cannot say, the traffic before it can.
    Keep one per process (or per agent) and give it to every request's strategy; placement stays the same.

    >>> auto()
    Auto(static_ttl=None, conversation_ttl=None, anchors=1)
    """
    if anchors < 0:
        raise ValueError(f"anchors: expected >= 0, got {anchors}")
    if history is not None and not isinstance(history, TTLHistory):
        raise TypeError(f"history: expected a TTLHistory (an object with advise(ctx, wanted)), got {history!r}")
    return Auto(static_ttl, conversation_ttl, anchors, history=history)


@dataclass(frozen=True)
class CacheUntil(_Excludable):
    """One breakpoint closing a target (build it with `cache_until`)."""

    target: Target
    ttl: str | None = None

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        position = resolve_target(ctx.view, self.target)
        bp = new_breakpoint(
            position if position is not None else -1, self.ttl, "until", f"cache everything through {self.target!r}"
        )
        if position is None:
            ctx.skip(bp, "out_of_range", f"target {self.target!r} is not in this request")
            return []
        return [bp]


def cache_until(target: Target, *, ttl: str | None = None) -> CacheUntil:
    """Cache everything through ``target``: a message index (``-1`` = the last message), ``"tools"``,
    ``"system"``, a `Locator` or `At`. The breakpoint goes on the last block of the target that can carry one.

    >>> cache_until(2)
    CacheUntil(target=2, ttl=None)
    """
    return CacheUntil(target, ttl)


@dataclass(frozen=True)
class CacheAt(_Excludable):
    """Breakpoints at given targets (build it with `cache_at`)."""

    targets: tuple[Target, ...]
    ttl: str | None = None

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        found = []
        for n, target in enumerate(self.targets):
            position = resolve_target(ctx.view, target)
            bp = new_breakpoint(position if position is not None else -1, self.ttl, f"at-{n}", f"cache_at({target!r})")
            if position is None:
                ctx.skip(bp, "out_of_range", f"target {target!r} is not in this request")
            else:
                found.append(bp)
        return found


def cache_at(*targets: Target, ttl: str | None = None) -> CacheAt:
    """Breakpoints at each target, in the order given (first = most important when over budget).

    >>> cache_at("system", -1).excluding(0).inner.targets
    ('system', -1)
    """
    if not targets:
        raise ValueError("cache_at: give at least one target")
    return CacheAt(tuple(targets), ttl)


@dataclass(frozen=True)
class Rolling(_Excludable):
    """Breakpoints every few messages (build it with `rolling`)."""

    every: int
    min_tokens: int = 0
    max_points: int | None = None
    ttl: str | None = None

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        count = len(ctx.request.messages)
        found: list[Breakpoint] = []
        for message in range(self.every - 1, count, self.every):
            position = resolve_target(ctx.view, message)
            if position is None:
                continue
            bp = new_breakpoint(
                position, self.ttl, f"every-{message}", f"every {self.every} messages (message {message})"
            )
            if ctx.view[position].cumulative_tokens < self.min_tokens:
                ctx.skip(
                    bp,
                    "below_minimum",
                    f"prefix ~{ctx.view[position].cumulative_tokens} tokens < min_tokens={self.min_tokens}",
                )
                continue
            found.append(bp)
        found.reverse()  # newest first: it covers the most tokens
        if self.max_points is not None:
            for bp in found[self.max_points :]:
                ctx.skip(bp, "over_budget", f"rolling(max_points={self.max_points}) keeps the newest")
            found = found[: self.max_points]
        return found


def rolling(every: int, *, min_tokens: int = 0, max_points: int | None = None, ttl: str | None = None) -> Rolling:
    """A breakpoint at the end of every ``every``-th message (messages ``every-1``, ``2*every-1``...).

    The grid is counted from the first message, so a point stays on the same message as the conversation grows
    and keeps being read by later turns. Points whose prefix is under ``min_tokens`` are skipped; at most
    ``max_points`` are kept, newest first (the provider budget applies on top).

    >>> rolling(4, min_tokens=2048, max_points=3)
    Rolling(every=4, min_tokens=2048, max_points=3, ttl=None)
    """
    if every < 1:
        raise ValueError(f"every: expected >= 1, got {every}")
    if max_points is not None and max_points < 0:
        raise ValueError(f"max_points: expected >= 0, got {max_points}")
    return Rolling(every, min_tokens, max_points, ttl)


@dataclass(frozen=True)
class StablePrefix(_Excludable):
    """One breakpoint at the end of the stable prefix (build it with `stable_prefix`)."""

    min_tokens: int = 0
    ttl: str | None = None

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        view = ctx.view
        run: list[Position] = []
        for p in view:
            if not p.stable:
                break
            run.append(p)
        if not run:
            return []
        eligible = [p.index for p in run if p.eligible]
        position = eligible[-1] if eligible else run[-1].index
        bp = new_breakpoint(position, self.ttl or ctx.long_ttl, "stable-prefix", "end of the blocks marked stable")
        if view[position].cumulative_tokens < self.min_tokens:
            ctx.skip(
                bp,
                "below_minimum",
                f"stable prefix ~{view[position].cumulative_tokens} tokens < min_tokens={self.min_tokens}",
            )
            return []
        return [bp]


def stable_prefix(*, min_tokens: int = 0, ttl: str | None = None) -> StablePrefix:
    """One breakpoint at the end of the leading run of stable blocks: tools and system (stable unless marked
    otherwise) and the messages the caller marked with `Request.mark_stable` or `PromptLayout.context`.

    >>> stable_prefix(min_tokens=4096)
    StablePrefix(min_tokens=4096, ttl=None)
    """
    return StablePrefix(min_tokens, ttl)
