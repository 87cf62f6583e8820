"""The sequential part of the analysis: replay prepared requests in time order through every scenario.

For each request, in start order: find the longest prefix an earlier request of the same cache partition sent
(a `PrefixCache` over block hashes, the structure `cachepoint.core.prefix` offers for KV state), and the same
within its session; simulate it under every scenario (one `Simulator` per scenario, so each keeps its own cache
state); add up tokens and cost; and, under the focus scenario, explain what it failed to read (see
`cachepoint.core.analyze.causes`). Work per request is a few dictionary lookups per scenario and breakpoint.

The replay streams, in bounded memory: requests arrive one at a time and the ones kept to compare later ones
with are those a cache read could still reach (see `Replay`); fingerprints of blocks no kept request uses and the
per-request numbers of the timeline wait on disk (`cachepoint.core.analyze.spill`).
"""

from __future__ import annotations

import gc
import heapq
import math
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from cachepoint.core.analyze.adaptive import analyzer_only
from cachepoint.core.analyze.causes import CAUSES, find_divergence, mechanics_cause
from cachepoint.core.analyze.fingerprints import BlockPrint
from cachepoint.core.analyze.prepare import Prepared
from cachepoint.core.analyze.report import (
    CauseSummary,
    MissReport,
    ObservedComparison,
    ScenarioResult,
    SessionSharing,
    SharingStats,
    Timeline,
)
from cachepoint.core.analyze.scenarios import Scenario
from cachepoint.core.analyze.spill import PrintStore, RowSpill, SessionTotals
from cachepoint.core.analyze.tally import CauseTally, Counts, DiagnosisTally, ReplayTally, Rows, SessionTally
from cachepoint.core.analyze.tally import Example as _Example
from cachepoint.core.prefix import PrefixCache
from cachepoint.core.prompt.ttl import ttl_seconds
from cachepoint.core.providers import ModelInfo, Pricing, ProviderTable, UnknownModelWarning, model_info
from cachepoint.core.simulate import EngineOptions, OpenAIOptions, SimPrompt, SimResult, Simulator
from cachepoint.core.usage import CacheUsage, call_cost

__all__ = ["Freeing", "Held", "Replay", "ReplayResult"]

_ENGINES = ("vllm", "sglang")
_NO_WRITES: Mapping[str, int] = {}
_NO_PRINTS: dict[str, BlockPrint] = {}
_COLLECT = 50_000  # requests freed between two runs of the cycle collector


class _Acc:
    """Token sums of one scenario for one provider/model (ints: cheap to add per request)."""

    __slots__ = ("by_ttl", "hits", "input", "output", "read", "requests", "write", "write_unknown", "writes")

    def __init__(self) -> None:
        self.requests = self.hits = self.writes = 0
        self.input = self.read = self.write = self.output = 0
        self.write_unknown = 0
        self.by_ttl: dict[str, int] = {}

    def add(self, total: int, read: int, write: int | None, by_ttl: Mapping[str, int], output: int) -> None:
        self.requests += 1
        self.input += total
        self.read += read
        self.output += output
        if read > 0:
            self.hits += 1
        if write is None:
            self.write_unknown += 1
        else:
            self.write += write
            if write > 0:
                self.writes += 1
        for ttl, count in by_ttl.items():
            self.by_ttl[ttl] = self.by_ttl.get(ttl, 0) + count


@dataclass
class _CauseAcc:
    requests: int = 0
    lost: int = 0
    examples: list[tuple[int, int, int, _Example]] = field(default_factory=list)  # min-heap (lost, -line, n)


@dataclass(frozen=True)
class Held:
    """What a `Replay` holds in memory now (`Replay.held`), in counts: a test of bounded memory reads these
    rather than the process's resident memory, which the allocator and other objects move.

    Past the first window of traffic (``window`` seconds, or ``keep`` requests) every count levels off: the
    kept requests and their indexes, the fingerprints in use, the simulators' entries (expired ones are swept)
    and the sessions in memory (the rest wait on disk) depend on the traffic of one window, not on the trace.

    Attributes:
        requests: requests kept to compare later ones with (the window, or the last ``keep``).
        blocks: distinct blocks the kept requests use.
        prints: block fingerprints in memory (the others wait on disk).
        indexed: prefixes in the sharing indexes (per cache partition and per session).
        cache_entries: entries of every scenario's simulator, expired ones not yet swept included.
        cache_partitions: cache partitions of every scenario's simulator.
        sessions: per-session totals in memory (the others wait on disk).
        timeline_rows: timeline rows in memory, waiting to be written.
        memos: model rules and price lists looked up (one per provider and model).

    >>> Held(0, 0, 0, 0, 0, 0, 0, 0, 0).cache_entries
    0
    """

    requests: int
    blocks: int
    prints: int
    indexed: int
    cache_entries: int
    cache_partitions: int
    sessions: int
    timeline_rows: int
    memos: int


@dataclass
class ReplayResult:
    """What `Replay.run` found, before the driver fills in text snippets and assembles the report."""

    scenarios: list[ScenarioResult]
    sharing: SharingStats
    observed: ObservedComparison | None
    misses: MissReport | None
    examples: list[_Example]
    timeline: Timeline
    warnings: list[str]
    best: str | None
    focus: str


def _fmt_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"
    return f"{seconds / 3600:.1f}h"


class _Clock:
    """Where a request falls on the report's time axis: its chart bucket, and whether a cost sample is taken."""

    __slots__ = ("buckets", "count", "every", "t0", "width")

    def __init__(self, t0: float, width: float, buckets: int, count: int, every: int) -> None:
        self.t0, self.width, self.buckets, self.count, self.every = t0, width, buckets, count, every

    def cell(self, idx: int, at: float) -> int:
        if self.width:
            return min(self.buckets - 1, int((at - self.t0) / self.width))
        return idx * self.buckets // self.count

    def sampled(self, idx: int) -> bool:
        return (idx + 1) % self.every == 0 or idx == self.count - 1


def _sim_prompt(item: Prepared) -> SimPrompt:
    """The request as the simulator takes it, without breakpoints (each scenario adds its own)."""
    return SimPrompt(
        item.hashes,
        item.cumulative,
        item.lookback,
        format=item.format,
        model=item.model,
        retention=item.retention,
        cache_mode=item.cache_mode,
    )


class _Track:
    """One scenario's replay: its simulator (``None``: no caching) and what it adds up, per request."""

    __slots__ = ("accs", "cost", "sim")

    def __init__(self, sim: Simulator | None) -> None:
        self.sim = sim
        self.accs: dict[tuple[str, str], _Acc] = {}
        self.cost = 0.0  # of the last request: the timeline sums them in replay order (`Replay.finish`)

    def feed(  # noqa: PLR0917 - called once per request and scenario: positional on purpose
        self,
        replay: Replay,
        item: Prepared,
        base: SimPrompt | None,
        s: int,
        first_byte: float,
        pricing: Pricing | None,
    ) -> tuple[SimResult | None, int]:
        """Simulate ``item`` under this scenario (index ``s`` of its placements) and add it up; the result and
        the tokens read."""
        result: SimResult | None = None
        by_ttl: Mapping[str, int] = _NO_WRITES
        if self.sim is None:
            read = write = 0
        else:
            assert base is not None
            result = self.sim.request(
                base.with_placement(item.placements[s], item.keys[s]),
                at=item.time,
                first_byte_at=first_byte,
                tenant=item.tenant,
                provider=item.provider,
                model=item.model,
                output_tokens=item.output,
            )
            read, write, by_ttl = result.read_tokens, result.write_tokens, result.write_by_ttl
        group_key = (item.provider, item.model)
        group = self.accs.get(group_key)
        if group is None:
            group = self.accs[group_key] = _Acc()
        group.add(item.total, read, write, by_ttl, item.output)
        self.cost = replay._cost(pricing, group_key, item, read, write, by_ttl) if pricing is not None else 0.0
        return result, read


class _Diagnosis:
    """The miss diagnosis under one candidate focus scenario (two run side by side until the trace shows which
    one the report explains: see `Replay`)."""

    __slots__ = ("causes", "focus", "missed_requests", "missed_tokens")

    def __init__(self, focus: int) -> None:
        self.focus = focus
        self.causes: dict[str, _CauseAcc] = {}
        self.missed_requests = 0
        self.missed_tokens = 0

    def add(self, found: list[_Example], idx: int, examples: int) -> None:
        if not found:
            return
        self.missed_requests += 1
        for example in found:
            acc = self.causes.setdefault(example.cause, _CauseAcc())
            acc.requests += 1
            acc.lost += example.lost
            self.missed_tokens += example.lost
            entry = (example.lost, -example.line, idx, example)
            if len(acc.examples) < examples:
                heapq.heappush(acc.examples, entry)
            elif entry[:3] > acc.examples[0][:3]:
                heapq.heapreplace(acc.examples, entry)

    def tally(self) -> DiagnosisTally:
        """What the report needs of this diagnosis (`ReplayTally`): counts, and each cause's best examples."""
        causes = {
            code: CauseTally(acc.requests, acc.lost, sorted((e[3] for e in acc.examples), key=_Example.rank))
            for code, acc in sorted(self.causes.items())
        }
        return DiagnosisTally(self.missed_requests, self.missed_tokens, causes)


class Freeing(NamedTuple):
    """When the replay of one shard frees its requests: when one replay of the whole trace would.

    One replay frees a request once it is both out of the window and out of the last ``keep`` requests *of the
    trace*, every tenant counted, with the window widened by any OpenAI request before (`Replay`). A shard sees
    its tenant's requests only, so the process that splits the trace works it out over the whole trace
    (`cachepoint.core.analyze.sharded`) and hands each shard this: per request (by line) its rank in the
    trace's start order and how many of the trace's first requests are freed before it comes; how many are
    freed once the trace has gone by; the window at the end.

    >>> Freeing({7: (0, 0), 9: (1, 0)}, end=1, window=3600.0).ranks[9]
    (1, 0)
    """

    ranks: Mapping[int, tuple[int, int]]
    end: int
    window: float


class _Kept:
    """The recent requests the sharing statistics and the diagnosis compare with, and their indexes: per cache
    partition (provider, tenant, model) and per session, the longest prefix an earlier kept request sent; the
    last kept request of each. A request leaves (`evict`) when it is both older than the window and out of the
    last ``keep`` requests: its entries leave the indexes (unless a later request sent the same prefix), and
    the fingerprints of blocks no kept request uses go to disk."""

    def __init__(self, prints: PrintStore) -> None:
        self.items: dict[int, Prepared] = {}
        self.order: deque[int] = deque()
        self.partitions: dict[tuple[str, str, str], PrefixCache[int]] = {}
        self.sessions: dict[tuple[str, str, str, str], PrefixCache[int]] = {}
        self.last_in_partition: dict[tuple[str, str, str], int] = {}
        self.last_in_session: dict[tuple[str, str, str, str], int] = {}
        self.owners: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}  # (index key, blocks): newest request
        self.uses: dict[str, int] = {}  # block: kept requests that hold it
        self.prints = prints
        self.evicted = 0

    def add(self, idx: int, item: Prepared) -> None:
        self.items[idx] = item
        self.order.append(idx)
        uses = self.uses
        for block in item.blocks:
            uses[block] = uses.get(block, 0) + 1

    def evict(self, idx: int) -> None:
        item = self.items.pop(idx)
        self.evicted += 1
        partition = (item.provider, item.tenant, item.model)
        self._forget(self.partitions, partition, item.blocks, idx)
        if self.last_in_partition.get(partition) == idx:
            del self.last_in_partition[partition]
        if item.session is not None:
            skey = (*partition, item.session)
            self._forget(self.sessions, skey, item.blocks, idx)
            if self.last_in_session.get(skey) == idx:
                del self.last_in_session[skey]
        uses = self.uses
        for block in item.blocks:
            left = uses[block] - 1
            if left:
                uses[block] = left
            else:
                del uses[block]
                self.prints.retire(block)

    def _forget(self, indexes: dict[Any, PrefixCache[int]], key: Any, blocks: tuple[str, ...], idx: int) -> None:
        owner = (key, blocks)
        if self.owners.get(owner) != idx:
            return  # a later request sent the same prefix: the entry is its own now
        del self.owners[owner]
        index = indexes[key]
        index.delete(blocks)
        if not len(index):
            del indexes[key]

    def insert(
        self, indexes: dict[Any, PrefixCache[int]], key: Any, blocks: tuple[str, ...], idx: int
    ) -> tuple[int, int]:
        """Index ``blocks`` under ``key``; the longest prefix an earlier kept request sent, and which one (-1:
        none)."""
        index = indexes.get(key)
        if index is None:
            index = indexes[key] = PrefixCache()
        match = index.insert(blocks, idx)
        self.owners[(key, blocks)] = idx
        found = match.payload if match.length else None
        return match.length, found if found is not None else -1


class Replay:
    """Replays `Prepared` requests (in start order) through ``scenarios``; diagnoses ``focus``.

    The replay streams: each request is simulated under every scenario as it comes, and the requests kept to
    compare later ones with (prefix sharing, the diagnosis) are the last ``keep`` and those of the last
    ``window`` seconds, whichever reach further back. A provider's cache never serves an entry after its
    lifetime (Anthropic and Bedrock: 1 hour at most; OpenAI's automatic caching: 24 hours with extended
    retention), so the window (default: 1 hour, or the longest OpenAI retention of a request in the trace) is
    as far back as a cache read can reach; the budget keeps a short trace whole. Older requests are freed: the
    memory the replay needs is bounded by the traffic of one window, not by the length of the trace. The
    simulators keep their own state and drop expired entries themselves: the scenarios' numbers never depend
    on the window. Per-session totals beyond ``sessions_in_memory`` wait on disk (`SessionTotals`); `held`
    counts what is in memory while the replay runs.

    ``focus`` ``None``: ``recorded`` when the trace caches already (cache markers, or a provider that caches by
    itself), else ``auto`` (or the first strategy); both are diagnosed until a request settles it.

    >>> from cachepoint.core.analyze.prepare import PrepareContext
    >>> from cachepoint.core.analyze.scenarios import scenarios_for
    >>> scenarios = scenarios_for(["auto"])
    >>> ctx = PrepareContext(scenarios=scenarios)
    >>> body = (b'{"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "%s", '
    ...         b'"messages": [{"role": "user", "content": "Hi"}]}')
    >>> items = [ctx.prepare_line(body % (b"Policy. " * 900), line=n, offset=0) for n in (1, 2)]
    >>> items = [p._replace(time=float(n)) for n, p in enumerate(items)]
    >>> replay = Replay(scenarios)
    >>> tally = replay.run(items)
    >>> result = replay.finish(tally)
    >>> tally.close()
    >>> [(s.name, s.hit_requests) for s in result.scenarios], result.focus
    ([('recorded', 0), ('none', 0), ('auto', 1)], 'auto')
    """

    def __init__(
        self,
        scenarios: Sequence[Scenario],
        *,
        focus: str | None = None,
        table: ProviderTable | None = None,
        openai: OpenAIOptions | None = None,
        engine: EngineOptions | None = None,
        examples: int = 3,
        samples: int = 240,
        buckets: int = 60,
        top_sessions: int = 20,
        window: float | None = None,
        keep: int = 25_000,
        sessions_in_memory: int = 20_000,
    ) -> None:
        names = [s.name for s in scenarios]
        if focus is not None and focus not in names:
            raise ValueError(f"focus: {focus!r} is not one of the scenarios ({', '.join(names)})")
        if window is not None and not window > 0:
            raise ValueError(f"window: expected a positive number of seconds, got {window!r}")
        if keep < 0:
            raise ValueError(f"keep: expected 0 or more requests, got {keep!r}")
        self.scenarios = list(scenarios)
        self.focus = names.index(focus) if focus is not None else None
        self.table = table
        self.openai = openai or OpenAIOptions()
        self.engine = engine or EngineOptions()
        self.examples = examples
        self.samples = samples
        self.buckets = buckets
        self.top_sessions = top_sessions
        self.window = window
        self.keep = keep
        self.sessions_in_memory = sessions_in_memory
        self._infos: dict[tuple[str, str], ModelInfo] = {}
        self._prices: dict[tuple[str, str], Pricing | None] = {}
        self._write_prices: dict[tuple[str, str], dict[str, float]] = {}
        # What the running replay holds, for `held` (set by `run` for its duration).
        self._holding: tuple[_Kept, list[_Track], SessionTotals, RowSpill] | None = None

    def held(self) -> Held:
        """What this replay holds in memory now (zeros outside `run`): call it from ``run``'s ``progress``.

        >>> from cachepoint.core.analyze.scenarios import scenarios_for
        >>> Replay(scenarios_for(["auto"])).held().requests
        0
        """
        memos = len(self._infos) + len(self._prices) + len(self._write_prices)
        if self._holding is None:
            return Held(0, 0, 0, 0, 0, 0, 0, 0, memos)
        kept, tracks, sessions, spill = self._holding
        sims = [t.sim.held() for t in tracks if t.sim is not None]
        return Held(
            requests=len(kept.items),
            blocks=len(kept.uses),
            prints=kept.prints.in_memory,
            indexed=len(kept.owners),
            cache_entries=sum(h.entries for h in sims),
            cache_partitions=sum(h.partitions for h in sims),
            sessions=sessions.in_memory,
            timeline_rows=spill.buffered,
            memos=memos,
        )

    # --- helpers ---

    def _info(self, provider: str, model: str) -> ModelInfo:
        key = (provider, model)
        found = self._infos.get(key)
        if found is None:
            if provider in _ENGINES:  # an engine caches any whole block: its "minimum" is one block
                base = model_info("openai", model, table=self.table)
                found = replace(base, provider=provider, min_cache_tokens=self.engine.block_size, known=True)
            else:
                found = model_info(provider, model, table=self.table)
            self._infos[key] = found
        return found

    def _pricing(self, provider: str, model: str) -> Pricing | None:
        key = (provider, model)
        if key not in self._prices:
            self._prices[key] = None if provider in _ENGINES else self._info(provider, model).pricing
        return self._prices[key]

    def _cost(  # noqa: PLR0917 - called once per request and scenario: positional on purpose
        self, pricing: Pricing, group: tuple[str, str], item: Prepared, read: int, write: int, by_ttl: Mapping[str, int]
    ) -> float:
        """USD of one request (``pricing``: the price list of ``group``, its provider and model)."""
        usd = (item.total - read - write) * pricing.input + read * pricing.cache_read + item.output * pricing.output
        written = 0
        if by_ttl:
            prices = self._write_prices.setdefault(group, {})
            for ttl, count in by_ttl.items():
                price = prices.get(ttl)
                if price is None:
                    try:
                        price = prices[ttl] = pricing.write_price(ttl)
                    except ValueError:
                        price = prices[ttl] = pricing.write_price(None)
                usd += count * price
                written += count
        if write != written:
            usd += (write - written) * pricing.write_price(None)
        return usd * 1e-6

    def widens(self, item: Prepared) -> float:
        """The comparison window ``item`` widens the replay's to when none is set (0.0: none): OpenAI's automatic
        caching keeps a prefix up to its retention (24 hours by default)."""
        return float(self.openai.retention_seconds(item.retention)) if item.provider == "openai" else 0.0

    def _lifetime(self, label: str | None, info: ModelInfo) -> float:
        try:
            return float(ttl_seconds(label, default=info.default_ttl))
        except ValueError:  # a label that is not a duration (OpenAI's in_memory): the provider default
            return float(self.openai.retention_seconds(label))

    def _ttl(
        self, item: Prepared, earlier: Prepared, info: ModelInfo, mode: str, *, focus: int, after: int = -1
    ) -> float:
        """How long the earlier request's entries past position ``after`` live (the longest of them)."""
        if mode == "automatic":
            return self.openai.retention_seconds(item.retention)
        if mode == "engine":
            return math.inf
        labels = [b[1] for b in earlier.placements[focus] if b[0] > after]
        if not labels:
            labels = [b[1] for b in (*earlier.placements[focus], *item.placements[focus])] or [None]
        return max(self._lifetime(label, info) for label in labels)

    # --- the replay ---

    def _track(self, s: int) -> _Track:
        scenario = self.scenarios[s]
        sim = (
            None
            if scenario.kind == "none"
            else Simulator("anthropic", table=self.table, openai=self.openai, engine=self.engine)
        )
        return _Track(sim)

    def _charted(self, focus: Sequence[int]) -> list[int]:
        """The scenarios whose hit rate over time the report charts: the focus, ``recorded`` and ``auto``."""
        names = [sc.name for sc in self.scenarios]
        return sorted({*focus, *(names.index(n) for n in ("recorded", "auto") if n in names)})

    def _candidates(self) -> tuple[list[int], int | None]:
        """The focus scenarios to diagnose from the start, and the one that wins when a request caches already.

        Without a focus given, the report explains ``recorded`` when the trace caches already (cache markers,
        or a provider that caches by itself), otherwise ``auto`` (or the first strategy replayed). Which one is
        known for sure only when such a request arrives, or at the end: until then both are diagnosed."""
        if self.focus is not None:
            return [self.focus], None
        names = [sc.name for sc in self.scenarios]
        recorded = names.index("recorded")
        if len(names) <= 2:
            return [recorded], None
        return [recorded, names.index("auto") if "auto" in names else 2], recorded

    def run(  # noqa: PLR0912, PLR0915 - the per-request loop reads best in one place
        self,
        items: Iterable[Prepared],
        progress: Callable[[int], None] | None = None,
        *,
        freeing: Freeing | None = None,
    ) -> ReplayTally:
        """Replay ``items`` (in start order, every ``time`` set), one at a time: each request's fingerprints
        (`Prepared.prints`) are taken in as it comes, and what can no longer be compared is freed as the replay
        moves on (see `Replay`; ``freeing``: a shard of a trace, freed as the whole trace's replay would free
        it). Returns the tally (`finish` makes the report's figures of it; close it when done: its rows wait in
        a temporary file)."""
        scenarios = self.scenarios
        count = len(scenarios)
        recorded = next((i for i, s in enumerate(scenarios) if s.kind == "recorded"), None)
        candidates, caching_focus = self._candidates()
        diagnoses = {f: _Diagnosis(f) for f in candidates}
        charted = self._charted(candidates)
        tracks = [self._track(s) for s in range(count)]
        simulated = any(t.sim is not None for t in tracks)
        prints = PrintStore()
        kept = _Kept(prints)
        # Per request: start, prompt tokens, every scenario's running cost, each charted scenario's tokens read.
        rows = Rows(3 + count + len(charted))  # start, line, prompt tokens, costs, reads: see `Rows`
        window = self.window if self.window is not None else 3600.0
        session_totals = SessionTotals(self.sessions_in_memory)
        self._holding = (kept, tracks, session_totals, rows.spill)
        shared_sum = cacheable_sum = session_shared_sum = cold = input_sum = 0

        observed_acc: dict[tuple[str, str], CacheUsage] = {}
        observed_counts = [0, 0, 0, 0]  # requests, hits, writes, agreements
        predicted_acc: dict[tuple[str, str], _Acc] = {}
        estimated_input = 0
        warned: dict[tuple[str, str], tuple[float, int, int]] = {}  # unknown model: first (start, line), minimum
        ignored: dict[str, int] = {}
        t0 = t1 = 0.0
        n = 0
        read_by = [0] * count
        ranks: deque[int] = deque()  # with ``freeing``: the trace ranks of the kept requests, oldest first

        def free() -> None:
            kept.evict(kept.order.popleft())
            if kept.evicted % _COLLECT == 0:
                # The prefix indexes' nodes point at each other: freed ones wait for the cycle collector, which
                # the analysis runs with switched off (see `collector_paused`).
                gc.collect()

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnknownModelWarning)
                for idx, arrived in enumerate(items):
                    item = arrived
                    at = item.time
                    assert at is not None
                    if item.prints:
                        prints.add(item.prints)
                        item = item._replace(prints=_NO_PRINTS)
                    if freeing is not None:  # what the whole trace's replay has freed before this request
                        rank, freed = freeing.ranks[item.line]
                        while ranks and ranks[0] < freed:
                            ranks.popleft()
                            free()
                        ranks.append(rank)
                    if idx == 0:
                        t0 = at
                    t1 = at
                    n = idx + 1
                    if caching_focus is not None and (
                        item.placements[caching_focus] or item.provider in ("openai", "vllm", "sglang")
                    ):
                        diagnoses = {caching_focus: diagnoses[caching_focus]}  # the trace caches: `recorded`
                        caching_focus = None
                    if self.window is None:
                        window = max(window, self.widens(item))
                    first_byte = at + (item.ttft or 0.0)
                    total = item.total
                    input_sum += total
                    partition = (item.provider, item.tenant, item.model)
                    m, earlier = kept.insert(kept.partitions, partition, item.blocks, idx)
                    earlier_idx = earlier if m else None
                    shared = item.cumulative[m - 1] if m else 0
                    info = self._info(item.provider, item.model)
                    shared_sum += shared
                    if shared >= info.min_cache_tokens:
                        cacheable_sum += shared
                    if not m:
                        cold += 1
                    if not item.known and (item.provider, item.model) not in warned:
                        warned[(item.provider, item.model)] = (at, item.line, info.min_cache_tokens)
                    for key in item.ignored:
                        ignored[key] = ignored.get(key, 0) + 1

                    last_seen = kept.last_in_partition.get(partition)
                    kept.last_in_partition[partition] = idx
                    previous = None
                    if item.session is not None:
                        skey = (*partition, item.session)
                        sm, _ = kept.insert(kept.sessions, skey, item.blocks, idx)
                        session_shared = item.cumulative[sm - 1] if sm else 0
                        session_shared_sum += session_shared
                        session_totals.add(skey, total, session_shared, started=(at, item.line))
                        previous = kept.last_in_session.get(skey)
                        kept.last_in_session[skey] = idx
                    kept.add(idx, item)

                    results: dict[int, SimResult] = {}
                    recorded_read = 0
                    # Per request, once: what every scenario shares (the columns, the price list); per scenario
                    # only the breakpoints and the cache key differ.
                    group_key = (item.provider, item.model)
                    pricing = self._pricing(item.provider, item.model)
                    output = item.output
                    base = _sim_prompt(item) if simulated else None
                    for s in range(count):
                        result, read_by[s] = tracks[s].feed(self, item, base, s, first_byte, pricing)
                        if result is None:
                            continue
                        if s in diagnoses:
                            results[s] = result
                        if s == recorded:
                            recorded_read = result.read_tokens
                            if item.observed is not None:
                                pgroup = predicted_acc.get(group_key)
                                if pgroup is None:
                                    pgroup = predicted_acc[group_key] = _Acc()
                                pgroup.add(total, result.read_tokens, result.write_tokens, result.write_by_ttl, output)
                    rows.append([at, item.line, total, *(t.cost for t in tracks), *(read_by[s] for s in charted)])

                    obs = item.observed
                    if obs is not None and obs.input is not None and obs.read is not None and recorded is not None:
                        usage = CacheUsage(
                            provider=item.provider,
                            model=item.model,
                            input_tokens=obs.input,
                            cache_read_tokens=obs.read,
                            cache_write_tokens=obs.write,
                            cache_write_by_ttl=obs.write_by_ttl,
                            output_tokens=obs.output,
                        )
                        before = observed_acc.get(group_key)
                        observed_acc[group_key] = before + usage if before is not None else usage
                        observed_counts[0] += 1
                        observed_counts[1] += obs.read > 0
                        observed_counts[2] += bool(obs.write)
                        observed_counts[3] += (obs.read > 0) == (recorded_read > 0)
                        estimated_input += total

                    # --- why did it miss? (focus scenario) ---
                    for f, diagnosis in diagnoses.items():
                        focus_result = results.get(f)
                        if focus_result is None:
                            continue
                        found = self._diagnose(
                            kept.items,
                            item,
                            focus=f,
                            m=m,
                            shared=shared,
                            earlier_idx=earlier_idx,
                            previous=previous,
                            last=last_seen,
                            result=focus_result,
                            info=info,
                            prints=prints,
                        )
                        diagnosis.add(found, idx, self.examples)

                    # --- free what can no longer be compared ---
                    order = kept.order
                    if freeing is None and len(order) > self.keep:
                        limit = at - window
                        while len(order) > self.keep and kept.items[order[0]].time < limit:  # type: ignore[operator]
                            free()
                    if progress is not None:
                        progress(idx + 1)
                if freeing is not None:  # what the whole trace's replay frees by its end
                    while ranks and ranks[0] < freeing.end:
                        ranks.popleft()
                        free()
                    window = freeing.window

            sessions = len(session_totals)
            top_sessions = session_totals.ranked(self.top_sessions)
        except BaseException:
            rows.close()
            raise
        finally:
            prints.close()
            session_totals.close()
            self._holding = None
        return ReplayTally(
            scenarios=[sc.name for sc in scenarios],
            charted=charted,
            candidates=candidates,
            caching=candidates[0] if len(candidates) > 1 and self.focus is None else None,
            cached=len(candidates) > 1 and caching_focus is None,
            diagnoses={f: d.tally() for f, d in diagnoses.items()},
            groups=[{g: Counts.of(acc) for g, acc in sorted(t.accs.items())} for t in tracks],
            predicted={g: Counts.of(acc) for g, acc in sorted(predicted_acc.items())},
            observed=dict(sorted(observed_acc.items())),
            observed_counts=observed_counts,
            estimated_input=estimated_input,
            sharing={
                "requests": n,
                "input_tokens": input_sum,
                "shared": shared_sum,
                "cacheable": cacheable_sum,
                "session_shared": session_shared_sum,
                "cold": cold,
                "sessions": sessions,
            },
            top_sessions=[
                SessionTally(k[0], k[1], k[2], k[3], *totals, *started) for k, totals, started in top_sessions
            ],
            top_k=self.top_sessions,
            examples_k=self.examples,
            unknown=warned,
            engine_providers={p for p, _ in self._infos if p in _ENGINES},
            ignored=dict(sorted(ignored.items())),
            evicted=kept.evicted,
            window=window,
            keep=self.keep,
            first_time=t0 if n else None,
            last_time=t1 if n else None,
            rows=rows,
        )

    def finish(self, tally: ReplayTally) -> ReplayResult:
        """The report's figures from a tally (`run`'s, or several merged: `ReplayTally.merge`): the scenario
        table, prefix sharing, observed usage, the miss diagnosis and the timeline. The tally's rows are read,
        not closed.

        >>> from cachepoint.core.analyze.scenarios import scenarios_for
        >>> replay = Replay(scenarios_for(["auto"]))
        >>> tally = replay.run([])
        >>> [(s.name, s.requests) for s in replay.finish(tally).scenarios]
        [('recorded', 0), ('none', 0), ('auto', 0)]
        >>> tally.close()
        """
        scenarios = self.scenarios
        names = [sc.name for sc in scenarios]
        if tally.scenarios != names:
            raise ValueError(f"tally scenarios: {tally.scenarios} vs this replay's {names}")
        focus = tally.focus
        diagnosis = tally.diagnoses[focus]
        sharing_counts = tally.sharing
        n = sharing_counts["requests"]
        t0 = tally.first_time if tally.first_time is not None else 0.0
        t1 = tally.last_time if tally.last_time is not None else 0.0
        timeline = self._timeline(tally, self._charted([focus]), n=n, t0=t0, t1=t1)
        results_all = [self._result(sc, tally.groups[i]) for i, sc in enumerate(scenarios)]

        warn = [
            f"model {model!r} ({provider}) is not in the provider table: conservative rules (minimum {minimum} "
            "tokens) and no prices; teach it with register_model"
            for (provider, model), (_, _, minimum) in sorted(tally.unknown.items(), key=lambda kv: kv[1][:2])
        ]
        if tally.engine_providers:
            warn.append(
                f"{', '.join(sorted(tally.engine_providers))} cache every prefix by themselves (block prefix "
                "caching): breakpoint strategies do not change their numbers"
            )
        for key, times in sorted(tally.ignored.items()):
            warn.append(f"envelope field {key!r} is not part of the trace format and was ignored ({times} lines)")
        if tally.evicted:
            warn.append(
                f"prefix sharing and the miss diagnosis compared each request with the requests of the last "
                f"{_fmt_seconds(tally.window)} or the last {tally.keep:,}, whichever reach further back (--window, "
                f"--keep): {tally.evicted:,} older requests were no longer compared with"
            )
        sharing = SharingStats(
            requests=n,
            input_tokens=sharing_counts["input_tokens"],
            shared_tokens=sharing_counts["shared"],
            cacheable_shared_tokens=sharing_counts["cacheable"],
            session_shared_tokens=sharing_counts["session_shared"],
            cold_requests=sharing_counts["cold"],
            sessions=sharing_counts["sessions"],
            top_sessions=tuple(
                SessionSharing(s.session, s.tenant, s.requests, s.tokens, s.shared) for s in tally.top_sessions
            ),
        )
        observed = None
        observed_counts = tally.observed_counts
        if observed_counts[0]:
            observed = ObservedComparison(
                requests=observed_counts[0],
                observed=self._observed_result(tally.observed, observed_counts),
                predicted=self._result(
                    Scenario("predicted", "recorded", "recorded markers, simulated"), tally.predicted
                ),
                input_token_ratio=sum(u.input_tokens or 0 for u in tally.observed.values()) / tally.estimated_input
                if tally.estimated_input
                else None,
                agreement=observed_counts[3] / observed_counts[0],
            )
        examples: list[_Example] = []
        summaries = []
        for code, acc in sorted(diagnosis.causes.items(), key=lambda kv: (-kv[1].lost, kv[0])):
            examples.extend(replace(e) for e in sorted(acc.examples, key=_Example.rank))
            cause = CAUSES[code]
            summaries.append(
                CauseSummary(code, cause.kind, cause.title, cause.fix, acc.requests, acc.lost, ())  # examples later
            )
        misses = MissReport(scenarios[focus].name, diagnosis.missed_requests, diagnosis.missed_tokens, tuple(summaries))
        # The recommendation: the cheapest scenario an adapter can place (not an analyzer-only one).
        priced = [r for r in results_all if r.cost_usd is not None and not analyzer_only(r.spec)]
        best = min(priced, key=lambda r: (r.cost_usd or 0.0, r.name)).name if priced else None
        return ReplayResult(
            results_all, sharing, observed, misses, examples, timeline, warn, best, scenarios[focus].name
        )

    def _timeline(self, tally: ReplayTally, shown: Sequence[int], *, n: int, t0: float, t1: float) -> Timeline:
        """The report's time axis from the tally's rows (in replay order): a cost sample every ``n / samples``
        requests (each scenario's costs summed in replay order), and the charted scenarios' requests, hits and
        tokens per bucket of ``(t1 - t0) / buckets`` seconds."""
        count = len(self.scenarios)
        charted = tally.charted
        every = max(1, n // self.samples) if n else 1
        clock = _Clock(t0, (t1 - t0) / self.buckets if t1 > t0 else 0.0, self.buckets, n, every)
        sample_at: list[int] = []
        sample_times: list[float] = []
        costs: list[list[float]] = [[] for _ in range(count)]
        running = [0.0] * count
        cells = {s: [[0, 0, 0, 0] for _ in range(self.buckets)] for s in shown}
        columns = [(s, 3 + count + charted.index(s)) for s in shown]
        for idx, row in enumerate(tally.rows):
            at = row[0]
            total = int(row[2])
            for s in range(count):
                running[s] += row[3 + s]
            cell = clock.cell(idx, at)
            for s, column in columns:
                read = int(row[column])
                box = cells[s][cell]
                box[0] += 1
                box[1] += read > 0
                box[2] += total
                box[3] += read
            if clock.sampled(idx):
                sample_at.append(idx + 1)
                sample_times.append(at)
                for s in range(count):
                    costs[s].append(round(running[s], 6))
        names = [sc.name for sc in self.scenarios]
        width = clock.width
        return Timeline(
            at=tuple(sample_at),
            times=tuple(sample_times),
            cost_usd={names[s]: tuple(costs[s]) for s in range(count)},
            bucket_scenarios=tuple(names[s] for s in shown),
            buckets={
                names[s]: tuple(
                    (t0 + k * width, t0 + (k + 1) * width, c[0], c[1], c[2], c[3]) for k, c in enumerate(cells[s])
                )
                for s in shown
            },
        )

    def _diagnose(
        self,
        items: Mapping[int, Prepared],
        item: Prepared,
        *,
        focus: int,
        m: int,
        shared: int,
        earlier_idx: int | None,
        previous: int | None,
        last: int | None,
        result: SimResult,
        info: ModelInfo,
        prints: Mapping[str, BlockPrint],
    ) -> list[_Example]:
        """The causes of what ``item`` did not read under scenario ``focus``: within the shared prefix (mechanics)
        and past it (content), against the kept requests ``items``."""
        found: list[_Example] = []
        earlier = items[earlier_idx] if earlier_idx is not None else None
        if earlier is not None and m:
            example = self._mechanics(item, earlier, m, shared, focus=focus, result=result, info=info)
            if example is not None:
                found.append(example)
        candidates: list[tuple[int, int]] = []
        if earlier_idx is not None and m < len(items[earlier_idx].blocks) and m < len(item.blocks):
            candidates.append((earlier_idx, m))
        for other_idx in (previous, last):
            if other_idx is not None and all(other_idx != c for c, _ in candidates):
                k = _common_prefix(item.hashes, items[other_idx].hashes)
                if k < len(items[other_idx].blocks) and k < len(item.blocks):
                    candidates.append((other_idx, k))
        best: _Example | None = None
        best_rank: tuple[bool, int] = (False, 0)
        for other_idx, k in candidates:
            example = self._content(
                item,
                items[other_idx],
                k,
                focus=focus,
                shared=shared,
                mode=result.mode,
                info=info,
                prints=prints,
                same_session=other_idx == previous,
            )
            if example is None:
                continue
            rank = (example.cause != "ttl_expired", example.lost)  # a fresh comparison explains more
            if best is None or rank > best_rank:
                best, best_rank = example, rank
        if best is not None:
            same = next((e for e in found if e.cause == best.cause), None)
            if same is not None:
                same.lost += best.lost
            else:
                found.append(best)
        return found

    def _mechanics(
        self, item: Prepared, earlier: Prepared, m: int, shared: int, *, focus: int, result: SimResult, info: ModelInfo
    ) -> _Example | None:
        at, then = item.time, earlier.time
        assert at is not None
        assert then is not None
        gap = at - then
        beyond = [
            (o.position, o.found_beyond) for o in result.breakpoints if o.found is None and o.found_beyond is not None
        ]
        read = result.read_tokens
        read_at = result.hit_position if result.hit_position is not None else -1
        # Entries the earlier request wrote (or refreshed) past what was read, inside the shared part.
        closing = [b[1] for b in earlier.placements[focus] if read_at < b[0] < m]
        if result.mode == "breakpoints":
            ttl = max((self._lifetime(label, info) for label in closing), default=0.0)
        else:
            ttl = self._ttl(item, earlier, info, result.mode, focus=focus)
        cause = mechanics_cause(
            shared=shared,
            read=read,
            min_tokens=info.min_cache_tokens,
            in_flight=then + (earlier.ttft or 0.0) > at,
            lookback_exceeded=bool(beyond),
            gap=gap,
            ttl=ttl,
            mode=result.mode,
            entry=bool(closing),
            increment=self.engine.block_size if result.mode == "engine" else info.increment or 1,
        )
        if cause is None:
            return None
        where = item.paths[m - 1]
        if cause == "below_minimum":
            detail = (
                f"shares ~{shared:,} tokens (through {where}) with line {earlier.line}; "
                f"{item.model} caches prefixes from {info.min_cache_tokens:,} tokens"
            )
        elif cause == "in_flight":
            detail = f"line {earlier.line} started {gap:.2f}s earlier and had not started answering"
        elif cause == "lookback_exceeded":
            position, back = beyond[0]
            assert back is not None
            distance = item.lookback[position] - item.lookback[back] + 1
            detail = (
                f"the breakpoint at {item.paths[position]} would read the entry at {item.paths[back]}, "
                f"{distance} positions back; it looks back 20"
            )
        elif cause == "ttl_expired":
            detail = (
                f"{_fmt_seconds(gap)} since line {earlier.line} sent this ~{shared:,}-token prefix; "
                f"entries live {_fmt_seconds(ttl)} after their last use"
            )
        elif cause == "evicted":
            detail = f"shares ~{shared:,} tokens with line {earlier.line} but read ~{read:,}: its blocks were evicted"
        elif cause == "routing":
            mine, theirs = item.keys[focus], earlier.keys[focus]
            why = (
                f"prompt_cache_key {mine} vs {theirs}"
                if mine != theirs
                else "same prompt_cache_key: the route was busy and spilled to another machine"
            )
            detail = f"shares ~{shared:,} tokens with line {earlier.line} but read ~{read:,}: {why}"
        else:
            detail = (
                f"shares ~{shared:,} tokens (through {where}) with line {earlier.line} but read ~{read:,}: "
                "no breakpoint of that request ends inside the shared part"
            )
        return _Example(
            cause, item.line, item.offset, earlier.line, earlier.offset, where, m - 1, shared - read, detail
        )

    def _content(
        self,
        item: Prepared,
        other: Prepared,
        k: int,
        *,
        focus: int,
        shared: int,
        mode: str,
        info: ModelInfo,
        prints: Mapping[str, BlockPrint],
        same_session: bool,
    ) -> _Example | None:
        d = find_divergence(
            item.blocks,
            other.blocks,
            k,
            prints,
            layers=item.layers,
            stable=item.stable,
            block_tokens=item.cumulative[k] - item.tokens_before(k),
            same_session=same_session,
        )
        if d is None:
            return None
        lost = item.cumulative[d.end - 1] - max(item.tokens_before(k), shared)
        if lost <= 0:
            return None
        assert item.time is not None
        assert other.time is not None
        ttl = self._ttl(item, other, info, mode, focus=focus, after=k - 1)
        gap = item.time - other.time
        cause = d.cause
        detail = f"differs from line {other.line} at {item.paths[k]}"
        if gap >= ttl:
            detail = f"{detail}, but {_fmt_seconds(gap)} later: the entry had expired anyway"
            cause = "ttl_expired"
        return _Example(
            cause, item.line, item.offset, other.line, other.offset, item.paths[k], k, lost, detail, d.before, d.after
        )

    def _result(self, scenario: Scenario, groups: Mapping[tuple[str, str], Counts]) -> ScenarioResult:
        requests = hits = writes = input_tokens = read = write = output = unpriced = 0
        by_ttl: dict[str, int] = {}
        cost = without = 0.0
        priced = False
        for (provider, model), acc in sorted(groups.items()):
            requests += acc.requests
            hits += acc.hits
            writes += acc.writes
            input_tokens += acc.input
            read += acc.read
            write += acc.write
            output += acc.output
            for ttl, value in acc.by_ttl.items():
                by_ttl[ttl] = by_ttl.get(ttl, 0) + value
            usage = CacheUsage(
                provider=provider,
                model=model,
                input_tokens=acc.input,
                cache_read_tokens=acc.read,
                cache_write_tokens=acc.write,
                cache_write_by_ttl=acc.by_ttl,
                output_tokens=acc.output,
            )
            priced_cost = (
                call_cost(usage, pricing=self._pricing(provider, model)) if self._pricing(provider, model) else None
            )
            if priced_cost is not None and priced_cost.priced:
                priced = True
                cost += priced_cost.total_usd or 0.0
                without += priced_cost.without_cache_usd or 0.0
            else:
                unpriced += acc.requests
        return ScenarioResult(
            name=scenario.name,
            kind=scenario.kind,
            label=scenario.label,
            spec=scenario.spec,
            requests=requests,
            hit_requests=hits,
            write_requests=writes,
            input_tokens=input_tokens,
            cache_read_tokens=read,
            cache_write_tokens=write,
            output_tokens=output,
            cache_write_by_ttl=dict(sorted(by_ttl.items())),
            cost_usd=cost if priced else None,
            without_cache_usd=without if priced else None,
            unpriced_requests=unpriced,
        )

    def _observed_result(self, groups: Mapping[tuple[str, str], CacheUsage], counts: Sequence[int]) -> ScenarioResult:
        cost = without = 0.0
        priced = False
        unpriced = 0
        by_ttl: dict[str, int] = {}
        sums = dict.fromkeys(("input", "read", "write", "output"), 0)
        for (provider, model), usage in sorted(groups.items()):
            sums["input"] += usage.input_tokens or 0
            sums["read"] += usage.cache_read_tokens or 0
            sums["write"] += usage.cache_write_tokens or 0
            sums["output"] += usage.output_tokens or 0
            for ttl, value in usage.cache_write_by_ttl.items():
                by_ttl[ttl] = by_ttl.get(ttl, 0) + value
            pricing = self._pricing(provider, model)
            priced_cost = call_cost(usage, pricing=pricing) if pricing is not None else None
            if priced_cost is not None and priced_cost.priced:
                priced = True
                cost += priced_cost.total_usd or 0.0
                without += priced_cost.without_cache_usd or 0.0
            else:
                unpriced += 1
        return ScenarioResult(
            name="observed",
            kind="observed",
            label="usage the provider reported",
            requests=counts[0],
            hit_requests=counts[1],
            write_requests=counts[2],
            input_tokens=sums["input"],
            cache_read_tokens=sums["read"],
            cache_write_tokens=sums["write"],
            output_tokens=sums["output"],
            cache_write_by_ttl=dict(sorted(by_ttl.items())),
            cost_usd=cost if priced else None,
            without_cache_usd=without if priced else None,
            unpriced_requests=unpriced,
        )


def _common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Leading positions two chained-hash columns share (equal prefix hashes: equal prefixes), by bisection."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[mid - 1] == b[mid - 1]:
            lo = mid
        else:
            hi = mid - 1
    return lo
