"""`cachepoint analyze` beyond one process: one replay per tenant, on local processes or a Dask cluster, merged
exactly.

A provider's prompt cache never crosses a tenant (an organisation, an API key, an AWS account): every cache
the simulator keeps, every prefix index of the sharing statistics and of the miss diagnosis is keyed by tenant.
So a trace splits by tenant (`split_by_tenant`), each tenant's requests replay on their own
(`analyze_tenant`, on any engine: `cachepoint.core.analyze.engines.map_shards`), and their tallies
(`cachepoint.core.analyze.tally.ReplayTally`) merge into the tally one replay of the whole trace makes
(`cachepoint.core.analyze.merge`): `analyze_sharded` returns the report `cachepoint.core.analyze.analyze`
returns, byte for byte but for ``elapsed_s``.

What the split needs of the whole trace is settled before it: the start of a request without a timestamp
(``interval`` after the previous line), and whether the trace is in order within ``reorder_window``. Lines keep
their numbers and offsets, so examples and errors name the trace's own lines.

>>> line = '{"request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}, "tenant": "%s"}'
>>> shards = split_by_tenant([line % "a", line % "b", line % "a"])
>>> {tenant: [n for n, _, _, _ in lines] for tenant, lines in shards.items()}
{'a': [1, 3], 'b': [2]}
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from cachepoint.core.analyze.adaptive import adapt_stream, analyzer_only
from cachepoint.core.analyze.engines import map_shards
from cachepoint.core.analyze.merge import build_report, merge_tallies
from cachepoint.core.analyze.prepare import PrepareContext, Prepared
from cachepoint.core.analyze.replay import Replay
from cachepoint.core.analyze.report import AnalysisReport
from cachepoint.core.analyze.run import TraceOrderError, _Intake, _Lines
from cachepoint.core.analyze.scenarios import DEFAULT_STRATEGIES, Scenario, scenarios_for
from cachepoint.core.analyze.shards import prepare_one
from cachepoint.core.analyze.tally import ReplayTally, TraceTally
from cachepoint.core.analyze.workers import collector_paused
from cachepoint.core.traces import TraceFormatError, TraceSource, parse_line

__all__ = ["ShardLine", "analyze_sharded", "analyze_tenant", "split_by_tenant"]

#: A line of a shard: its number and byte offset in the trace, the raw line, and the start time the whole
#: trace gives it when it carries no timestamp (else ``None``).
ShardLine = tuple[int, int, Any, "float | None"]

_SHARD_FORMAT = 1
_DEFAULT_TENANT = "default"


def _split(
    lines: Iterable[tuple[int, int, Any]], *, interval: float, reorder_window: float
) -> dict[str, list[ShardLine]]:
    split: dict[str, list[ShardLine]] = {}
    count = 0
    previous: float | None = None
    latest, latest_line = -math.inf, 0
    for number, offset, raw in lines:
        text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
        try:
            record = parse_line(raw, line=number, offset=offset)
        except TraceFormatError:  # its tenant's analysis reports it: the one the analyzer gives lines without one
            split.setdefault(_DEFAULT_TENANT, []).append((number, offset, text, None))
            continue
        filled = None
        at = record.timestamp
        if at is None:  # as the one-process analysis does: `interval` after the previous request
            at = filled = previous + interval if previous is not None else count * interval
        previous = at
        count += 1
        if at < latest - reorder_window:
            raise TraceOrderError(number, at, latest_line, latest, reorder_window)
        if at > latest:
            latest, latest_line = at, number
        split.setdefault(record.tenant or _DEFAULT_TENANT, []).append((number, offset, text, filled))
    return split


def split_by_tenant(
    source: TraceSource, *, interval: float = 1.0, reorder_window: float = 300.0
) -> dict[str, list[ShardLine]]:
    """The lines of ``source`` by tenant (lines without one: ``"default"``, with lines that are no trace line),
    tenants in order of first appearance, each tenant's lines in file order (`ShardLine`). A trace out of order
    by more than ``reorder_window`` seconds raises `TraceOrderError`, as the one-process analysis does. Holds
    the whole trace in memory.

    >>> split_by_tenant(['{"request": {"messages": []}}', '{"request": {"messages": []}}'], interval=2.0)
    {'default': [(1, 0, '{"request": {"messages": []}}', 0.0), (2, 29, '{"request": {"messages": []}}', 2.0)]}
    """
    return _split(_Lines(source).iterate(), interval=interval, reorder_window=reorder_window)


def _payload(lines: Sequence[ShardLine], options: Mapping[str, Any]) -> bytes:
    return orjson.dumps({"cachepoint_shard": _SHARD_FORMAT, "options": dict(options), "lines": list(lines)})


def analyze_tenant(shard: bytes) -> bytes:
    """Worker: replay one shard (JSON: ``{"cachepoint_shard": 1, "options": {...}, "lines": [ShardLine...]}``) in
    this process; its tally as JSON (`ReplayTally.to_json`), or ``{"error": [line, path, detail]}`` for a line
    that is no trace line (without ``skip_invalid``). Plain bytes in and out: what crosses to a worker, local or
    remote, is never an object of ours to rebuild.

    >>> line = '{"request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}}'
    >>> shard = _payload([(1, 0, line, None)], {"strategies": ["auto"]})
    >>> tally = ReplayTally.from_json(analyze_tenant(shard))
    >>> tally.sharing["requests"], tally.trace.count
    (1, 1)
    >>> tally.close()
    """
    data = orjson.loads(shard)
    if not isinstance(data, dict) or data.get("cachepoint_shard") != _SHARD_FORMAT:
        raise ValueError(f'shard: expected a JSON object with "cachepoint_shard": {_SHARD_FORMAT}')
    options = data["options"]
    specs = list(options.get("strategies", DEFAULT_STRATEGIES))
    scenarios = scenarios_for(specs)
    ctx = PrepareContext(provider=options.get("provider"), model=options.get("model"), scenarios=scenarios)
    replay = _replay(scenarios, options)
    intake = _Intake(
        skip_invalid=bool(options.get("skip_invalid", False)),
        interval=float(options.get("interval", 1.0)),
        reorder_window=math.inf,  # the split checked the whole trace's order
    )
    filled = 0

    def prepared() -> Iterator[Prepared | TraceFormatError]:
        nonlocal filled
        for number, offset, raw, start in data["lines"]:
            item = prepare_one(ctx, number, offset, raw)
            if isinstance(item, Prepared) and item.time is None and start is not None:
                item = item._replace(time=start)
                filled += 1
            yield item

    try:
        with collector_paused():
            tally = replay.run(adapt_stream(intake.requests(prepared()), scenarios))
    except TraceFormatError as exc:
        return orjson.dumps({"error": [exc.line, exc.path, exc.detail]})
    try:
        trace = intake.tally()
        trace.timed -= filled  # started by the split, not by a timestamp of their own
        tally.trace = trace
        return tally.to_json()
    finally:
        tally.close()


def _replay(scenarios: Sequence[Scenario], options: Mapping[str, Any]) -> Replay:
    return Replay(
        scenarios,
        focus=options.get("focus"),
        examples=int(options.get("examples", 3)),
        window=options.get("window"),
        keep=int(options.get("keep", 25_000)),
    )


def _chosen(strategies: Sequence[str], focus: str | None) -> tuple[list[str], list[Scenario], str | None]:
    """The strategy specs, scenarios and focus scenario `analyze` replays for these options."""
    specs = list(strategies)
    if focus is not None:
        focus = focus.strip()
        if focus == "none":
            raise ValueError("focus: 'none' caches nothing; pick a strategy or 'recorded'")
        if focus not in {name for s in scenarios_for(specs) for name in (s.name, s.spec)}:
            specs.append(focus)  # a strategy asked for by spec is replayed too, as `analyze` does
    scenarios = scenarios_for(specs)
    chosen = next((s.name for s in scenarios if focus in (s.name, s.spec)), None) if focus else None
    return specs, scenarios, chosen


def analyze_sharded(
    source: TraceSource,
    *,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    focus: str | None = None,
    interval: float = 1.0,
    skip_invalid: bool = False,
    examples: int = 3,
    window: float | None = None,
    keep: int = 25_000,
    reorder_window: float = 300.0,
) -> AnalysisReport:
    """`cachepoint.core.analyze.analyze`, one tenant per task on ``engine`` (``"local"``: processes on this
    machine; ``"dask"``: a Dask cluster at ``address``, or a local one for the call), tallies merged exactly:
    the same report as one process makes (but ``elapsed_s``). The options are `analyze`'s.

    The trace is read and split here (held in memory: one shard per tenant); the workers are started with
    ``spawn`` (a script needs the ``if __name__ == "__main__":`` guard). A bad line raises the
    `TraceFormatError` of the first bad line; an engine that cannot run raises `EngineError`.

    >>> from cachepoint.core.analyze import analyze
    >>> lines = ['{"request": {"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "%s", '
    ...          '"messages": [{"role": "user", "content": "Q%d"}]}, "timestamp": %d, "tenant": "t%d"}'
    ...          % ("Manual. " * 900, n, 60 * n, n % 2) for n in range(4)]
    >>> analyze_sharded(lines, workers=1).to_json().split('"elapsed_s"')[0] == \\
    ...     analyze(lines).to_json().split('"elapsed_s"')[0]
    True
    """
    started = time.perf_counter()
    if not reorder_window >= 0:
        raise ValueError(f"reorder_window: expected 0 or more seconds, got {reorder_window!r}")
    specs, scenarios, chosen = _chosen(strategies, focus)
    learning = [s.spec for s in scenarios if s.kind == "strategy" and analyzer_only(s.spec)]
    if learning:
        raise ValueError(
            f"strategies: {', '.join(learning)} learn from every tenant's sessions at once (a prior over all of "
            "them), so a replay per tenant would not give the one-process numbers; analyze without --engine, or "
            "compare without it"
        )
    options = {
        "provider": provider,
        "model": model,
        "strategies": specs,
        "focus": chosen,
        "interval": interval,
        "skip_invalid": skip_invalid,
        "examples": examples,
        "window": window,
        "keep": keep,
    }
    replay = _replay(scenarios, options)  # checks the options here, before any worker starts
    lines = _Lines(source)
    try:
        shards = _split(lines.iterate(), interval=interval, reorder_window=reorder_window)
        payloads = (_payload(part, options) for _, part in sorted(shards.items()))
        tallies: list[ReplayTally] = []
        errors: list[TraceFormatError] = []
        try:
            for raw in map_shards(analyze_tenant, payloads, engine, workers=workers, address=address):
                answer = orjson.loads(raw)
                if "error" in answer:
                    errors.append(TraceFormatError(*answer["error"]))
                else:
                    tallies.append(ReplayTally.from_json(raw))
            if errors:
                raise min(errors, key=lambda e: e.line or 0)
            if not tallies:  # an empty trace: the tally of no requests
                tallies.append(replay.run([]))
                tallies[0].trace = TraceTally(interval=interval)
            merged = merge_tallies(tallies)
        except BaseException:
            for tally in tallies:
                tally.close()
            raise
        try:
            return build_report(replay, merged, source=source, lines=lines, started=started)
        finally:
            merged.close()
    finally:
        lines.close()
