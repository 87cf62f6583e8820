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
(``interval`` after the previous line), whether the trace is in order within ``reorder_window``, and when one
replay of the whole trace would free each request (out of the window and out of the trace's last ``keep``,
every tenant counted: `cachepoint.core.analyze.replay.Freeing`). Two of these depend on what only preparing a
request tells for sure (whether it is OpenAI's, which widens the window; whether it is a request at all): the
split judges them from the envelope, each worker checks its requests, and in the rare case one was misjudged
the trace is split and replayed again with the worker's answer. Lines keep their numbers and offsets, so
examples and errors name the trace's own lines.

>>> line = '{"request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}, "tenant": "%s"}'
>>> shards = split_by_tenant([line % "a", line % "b", line % "a"])
>>> {tenant: [line[0] for line in lines] for tenant, lines in shards.tenants.items()}
{'a': [1, 3], 'b': [2]}
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO, NamedTuple

import orjson

from cachepoint.core.analyze.adaptive import adapt_stream, analyzer_only
from cachepoint.core.analyze.engines import map_shards
from cachepoint.core.analyze.merge import build_report, merge_tallies
from cachepoint.core.analyze.prepare import PrepareContext, Prepared
from cachepoint.core.analyze.replay import Freeing, Replay
from cachepoint.core.analyze.report import AnalysisReport
from cachepoint.core.analyze.run import TraceOrderError, _Intake, _Lines
from cachepoint.core.analyze.scenarios import DEFAULT_STRATEGIES, Scenario, scenarios_for
from cachepoint.core.analyze.shards import prepare_one
from cachepoint.core.analyze.tally import ReplayTally, TraceTally
from cachepoint.core.analyze.workers import collector_paused
from cachepoint.core.prompt.formats import detect_format
from cachepoint.core.simulate import OpenAIOptions
from cachepoint.core.traces import TraceFormatError, TraceRecord, TraceSource, infer_provider, parse_line

__all__ = ["ShardLine", "Shards", "analyze_sharded", "analyze_tenant", "split_by_tenant"]

#: A line of a shard: its number and byte offset in the trace, the raw line, the start time the whole trace
#: gives it when it carries no timestamp (else ``None``), and for a request (else ``None``, ``None``, ``0.0``):
#: its rank in the trace's start order, how many of the trace's first requests one replay of the whole trace
#: has freed before it comes (`cachepoint.core.analyze.replay.Freeing`), and the window it widens the
#: comparison window to, as judged from its envelope (0.0: none; the worker checks it, see `analyze_tenant`).
ShardLine = tuple[int, int, Any, "float | None", "int | None", "int | None", float]

_SHARD_FORMAT = 2
_DEFAULT_TENANT = "default"


class Shards(NamedTuple):
    """A trace split by tenant (`split_by_tenant`): each tenant's lines (`ShardLine`), tenants in order of first
    appearance and each tenant's lines in file order; and, for the replays, what one replay of the whole trace
    would have freed by its end and its window then (`cachepoint.core.analyze.replay.Freeing`)."""

    tenants: dict[str, list[ShardLine]]
    freed: int
    window: float


# A line as read: number, offset, its text (or its place in the spill file), tenant (None: no trace line),
# timestamp, the window it widens to.
_Read = tuple[int, int, Any, "str | None", "float | None", float]


def _widens(record: TraceRecord, *, provider: str | None, model: str | None, openai: OpenAIOptions) -> float:
    """The comparison window a request widens to, judged from its envelope and the body's model id as preparing
    it would (`cachepoint.core.analyze.prepare`): an OpenAI request keeps its cache up to its retention. A
    judgement a request's own preparation contradicts comes back from its worker (`analyze_tenant`)."""
    hint = provider or record.provider
    if hint is None:
        body = record.request
        name = model or record.model or body.get("model") or body.get("modelId")
        hint = infer_provider(name) if isinstance(name, str) and name else None
        if hint is None:
            try:
                shape = detect_format(body)
            except (TypeError, ValueError):
                return 0.0
            hint = {"anthropic": "anthropic", "bedrock": "bedrock"}.get(shape, "openai")
    if hint != "openai":
        return 0.0
    retention = record.request.get("prompt_cache_retention")
    return float(openai.retention_seconds(retention if isinstance(retention, str) else None))


class _Spill:
    """The trace's lines in a temporary file for as long as the shards need them, so the splitting process keeps
    each line's place in it (``[position, length]``), not its text: a day of traffic is not held in memory. A
    worker on this machine reads its lines from the file itself; for a remote cluster the shard carries them."""

    def __init__(self) -> None:
        self.file = tempfile.NamedTemporaryFile(prefix="cachepoint-shards-", suffix=".jsonl")  # noqa: SIM115
        self.at = 0

    def put(self, raw: Any) -> list[int]:
        data = raw.encode() if isinstance(raw, str) else bytes(raw)
        self.file.write(data)
        ref = [self.at, len(data)]
        self.at += len(data)
        return ref

    def inline(self, lines: Sequence[ShardLine]) -> list[ShardLine]:
        """``lines`` with their text in place of their place in the file."""
        self.file.flush()
        handle = self.file.file
        out = []
        for number, offset, (position, length), *rest in lines:
            handle.seek(position)
            out.append((number, offset, handle.read(length).decode("utf-8", "replace"), *rest))
        handle.seek(0, 2)  # back to the end, where `put` writes
        return out  # type: ignore[return-value] # the same fields, text in place of the place

    def close(self) -> None:
        self.file.close()


def _read(
    lines: Iterable[tuple[int, int, Any]],
    *,
    provider: str | None,
    model: str | None,
    openai: OpenAIOptions,
    spill: _Spill | None = None,
) -> list[_Read]:
    read: list[_Read] = []
    for number, offset, raw in lines:
        if spill is not None:
            text: Any = spill.put(raw)
        else:
            text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
        try:
            record = parse_line(raw, line=number, offset=offset)
        except TraceFormatError:  # its tenant's analysis reports it: the one the analyzer gives lines without one
            read.append((number, offset, text, None, None, 0.0))
            continue
        widens = _widens(record, provider=provider, model=model, openai=openai)
        read.append((number, offset, text, record.tenant or _DEFAULT_TENANT, record.timestamp, widens))
    return read


def _split(
    read: Sequence[_Read],
    *,
    interval: float,
    reorder_window: float,
    window: float | None,
    keep: int,
    settled: Mapping[int, float | None],
) -> Shards:
    """Split ``read`` by tenant, settling what needs the whole trace as one process would: each request's start,
    the order, and which requests one replay frees when. ``settled``: what workers found a request to widen the
    window to when the judgement from its envelope was wrong (``None``: the line is no request at all)."""
    tenants: dict[str, list[ShardLine]] = {}
    requests: list[tuple[float, int, float, str, int]] = []  # start, line, widens, tenant, index in its shard
    previous: float | None = None
    latest, latest_line = -math.inf, 0
    for number, offset, text, tenant, timestamp, judged in read:
        widens = settled.get(number, judged)
        if tenant is None or widens is None:  # no request: its tenant's worker counts it as a bad line
            tenants.setdefault(tenant or _DEFAULT_TENANT, []).append((number, offset, text, None, None, None, 0.0))
            continue
        filled = None
        at = timestamp
        if at is None:  # as the one-process analysis does: `interval` after the previous request
            at = filled = previous + interval if previous is not None else len(requests) * interval
        previous = at
        if at < latest - reorder_window:
            raise TraceOrderError(number, at, latest_line, latest, reorder_window)
        if at > latest:
            latest, latest_line = at, number
        shard = tenants.setdefault(tenant, [])
        requests.append((at, number, widens, tenant, len(shard)))
        shard.append((number, offset, text, filled, None, None, widens))
    # One replay takes requests in (start, line) order and, after each, frees the oldest kept ones while more
    # than `keep` are kept and the oldest started more than the window before this one (`Replay.run`).
    requests.sort()
    current = window if window is not None else 3600.0
    freed = 0
    for rank, (at, _, widens, tenant, index) in enumerate(requests):
        shard = tenants[tenant]
        number, offset, text, filled, _, _, _ = shard[index]
        shard[index] = (number, offset, text, filled, rank, freed, widens)
        if window is None and widens > current:
            current = widens
        limit = at - current
        while rank + 1 - freed > keep and requests[freed][0] < limit:
            freed += 1
    return Shards(tenants, freed, current)


def split_by_tenant(
    source: TraceSource,
    *,
    interval: float = 1.0,
    reorder_window: float = 300.0,
    window: float | None = None,
    keep: int = 25_000,
    provider: str | None = None,
    model: str | None = None,
) -> Shards:
    """The lines of ``source`` by tenant (lines without one: ``"default"``, with lines that are no trace line),
    and when one replay of the whole trace would free each request (`Shards`); the options are `analyze`'s. A
    trace out of order by more than ``reorder_window`` seconds raises `TraceOrderError`, as the one-process
    analysis does. Holds the whole trace in memory.

    >>> split_by_tenant(['{"request": {"messages": []}}', '{"request": {"messages": []}}'], interval=2.0)
    Shards(tenants={'default': [(1, 0, '{"request": {"messages": []}}', 0.0, 0, 0, 0.0), \
(2, 29, '{"request": {"messages": []}}', 2.0, 1, 0, 0.0)]}, freed=0, window=3600.0)
    """
    read = _read(_Lines(source).iterate(), provider=provider, model=model, openai=OpenAIOptions())
    return _split(read, interval=interval, reorder_window=reorder_window, window=window, keep=keep, settled={})


def _payload(lines: Sequence[ShardLine], options: Mapping[str, Any], spill: str | None = None) -> bytes:
    shard: dict[str, Any] = {"cachepoint_shard": _SHARD_FORMAT, "options": dict(options), "lines": list(lines)}
    if spill is not None:
        shard["spill"] = spill
    return orjson.dumps(shard)


def analyze_tenant(shard: bytes) -> bytes:
    """Worker: replay one shard (JSON: ``{"cachepoint_shard": 2, "options": {...}, "lines": [ShardLine...]}``;
    with ``"spill": path``, each line's text is its ``[position, length]`` in that file of this machine) in this
    process; its tally as JSON (`ReplayTally.to_json`), ``{"error": [line, path, detail]}`` for a line
    that is no trace line (without ``skip_invalid``), or ``{"settle": [[line, widens or null]...]}`` where
    preparing a request contradicted what the split judged from its envelope (the window it widens to; no
    request at all): the split is to be made again with that settled. Plain bytes in and out: what crosses to a
    worker, local or remote, is never an object of ours to rebuild.

    >>> line = '{"request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}}'
    >>> shard = _payload([(1, 0, line, None, 0, 0, 86400.0)], {"strategies": ["auto"], "freeing": [0, 86400.0]})
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
    skip_invalid = bool(options.get("skip_invalid", False))
    intake = _intake(options)
    lines = data["lines"]
    spill = open(data["spill"], "rb") if "spill" in data else None  # noqa: SIM115 - closed below
    end, window = options["freeing"]
    freeing = Freeing({line[0]: (line[4], line[5]) for line in lines if line[4] is not None}, end, window)
    judged_window = options.get("window") is None
    settle: list[tuple[int, float | None]] = []
    filled = 0

    def prepared() -> Iterator[Prepared | TraceFormatError]:
        nonlocal filled
        for number, offset, raw, start, rank, _, judged in lines:
            item = prepare_one(ctx, number, offset, _text(spill, raw))
            if isinstance(item, Prepared):
                if item.time is None and start is not None:
                    item = item._replace(time=start)
                    filled += 1
                if judged_window:
                    widens = replay.widens(item)
                    if widens != judged:
                        settle.append((number, widens))
            elif rank is not None and skip_invalid:  # the split took it for a request
                settle.append((number, None))
            yield item

    try:
        with collector_paused():
            tally = replay.run(adapt_stream(intake.requests(prepared()), scenarios), freeing=freeing)
    except TraceFormatError as exc:
        return orjson.dumps({"error": [exc.line, exc.path, exc.detail]})
    finally:
        if spill is not None:
            spill.close()
    try:
        if settle:
            return orjson.dumps({"settle": settle})
        trace = intake.tally()
        trace.timed -= filled  # started by the split, not by a timestamp of their own
        tally.trace = trace
        return tally.to_json()
    finally:
        tally.close()


def _text(spill: BinaryIO | None, raw: Any) -> Any:
    """A shard line's text: itself, or read from its place in the spill file."""
    if spill is None:
        return raw
    spill.seek(raw[0])
    return spill.read(raw[1])


def _intake(options: Mapping[str, Any]) -> _Intake:
    reorder = options.get("reorder_window")  # JSON has no infinity: null
    return _Intake(
        skip_invalid=bool(options.get("skip_invalid", False)),
        interval=float(options.get("interval", 1.0)),
        # The split checked the whole trace's order, so a tenant's requests are in order within the same window:
        # the intake's heap holds one window of them, not the shard.
        reorder_window=math.inf if reorder is None else float(reorder),
    )


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


def _run(
    payloads: Iterable[bytes], engine: str, *, workers: int | None, address: str | None
) -> tuple[list[ReplayTally], list[TraceFormatError], dict[int, float | None]]:
    """Every shard on ``engine``: the tallies, the bad lines, and what the workers settled (`analyze_tenant`)."""
    tallies: list[ReplayTally] = []
    errors: list[TraceFormatError] = []
    settle: dict[int, float | None] = {}
    try:
        for raw in map_shards(analyze_tenant, payloads, engine, workers=workers, address=address):
            # A tally's keys are sorted ("cachepoint_tally" and the like first): it is parsed once, by `from_json`.
            if raw.startswith(b'{"error":'):
                errors.append(TraceFormatError(*orjson.loads(raw)["error"]))
            elif raw.startswith(b'{"settle":'):
                settle.update((line, widens) for line, widens in orjson.loads(raw)["settle"])
            else:
                tallies.append(ReplayTally.from_json(raw))
    except BaseException:
        for tally in tallies:
            tally.close()
        raise
    return tallies, errors, settle


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

    The trace is read and split here (each line's place in a temporary copy of the trace, its start and tenant
    held in memory; the shards are made as workers take them); the workers are started with
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
        "reorder_window": reorder_window,
    }
    replay = _replay(scenarios, options)  # checks the options here, before any worker starts
    lines = _Lines(source)
    spill = _Spill()
    # Workers on this machine (local processes, a Dask cluster started here) read their lines from the spill file;
    # a remote cluster's get them in the shard.
    here = engine != "dask" or address is None
    try:
        read = _read(lines.iterate(), provider=provider, model=model, openai=replay.openai, spill=spill)
        spill.file.flush()
        settled: dict[int, float | None] = {}
        while True:
            split = _split(
                read, interval=interval, reorder_window=reorder_window, window=window, keep=keep, settled=settled
            )
            shard_options = {**options, "freeing": [split.freed, split.window]}
            payloads = (
                _payload(part, shard_options, spill.file.name) if here else _payload(spill.inline(part), shard_options)
                for _, part in sorted(split.tenants.items())
            )
            tallies, errors, settle = _run(payloads, engine, workers=workers, address=address)
            if errors or not settle:
                break
            # A request the split misjudged (rare: an OpenAI request its envelope does not show as one, or a line
            # only preparation rejects): split again with what its worker found; the second split is exact.
            for tally in tallies:
                tally.close()
            if settle.keys() <= settled.keys():  # pragma: no cover - preparing a line gives one answer
                raise RuntimeError(f"analyze_sharded: the workers' answers for lines {sorted(settle)} did not settle")
            settled.update(settle)
        try:
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
        spill.close()
        try:
            return build_report(replay, merged, source=source, lines=lines, started=started)
        finally:
            merged.close()
    finally:
        spill.close()
        lines.close()
