"""The sequential part of the analysis: replay prepared requests in time order through every scenario.

For each request, in start order: find the longest prefix an earlier request of the same cache partition sent
(a `PrefixCache` over block hashes, the structure `cachepoint.core.prefix` offers for KV state), and the same
within its session; simulate it under every scenario (one `Simulator` per scenario, so each keeps its own cache
state); add up tokens and cost; and, under the focus scenario, explain what it failed to read (see
`cachepoint.core.analyze.causes`). Work per request is a few dictionary lookups per scenario and breakpoint.
"""

from __future__ import annotations

import heapq
import math
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson

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
from cachepoint.core.analyze.workers import Job, WorkerPool, collector_paused
from cachepoint.core.prefix import PrefixCache
from cachepoint.core.prompt.ttl import ttl_seconds
from cachepoint.core.providers import ModelInfo, Pricing, ProviderTable, UnknownModelWarning, model_info
from cachepoint.core.simulate import EngineOptions, OpenAIOptions, SimBreakpoint, SimPrompt, SimResult, Simulator
from cachepoint.core.usage import CacheUsage, call_cost

__all__ = ["Replay", "ReplayResult", "replay_group"]

_ENGINES = ("vllm", "sglang")
_NO_WRITES: Mapping[str, int] = {}


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
class _Example:
    cause: str
    line: int
    offset: int
    earlier_line: int | None
    earlier_offset: int | None
    path: str | None
    position: int | None
    lost: int
    detail: str
    before: str = ""
    after: str = ""


@dataclass
class _CauseAcc:
    requests: int = 0
    lost: int = 0
    examples: list[tuple[int, int, int, _Example]] = field(default_factory=list)  # min-heap (lost, -line, n)


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

    __slots__ = ("accs", "cells", "cost", "costs", "sim")

    def __init__(self, sim: Simulator | None, cells: list[list[int]] | None) -> None:
        self.sim = sim
        self.accs: dict[tuple[str, str], _Acc] = {}
        self.cost = 0.0
        self.costs: list[float] = []  # the cumulative cost at each sample
        self.cells = cells  # per chart bucket: requests, hits, input tokens, read tokens (shown scenarios only)

    def feed(  # noqa: PLR0917 - called once per request and scenario: positional on purpose
        self,
        replay: Replay,
        item: Prepared,
        base: SimPrompt | None,
        s: int,
        first_byte: float,
        pricing: Pricing | None,
        cell: int,
    ) -> SimResult | None:
        """Simulate ``item`` under this scenario (index ``s`` of its placements) and add it up."""
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
        if pricing is not None:
            self.cost += replay._cost(pricing, group_key, item, read, write, by_ttl)
        cells = self.cells
        if cells is not None:
            row = cells[cell]
            row[0] += 1
            row[1] += read > 0
            row[2] += item.total
            row[3] += read
        return result

    def sample(self) -> None:
        self.costs.append(round(self.cost, 6))

    def encode(self) -> list[Any]:
        groups = [
            [*key, a.requests, a.hits, a.writes, a.input, a.read, a.write, a.output, a.write_unknown, a.by_ttl]
            for key, a in self.accs.items()
        ]
        return [groups, self.costs, self.cells]

    @classmethod
    def decode(cls, data: Sequence[Any]) -> _Track:
        groups, costs, cells = data
        track = cls(None, cells)
        for provider, model, *numbers, by_ttl in groups:
            acc = track.accs[(provider, model)] = _Acc()
            (acc.requests, acc.hits, acc.writes, acc.input, acc.read, acc.write, acc.output, acc.write_unknown) = (
                numbers
            )
            acc.by_ttl = by_ttl
        track.costs = costs
        return track


# --- replaying some scenarios in a worker process (see `Replay.run`) -------------------------------------------


def _encode_rows(items: Sequence[Prepared], scenarios: Sequence[int]) -> bytes:
    """What a worker needs to replay ``scenarios``, as JSON bytes: per request in replay order, its time and
    partition, its prefix columns and those scenarios' breakpoints (the rest of `Prepared` stays here)."""
    return orjson.dumps(
        [
            [
                item.time,
                item.ttft,
                item.tenant,
                item.provider,
                item.model,
                item.format,
                item.retention,
                item.cache_mode,
                item.output,
                item.hashes,
                item.cumulative,
                item.lookback,
                [[tuple(b) for b in item.placements[s]] for s in scenarios],
                [item.keys[s] for s in scenarios],
            ]
            for item in items
        ]
    )


def _decode_rows(data: bytes, count: int, scenarios: Sequence[int]) -> list[Prepared]:
    """`_encode_rows` read back as `Prepared` requests that hold what the replay reads (placements and keys at
    the positions of ``scenarios`` among ``count``; hashes interned, as sessions repeat them)."""
    keep = sys.intern
    out = []
    for (
        time,
        ttft,
        tenant,
        provider,
        model,
        fmt,
        retention,
        mode,
        output,
        hashes,
        cumulative,
        lookback,
        bps,
        ks,
    ) in orjson.loads(data):
        placements: list[tuple[SimBreakpoint, ...]] = [()] * count
        keys: list[str | None] = [None] * count
        for s, points, key in zip(scenarios, bps, ks, strict=True):
            placements[s] = tuple(SimBreakpoint(b[0], b[1], b[2]) for b in points)
            keys[s] = key
        out.append(
            Prepared(
                line=0,
                offset=0,
                time=time,
                ttft=ttft,
                tenant=tenant,
                session=None,
                provider=provider,
                model=model,
                format=fmt,
                known=True,
                hashes=tuple(map(keep, hashes)),
                blocks=(),
                cumulative=tuple(cumulative),
                lookback=tuple(lookback),
                layers="",
                stable="",
                paths=(),
                placements=tuple(placements),
                keys=tuple(keys),
                retention=retention,
                cache_mode=mode,
                observed=None,
                output=output,
                prints={},
                ignored=(),
            )
        )
    return out


def replay_group(
    spec: Mapping[str, Any], clock: Sequence[Any], rows: bytes, sent: Sequence[int], group: Sequence[int]
) -> bytes:
    """Worker process: replay the scenarios ``group`` (indexes, among the ``sent`` ones ``rows`` holds) of the
    replay `Replay.spec` describes, on the report's time axis ``clock``; their tracks come back as JSON bytes."""
    with collector_paused():
        replay = Replay.from_spec(spec)
        items = _decode_rows(rows, len(replay.scenarios), sent)
        tracks = replay.replay_scenarios(items, group, _Clock(*clock))
        return orjson.dumps([tracks[s].encode() for s in group])


class Replay:
    """Replays `Prepared` requests (sorted by start time) through ``scenarios``; diagnoses ``focus``.

    >>> from cachepoint.core.analyze.prepare import PrepareContext
    >>> from cachepoint.core.analyze.scenarios import scenarios_for
    >>> scenarios = scenarios_for(["auto"])
    >>> ctx = PrepareContext(scenarios=scenarios)
    >>> body = (b'{"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "%s", '
    ...         b'"messages": [{"role": "user", "content": "Hi"}]}')
    >>> items = [ctx.prepare_line(body % (b"Policy. " * 900), line=n, offset=0) for n in (1, 2)]
    >>> items = [p._replace(time=float(n)) for n, p in enumerate(items)]
    >>> result = Replay(scenarios, focus="auto").run(items, {k: v for p in items for k, v in p.prints.items()})
    >>> [(s.name, s.hit_requests) for s in result.scenarios]
    [('recorded', 0), ('none', 0), ('auto', 1)]
    """

    def __init__(
        self,
        scenarios: Sequence[Scenario],
        *,
        focus: str,
        table: ProviderTable | None = None,
        openai: OpenAIOptions | None = None,
        engine: EngineOptions | None = None,
        examples: int = 3,
        samples: int = 240,
        buckets: int = 60,
        top_sessions: int = 20,
    ) -> None:
        names = [s.name for s in scenarios]
        if focus not in names:
            raise ValueError(f"focus: {focus!r} is not one of the scenarios ({', '.join(names)})")
        self.scenarios = list(scenarios)
        self.focus = names.index(focus)
        self.table = table
        self.openai = openai or OpenAIOptions()
        self.engine = engine or EngineOptions()
        self.examples = examples
        self.samples = samples
        self.buckets = buckets
        self.top_sessions = top_sessions
        self._infos: dict[tuple[str, str], ModelInfo] = {}
        self._prices: dict[tuple[str, str], Pricing | None] = {}
        self._write_prices: dict[tuple[str, str], dict[str, float]] = {}

    def spec(self) -> dict[str, Any]:
        """This replay's settings as plain data, for a worker process (`from_spec`). A custom provider table is
        not plain data: a replay with one stays in its process."""
        return {
            "scenarios": [[sc.name, sc.kind, sc.label, sc.spec] for sc in self.scenarios],
            "focus": self.scenarios[self.focus].name,
            "openai": asdict(self.openai),
            "engine": asdict(self.engine),
            "examples": self.examples,
            "samples": self.samples,
            "buckets": self.buckets,
            "top_sessions": self.top_sessions,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Replay:
        """The replay `spec` describes (its scenarios without their strategies: the breakpoints are placed)."""
        return cls(
            [Scenario(*row) for row in spec["scenarios"]],
            focus=spec["focus"],
            openai=OpenAIOptions(**spec["openai"]),
            engine=EngineOptions(**spec["engine"]),
            examples=spec["examples"],
            samples=spec["samples"],
            buckets=spec["buckets"],
            top_sessions=spec["top_sessions"],
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

    def _lifetime(self, label: str | None, info: ModelInfo) -> float:
        try:
            return float(ttl_seconds(label, default=info.default_ttl))
        except ValueError:  # a label that is not a duration (OpenAI's in_memory): the provider default
            return float(self.openai.retention_seconds(label))

    def _ttl(self, item: Prepared, earlier: Prepared, info: ModelInfo, mode: str, after: int = -1) -> float:
        """How long the earlier request's entries past position ``after`` live (the longest of them)."""
        if mode == "automatic":
            return self.openai.retention_seconds(item.retention)
        if mode == "engine":
            return math.inf
        labels = [b[1] for b in earlier.placements[self.focus] if b[0] > after]
        if not labels:
            labels = [b[1] for b in (*earlier.placements[self.focus], *item.placements[self.focus])] or [None]
        return max(self._lifetime(label, info) for label in labels)

    # --- the replay ---

    def _track(self, s: int, clock: _Clock) -> _Track:
        scenario = self.scenarios[s]
        sim = (
            None
            if scenario.kind == "none"
            else Simulator("anthropic", table=self.table, openai=self.openai, engine=self.engine)
        )
        return _Track(sim, [[0, 0, 0, 0] for _ in range(clock.buckets)] if s in self._charted() else None)

    def _charted(self) -> list[int]:
        """The scenarios whose hit rate over time the report charts: the focus, ``recorded`` and ``auto``."""
        names = [sc.name for sc in self.scenarios]
        return sorted({self.focus, *(names.index(n) for n in ("recorded", "auto") if n in names)})

    def _split(self, jobs: int, recorded: int | None) -> list[list[int]]:
        """The scenarios worker processes replay: this process keeps the focus and ``recorded`` (the diagnosis
        and the observed comparison read their results request by request) and, since the per-request analysis
        costs about two scenarios' replay, as many others as balance the work; the rest is dealt out."""
        if jobs <= 1 or self.table is not None:
            return []
        simulated = [i for i, s in enumerate(self.scenarios) if s.kind != "none"]
        free = [i for i in simulated if i not in (self.focus, recorded)]
        away = free[len(free) - min(len(free), (len(simulated) + 2) // 2) :]
        groups = [away[k :: jobs - 1] for k in range(jobs - 1)]
        return [g for g in groups if g]

    def replay_scenarios(self, items: Sequence[Prepared], indexes: Sequence[int], clock: _Clock) -> dict[int, _Track]:
        """Replay only the scenarios ``indexes``: what a worker process does (see `Replay.run`)."""
        tracks = {s: self._track(s, clock) for s in indexes}
        simulated = any(t.sim is not None for t in tracks.values())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownModelWarning)
            for idx, item in enumerate(items):
                assert item.time is not None
                first_byte = item.time + (item.ttft or 0.0)
                pricing = self._pricing(item.provider, item.model)
                cell = clock.cell(idx, item.time)
                base = _sim_prompt(item) if simulated else None
                for s in indexes:
                    tracks[s].feed(self, item, base, s, first_byte, pricing, cell)
                if clock.sampled(idx):
                    for s in indexes:
                        tracks[s].sample()
        return tracks

    def run(  # noqa: PLR0912, PLR0915 - the per-request loop reads best in one place
        self,
        items: Sequence[Prepared],
        prints: Mapping[str, BlockPrint],
        progress: Callable[[int], None] | None = None,
        *,
        jobs: int = 1,
        pool: WorkerPool | None = None,
    ) -> ReplayResult:
        """Replay ``items`` (sorted by ``time``, every ``time`` set); ``prints`` holds every block's fingerprint.

        ``jobs`` > 1 and a ``pool``: scenarios are independent, so worker processes replay some of them while
        this one replays the rest and does the per-request analysis (sharing, diagnosis); the result is the
        same. A worker that dies is a `WorkerError`.
        """
        scenarios = self.scenarios
        count = len(scenarios)
        focus = self.focus
        recorded = next((i for i, s in enumerate(scenarios) if s.kind == "recorded"), None)
        n = len(items)
        every = max(1, n // self.samples) if n else 1
        sample_at: list[int] = []
        sample_times: list[float] = []
        bucket_scenarios = self._charted()
        t0 = items[0].time if n else 0.0
        t1 = items[-1].time if n else 0.0
        assert t0 is not None
        assert t1 is not None
        clock = _Clock(t0, (t1 - t0) / self.buckets if t1 > t0 else 0.0, self.buckets, n, every)
        width = clock.width
        groups = self._split(jobs, recorded) if pool is not None and n else []
        away = sorted(s for group in groups for s in group)
        jobs_away: list[tuple[list[int], Job[bytes]]] = []
        if groups:
            assert pool is not None
            spec = self.spec()
            clock_args = [clock.t0, clock.width, clock.buckets, clock.count, clock.every]
            rows = _encode_rows(items, away)
            for group in groups:
                names = ", ".join(repr(scenarios[s].name) for s in group)
                job = pool.submit(f"replaying {names}", replay_group, spec, clock_args, rows, away, group)
                jobs_away.append((group, job))
            del rows
        tracks = {s: self._track(s, clock) for s in range(count) if s not in away}
        inline = sorted(tracks)
        simulated = any(tracks[s].sim is not None for s in inline)

        partitions: dict[tuple[str, str, str], PrefixCache[int]] = {}
        sessions: dict[tuple[str, str, str, str], PrefixCache[int]] = {}
        last_in_session: dict[tuple[str, str, str, str], int] = {}
        last_in_partition: dict[tuple[str, str, str], int] = {}
        session_totals: dict[tuple[str, str, str, str], list[int]] = {}
        shared_sum = cacheable_sum = session_shared_sum = cold = input_sum = 0

        observed_acc: dict[tuple[str, str], CacheUsage] = {}
        observed_counts = [0, 0, 0, 0]  # requests, hits, writes, agreements
        predicted_acc: dict[tuple[str, str], _Acc] = {}
        estimated_input = 0
        causes: dict[str, _CauseAcc] = {}
        missed_requests = 0
        missed_tokens = 0
        warned: set[tuple[str, str]] = set()
        warn: list[str] = []
        ignored: dict[str, int] = {}

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownModelWarning)
            for idx, item in enumerate(items):
                at = item.time
                assert at is not None
                first_byte = at + (item.ttft or 0.0)
                total = item.total
                input_sum += total
                partition = (item.provider, item.tenant, item.model)
                index = partitions.get(partition)
                if index is None:
                    index = partitions[partition] = PrefixCache()
                match = index.insert(item.blocks, idx)
                m = match.length
                earlier_idx = match.payload if m else None
                shared = item.cumulative[m - 1] if m else 0
                info = self._info(item.provider, item.model)
                shared_sum += shared
                if shared >= info.min_cache_tokens:
                    cacheable_sum += shared
                if not m:
                    cold += 1
                if not item.known and (item.provider, item.model) not in warned:
                    warned.add((item.provider, item.model))
                    warn.append(
                        f"model {item.model!r} ({item.provider}) is not in the provider table: conservative rules "
                        f"(minimum {info.min_cache_tokens} tokens) and no prices; teach it with register_model"
                    )
                for key in item.ignored:
                    ignored[key] = ignored.get(key, 0) + 1

                last_seen = last_in_partition.get(partition)
                last_in_partition[partition] = idx
                previous = None
                if item.session is not None:
                    skey = (*partition, item.session)
                    sindex = sessions.get(skey)
                    if sindex is None:
                        sindex = sessions[skey] = PrefixCache()
                    sm = sindex.insert(item.blocks, idx).length
                    session_shared = item.cumulative[sm - 1] if sm else 0
                    session_shared_sum += session_shared
                    totals = session_totals.setdefault(skey, [0, 0, 0])
                    totals[0] += 1
                    totals[1] += total
                    totals[2] += session_shared
                    previous = last_in_session.get(skey)
                    last_in_session[skey] = idx

                focus_result: SimResult | None = None
                recorded_read = 0
                # Per request, once: what every scenario shares (the columns, the price list, the chart bucket);
                # per scenario only the breakpoints and the cache key differ.
                group_key = (item.provider, item.model)
                pricing = self._pricing(item.provider, item.model)
                output = item.output
                cell_index = clock.cell(idx, at)
                base = _sim_prompt(item) if simulated else None
                for s in inline:
                    result = tracks[s].feed(self, item, base, s, first_byte, pricing, cell_index)
                    if s == focus:
                        focus_result = result
                    if s == recorded and result is not None:
                        recorded_read = result.read_tokens
                        if item.observed is not None:
                            pgroup = predicted_acc.get(group_key)
                            if pgroup is None:
                                pgroup = predicted_acc[group_key] = _Acc()
                            pgroup.add(total, result.read_tokens, result.write_tokens, result.write_by_ttl, output)

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
                    group_key = (item.provider, item.model)
                    before = observed_acc.get(group_key)
                    observed_acc[group_key] = before + usage if before is not None else usage
                    observed_counts[0] += 1
                    observed_counts[1] += obs.read > 0
                    observed_counts[2] += bool(obs.write)
                    observed_counts[3] += (obs.read > 0) == (recorded_read > 0)
                    estimated_input += total

                # --- why did it miss? (focus scenario) ---
                if focus_result is not None:
                    found = self._diagnose(
                        items,
                        item,
                        m=m,
                        shared=shared,
                        earlier_idx=earlier_idx,
                        previous=previous,
                        last=last_seen,
                        result=focus_result,
                        info=info,
                        prints=prints,
                    )
                    if found:
                        missed_requests += 1
                        for example in found:
                            acc = causes.setdefault(example.cause, _CauseAcc())
                            acc.requests += 1
                            acc.lost += example.lost
                            missed_tokens += example.lost
                            entry = (example.lost, -example.line, idx, example)
                            if len(acc.examples) < self.examples:
                                heapq.heappush(acc.examples, entry)
                            elif entry[:3] > acc.examples[0][:3]:
                                heapq.heapreplace(acc.examples, entry)

                if clock.sampled(idx):
                    sample_at.append(idx + 1)
                    sample_times.append(at)
                    for s in inline:
                        tracks[s].sample()
                if progress is not None:
                    progress(idx + 1)

        for group, job in jobs_away:
            assert pool is not None
            encoded = orjson.loads(pool.result(job))
            tracks.update({s: _Track.decode(t) for s, t in zip(group, encoded, strict=True)})
        results = [self._result(sc, tracks[i].accs) for i, sc in enumerate(scenarios)]

        engines = sorted({p for p, _ in self._infos if p in _ENGINES})
        if engines:
            warn.append(
                f"{', '.join(engines)} cache every prefix by themselves (block prefix caching): breakpoint "
                "strategies do not change their numbers"
            )
        for key, times in sorted(ignored.items()):
            warn.append(f"envelope field {key!r} is not part of the trace format and was ignored ({times} lines)")
        sharing = SharingStats(
            requests=n,
            input_tokens=input_sum,
            shared_tokens=shared_sum,
            cacheable_shared_tokens=cacheable_sum,
            session_shared_tokens=session_shared_sum,
            cold_requests=cold,
            sessions=len(session_totals),
            top_sessions=tuple(
                SessionSharing(k[3], k[1], v[0], v[1], v[2])
                for k, v in sorted(session_totals.items(), key=lambda kv: (-kv[1][1], kv[0][3]))[: self.top_sessions]
            ),
        )
        observed = None
        if observed_counts[0]:
            observed = ObservedComparison(
                requests=observed_counts[0],
                observed=self._observed_result(observed_acc, observed_counts),
                predicted=self._result(Scenario("predicted", "recorded", "recorded markers, simulated"), predicted_acc),
                input_token_ratio=sum(u.input_tokens or 0 for u in observed_acc.values()) / estimated_input
                if estimated_input
                else None,
                agreement=observed_counts[3] / observed_counts[0],
            )
        examples: list[_Example] = []
        summaries = []
        for code, acc in sorted(causes.items(), key=lambda kv: (-kv[1].lost, kv[0])):
            chosen = [e[3] for e in sorted(acc.examples, key=lambda e: (-e[0], -e[1]))]
            examples.extend(chosen)
            cause = CAUSES[code]
            summaries.append(
                CauseSummary(code, cause.kind, cause.title, cause.fix, acc.requests, acc.lost, ())  # examples later
            )
        misses = MissReport(scenarios[focus].name, missed_requests, missed_tokens, tuple(summaries))
        priced = [r for r in results if r.cost_usd is not None]
        best = min(priced, key=lambda r: (r.cost_usd or 0.0, r.name)).name if priced else None
        timeline = Timeline(
            at=tuple(sample_at),
            times=tuple(sample_times),
            cost_usd={scenarios[s].name: tuple(tracks[s].costs) for s in range(count)},
            bucket_scenarios=tuple(scenarios[s].name for s in bucket_scenarios),
            buckets={
                scenarios[s].name: tuple(
                    (t0 + k * width, t0 + (k + 1) * width, c[0], c[1], c[2], c[3])
                    for k, c in enumerate(tracks[s].cells or ())
                )
                for s in bucket_scenarios
            },
        )
        return ReplayResult(results, sharing, observed, misses, examples, timeline, warn, best)

    def _diagnose(
        self,
        items: Sequence[Prepared],
        item: Prepared,
        *,
        m: int,
        shared: int,
        earlier_idx: int | None,
        previous: int | None,
        last: int | None,
        result: SimResult,
        info: ModelInfo,
        prints: Mapping[str, BlockPrint],
    ) -> list[_Example]:
        """The causes of what ``item`` did not read: within the shared prefix (mechanics) and past it (content)."""
        found: list[_Example] = []
        earlier = items[earlier_idx] if earlier_idx is not None else None
        if earlier is not None and m:
            example = self._mechanics(item, earlier, m, shared, result=result, info=info)
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
        self, item: Prepared, earlier: Prepared, m: int, shared: int, *, result: SimResult, info: ModelInfo
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
        closing = [b[1] for b in earlier.placements[self.focus] if read_at < b[0] < m]
        if result.mode == "breakpoints":
            ttl = max((self._lifetime(label, info) for label in closing), default=0.0)
        else:
            ttl = self._ttl(item, earlier, info, result.mode)
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
            mine, theirs = item.keys[self.focus], earlier.keys[self.focus]
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
        ttl = self._ttl(item, other, info, mode, after=k - 1)
        gap = item.time - other.time
        cause = d.cause
        detail = f"differs from line {other.line} at {item.paths[k]}"
        if gap >= ttl:
            detail = f"{detail}, but {_fmt_seconds(gap)} later: the entry had expired anyway"
            cause = "ttl_expired"
        return _Example(
            cause, item.line, item.offset, other.line, other.offset, item.paths[k], k, lost, detail, d.before, d.after
        )

    def _result(self, scenario: Scenario, groups: Mapping[tuple[str, str], _Acc]) -> ScenarioResult:
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
