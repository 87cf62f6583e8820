"""`ReplayTally`: everything the report needs from one replay, as plain data that merges exactly.

A replay (`cachepoint.core.analyze.replay.Replay.run`) ends in a tally: per scenario and (provider, model) its
token counters, the miss diagnosis (counts and the top examples of each cause), prefix sharing, the observed
usage, the warnings' inputs, and one row per request for the timeline (start, line, prompt tokens, each
scenario's cost of that request, the charted scenarios' tokens read). `Replay.finish` turns a tally into the
report's figures. A trace split by tenant (no provider cache crosses a tenant) replays as several tallies, and
`ReplayTally.merge` adds them into the tally one replay of the whole trace would have made: counters add, top
examples and top sessions are kept by a total order, rows interleave by (start, line) — the order the replay
takes requests in — so the running costs of the timeline are summed in the same order, to the last bit.

Merging is associative and commutative (any grouping, any order: the same tally), and a tally goes through JSON
(`to_json` / `from_json`, no pickle), so shards can be replayed anywhere.

>>> a, b = ReplayTally.empty(["none"], top_sessions=20, examples=3), ReplayTally.empty(["none"], 20, 3)
>>> a.merge(b).to_json() == b.merge(a).to_json()
True
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from cachepoint.core.analyze.spill import RowSpill
from cachepoint.core.usage import CacheUsage

__all__ = [
    "CauseTally",
    "Counts",
    "DiagnosisTally",
    "Example",
    "ReplayTally",
    "Rows",
    "SessionTally",
    "TraceTally",
]

TALLY_FORMAT = 1
Group = tuple[str, str]  # (provider, model)


def _sum_dicts(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return dict(sorted(out.items()))


@dataclass
class Counts:
    """Token counters of one scenario for one provider/model (ints: exact in any order)."""

    requests: int = 0
    hits: int = 0
    writes: int = 0
    input: int = 0
    read: int = 0
    write: int = 0
    output: int = 0
    write_unknown: int = 0
    by_ttl: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, acc: Any) -> Counts:
        """The counters of a replay accumulator (any object with these attributes)."""
        return cls(
            acc.requests,
            acc.hits,
            acc.writes,
            acc.input,
            acc.read,
            acc.write,
            acc.output,
            acc.write_unknown,
            dict(sorted(acc.by_ttl.items())),
        )

    def merge(self, other: Counts) -> Counts:
        return Counts(
            self.requests + other.requests,
            self.hits + other.hits,
            self.writes + other.writes,
            self.input + other.input,
            self.read + other.read,
            self.write + other.write,
            self.output + other.output,
            self.write_unknown + other.write_unknown,
            _sum_dicts(self.by_ttl, other.by_ttl),
        )

    def to_list(self) -> list[Any]:
        return [
            self.requests,
            self.hits,
            self.writes,
            self.input,
            self.read,
            self.write,
            self.output,
            self.write_unknown,
            self.by_ttl,
        ]

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> Counts:
        requests, hits, writes, input_, read, write, output, unknown, by_ttl = data
        return cls(requests, hits, writes, input_, read, write, output, unknown, dict(by_ttl))


def _merge_groups(a: Mapping[Group, Counts], b: Mapping[Group, Counts]) -> dict[Group, Counts]:
    out = dict(a)
    for key, counts in b.items():
        out[key] = out[key].merge(counts) if key in out else counts
    return dict(sorted(out.items()))


def _groups_json(groups: Mapping[Group, Counts]) -> list[Any]:
    return [[p, m, c.to_list()] for (p, m), c in sorted(groups.items())]


def _groups_from(data: Iterable[Any]) -> dict[Group, Counts]:
    return {(p, m): Counts.from_list(c) for p, m, c in data}


@dataclass
class Example:
    """One miss, explained: a request (``line``, ``offset``) against an earlier one, and the tokens it lost."""

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

    def rank(self) -> tuple[int, int]:
        """Sort key, best first: most tokens lost, then the earliest line (unique per cause: a request gives
        a cause one example)."""
        return (-self.lost, self.line)

    def to_list(self) -> list[Any]:
        return [
            self.cause,
            self.line,
            self.offset,
            self.earlier_line,
            self.earlier_offset,
            self.path,
            self.position,
            self.lost,
            self.detail,
            self.before,
            self.after,
        ]


@dataclass
class CauseTally:
    """One miss cause: requests it explains, tokens lost, and its best ``examples`` (see `Example.rank`)."""

    requests: int = 0
    lost: int = 0
    examples: list[Example] = field(default_factory=list)

    def merge(self, other: CauseTally, keep: int) -> CauseTally:
        best = sorted([*self.examples, *other.examples], key=Example.rank)[:keep]
        return CauseTally(self.requests + other.requests, self.lost + other.lost, best)


@dataclass
class DiagnosisTally:
    """The miss diagnosis under one focus scenario."""

    missed_requests: int = 0
    missed_tokens: int = 0
    causes: dict[str, CauseTally] = field(default_factory=dict)

    def merge(self, other: DiagnosisTally, keep: int) -> DiagnosisTally:
        causes = dict(self.causes)
        for code, cause in other.causes.items():
            causes[code] = causes[code].merge(cause, keep) if code in causes else cause
        return DiagnosisTally(
            self.missed_requests + other.missed_requests,
            self.missed_tokens + other.missed_tokens,
            dict(sorted(causes.items())),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "missed_requests": self.missed_requests,
            "missed_tokens": self.missed_tokens,
            "causes": {
                code: [c.requests, c.lost, [e.to_list() for e in c.examples]] for code, c in self.causes.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DiagnosisTally:
        causes = {
            code: CauseTally(requests, lost, [Example(*e) for e in examples])
            for code, (requests, lost, examples) in data["causes"].items()
        }
        return cls(data["missed_requests"], data["missed_tokens"], causes)


@dataclass
class SessionTally:
    """One session's prefix sharing, and when it started (the report lists sessions by tokens, then id, then
    first request)."""

    provider: str
    tenant: str
    model: str
    session: str
    requests: int
    tokens: int
    shared: int
    first_time: float
    first_line: int

    def rank(self) -> tuple[int, str, float, int]:
        return (-self.tokens, self.session, self.first_time, self.first_line)

    def to_list(self) -> list[Any]:
        return [
            self.provider,
            self.tenant,
            self.model,
            self.session,
            self.requests,
            self.tokens,
            self.shared,
            self.first_time,
            self.first_line,
        ]


@dataclass
class TraceTally:
    """What the report says about the trace as a whole: requests, lines skipped, providers, models, tenants,
    time span (filled by whoever read the trace: `cachepoint.core.analyze.run.analyze`, or a shard's worker)."""

    count: int = 0
    timed: int = 0
    invalid: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # the first 20 by line
    providers: dict[str, tuple[int, int]] = field(default_factory=dict)  # name: (requests, first line)
    models: dict[str, tuple[int, int]] = field(default_factory=dict)
    tenants: set[str] = field(default_factory=set)
    first_time: float | None = None
    last_time: float | None = None
    interval: float = 1.0

    def merge(self, other: TraceTally) -> TraceTally:
        def counted(a: Mapping[str, tuple[int, int]], b: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
            out = dict(a)
            for name, (count, first) in b.items():
                mine = out.get(name)
                out[name] = (count, first) if mine is None else (mine[0] + count, min(mine[1], first))
            return dict(sorted(out.items()))

        def extreme(a: float | None, b: float | None, pick: Any) -> float | None:
            return b if a is None else a if b is None else pick(a, b)

        return TraceTally(
            self.count + other.count,
            self.timed + other.timed,
            self.invalid + other.invalid,
            sorted([*self.errors, *other.errors])[:20],
            counted(self.providers, other.providers),
            counted(self.models, other.models),
            self.tenants | other.tenants,
            extreme(self.first_time, other.first_time, min),
            extreme(self.last_time, other.last_time, max),
            self.interval,
        )

    @staticmethod
    def _ordered(counted: Mapping[str, tuple[int, int]]) -> dict[str, int]:
        """Most requests first, then in order of first appearance in the trace."""
        return {name: c for name, (c, _) in sorted(counted.items(), key=lambda kv: (-kv[1][0], kv[1][1]))}

    @property
    def provider_counts(self) -> dict[str, int]:
        return self._ordered(self.providers)

    @property
    def model_counts(self) -> dict[str, int]:
        return self._ordered(self.models)

    def timestamps(self, warnings: list[str]) -> str:
        """Which kind of start times the trace had (``recorded``, ``synthetic`` or ``mixed``), with a warning
        when some were made up."""
        if self.timed == self.count:
            return "recorded"
        if self.timed == 0:
            warnings.append(
                f"the trace has no timestamps: requests are assumed {self.interval:g}s apart (--interval); cache "
                "lifetimes (TTL) then never run out, so hit rates are an upper bound"
            )
            return "synthetic"
        warnings.append(
            f"{self.count - self.timed} request(s) without a timestamp start {self.interval:g}s after the previous line"
        )
        return "mixed"

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "timed": self.timed,
            "invalid": self.invalid,
            "errors": [list(e) for e in self.errors],
            "providers": {k: list(v) for k, v in self.providers.items()},
            "models": {k: list(v) for k, v in self.models.items()},
            "tenants": sorted(self.tenants),
            "first_time": self.first_time,
            "last_time": self.last_time,
            "interval": self.interval,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TraceTally:
        return cls(
            data["count"],
            data["timed"],
            data["invalid"],
            [(line, text) for line, text in data["errors"]],
            {k: (v[0], v[1]) for k, v in data["providers"].items()},
            {k: (v[0], v[1]) for k, v in data["models"].items()},
            set(data["tenants"]),
            data["first_time"],
            data["last_time"],
            data["interval"],
        )


class Rows:
    """The timeline's rows, one per request in replay order: ``[start, line, prompt tokens, each scenario's
    cost of the request, each charted scenario's tokens read]``. Kept on disk (`RowSpill`) past a few
    thousand, so a long replay does not hold them in memory; read as often as needed."""

    def __init__(self, width: int, spill: RowSpill | None = None) -> None:
        self.width = width
        self.spill = spill if spill is not None else RowSpill(width)

    def __len__(self) -> int:
        return self.spill.count

    def __iter__(self) -> Iterator[Sequence[float]]:
        return iter(self.spill.rows())

    def append(self, row: list[float]) -> None:
        self.spill.append(row)

    def merge(self, other: Rows) -> Rows:
        """Both row sets interleaved by (start, line): the order one replay of both takes the requests in."""
        merged = Rows(self.width)
        for row in heapq.merge(self, other, key=lambda r: (r[0], r[1])):
            merged.append(list(row))
        return merged

    def close(self) -> None:
        self.spill.close()


@dataclass
class ReplayTally:
    """Everything the report needs from a replay (see the module docstring). Build one with `Replay.run`; turn
    it into figures with `Replay.finish`; add two with `merge`; send one with `to_json`.

    >>> tally = ReplayTally.empty(["recorded", "none"], top_sessions=20, examples=3)
    >>> ReplayTally.from_json(tally.to_json()).to_json() == tally.to_json()
    True
    """

    scenarios: list[str]
    charted: list[int]
    candidates: list[int]
    caching: int | None  # the focus that wins once a request caches (None: one candidate only)
    cached: bool  # a request cached already: ``caching`` is the focus
    diagnoses: dict[int, DiagnosisTally]
    groups: list[dict[Group, Counts]]
    predicted: dict[Group, Counts]
    observed: dict[Group, CacheUsage]
    observed_counts: list[int]  # requests, hits, writes, agreements
    estimated_input: int
    sharing: dict[str, int]  # requests, input_tokens, shared, cacheable, session_shared, cold, sessions
    top_sessions: list[SessionTally]
    top_k: int
    examples_k: int
    unknown: dict[Group, tuple[float, int, int]]  # first (start, line), the minimum the warning quotes
    engine_providers: set[str]
    ignored: dict[str, int]
    evicted: int
    window: float
    keep: int
    first_time: float | None
    last_time: float | None
    rows: Rows
    trace: TraceTally | None = None

    @classmethod
    def empty(cls, scenarios: Sequence[str], top_sessions: int = 20, examples: int = 3) -> ReplayTally:
        """The tally of no requests (what merging starts from)."""
        return cls(
            scenarios=list(scenarios),
            charted=[],
            candidates=[0],
            caching=None,
            cached=False,
            diagnoses={0: DiagnosisTally()},
            groups=[{} for _ in scenarios],
            predicted={},
            observed={},
            observed_counts=[0, 0, 0, 0],
            estimated_input=0,
            sharing=dict.fromkeys(_SHARING, 0),
            top_sessions=[],
            top_k=top_sessions,
            examples_k=examples,
            unknown={},
            engine_providers=set(),
            ignored={},
            evicted=0,
            window=0.0,
            keep=0,
            first_time=None,
            last_time=None,
            rows=Rows(3 + len(scenarios)),
        )

    @property
    def focus(self) -> int:
        """The scenario the diagnosis explains: ``recorded`` once a request caches, else the other candidate."""
        if self.cached or self.caching is None:
            (only,) = self.diagnoses
            return only
        return self.candidates[1]

    def close(self) -> None:
        """Delete the rows' file."""
        self.rows.close()

    def merge(self, other: ReplayTally) -> ReplayTally:
        """The tally of both replays' requests as one replay would make it (the shards must not share a tenant:
        a cache never crosses one). Raises `ValueError` when they were replayed with other scenarios."""
        for name in ("scenarios", "charted", "candidates", "caching", "top_k", "examples_k", "keep"):
            if getattr(self, name) != getattr(other, name):
                raise ValueError(
                    f"tally {name}: {getattr(self, name)!r} vs {getattr(other, name)!r} (replayed with other options?)"
                )
        cached = self.cached or other.cached
        keys = [self.caching] if cached and self.caching is not None else self.candidates
        diagnoses = {k: self.diagnoses[k].merge(other.diagnoses[k], self.examples_k) for k in keys}
        unknown = dict(self.unknown)
        for key, first in other.unknown.items():
            unknown[key] = min(unknown[key], first) if key in unknown else first
        observed = dict(self.observed)
        for key, usage in other.observed.items():
            observed[key] = observed[key] + usage if key in observed else usage
        trace = None
        if self.trace is not None and other.trace is not None:
            trace = self.trace.merge(other.trace)
        elif self.trace is not None or other.trace is not None:
            trace = self.trace or other.trace
        return ReplayTally(
            scenarios=self.scenarios,
            charted=self.charted,
            candidates=self.candidates,
            caching=self.caching,
            cached=cached,
            diagnoses=diagnoses,
            groups=[_merge_groups(a, b) for a, b in zip(self.groups, other.groups, strict=True)],
            predicted=_merge_groups(self.predicted, other.predicted),
            observed=dict(sorted(observed.items())),
            observed_counts=[a + b for a, b in zip(self.observed_counts, other.observed_counts, strict=True)],
            estimated_input=self.estimated_input + other.estimated_input,
            sharing={k: self.sharing[k] + other.sharing[k] for k in _SHARING},
            top_sessions=sorted([*self.top_sessions, *other.top_sessions], key=SessionTally.rank)[: self.top_k],
            top_k=self.top_k,
            examples_k=self.examples_k,
            unknown=dict(sorted(unknown.items())),
            engine_providers=self.engine_providers | other.engine_providers,
            ignored=_sum_dicts(self.ignored, other.ignored),
            evicted=self.evicted + other.evicted,
            window=max(self.window, other.window),
            keep=self.keep,
            first_time=_pick(self.first_time, other.first_time, min),
            last_time=_pick(self.last_time, other.last_time, max),
            rows=self.rows.merge(other.rows),
            trace=trace,
        )

    def to_json(self) -> bytes:
        """The tally as JSON bytes (keys sorted: equal tallies, equal bytes)."""
        data = {
            "cachepoint_tally": TALLY_FORMAT,
            "scenarios": self.scenarios,
            "charted": self.charted,
            "candidates": self.candidates,
            "caching": self.caching,
            "cached": self.cached,
            "diagnoses": [[k, d.to_json()] for k, d in sorted(self.diagnoses.items())],
            "groups": [_groups_json(g) for g in self.groups],
            "predicted": _groups_json(self.predicted),
            "observed": [[p, m, _usage_json(u)] for (p, m), u in sorted(self.observed.items())],
            "observed_counts": self.observed_counts,
            "estimated_input": self.estimated_input,
            "sharing": self.sharing,
            "top_sessions": [s.to_list() for s in self.top_sessions],
            "top_k": self.top_k,
            "examples_k": self.examples_k,
            "unknown": [[p, m, *first] for (p, m), first in sorted(self.unknown.items())],
            "engine_providers": sorted(self.engine_providers),
            "ignored": self.ignored,
            "evicted": self.evicted,
            "window": self.window if math.isfinite(self.window) else None,
            "keep": self.keep,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "rows_width": self.rows.width,
            "rows": [list(r) for r in self.rows],
            "trace": self.trace.to_json() if self.trace is not None else None,
        }
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, raw: bytes | str) -> ReplayTally:
        """A tally read back from `to_json`; `ValueError` names what is wrong with anything else."""
        data = orjson.loads(raw)
        if not isinstance(data, dict) or data.get("cachepoint_tally") != TALLY_FORMAT:
            raise ValueError(f"tally: expected a JSON object with cachepoint_tally: {TALLY_FORMAT}")
        rows = Rows(data["rows_width"])
        for row in data["rows"]:
            rows.append(row)
        return cls(
            scenarios=data["scenarios"],
            charted=data["charted"],
            candidates=data["candidates"],
            caching=data["caching"],
            cached=data["cached"],
            diagnoses={k: DiagnosisTally.from_json(d) for k, d in data["diagnoses"]},
            groups=[_groups_from(g) for g in data["groups"]],
            predicted=_groups_from(data["predicted"]),
            observed={(p, m): CacheUsage(provider=p, model=m, **u) for p, m, u in data["observed"]},
            observed_counts=data["observed_counts"],
            estimated_input=data["estimated_input"],
            sharing=data["sharing"],
            top_sessions=[SessionTally(*s) for s in data["top_sessions"]],
            top_k=data["top_k"],
            examples_k=data["examples_k"],
            unknown={(p, m): (at, line, minimum) for p, m, at, line, minimum in data["unknown"]},
            engine_providers=set(data["engine_providers"]),
            ignored=data["ignored"],
            evicted=data["evicted"],
            window=data["window"] if data["window"] is not None else math.inf,
            keep=data["keep"],
            first_time=data["first_time"],
            last_time=data["last_time"],
            rows=rows,
            trace=TraceTally.from_json(data["trace"]) if data["trace"] is not None else None,
        )


_SHARING = ("requests", "input_tokens", "shared", "cacheable", "session_shared", "cold", "sessions")


def _pick(a: float | None, b: float | None, pick: Any) -> float | None:
    return b if a is None else a if b is None else pick(a, b)


def _usage_json(usage: CacheUsage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cache_write_by_ttl": dict(usage.cache_write_by_ttl),
    }
