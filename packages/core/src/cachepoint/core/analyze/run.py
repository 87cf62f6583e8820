"""`analyze`: read a trace, prepare every request, replay, explain, report.

Where the time goes: parsing a request body and building its prefix view (`cachepoint.core.prompt`) is most of
it, so it is done once per request through a `ViewBuilder` (a session's next turn re-parses only its new
messages) and every strategy is placed on that one view. The replay is sequential by nature (each request sees
the cache the earlier ones left) and costs a few dictionary lookups per request and scenario.
``benchmarks/bench_analyze.py`` measures both.

The trace streams through in bounded memory: lines are read once, prepared (here, or by worker processes with
``jobs`` > 1: chunks of lines in file order through one `WorkerPool`, `cachepoint.core.analyze.workers`, plain
functions over plain data, prepared requests as JSON bytes), put in start order by a small reorder buffer
(`_Intake`) and replayed one at a time (`Replay.run`), which keeps only the requests a cache read could still
reach. The report is the same as a replay of the whole trace held in memory would give.
"""

from __future__ import annotations

import heapq
import io
import math
import os
import sys
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from cachepoint.core.analyze.adaptive import adapt_stream
from cachepoint.core.analyze.prepare import PrepareContext, Prepared, decode_batch
from cachepoint.core.analyze.replay import Replay, ReplayResult
from cachepoint.core.analyze.report import AnalysisReport, MissExample
from cachepoint.core.analyze.scenarios import DEFAULT_STRATEGIES, scenarios_for
from cachepoint.core.analyze.shards import prepare_chunk, prepare_one
from cachepoint.core.analyze.tally import Example, TraceTally
from cachepoint.core.analyze.workers import Job, WorkerPool, collector_paused
from cachepoint.core.prompt import Tool
from cachepoint.core.prompt.formats import get_format
from cachepoint.core.prompt.formats.base import dumps
from cachepoint.core.providers import ProviderTable
from cachepoint.core.simulate import EngineOptions, OpenAIOptions
from cachepoint.core.tokens import TokenCounter
from cachepoint.core.traces import (
    TraceFileError,
    TraceFiles,
    TraceFormatError,
    TraceSource,
    compression_of,
    iter_lines,
    open_trace,
    parse_line,
)

__all__ = ["Progress", "TraceOrderError", "analyze", "auto_jobs"]

_CHUNK = 128  # lines per task, when lines are sent to the workers
_STRUCTURAL = ("key_order", "tool_order", "block_order", "settings")

#: ``progress(phase, done, total)``: phase ``"reading"`` counts bytes (total: the file size, when known),
#: ``"replaying"`` counts requests (total ``None``: reading and replaying go on together).
Progress = Callable[[str, int, "int | None"], None]


# --- preparing in worker processes ----------------------------------------------------------------------------


def _conversation(raw: Any) -> Any:
    """The ``session`` of a line, read cheaply (the first ``"session":`` string in its text), or ``None``. Only
    where a line is prepared depends on it, never what preparing it gives: a wrong guess costs time only."""
    if isinstance(raw, Mapping):
        return raw.get("session")
    key, quote = ('"session":', '"') if isinstance(raw, str) else (b'"session":', b'"')
    at = raw.find(key)
    if at < 0:
        return None
    at += len(key)
    while raw[at : at + 1] in (" ", b" "):
        at += 1
    if raw[at : at + 1] != quote:
        return None
    end = raw.find(quote, at + 1)
    return raw[at + 1 : end] if end > at else None


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
    # A stream (stdin, records, a list of lines) is read once, here. Lines go to the workers in chunks, each
    # conversation's lines to one worker (a lane per worker): its view builder then parses only a turn's new
    # messages, where spreading a conversation over the workers made each parse most of it again (15% more
    # CPU preparing with two). Results come back per chunk and leave in file order; a conversation that is rare
    # does not hold the others back: a line read `behind` lines ago goes out in whatever chunk its lane has.
    behind = 8 * jobs * _CHUNK
    buffers: dict[int | None, list[tuple[int, int, Any]]] = {}
    lane_of: dict[int, int | None] = {}  # line -> its lane, until it is sent
    chunk_of: dict[int, int] = {}  # line -> its chunk, once sent
    sent: dict[int, tuple[Job[bytes], list[int]]] = {}  # chunk -> its job and its lines
    ready: dict[int, Prepared | TraceFormatError] = {}
    order: deque[int] = deque()  # lines read and not given out yet, in file order
    chunks = 0

    def send(lane: int | None) -> None:
        nonlocal chunks
        chunk = buffers.pop(lane)
        numbers = [line for line, _, _ in chunk]
        work = f"preparing {len(chunk)} lines from line {numbers[0]}"
        sent[chunks] = (pool.submit(work, prepare_chunk, settings, chunk, lane=lane), numbers)
        for line in numbers:
            chunk_of[line] = chunks
            del lane_of[line]
        chunks += 1

    def first() -> Prepared | TraceFormatError:
        line = order.popleft()
        if line not in ready:
            if line in lane_of:
                send(lane_of[line])
            job, numbers = sent.pop(chunk_of[line])
            for number, item in zip(numbers, decode_batch(pool.result(job)), strict=True):
                ready[number] = item
                del chunk_of[number]
        return ready.pop(line)

    for line, offset, raw in lines:
        conversation = _conversation(raw)
        lane = None if conversation is None else zlib.crc32(str(conversation).encode()) % jobs
        buffer = buffers.setdefault(lane, [])
        buffer.append((line, offset, raw))
        lane_of[line] = lane
        order.append(line)
        if len(buffer) >= _CHUNK:
            send(lane)
        while len(sent) >= 3 * jobs or len(order) > behind:
            yield first()
    for lane in list(buffers):
        send(lane)
    while order:
        yield first()


# --- from lines in file order to requests in start order ---------------------------------------------------------


class TraceOrderError(TraceFormatError):
    """A request starts earlier than one read before it by more than the reorder window allows: the trace
    must be sorted by start time first (or the window widened).

    >>> str(TraceOrderError(9, 1795428000.0, 4, 1795429000.0, 300.0)).split(";")[0]
    'line 9 starts 2026-11-23T10:00:00Z but line 4 already started 2026-11-23T10:16:40Z'
    """

    def __init__(self, line: int, at: float, earlier_line: int, earlier_at: float, window: float) -> None:
        super().__init__(None, "", self._detail(f"line {line}", f"line {earlier_line}", at, earlier_at, window))
        self.line = line
        self.at = at
        self.earlier_line = earlier_line
        self.earlier_at = earlier_at
        self.window = window

    def located(self, locate: Callable[[int], tuple[str, int]]) -> str:
        """``FILE: line N starts ... but FILE line M already started ...`` when the trace was read from several
        files: ``locate`` maps a line of the whole to ``(file, line in that file)`` (`TraceFiles.locate`).

        >>> error = TraceOrderError(9, 1795428000.0, 4, 1795429000.0, 300.0)
        >>> error.located(lambda n: ("b.jsonl", n - 5) if n > 5 else ("a.jsonl", n)).split(";")[0]
        'b.jsonl: line 4 starts 2026-11-23T10:00:00Z but a.jsonl line 4 already started 2026-11-23T10:16:40Z'
        """
        assert self.line is not None  # always set here (the base class allows errors without a line)
        name, line = locate(self.line)
        earlier_name, earlier_line = locate(self.earlier_line)
        earlier = f"{earlier_name} line {earlier_line}"
        return f"{name}: {self._detail(f'line {line}', earlier, self.at, self.earlier_at, self.window)}"

    @staticmethod
    def _detail(line: str, earlier: str, at: float, earlier_at: float, window: float) -> str:
        return (
            f"{line} starts {_iso(at)} but {earlier} already started {_iso(earlier_at)}; sort the trace (e.g. "
            "`jq -cs 'sort_by(.timestamp)[]' trace.jsonl > sorted.jsonl`, for timestamps of one form) or allow more "
            f"than {window:g}s of disorder (--reorder-window)"
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.line, self.at, self.earlier_line, self.earlier_at, self.window))


def _iso(at: float) -> str:
    try:
        return datetime.fromtimestamp(at, timezone.utc).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return f"{at:g}s"


class _Intake:
    """Takes prepared requests in file order and gives them out in start order (start, then line), the order
    the replay needs, counting on the way what the report says about the trace as a whole.

    Requests without a timestamp start ``interval`` after the previous line. Requests a little out of order
    (within ``reorder_window`` seconds of the latest start read so far) wait in a heap until no later line can
    start before them; a request further out of order is a `TraceOrderError`: it would come after requests the
    replay has already taken. Memory: the requests of one reorder window."""

    def __init__(self, *, skip_invalid: bool, interval: float, reorder_window: float) -> None:
        self.skip_invalid = skip_invalid
        self.interval = interval
        self.reorder_window = reorder_window
        self.count = 0
        self.timed = 0  # requests that carried a timestamp
        self.invalid = 0
        self.errors: list[TraceFormatError] = []  # the first 20
        self.providers: dict[str, int] = {}
        self.models: dict[str, int] = {}
        self.tenants: set[str] = set()
        self.first_lines: dict[tuple[str, str], int] = {}  # ("provider" | "model", name): its first line
        self.first_time: float | None = None
        self.last_time: float | None = None

    def requests(self, prepared: Iterable[Prepared | TraceFormatError]) -> Iterator[Prepared]:
        """The requests of ``prepared`` in start order (bad lines raise, or are counted with ``skip_invalid``)."""
        waiting: list[tuple[float, int, Prepared]] = []
        previous: float | None = None
        latest = -math.inf
        latest_line = 0
        for item in prepared:
            if isinstance(item, TraceFormatError):
                if not self.skip_invalid:
                    raise item
                self.invalid += 1
                if len(self.errors) < 20:
                    self.errors.append(item)
                continue
            if item.time is None:
                at = previous + self.interval if previous is not None else self.count * self.interval
                item = item._replace(time=at)  # noqa: PLW2901 - the request, with its start filled in
            else:
                at = item.time
                self.timed += 1
            previous = at
            self.count += 1
            self.providers[item.provider] = self.providers.get(item.provider, 0) + 1
            self.models[item.model] = self.models.get(item.model, 0) + 1
            self.tenants.add(item.tenant)
            self.first_lines.setdefault(("provider", item.provider), item.line)
            self.first_lines.setdefault(("model", item.model), item.line)
            if at < latest - self.reorder_window:
                raise TraceOrderError(item.line, at, latest_line, latest, self.reorder_window)
            if at > latest:
                latest, latest_line = at, item.line
            heapq.heappush(waiting, (at, item.line, item))
            limit = latest - self.reorder_window
            while waiting[0][0] < limit:
                yield self._out(heapq.heappop(waiting)[2])
        while waiting:
            yield self._out(heapq.heappop(waiting)[2])

    def _out(self, item: Prepared) -> Prepared:
        if self.first_time is None:
            self.first_time = item.time
        self.last_time = item.time
        return item

    def tally(self) -> TraceTally:
        """What the report says about the trace as a whole, as a `TraceTally` (it merges with other shards')."""
        return TraceTally(
            count=self.count,
            timed=self.timed,
            invalid=self.invalid,
            errors=[(e.line or 0, str(e)) for e in self.errors],
            providers={k: (v, self.first_lines[("provider", k)]) for k, v in self.providers.items()},
            models={k: (v, self.first_lines[("model", k)]) for k, v in self.models.items()},
            tenants=set(self.tenants),
            first_time=self.first_time,
            last_time=self.last_time,
            interval=self.interval,
        )


# --- reading back lines for examples ---------------------------------------------------------------------------


class _Lines:
    """Gets raw lines back by offset (a file, or several: `TraceFiles`) or by number (anything else, kept in
    memory)."""

    def __init__(self, source: TraceSource) -> None:
        self.path: Path | None = None
        self.files: TraceFiles | None = None
        self.kept: dict[int, Any] = {}
        self.keep = True
        self.handle: Any = None
        self.source: TraceSource = source
        if isinstance(source, TraceFiles):  # read back from its files: a day of logs is not held in memory
            self.files = source
            self.keep = False
        elif isinstance(source, (str, Path)) and str(source) != "-":
            self.path = Path(source)
            self.keep = False
        elif isinstance(source, (str, Path)):  # stdin: read it once, keep it
            self.source = io.BytesIO(sys.stdin.buffer.read())

    def iterate(self) -> Iterator[tuple[int, int, Any]]:
        for line, offset, raw in iter_lines(self.source):
            if self.keep:
                self.kept[line] = raw
            yield line, offset, raw

    def get(self, line: int, offset: int) -> Any:
        if self.files is not None:
            path, offset = self.files.file_offset(line, offset)
            if path != self.path:
                self.close()
                self.path = path
        if self.path is None:
            return self.kept.get(line)
        if self.handle is None:
            self.handle = open_trace(self.path)
        self.handle.seek(offset)
        return self.handle.readline()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    @property
    def size(self) -> int | None:
        """Bytes to read (a compressed file's size is scaled by a typical ratio for traces)."""
        if isinstance(self.source, io.BytesIO):
            return len(self.source.getbuffer())
        return _estimated_bytes(self.source)


#: About how many times its size on disk a compressed trace holds: traces repeat their prompts line after line,
#: and shrink 12x (gzip) to 90-150x (xz, zstd).
_COMPRESSION_RATIO = 50


def _estimated_bytes(source: TraceSource) -> int | None:
    """The bytes of JSONL a trace file (or `TraceFiles`) holds, a compressed file (told by its first bytes, as the
    reader tells it) counted at `_COMPRESSION_RATIO`; ``None`` for anything else or a file that cannot be read."""
    if isinstance(source, TraceFiles):
        paths = source.paths
    elif isinstance(source, (str, Path)) and str(source) != "-":
        paths = [Path(source)]
    else:
        return None
    total = 0
    for path in paths:
        try:
            with open(path, "rb") as probe:
                head = probe.read(6)
            size = path.stat().st_size
        except OSError:
            return None
        try:
            compressed = compression_of(head, str(path)) is not None
        except TraceFileError:  # a compression the reader refuses: the analysis will say so
            compressed = False
        total += size * _COMPRESSION_RATIO if compressed else size
    return total


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


def _snippets(lines: _Lines, examples: list[Example]) -> None:
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
    size = _estimated_bytes(source)
    if size is None or size < threshold:
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
    window: float | None = None,
    keep: int = 25_000,
    reorder_window: float = 300.0,
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
        jobs: processes that prepare requests (default 1: this process; ``"auto"``: `auto_jobs`). The trace is
            read once, here, and sent to ``jobs`` worker processes in chunks of lines, taken back in order;
            this process replays (sequential: each request sees the cache the earlier ones left). The report is
            the same as with one process. Workers are started by multiprocessing's ``spawn``, never forked from
            this process: a script that passes ``jobs`` needs the ``if __name__ == "__main__":`` guard. A worker
            that dies raises `WorkerError`.
        table, counter: provider table and token counter (custom ones keep the work they touch in this process).
        openai, engine: options of the simulator's OpenAI and engine cache models.
        examples: examples kept per miss cause.
        progress: ``progress(phase, done, total)`` callback (see `Progress`).
        window, keep: how far back prefix sharing and the miss diagnosis compare a request: with the requests
            of the last ``window`` seconds (default: the longest lifetime a cache entry of the trace can have,
            1 hour, or 24 hours for OpenAI's extended retention) or the last ``keep`` requests, whichever reach
            further back. Older requests are freed: memory is bounded by one window of traffic (see `Replay`).
            The scenarios' numbers do not depend on it.
        reorder_window: seconds a request may start before one read earlier in the file and still be replayed
            in start order (requests wait in a buffer that long); further out of order is a `TraceOrderError`.

    >>> lines = ['{"request": {"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "%s", '
    ...          '"messages": [{"role": "user", "content": "Question %d"}]}, "timestamp": %d}'
    ...          % ("Manual. " * 900, n, 60 * n) for n in range(3)]
    >>> report = analyze(lines, strategies=["auto"])
    >>> [(s.name, s.hit_requests) for s in report.scenarios]
    [('recorded', 0), ('none', 0), ('auto', 2)]
    >>> report.best, report.misses.missed_requests
    ('auto', 0)
    """
    from cachepoint.core.analyze.merge import build_report

    started = time.perf_counter()
    specs = list(strategies)
    if focus is not None:
        focus = focus.strip()
        if focus == "none":
            raise ValueError("focus: 'none' caches nothing; pick a strategy or 'recorded'")
        known = {name for s in scenarios_for(specs) for name in (s.name, s.spec)}
        if focus not in known:
            specs.append(focus)  # a strategy asked for by spec is replayed too
    if not reorder_window >= 0:
        raise ValueError(f"reorder_window: expected 0 or more seconds, got {reorder_window!r}")
    scenarios = scenarios_for(specs)
    chosen = next((s.name for s in scenarios if focus in (s.name, s.spec)), None) if focus else None
    settings: dict[str, Any] = {"provider": provider, "model": model, "strategies": specs}
    local = None
    if counter is not None or table is not None:
        local = PrepareContext(provider=provider, model=model, scenarios=scenarios, counter=counter, table=table)
    replay = Replay(
        scenarios,
        focus=chosen,
        table=table,
        openai=openai,
        engine=engine,
        examples=examples,
        window=window,
        keep=keep,
    )
    lines = _Lines(source)
    jobs = auto_jobs(source) if jobs == "auto" else (jobs or 1)
    pool = WorkerPool(jobs) if jobs > 1 and local is None else None
    intake = _Intake(skip_invalid=skip_invalid, interval=interval, reorder_window=reorder_window)
    try:
        # Allocation without pause, of objects that live for a window: the cyclic collector would rescan the
        # kept ones again and again, for nothing; the replay runs it itself as it frees requests.
        with collector_paused():
            size = lines.size
            compressed = lines.path is not None and lines.path.suffix in (".gz", ".xz")
            prepared = _prepare_all(lines.iterate(), settings, local, jobs, pool)
            if progress is not None:
                prepared = _reading(prepared, progress, None if compressed else size)
            ordered = adapt_stream(intake.requests(prepared), scenarios, table=table)  # TTLs from past gaps
            tally = replay.run(ordered, _replaying(progress))
            tally.trace = intake.tally()
            try:
                report = build_report(replay, tally, source=source, lines=lines, started=started)
            finally:
                tally.close()
    finally:
        lines.close()
        if pool is not None:
            pool.close()
    return report


def _reading(
    prepared: Iterable[Prepared | TraceFormatError], progress: Progress, size: int | None
) -> Iterator[Prepared | TraceFormatError]:
    """``prepared``, reporting the bytes read every 256 lines."""
    done = 0
    for n, item in enumerate(prepared, 1):
        if n % 256 == 0 and isinstance(item, Prepared):
            done = max(done, item.offset)
            progress("reading", done, size)
        yield item
    progress("reading", size or done, size)


def _replaying(progress: Progress | None) -> Callable[[int], None] | None:
    """The replay's progress callback: requests replayed, every 256 (their total is known only at the end)."""
    if progress is None:
        return None

    def replayed(count: int) -> None:
        if count % 256 == 0:
            progress("replaying", count, None)

    return replayed


def _assemble(
    source: TraceSource,
    intake: TraceTally,
    warnings: list[str],
    result: ReplayResult,
    *,
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
    errors = [text for _, text in intake.errors]
    if errors:
        warnings.insert(0, f"{intake.invalid} invalid line(s) skipped (--skip-invalid); first: {errors[0]}")
    return AnalysisReport(
        source=str(source) if isinstance(source, (str, Path)) else "<records>",
        requests=intake.count,
        scenarios=tuple(result.scenarios),
        focus=result.focus,
        best=result.best,
        invalid_lines=intake.invalid,
        errors=tuple(errors[:20]),
        warnings=tuple(warnings + result.warnings),
        timestamps=timestamps,
        first_time=intake.first_time,
        last_time=intake.last_time,
        providers=intake.provider_counts,
        models=intake.model_counts,
        tenants=len(intake.tenants),
        sharing=result.sharing,
        observed=result.observed,
        misses=misses,
        timeline=result.timeline,
        elapsed_s=time.perf_counter() - started,
    )
