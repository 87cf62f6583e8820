"""`analyze`: read a trace, prepare every request, replay, explain, report.

Where the time goes: parsing a request body and building its prefix view (`cachepoint.core.prompt`) is most of
it, so it is done once per request through a `ViewBuilder` (a session's next turn re-parses only its new
messages) and every strategy is placed on that one view. The replay is sequential by nature (each request sees
the cache the earlier ones left) and costs a few dictionary lookups per request and scenario.
``benchmarks/bench_analyze.py`` measures both.

With ``jobs`` > 1 a trace file is prepared by several processes, split by conversation so each keeps the memo
of its sessions (`cachepoint.core.analyze.shards`), and groups of scenarios are replayed by worker processes
(`Replay.run`); the report is the same as with one process. All of it goes through one `WorkerPool`
(`cachepoint.core.analyze.workers`): plain functions over plain data, prepared requests and replay tallies as
JSON bytes.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from cachepoint.core.analyze.prepare import PrepareContext, Prepared, decode_batch
from cachepoint.core.analyze.replay import Replay, ReplayResult, _Example
from cachepoint.core.analyze.report import AnalysisReport, MissExample
from cachepoint.core.analyze.scenarios import DEFAULT_STRATEGIES, scenarios_for
from cachepoint.core.analyze.shards import prepare_chunk, prepare_one, prepare_shard, shard_items
from cachepoint.core.analyze.workers import Job, WorkerPool, collector_paused
from cachepoint.core.prompt import Tool
from cachepoint.core.prompt.formats import get_format
from cachepoint.core.prompt.formats.base import dumps
from cachepoint.core.providers import ProviderTable
from cachepoint.core.simulate import EngineOptions, OpenAIOptions
from cachepoint.core.tokens import TokenCounter
from cachepoint.core.traces import TraceFormatError, TraceSource, iter_lines, open_trace, parse_line

__all__ = ["Progress", "analyze", "auto_jobs"]

_CHUNK = 128  # lines per task, when lines are sent to the workers
_STRUCTURAL = ("key_order", "tool_order", "block_order", "settings")

#: ``progress(phase, done, total)``: phase ``"reading"`` counts bytes (total: the file size, when known),
#: ``"replaying"`` counts requests.
Progress = Callable[[str, int, "int | None"], None]


# --- preparing in worker processes ----------------------------------------------------------------------------


def _chunks(lines: Iterable[tuple[int, int, Any]], size: int) -> Iterator[list[tuple[int, int, Any]]]:
    chunk: list[tuple[int, int, Any]] = []
    for item in lines:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _prepare_sharded(
    path: Path, settings: dict[str, Any], jobs: int, skip_invalid: bool, pool: WorkerPool
) -> Iterator[Prepared | TraceFormatError]:
    """Split the trace by conversation over ``jobs`` processes, this one included (it prepares shard 0 and
    reports progress while the workers prepare the others). Every process reads the whole file but prepares
    only its shard, so each keeps the memo of a serial run for its conversations. Items come out in no
    particular order; line errors come last, by line (the first is the one a serial run would raise)."""
    shards = [
        pool.submit(f"preparing shard {k + 1} of {jobs}", prepare_shard, settings, str(path), k, jobs, skip_invalid)
        for k in range(1, jobs)
    ]
    errors: list[TraceFormatError] = []
    for n, item in enumerate(shard_items(PrepareContext(**settings), str(path), 0, jobs, skip_invalid)):
        if n % 256 == 0:
            for job in shards:
                pool.check(job)
        if isinstance(item, TraceFormatError):
            errors.append(item)
        else:
            yield item
    for job in shards:
        for batch in pool.result(job):
            for item in decode_batch(batch):
                if isinstance(item, TraceFormatError):
                    errors.append(item)
                else:
                    yield item
    errors.sort(key=lambda e: e.line or 0)
    yield from errors


def _prepare_all(
    lines: Iterable[tuple[int, int, Any]],
    settings: dict[str, Any],
    ctx: PrepareContext | None,
    jobs: int,
    pool: WorkerPool | None,
) -> Iterator[Prepared | TraceFormatError]:
    if pool is None or ctx is not None:
        local = ctx or PrepareContext(**settings)
        for line, offset, raw in lines:
            yield prepare_one(local, line, offset, raw)
        return
    # A stream (stdin, records, a list of lines) is read once: chunks of lines go to the workers, a few per
    # worker ahead of the results taken in.
    pending: deque[Job[bytes]] = deque()
    for chunk in _chunks(lines, _CHUNK):
        work = f"preparing lines {chunk[0][0]} to {chunk[-1][0]}"
        pending.append(pool.submit(work, prepare_chunk, settings, chunk))
        while len(pending) >= 3 * jobs:
            yield from decode_batch(pool.result(pending.popleft()))
    while pending:
        yield from decode_batch(pool.result(pending.popleft()))


# --- reading back lines for examples ---------------------------------------------------------------------------


class _Lines:
    """Gets raw lines back by offset (a file) or by number (anything else, kept in memory)."""

    def __init__(self, source: TraceSource) -> None:
        self.path: Path | None = None
        self.kept: dict[int, Any] = {}
        self.keep = True
        self.handle: Any = None
        if isinstance(source, (str, Path)) and str(source) != "-":
            self.path = Path(source)
            self.keep = False
            self.source: TraceSource = source
        elif isinstance(source, (str, Path)):  # stdin: read it once, keep it
            self.source = io.BytesIO(sys.stdin.buffer.read())
        else:
            self.source = source

    def iterate(self) -> Iterator[tuple[int, int, Any]]:
        for line, offset, raw in iter_lines(self.source):
            if self.keep:
                self.kept[line] = raw
            yield line, offset, raw

    def get(self, line: int, offset: int) -> Any:
        if self.path is None:
            return self.kept.get(line)
        if self.handle is None:
            self.handle = open_trace(self.path)
        self.handle.seek(offset)
        return self.handle.readline()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()

    @property
    def size(self) -> int | None:
        """Bytes to read (a compressed file's size is scaled by a typical ratio for traces)."""
        if self.path is not None:
            size = self.path.stat().st_size
            return size * 50 if self.path.suffix in (".gz", ".xz") else size
        if isinstance(self.source, io.BytesIO):
            return len(self.source.getbuffer())
        return None


def _block_text(raw: Any, line: int, offset: int, position: int, structural: bool) -> str | None:
    if raw is None:
        return None
    try:
        request = parse_line(raw, line=line, offset=offset).parse_request()
    except (TraceFormatError, ValueError):
        return None
    for n, (_, item) in enumerate(request.locators()):
        if n == position:
            if structural:
                return dumps(item.data).decode("utf-8")
            dialect = get_format(request.format)
            text = dialect.describe_tool(item).text if isinstance(item, Tool) else dialect.describe(item).text
            return dumps(text).decode("utf-8")[1:-1]  # JSON-escaped: CR, tabs and trailing spaces stay visible
    return None


def _excerpt(before: str, after: str, width: int = 48) -> tuple[str, str, int]:
    first = next(
        (i for i, (x, y) in enumerate(zip(before, after, strict=False)) if x != y), min(len(before), len(after))
    )
    start = max(0, first - width)

    def cut(text: str) -> str:
        end = min(len(text), first + width)
        return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")

    return cut(before), cut(after), first


def _snippets(lines: _Lines, examples: list[_Example]) -> None:
    from cachepoint.core.analyze.causes import CAUSES

    wanted = []
    for example in examples:
        cause = CAUSES.get(example.cause)
        if example.earlier_line is None or example.position is None or example.earlier_offset is None:
            continue
        if cause is None or (cause.kind != "content" and "differs from" not in example.detail):
            continue
        wanted.append(example)
    # One forward pass over the file (a compressed trace seeks forward cheaply, backward from the start).
    needed = sorted(
        {(e.earlier_offset or 0, e.earlier_line or 0) for e in wanted} | {(e.offset, e.line) for e in wanted}
    )
    raw = {line: lines.get(line, offset) for offset, line in needed}
    for example in wanted:
        assert example.earlier_line is not None
        assert example.earlier_offset is not None
        assert example.position is not None
        structural = example.cause in _STRUCTURAL
        old = _block_text(
            raw.get(example.earlier_line), example.earlier_line, example.earlier_offset, example.position, structural
        )
        new = _block_text(raw.get(example.line), example.line, example.offset, example.position, structural)
        if old is None or new is None:
            continue
        example.before, example.after, first = _excerpt(old, new)
        example.detail += f" (character {first})"


def auto_jobs(source: TraceSource, *, threshold: int = 64 * 2**20) -> int:
    """Processes worth using for ``source``: one per available core (at most 8) for a trace file of
    ``threshold`` bytes or more (compressed files count about 50x their size), else 1 (starting a worker costs
    about half a second).

    >>> auto_jobs(["{}"])
    1
    """
    if not isinstance(source, (str, Path)) or str(source) == "-":
        return 1
    path = Path(source)
    try:
        size = path.stat().st_size
    except OSError:
        return 1
    if path.suffix in (".gz", ".xz"):
        size *= 50
    if size < threshold:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 8))


# --- the entry point -------------------------------------------------------------------------------------------


def analyze(
    source: TraceSource,
    *,
    provider: str | None = None,
    model: str | None = None,
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    focus: str | None = None,
    interval: float = 1.0,
    skip_invalid: bool = False,
    jobs: int | Literal["auto"] | None = None,
    table: ProviderTable | None = None,
    counter: TokenCounter | None = None,
    openai: OpenAIOptions | None = None,
    engine: EngineOptions | None = None,
    examples: int = 3,
    progress: Progress | None = None,
) -> AnalysisReport:
    """Analyze a trace: prefix sharing, every scenario's hit rate and cost, and why the focus scenario misses.

    Args:
        source: a JSONL path (``"-"``: stdin), a file object, or an iterable of lines / decoded records.
        provider, model: override what each line says (and what its body's shape suggests).
        strategies: strategy specs to replay besides ``recorded`` (the trace's own markers) and ``none``.
        focus: the scenario to diagnose and to check with ``--fail-under-*``, by name or strategy spec (a spec
            not in ``strategies`` is replayed too). Default: ``recorded`` when the trace already caches (cache
            markers, or OpenAI's automatic caching), else ``auto``.
        interval: seconds between requests that carry no timestamp (each starts this long after the previous).
        skip_invalid: skip bad lines (counted in the report) instead of raising `TraceFormatError`.
        jobs: processes to use (default 1: this process; ``"auto"``: `auto_jobs`). A file is split by
            conversation (``session``, else the first message), so each process sees every turn of its
            conversations and parses only what is new in each; other sources are sent to the workers in chunks.
            The replay, sequential per scenario, is split by scenario. The report is the same as with one
            process. Workers are started by multiprocessing's ``spawn``, never forked from this process: a
            script that passes ``jobs`` needs the ``if __name__ == "__main__":`` guard. A worker that dies
            raises `WorkerError`.
        table, counter: provider table and token counter (custom ones keep the work they touch in this process).
        openai, engine: options of the simulator's OpenAI and engine cache models.
        examples: examples kept per miss cause.
        progress: ``progress(phase, done, total)`` callback (see `Progress`).

    >>> lines = ['{"request": {"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "%s", '
    ...          '"messages": [{"role": "user", "content": "Question %d"}]}, "timestamp": %d}'
    ...          % ("Manual. " * 900, n, 60 * n) for n in range(3)]
    >>> report = analyze(lines, strategies=["auto"])
    >>> [(s.name, s.hit_requests) for s in report.scenarios]
    [('recorded', 0), ('none', 0), ('auto', 2)]
    >>> report.best, report.misses.missed_requests
    ('auto', 0)
    """
    started = time.perf_counter()
    specs = list(strategies)
    if focus is not None:
        focus = focus.strip()
        if focus == "none":
            raise ValueError("focus: 'none' caches nothing; pick a strategy or 'recorded'")
        known = {name for s in scenarios_for(specs) for name in (s.name, s.spec)}
        if focus not in known:
            specs.append(focus)  # a strategy asked for by spec is replayed too
    scenarios = scenarios_for(specs)
    names = [s.name for s in scenarios]
    chosen = next((s.name for s in scenarios if focus in (s.name, s.spec)), None) if focus else None
    settings: dict[str, Any] = {"provider": provider, "model": model, "strategies": specs}
    local = None
    if counter is not None or table is not None:
        local = PrepareContext(provider=provider, model=model, scenarios=scenarios, counter=counter, table=table)
    lines = _Lines(source)
    jobs = auto_jobs(source) if jobs == "auto" else (jobs or 1)
    # The workers: for a file this process prepares a shard too; a stream goes out in chunks, all of it.
    pool = WorkerPool(jobs - 1 if lines.path is not None else jobs) if jobs > 1 else None
    try:
        # The analysis keeps every prepared request alive until the end (millions of small tuples) and
        # allocates without pause: the cyclic collector would rescan them all, again and again, for nothing.
        with collector_paused():
            size = lines.size
            compressed = lines.path is not None and lines.path.suffix in (".gz", ".xz")
            if pool is not None and local is None and lines.path is not None:
                prepared = _prepare_sharded(lines.path, settings, jobs, skip_invalid, pool)
            else:
                prepared = _prepare_all(lines.iterate(), settings, local, jobs, pool)
            items, errors, prints = _collect(prepared, skip_invalid, progress, None if compressed else size)
            items.sort(key=lambda p: p.line)  # workers return their shards in turn; the rest reads in file order

            if chosen is None:
                chosen = _default_focus(items, names)
            warnings: list[str] = []
            timestamps = _assign_times(items, interval, warnings)
            items.sort(key=lambda p: (p.time, p.line))
            replay = Replay(scenarios, focus=chosen, table=table, openai=openai, engine=engine, examples=examples)
            total = len(items)
            step = max(1, total // 200)

            def replayed(count: int) -> None:
                if progress is not None and (count % step == 0 or count == total):
                    progress("replaying", count, total)

            result = replay.run(items, prints, replayed if progress is not None else None, jobs=jobs, pool=pool)
            _snippets(lines, result.examples)
            report = _assemble(
                source, items, errors, warnings, result, focus=chosen, timestamps=timestamps, started=started
            )
            # Free the requests by reference counting while the collector is still off: switched on first, its
            # next pass would scan every one of them (all still in its youngest generation), for seconds.
            del items, prints, result
    finally:
        lines.close()
        if pool is not None:
            pool.close()
    return report


def _assemble(
    source: TraceSource,
    items: Sequence[Prepared],
    errors: Sequence[TraceFormatError],
    warnings: list[str],
    result: ReplayResult,
    *,
    focus: str,
    timestamps: str,
    started: float,
) -> AnalysisReport:
    misses = result.misses
    if misses is not None:
        by_cause: dict[str, list[MissExample]] = {}
        for e in result.examples:
            by_cause.setdefault(e.cause, []).append(
                MissExample(e.cause, e.line, e.earlier_line, e.path, e.position, e.lost, e.detail, e.before, e.after)
            )
        misses = replace(
            misses,
            causes=tuple(replace(c, examples=tuple(by_cause.get(c.cause, ()))) for c in misses.causes),
        )
    providers: dict[str, int] = {}
    models: dict[str, int] = {}
    tenants = set()
    for item in items:
        providers[item.provider] = providers.get(item.provider, 0) + 1
        models[item.model] = models.get(item.model, 0) + 1
        tenants.add(item.tenant)
    if errors:
        warnings.insert(0, f"{len(errors)} invalid line(s) skipped (--skip-invalid); first: {errors[0]}")
    return AnalysisReport(
        source=str(source) if isinstance(source, (str, Path)) else "<records>",
        requests=len(items),
        scenarios=tuple(result.scenarios),
        focus=focus,
        best=result.best,
        invalid_lines=len(errors),
        errors=tuple(str(e) for e in errors[:20]),
        warnings=tuple(warnings + result.warnings),
        timestamps=timestamps,
        first_time=items[0].time if items else None,
        last_time=items[-1].time if items else None,
        providers=dict(sorted(providers.items(), key=lambda kv: -kv[1])),
        models=dict(sorted(models.items(), key=lambda kv: -kv[1])),
        tenants=len(tenants),
        sharing=result.sharing,
        observed=result.observed,
        misses=misses,
        timeline=result.timeline,
        elapsed_s=time.perf_counter() - started,
    )


def _collect(
    prepared: Iterable[Prepared | TraceFormatError], skip_invalid: bool, progress: Progress | None, size: int | None
) -> tuple[list[Prepared], list[TraceFormatError], dict[str, Any]]:
    """Prepared requests (their fingerprints moved to one table), and the bad lines when skipping them."""
    items: list[Prepared] = []
    errors: list[TraceFormatError] = []
    prints: dict[str, Any] = {}
    done = 0
    for item in prepared:
        if isinstance(item, TraceFormatError):
            if not skip_invalid:
                raise item
            errors.append(item)
            continue
        prints.update(item.prints)
        items.append(item._replace(prints={}))
        if progress is not None and len(items) % 256 == 0:
            done = max(done, item.offset)
            progress("reading", done, size)
    if progress is not None:
        progress("reading", size or done, size)
    return items, errors, prints


def _default_focus(items: Sequence[Prepared], names: Sequence[str]) -> str:
    """``recorded`` when the trace caches already (cache markers, or a provider that caches by itself), so the
    diagnosis explains today's setup; otherwise ``auto`` (or the first strategy replayed)."""
    caching = any(p.placements[0] or p.provider in ("openai", "vllm", "sglang") for p in items)
    if caching or len(names) <= 2:
        return "recorded"
    return "auto" if "auto" in names else names[2]


def _assign_times(items: list[Prepared], interval: float, warnings: list[str]) -> str:
    """Give requests without a timestamp one (``interval`` after the previous line); say which kind we have."""
    have = sum(1 for p in items if p.time is not None)
    if have == len(items):
        return "recorded"
    previous = None
    for i, item in enumerate(items):
        if item.time is None:
            items[i] = item._replace(time=(previous + interval) if previous is not None else i * interval)
        previous = items[i].time
    if have == 0:
        warnings.append(
            f"the trace has no timestamps: requests are assumed {interval:g}s apart (--interval); cache "
            "lifetimes (TTL) then never run out, so hit rates are an upper bound"
        )
        return "synthetic"
    warnings.append(f"{len(items) - have} request(s) without a timestamp start {interval:g}s after the previous line")
    return "mixed"
