"""The cheapest placement the provider rules allow, for scale: how far is a strategy from the best possible?

Two answers, used where each is possible:

- `exact_optimum` — for a short request sequence, the cheapest sequence of placements, found by exact search.
  Each request may carry up to ``max_breakpoints`` breakpoints on its candidate positions (eligible blocks whose
  prefix reaches the model's minimum), each with any TTL the model takes (longer before shorter), knowing every
  later request (a clairvoyant placement: no strategy can beat it). The search runs request by request over the
  provider cache states the choices so far can leave, through the simulator's own rules
  (`cachepoint.core.simulate.breakpoints.plan_breakpoints`: 20-block lookback, minimum, TTL refresh); choices
  that leave the same cache state are merged, keeping the cheapest, which makes it exact (what a request
  costs depends only on the state it meets). It gives up (returns ``None``) past ``max_states`` states.

- `lower_bound` — for a whole trace, a cost no placement can go under. It relaxes the rules until the problem
  splits by prefix: every block of the prefix tree (one per distinct prefix hash of a tenant's model) is
  decided on its own, over the requests that contain it, as if each block could carry its own breakpoint
  with no budget and no lookback limit, and as if reading a block renewed it for the longest TTL for free.
  For each block a small dynamic programme over its uses picks, where the block is not cached, between
  sending it uncached, writing it with each TTL (only in requests long enough to write anything), and, where
  it is cached, reads it. Every real placement's block-by-block outcome is one of the choices the relaxation
  allows at the same price, so the sum is at most the true optimum. On OpenAI's automatic caching (no
  placement at all), the bound reads every prefix an earlier request sent within the retention, in
  128-token increments, on one machine (the real cache may route it to another). Output tokens are priced
  as sent, as in every scenario.

- `clairvoyant` — a real placement that costs at least the optimum: a strategy's breakpoints (`auto`'s) with each
  TTL chosen knowing when its prefix is sent next (`retime`), replayed through the simulator
  (`replay_placements`). `foresight` puts a placement next to its clairvoyant self and the bound: how much of
  its distance to the optimum is knowledge of the future. `bracket_trace` reads a trace file and brackets its
  optimum between the bound and the clairvoyant placement; `summarize` turns that and an analysis report into
  the ``optimum`` section of ``cachepoint analyze --optimum``.

The bound errs on the side of the optimum looking cheaper than it is: a strategy's ratio to it is an upper
bound on its ratio to the true optimum. How loose it is shows where both can be computed (the tests and
``benchmarks/bench_economics.py`` compare them on sessions small enough for the exact search).

>>> from cachepoint.core.simulate import SimPrompt
>>> from cachepoint.core.providers import model_info
>>> info = model_info("anthropic", "claude-sonnet-4-5")
>>> system = SimPrompt(("s", "s/q1"), (3000, 3050), model="claude-sonnet-4-5")
>>> later = SimPrompt(("s", "s/q2"), (3000, 3040), model="claude-sonnet-4-5")
>>> best = exact_optimum([SearchRequest(system, 0.0, (0, 1)), SearchRequest(later, 60.0, (0, 1))], info=info)
>>> best.placements[0], best.read_tokens, best.exact
(((0, '5m'),), 3000, True)
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from cachepoint.core.analyze.incumbents import INCUMBENTS
from cachepoint.core.analyze.prepare import PrepareContext, Prepared
from cachepoint.core.analyze.report import AnalysisReport, OptimumRow, OptimumSummary
from cachepoint.core.analyze.scenarios import scenarios_for
from cachepoint.core.prompt.ttl import ttl_seconds
from cachepoint.core.providers import ModelInfo, Pricing, ProviderTable, model_info
from cachepoint.core.simulate import OpenAIOptions, SimBreakpoint, SimPrompt
from cachepoint.core.simulate.breakpoints import BreakpointRules, BreakpointStore, Entry, plan_breakpoints
from cachepoint.core.traces import TraceFormatError, TraceSource, iter_lines

__all__ = [
    "Bracket",
    "Foresight",
    "Optimum",
    "ReplayItem",
    "SearchRequest",
    "TraceItem",
    "bracket_trace",
    "clairvoyant",
    "exact_optimum",
    "foresight",
    "lower_bound",
    "placements_for",
    "replay_placements",
    "request_cost",
    "retime",
    "summarize",
]

_ENGINES = ("vllm", "sglang")


@dataclass(frozen=True)
class Optimum:
    """The optimum's cost and token counts, or a lower bound on them (``exact`` false).

    ``kind``: ``exact`` (the optimum itself), ``lower`` (no placement costs less) or ``upper`` (a real
    placement that costs this much: the optimum costs at most that). ``placements``: the breakpoints of each
    request, as ``(position, ttl)`` pairs (exact search only). ``unpriced_requests``: requests whose model has no
    prices (not in ``cost_usd``).

    >>> Optimum(2.5, "exact", 3, 2, 9000, 6000, 3000).cached_ratio
    0.6666666666666666
    """

    cost_usd: float
    kind: Literal["exact", "lower", "upper"]
    requests: int
    hit_requests: int
    input_tokens: int
    read_tokens: int
    write_tokens: int
    placements: tuple[tuple[tuple[int, str], ...], ...] = ()
    unpriced_requests: int = 0

    @property
    def exact(self) -> bool:
        """Whether this is the optimum itself rather than a bound on it."""
        return self.kind == "exact"

    @property
    def hit_rate(self) -> float:
        """Share of requests that read something from the cache."""
        return self.hit_requests / self.requests if self.requests else 0.0

    @property
    def cached_ratio(self) -> float:
        """Share of input tokens read from the cache."""
        return self.read_tokens / self.input_tokens if self.input_tokens else 0.0


# --- exact search ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchRequest:
    """One request of a sequence to search: its columns, start time, and the positions a breakpoint may take
    (use `placements_for`'s ``candidates`` helper, or the eligible positions at or above the model minimum)."""

    prompt: SimPrompt
    at: float
    candidates: tuple[int, ...]
    output_tokens: int = 0


def _durations(info: ModelInfo) -> list[tuple[str, float]]:
    found = []
    for label in info.ttls:
        try:
            found.append((label, float(ttl_seconds(label))))
        except ValueError:
            continue
    return sorted(found, key=lambda t: t[1])


def placements_for(
    candidates: Sequence[int], ttls: Sequence[str], max_breakpoints: int
) -> list[tuple[tuple[int, str], ...]]:
    """Every placement of up to ``max_breakpoints`` breakpoints on ``candidates`` with TTLs from ``ttls``
    (shortest first) that the provider accepts: longer TTLs never after shorter ones.

    >>> found = placements_for((3, 5), ("5m", "1h"), 4)
    >>> len(found), found[5:]
    (8, [((3, '1h'), (5, '1h')), ((3, '1h'), (5, '5m')), ((3, '5m'), (5, '5m'))])
    """
    found: list[tuple[tuple[int, str], ...]] = [()]
    ordered = sorted(set(candidates))
    for k in range(1, min(max_breakpoints, len(ordered)) + 1):
        for subset in itertools.combinations(ordered, k):
            # TTL indexes non-increasing along the prefix: a multiset of k choices, sorted longest first.
            for levels in itertools.combinations_with_replacement(range(len(ttls) - 1, -1, -1), k):
                found.append(tuple((pos, ttls[level]) for pos, level in zip(subset, levels, strict=True)))
    return found


def _rules(info: ModelInfo) -> BreakpointRules:
    return BreakpointRules(
        min_tokens=info.min_cache_tokens,
        default_ttl=info.default_ttl,
        ttl_seconds=dict(_durations(info)),
        lookback=info.lookback_blocks,
    )


def _copy(store: BreakpointStore) -> BreakpointStore:
    clone = BreakpointStore()
    for key, e in store.entries.items():
        fresh = Entry(
            key=e.key,
            tokens=e.tokens,
            ttl=e.ttl,
            ttl_seconds=e.ttl_seconds,
            created_at=e.created_at,
            readable_at=e.readable_at,
            expires_at=e.expires_at,
            path=e.path,
        )
        clone.entries.put(key, fresh)
    return clone


def _signature(store: BreakpointStore, keys: set[str], times: Sequence[float]) -> tuple[tuple[str, float, int], ...]:
    """What of a cache state can still matter: entries a later request contains, with their TTL and how many of
    the later requests start before they expire (two states equal here cost the same from now on)."""
    found = []
    for key, e in store.entries.items():
        if key in keys:
            alive = bisect.bisect_left(times, e.expires_at)
            if alive:
                found.append((key, e.ttl_seconds, alive))
    return tuple(sorted(found))


def request_cost(pricing: Pricing, total: int, read: int, write_by_ttl: dict[str, int], output: int) -> float:
    """USD of one request: uncached input, reads, writes by TTL and output, as the analyzer prices them.

    >>> request_cost(Pricing(input=3.0, output=15.0, cache_read=0.3, cache_write={"5m": 3.75}), 1000, 0, {}, 0)
    0.003
    """
    written = sum(write_by_ttl.values())
    usd = (total - read - written) * pricing.input + read * pricing.cache_read + output * pricing.output
    for label, count in write_by_ttl.items():
        usd += count * pricing.write_price(label)
    return usd * 1e-6


_Placement = tuple[tuple[int, str], ...]
_Level = dict[tuple[tuple[str, float, int], ...], tuple[float, BreakpointStore, tuple[_Placement, ...], int, int, int]]


def exact_optimum(requests: Sequence[SearchRequest], *, info: ModelInfo, max_states: int = 20_000) -> Optimum | None:
    """The cheapest placements for ``requests`` (in time order, one tenant and model, each readable by the next
    as soon as it starts), by exact search; ``None`` when more than ``max_states`` cache states would need
    tracking at once. See the module notes. ``info`` gives the rules and prices (``info.pricing`` required).
    """
    pricing = info.pricing
    if pricing is None:
        raise ValueError(f"info: {info.model} has no prices; the optimum is a cost")
    rules = _rules(info)
    ttls = [label for label, _ in _durations(info)]
    # state signature -> (cost so far, store, placements so far, read, write, hits)
    level: _Level = {(): (0.0, BreakpointStore(), (), 0, 0, 0)}
    previous_at = -math.inf
    total_input = 0
    # What later requests contain and when they start: the part of a cache state that can still matter.
    future_keys: list[set[str]] = []
    keys: set[str] = set()
    for req in reversed(requests):
        future_keys.append(set(keys))
        keys.update(req.prompt.hashes)
    future_keys.reverse()
    times = [req.at for req in requests]
    for index, req in enumerate(requests):
        if req.at < previous_at:
            raise ValueError(f"requests[{index}].at: requests must be in time order")
        previous_at = req.at
        total_input += req.prompt.total_tokens
        options = placements_for(req.candidates, ttls, info.max_breakpoints)
        nxt: _Level = {}
        for cost, store, chosen, read_sum, write_sum, hits in level.values():
            for placement in options:
                trial = _copy(store)
                prompt = req.prompt.with_placement(tuple(SimBreakpoint(pos, ttl) for pos, ttl in placement))
                plan = plan_breakpoints(prompt, trial, req.at, rules)
                for key, tokens, label, seconds, path in plan.writes:
                    trial.write(
                        key,
                        tokens=tokens,
                        ttl=label,
                        seconds=seconds,
                        started_at=req.at,
                        first_byte_at=req.at,
                        path=path,
                    )
                spent = cost + request_cost(
                    pricing, req.prompt.total_tokens, plan.read_tokens, plan.write_by_ttl, req.output_tokens
                )
                signature = _signature(trial, future_keys[index], times[index + 1 :])
                best = nxt.get(signature)
                if best is None or spent < best[0] - 1e-15:
                    nxt[signature] = (
                        spent,
                        trial,
                        (*chosen, placement),
                        read_sum + plan.read_tokens,
                        write_sum + sum(plan.write_by_ttl.values()),
                        hits + (plan.read_tokens > 0),
                    )
                if len(nxt) > max_states:
                    return None
        level = nxt
    cost, _, chosen, read_sum, write_sum, hits = min(level.values(), key=lambda v: v[0])
    return Optimum(
        cost_usd=cost,
        kind="exact",
        requests=len(requests),
        hit_requests=hits,
        input_tokens=total_input,
        read_tokens=read_sum,
        write_tokens=write_sum,
        placements=chosen,
    )


# --- the bound ------------------------------------------------------------------------------------------------


class TraceItem(Protocol):
    """What the bound needs of a request (`cachepoint.core.analyze.prepare.Prepared` has it)."""

    @property
    def time(self) -> float | None: ...
    @property
    def tenant(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def hashes(self) -> tuple[str, ...]: ...
    @property
    def cumulative(self) -> tuple[int, ...]: ...
    @property
    def output(self) -> int: ...
    @property
    def retention(self) -> str | None: ...


class _Use:
    """One request's use of one block of the prefix tree."""

    __slots__ = ("at", "request", "writable")

    def __init__(self, request: int, at: float, writable: bool) -> None:
        self.request = request
        self.at = at
        self.writable = writable


def _block_plan(
    uses: Sequence[_Use], tokens: int, price: Pricing, writes: Sequence[tuple[str, float]], longest: float
) -> tuple[float, list[str]]:
    """Cheapest cost of one block over its uses under the relaxation, and the status at each use
    (``read``, ``plain`` or a TTL label written)."""
    m = len(uses)
    # cost from use j on, given the block is not cached (free[j]) or cached (held[j]) at use j
    free = [0.0] * (m + 1)
    held = [0.0] * (m + 1)
    free_choice: list[str] = ["plain"] * m

    def after(j: int, life: float) -> float:
        if j == m - 1:
            return 0.0
        return held[j + 1] if uses[j + 1].at - uses[j].at < life else free[j + 1]

    for j in range(m - 1, -1, -1):
        held[j] = tokens * price.cache_read + after(j, longest)
        best = tokens * price.input + (free[j + 1] if j < m - 1 else 0.0)
        choice = "plain"
        if uses[j].writable:
            for label, seconds in writes:
                cost = tokens * price.write_price(label) + after(j, seconds)
                if cost < best:
                    best, choice = cost, label
        free[j] = best
        free_choice[j] = choice
    statuses: list[str] = []
    cached = False
    for j in range(m):
        if cached:
            statuses.append("read")
            life = longest
        else:
            choice = free_choice[j]
            statuses.append(choice)
            life = dict(writes).get(choice, -1.0)
        cached = j < m - 1 and uses[j + 1].at - uses[j].at < life
    return free[0], statuses


def lower_bound(
    items: Iterable[TraceItem], *, table: ProviderTable | None = None, openai: OpenAIOptions | None = None
) -> Optimum:
    """A cost no placement can go under for the requests ``items`` (any order; see the module notes).

    >>> from types import SimpleNamespace as Item
    >>> a = Item(time=0.0, tenant="t", provider="anthropic", model="claude-sonnet-4-5", hashes=("s", "s/1"),
    ...          cumulative=(3000, 3100), output=0, retention=None)
    >>> b = Item(time=60.0, tenant="t", provider="anthropic", model="claude-sonnet-4-5", hashes=("s", "s/2"),
    ...          cumulative=(3000, 3100), output=0, retention=None)
    >>> bound = lower_bound([a, b])
    >>> bound.read_tokens, bound.write_tokens, bound.exact
    (3000, 3000, False)
    """
    options = openai or OpenAIOptions()
    ordered = sorted(items, key=lambda it: it.time or 0.0)
    infos: dict[tuple[str, str], ModelInfo] = {}
    reads = [0] * len(ordered)
    writes = [0] * len(ordered)
    costs = [0.0] * len(ordered)
    priced = [False] * len(ordered)
    # Blocks of the prefix tree, per (provider, tenant, model) partition: hash -> (tokens, uses).
    blocks: dict[tuple[str, str, str, str], tuple[int, list[_Use]]] = {}
    seen_auto: dict[tuple[str, str, str, str], float] = {}
    for n, item in enumerate(ordered):
        key = (item.provider, item.model)
        info = infos.get(key)
        if info is None:
            rules = "openai" if item.provider in _ENGINES else item.provider
            info = infos[key] = model_info(rules, item.model, table=table)
        price = info.pricing
        at = item.time or 0.0
        total = item.cumulative[-1] if item.cumulative else 0
        if price is None or item.provider in _ENGINES:
            continue
        priced[n] = True
        costs[n] = item.output * price.output * 1e-6
        partition = (item.provider, item.tenant, item.model)
        if not info.explicit:
            reads[n] = cached = _automatic_read(item, partition, seen_auto, info, options, at)
            costs[n] += ((total - cached) * price.input + cached * price.cache_read) * 1e-6
            continue
        writable = total >= info.min_cache_tokens
        before = 0
        for h, cum in zip(item.hashes, item.cumulative, strict=True):
            block = (*partition, h)
            node = blocks.get(block)
            if node is None:
                node = blocks[block] = (cum - before, [])
            node[1].append(_Use(n, at, writable))
            before = cum
    _settle(blocks, infos, reads, writes, costs)
    return Optimum(
        cost_usd=sum((c for c, p in zip(costs, priced, strict=True) if p), 0.0),
        kind="lower",
        requests=len(ordered),
        hit_requests=sum(1 for r in reads if r > 0),
        input_tokens=sum(it.cumulative[-1] if it.cumulative else 0 for it in ordered),
        read_tokens=sum(reads),
        write_tokens=sum(writes),
        unpriced_requests=sum(1 for p in priced if not p),
    )


def _settle(
    blocks: dict[tuple[str, str, str, str], tuple[int, list[_Use]]],
    infos: dict[tuple[str, str], ModelInfo],
    reads: list[int],
    writes: list[int],
    costs: list[float],
) -> None:
    """Decide every block of the prefix tree on its own and add its tokens and cost to the requests using it."""
    for (provider, _, model, _), (tokens, uses) in blocks.items():
        if tokens <= 0:
            continue
        info = infos[(provider, model)]
        price = info.pricing
        assert price is not None
        durations = _durations(info)
        longest = durations[-1][1] if durations else 0.0
        _, statuses = _block_plan(uses, tokens, price, durations, longest)
        for use, status in zip(uses, statuses, strict=True):
            if status == "read":
                reads[use.request] += tokens
                costs[use.request] += tokens * price.cache_read * 1e-6
            elif status == "plain":
                costs[use.request] += tokens * price.input * 1e-6
            else:
                writes[use.request] += tokens
                costs[use.request] += tokens * price.write_price(status) * 1e-6


def _automatic_read(  # noqa: PLR0917 - internal
    item: TraceItem,
    partition: tuple[str, str, str],
    seen: dict[tuple[str, str, str, str], float],
    info: ModelInfo,
    options: OpenAIOptions,
    at: float,
) -> int:
    """Tokens OpenAI's automatic cache could read at best: the longest prefix an earlier request sent within
    the retention, in whole increments, if it reaches the minimum; then this request's prefixes are fresh."""
    life = options.retention_seconds(item.retention)
    deepest = -1
    for k in range(len(item.hashes) - 1, -1, -1):
        last = seen.get((*partition, item.hashes[k]))
        if last is not None and at - last < life:
            deepest = k
            break
    cached = 0
    if deepest >= 0:
        increment = info.increment or 1
        matched = item.cumulative[deepest]
        cached = matched - matched % increment
        if cached < info.min_cache_tokens:
            cached = 0
    for h in item.hashes:
        key = (*partition, h)
        seen[key] = at
    return cached


# --- a clairvoyant placement: an upper bound --------------------------------------------------------------------


class ReplayItem(TraceItem, Protocol):
    """What `clairvoyant` replays (`cachepoint.core.analyze.prepare.Prepared` has it)."""

    @property
    def ttft(self) -> float | None: ...
    @property
    def lookback(self) -> tuple[int, ...]: ...
    @property
    def format(self) -> str: ...
    @property
    def cache_mode(self) -> str | None: ...


def _rules_of(item: TraceItem, infos: dict[tuple[str, str], ModelInfo], table: ProviderTable | None) -> ModelInfo:
    key = (item.provider, item.model)
    info = infos.get(key)
    if info is None:
        info = infos[key] = model_info(
            "openai" if item.provider in _ENGINES else item.provider, item.model, table=table
        )
    return info


def retime(
    items: Sequence[ReplayItem],
    placements: Sequence[Sequence[SimBreakpoint]],
    *,
    fit: bool = False,
    prune: bool = False,
    table: ProviderTable | None = None,
) -> list[tuple[SimBreakpoint, ...]]:
    """``placements`` (one per item) with each breakpoint's TTL chosen knowing when its prefix is sent next:
    raised to the longest when that is after the shortest TTL but within the longest; with ``fit``, also
    lowered to the shortest when it is within the shortest. Positions stay; a prefix never sent again keeps its
    TTL; longer TTLs stay before shorter ones, as the provider requires. This is what a placement could do if it
    knew the future, and no more: which breakpoints it places is unchanged. With ``prune``, a breakpoint whose
    prefix is not sent again within the longest TTL (the end of a conversation, the turn before context editing
    rewrites the history) would write an entry nobody reads: it moves to the deepest prefix of the request an
    earlier request sent (where the request can read, writing nothing if it is cached), or is dropped.

    >>> from types import SimpleNamespace as Item
    >>> a = Item(time=0.0, tenant="t", provider="anthropic", model="claude-sonnet-4-5", hashes=("s", "s/1"))
    >>> b = Item(time=600.0, tenant="t", provider="anthropic", model="claude-sonnet-4-5", hashes=("s", "s/2"))
    >>> [[bp.ttl for bp in p] for p in retime([a, b], [(SimBreakpoint(0, "5m"),)] * 2)]
    [['1h'], ['5m']]
    >>> [[(bp.position, bp.ttl) for bp in p] for p in retime([a, b], [(SimBreakpoint(1, "5m"),)] * 2, prune=True)]
    [[], [(0, '5m')]]
    """
    order = sorted(range(len(items)), key=lambda i: (items[i].time or 0.0, i))
    infos: dict[tuple[str, str], ModelInfo] = {}
    chosen: list[tuple[SimBreakpoint, ...]] = [tuple(p) for p in placements]
    upcoming: dict[tuple[str, str, str, str], float] = {}  # prefix -> when a later request next sends it
    reread = [-1] * len(items)  # per request: its deepest prefix an earlier request sent (where a read can come from)
    if prune:
        sent: set[tuple[str, str, str, str]] = set()
        for i in order:
            item = items[i]
            partition = (item.provider, item.tenant, item.model)
            reread[i] = next(
                (j for j in range(len(item.hashes) - 1, -1, -1) if (*partition, item.hashes[j]) in sent), -1
            )
            sent.update((*partition, h) for h in item.hashes)
    for i in reversed(order):
        item = items[i]
        info = _rules_of(item, infos, table)
        at = item.time or 0.0
        partition = (item.provider, item.tenant, item.model)
        durations = _durations(info)
        if durations and info.explicit and item.provider not in _ENGINES:
            chosen[i] = _retimed(
                placements[i], item.hashes, partition, upcoming, at, durations, info, fit, reread[i] if prune else None
            )
        for h in item.hashes:
            prefix = (*partition, h)
            upcoming[prefix] = at
    return chosen


def _retimed(  # noqa: PLR0917 - internal
    placement: Sequence[SimBreakpoint],
    hashes: Sequence[str],
    partition: tuple[str, str, str],
    upcoming: dict[tuple[str, str, str, str], float],
    at: float,
    durations: list[tuple[str, float]],
    info: ModelInfo,
    fit: bool,
    reread: int | None = None,
) -> tuple[SimBreakpoint, ...]:
    """One request's placement retimed; with ``reread`` (pruning: the deepest prefix of the request an earlier
    one sent, or -1), a breakpoint whose prefix is not sent again while an entry could live moves there instead:
    it would write an entry nobody reads, but the request still needs a breakpoint to read what is cached."""
    shortest, longest = durations[0], durations[-1]
    retimed: dict[int, SimBreakpoint] = {}
    for bp in sorted(placement, key=lambda b: b.position):
        position, nxt = bp.position, upcoming.get((*partition, hashes[bp.position]))
        label = bp.ttl
        if reread is not None and not bp.implicit and (nxt is None or nxt - at >= longest[1]):
            if not 0 <= reread < position or reread in retimed:
                continue
            position, nxt, label = reread, upcoming.get((*partition, hashes[reread])), shortest[0]
        if nxt is not None and not bp.implicit:
            gap = nxt - at
            if shortest[1] <= gap < longest[1]:
                label = longest[0]
            elif fit and gap < shortest[1]:
                label = shortest[0]
        retimed.setdefault(position, SimBreakpoint(position, label, bp.implicit))
    moved = [retimed[k] for k in sorted(retimed)]
    # Longer TTLs before shorter: an earlier breakpoint takes the longest TTL of any after it.
    seconds = dict(durations)
    ordered: list[SimBreakpoint] = []
    need: tuple[str | None, float] = (None, 0.0)
    for bp in reversed(moved):
        mine = seconds.get(bp.ttl or info.default_ttl, 0.0)
        if mine > need[1]:
            need = (bp.ttl, mine)
        ordered.append(bp if mine >= need[1] else SimBreakpoint(bp.position, need[0], bp.implicit))
    return tuple(reversed(ordered))


def replay_placements(
    items: Sequence[ReplayItem],
    placements: Sequence[Sequence[SimBreakpoint]],
    *,
    table: ProviderTable | None = None,
) -> Optimum:
    """``items`` replayed through the simulator with ``placements`` (one per item), priced as the analyzer
    prices a scenario (``kind="upper"``: a real placement, so the optimum costs at most this). OpenAI requests
    are replayed without a ``prompt_cache_key``.

    >>> from types import SimpleNamespace as Item
    >>> a = Item(time=0.0, ttft=None, tenant="t", provider="anthropic", model="claude-sonnet-4-5", hashes=("s",),
    ...          cumulative=(3000,), lookback=(0,), format="anthropic", retention=None, cache_mode=None, output=0)
    >>> b = Item(**{**vars(a), "time": 60.0})
    >>> replay_placements([a, b], [(SimBreakpoint(0, "5m"),)] * 2).read_tokens
    3000
    """
    from cachepoint.core.simulate import Simulator

    order = sorted(range(len(items)), key=lambda i: (items[i].time or 0.0, i))
    infos: dict[tuple[str, str], ModelInfo] = {}
    sim = Simulator("anthropic", table=table)
    cost = 0.0
    reads = writes = hits = unpriced = 0
    for i in order:
        item = items[i]
        info = _rules_of(item, infos, table)
        prompt = SimPrompt(
            item.hashes,
            item.cumulative,
            item.lookback,
            tuple(placements[i]),
            format=item.format,
            model=item.model,
            retention=item.retention,
            cache_mode=item.cache_mode,
        )
        at = item.time or 0.0
        result = sim.request(
            prompt,
            at=at,
            first_byte_at=at + (item.ttft or 0.0),
            tenant=item.tenant,
            provider=item.provider,
            model=item.model,
            output_tokens=item.output,
        )
        reads += result.read_tokens
        writes += result.write_tokens or 0
        hits += result.read_tokens > 0
        if info.pricing is None or item.provider in _ENGINES:
            unpriced += 1
            continue
        cost += request_cost(
            info.pricing, prompt.total_tokens, result.read_tokens, dict(result.write_by_ttl), item.output
        )
    return Optimum(
        cost_usd=cost,
        kind="upper",
        requests=len(items),
        hit_requests=hits,
        input_tokens=sum(it.cumulative[-1] if it.cumulative else 0 for it in items),
        read_tokens=reads,
        write_tokens=writes,
        unpriced_requests=unpriced,
    )


def clairvoyant(
    items: Sequence[ReplayItem],
    placements: Sequence[Sequence[SimBreakpoint]],
    *,
    fit: bool = False,
    prune: bool = False,
    table: ProviderTable | None = None,
) -> Optimum:
    """A real placement that knows the future: ``placements`` (one per item, e.g. `auto`'s) `retime`d, replayed
    through the simulator like any scenario (`replay_placements`). The optimum costs at most this
    (``kind="upper"``); with `lower_bound` it brackets it. ``items`` in any order; providers without
    breakpoints are replayed with their placements as given.
    """
    return replay_placements(items, retime(items, placements, fit=fit, prune=prune, table=table), table=table)


# --- why a causal placement misses the optimum: foresight --------------------------------------------------------


@dataclass(frozen=True)
class Foresight:
    """A placement next to the same placement with foresight (`foresight` builds it).

    ``causal``: the placements replayed as given; ``lengthened`` and ``fitted``: `retime`d (TTLs raised where the
    prefix comes back after the shortest TTL; ``fitted`` also lowered where it comes back within it);
    ``lower``: `lower_bound`. ``raised`` / ``lowered``: breakpoints whose TTL ``fitted`` changed each way.
    Same breakpoints, only TTLs chosen with knowledge of the future: the part of ``causal``'s distance to the
    optimum that ``foresight_gap`` measures is what no placement that sees one request at a time can recover by
    choosing TTLs. ``pruned``: ``fitted`` without the breakpoints whose prefix is not sent again while an entry
    could live (`retime` with ``prune``): still a real placement, so with ``lower`` it brackets the optimum
    tighter (``upper``).

    >>> f = Foresight(*(Optimum(c, "upper", 1, 0, 0, 0, 0) for c in (1.2, 1.0, 1.05, 0.95)), raised=3, lowered=1,
    ...               pruned=Optimum(0.98, "upper", 1, 0, 0, 0, 0))
    >>> f.best.cost_usd, f.upper.cost_usd, f.foresight_gap, round(f.gap_to_lower_bound, 3)
    (1.0, 0.98, 1.2, 1.263)
    """

    causal: Optimum
    lengthened: Optimum
    fitted: Optimum
    lower: Optimum
    raised: int = 0
    lowered: int = 0
    pruned: Optimum | None = None

    @property
    def upper(self) -> Optimum:
        """The cheapest of ``best`` and ``pruned``: the optimum costs at most this."""
        if self.pruned is None:
            return self.best
        return min(self.best, self.pruned, key=lambda o: o.cost_usd)

    @property
    def best(self) -> Optimum:
        """The cheaper of ``lengthened`` and ``fitted``."""
        return min(self.lengthened, self.fitted, key=lambda o: o.cost_usd)

    @property
    def foresight_gap(self) -> float:
        """``causal`` cost over ``best``: what knowing the future is worth to these breakpoints."""
        return self.causal.cost_usd / self.best.cost_usd if self.best.cost_usd else 1.0

    @property
    def gap_to_lower_bound(self) -> float:
        """``causal`` cost over ``lower``: an upper bound on its distance to the true optimum."""
        return self.causal.cost_usd / self.lower.cost_usd if self.lower.cost_usd else 1.0


def foresight(
    items: Sequence[ReplayItem],
    placements: Sequence[Sequence[SimBreakpoint]],
    *,
    table: ProviderTable | None = None,
) -> Foresight:
    """How much of ``placements``' distance to the optimum is foresight: the same breakpoints replayed as given,
    then with TTLs chosen knowing when each prefix is sent next (`retime`), next to `lower_bound`. When the
    retimed placement comes close to the bound, what remains between the causal placement and the optimum is
    knowledge of the future a causal placement cannot have (whether the next turn comes in ten seconds or ten
    minutes), not where it puts its breakpoints.

    >>> from types import SimpleNamespace as Item
    >>> a = Item(time=0.0, ttft=None, tenant="t", provider="anthropic", model="claude-sonnet-4-5", hashes=("s",),
    ...          cumulative=(3000,), lookback=(0,), format="anthropic", retention=None, cache_mode=None, output=0)
    >>> b = Item(**{**vars(a), "time": 600.0})
    >>> f = foresight([a, b], [(SimBreakpoint(0, "5m"),)] * 2)
    >>> f.raised, f.best.read_tokens, round(f.foresight_gap, 3)
    (1, 3000, 1.19)
    """
    fitted = retime(items, placements, fit=True, table=table)
    raised = lowered = 0
    infos: dict[tuple[str, str], ModelInfo] = {}
    for item, before, after in zip(items, placements, fitted, strict=True):
        info = _rules_of(item, infos, table)
        seconds = dict(_durations(info))
        for old, new in zip(sorted(before, key=lambda b: b.position), after, strict=True):
            was = seconds.get(old.ttl or info.default_ttl, 0.0)
            now = seconds.get(new.ttl or info.default_ttl, 0.0)
            raised += now > was
            lowered += now < was
    return Foresight(
        causal=replay_placements(items, placements, table=table),
        lengthened=clairvoyant(items, placements, table=table),
        fitted=replay_placements(items, fitted, table=table),
        lower=lower_bound(items, table=table),
        raised=raised,
        lowered=lowered,
        pruned=clairvoyant(items, placements, fit=True, prune=True, table=table),
    )


# --- the bracket for a trace file (cachepoint analyze --optimum) -------------------------------------------------


@dataclass(frozen=True)
class Bracket:
    """The optimum of a trace, bracketed: ``lower`` (`lower_bound`), ``found`` (the cheapest `clairvoyant` of
    `auto`'s placements), and the ``providers`` the trace uses (to pick the incumbents to compare).
    `summarize` puts it next to an analysis report's scenarios."""

    lower: Optimum
    found: Optimum
    providers: tuple[str, ...]


def _timed(items: list[Prepared], interval: float) -> list[Prepared]:
    """Requests without a timestamp start ``interval`` after the previous line, as `analyze` times them."""
    previous: float | None = None
    for i, item in enumerate(items):
        if item.time is None:
            items[i] = item._replace(time=(previous + interval) if previous is not None else i * interval)
        previous = items[i].time
    return sorted(items, key=lambda p: (p.time or 0.0, p.line))


def bracket_trace(
    source: TraceSource,
    *,
    provider: str | None = None,
    model: str | None = None,
    interval: float = 1.0,
    skip_invalid: bool = False,
    table: ProviderTable | None = None,
) -> Bracket:
    """Read ``source`` (as `cachepoint.core.analyze.analyze` reads it, same options) and bracket its optimum:
    the `lower_bound` and the cheapest `clairvoyant` of `auto`'s placements: lengthened only, fitted, or fitted
    and pruned.
    Every request is kept in memory (the bound is over the whole trace). Bad lines raise `TraceFormatError`
    unless ``skip_invalid``.

    >>> lines = ['{"request": {"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "%s", '
    ...          '"messages": [{"role": "user", "content": "Question %d"}]}, "timestamp": %d}'
    ...          % ("Manual. " * 900, n, 600 * n) for n in range(3)]
    >>> b = bracket_trace(lines)
    >>> b.lower.cost_usd <= b.found.cost_usd, b.providers
    (True, ('anthropic',))
    """
    auto_at = 2  # scenarios_for: recorded, none, then the strategies
    ctx = PrepareContext(provider=provider, model=model, scenarios=scenarios_for(["auto"]), table=table)
    items: list[Prepared] = []
    for line, offset, raw in iter_lines(source):
        try:
            items.append(ctx.prepare_line(raw, line=line, offset=offset))
        except TraceFormatError:
            if not skip_invalid:
                raise
    items = _timed(items, interval)
    placements = [p.placements[auto_at] for p in items]
    found = min(
        (
            clairvoyant(items, placements, fit=fit, prune=prune, table=table)
            for fit, prune in ((False, False), (True, False), (True, True))
        ),
        key=lambda o: o.cost_usd,
    )
    providers = tuple(dict.fromkeys(p.provider for p in items))
    return Bracket(lower_bound(items, table=table), found, providers)


def summarize(bracket: Bracket, report: AnalysisReport) -> OptimumSummary:
    """``bracket`` next to ``report``'s scenarios (the same trace): the best placement found is the cheaper of
    the clairvoyant one and every scenario replayed; each priced scenario as a ratio to both ends.

    >>> from cachepoint.core.analyze.report import ScenarioResult
    >>> low, found = Optimum(1.0, "lower", 1, 0, 0, 0, 0), Optimum(1.1, "upper", 1, 0, 0, 0, 0)
    >>> report = AnalysisReport("t", 1, (ScenarioResult("auto", "strategy", "auto()", "auto", cost_usd=1.2),), "auto")
    >>> s = summarize(Bracket(low, found, ("anthropic",)), report)
    >>> s.best_found, s.row("auto").to_lower_bound
    ('clairvoyant', 1.2)
    """
    priced = [s for s in report.scenarios if s.cost_usd is not None]
    best_name, best_cost = "clairvoyant", bracket.found.cost_usd
    for s in priced:
        assert s.cost_usd is not None
        if s.cost_usd < best_cost:
            best_name, best_cost = s.name, s.cost_usd
    low = bracket.lower.cost_usd
    rows = []
    for s in priced:
        assert s.cost_usd is not None
        function = s.spec.split("(", 1)[0].strip()
        rows.append(
            OptimumRow(
                s.name,
                s.cost_usd,
                s.cost_usd / low if low else None,
                s.cost_usd / best_cost if best_cost else None,
                incumbent=s.kind == "strategy" and function in INCUMBENTS,
            )
        )
    return OptimumSummary(
        lower_bound_usd=low,
        best_found_usd=best_cost,
        best_found=best_name,
        rows=tuple(rows),
        requests=bracket.lower.requests,
        unpriced_requests=bracket.lower.unpriced_requests,
    )
