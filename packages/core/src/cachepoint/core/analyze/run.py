"""`analyze`: read a trace, prepare every request, replay, explain, report.

Where the time goes: parsing a request body and building its prefix view (`cachepoint.core.prompt`) is most of
it, so it is done once per request through a `ViewBuilder` (a session's next turn re-parses only its new
messages) and every strategy is placed on that one view. The replay is sequential by nature (each request sees
the cache the earlier ones left) and costs a few dictionary lookups per request and scenario.
``benchmarks/bench_analyze.py`` measures both.

With ``jobs`` > 1 a trace file is prepared by several processes, split by conversation so each keeps the memo
of its sessions (`_shard_of`), and the scenarios are replayed by forked processes (`Replay.run`); the report is
the same as with one process. Prepared requests and replay tallies cross as JSON bytes on pipes; only the
workers' settings (strings and numbers) go through multiprocessing's own start-up.
"""

from __future__ import annotations

import gc
import io
import itertools
import multiprocessing
import os
import re
import sys
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal

from cachepoint.core.analyze.prepare import PrepareContext, Prepared, decode_batch, encode_batch
from cachepoint.core.analyze.replay import Replay, ReplayResult, _Example
from cachepoint.core.analyze.report import AnalysisReport, MissExample
from cachepoint.core.analyze.scenarios import DEFAULT_STRATEGIES, scenarios_for
from cachepoint.core.prompt import Tool
from cachepoint.core.prompt.formats import get_format
from cachepoint.core.prompt.formats.base import dumps
from cachepoint.core.providers import ProviderTable
from cachepoint.core.simulate import EngineOptions, OpenAIOptions
from cachepoint.core.tokens import TokenCounter
from cachepoint.core.traces import TraceFormatError, TraceSource, iter_lines, open_trace, parse_line

__all__ = ["Progress", "analyze", "auto_jobs"]

_CHUNK = 128  # lines per task, when lines are sent to the workers
_BATCH = 512  # prepared requests per message, when a worker sends its shard
_STRUCTURAL = ("key_order", "tool_order", "block_order", "settings")

#: ``progress(phase, done, total)``: phase ``"reading"`` counts bytes (total: the file size, when known),
#: ``"replaying"`` counts requests.
Progress = Callable[[str, int, "int | None"], None]


# --- the process pool ------------------------------------------------------------------------------------------

_WORKER: PrepareContext | None = None


def _init_worker(settings: dict[str, Any]) -> None:
    global _WORKER  # noqa: PLW0603 - one context per worker process, built once
    _WORKER = PrepareContext(**settings)
    gc.disable()  # as in `analyze`: the worker only allocates what it returns, and the cyclic collector would rescan it


def _work(chunk: list[tuple[int, int, bytes]]) -> bytes:
    assert _WORKER is not None
    return encode_batch([_prepare_one(_WORKER, line, offset, raw) for line, offset, raw in chunk])


def _prepare_one(ctx: PrepareContext, line: int, offset: int, raw: Any) -> Prepared | TraceFormatError:
    try:
        return ctx.prepare_line(raw, line=line, offset=offset)
    except TraceFormatError as exc:
        return exc
    except ValueError as exc:  # a value the format or the rules reject, without a field path of its own
        return TraceFormatError(line, "", str(exc))


_SESSION_VALUE = re.compile(rb'\s*:\s*("(?:[^"\\]|\\.)*"|-?[0-9.]+)')


def _shard_of(raw: bytes, shards: int) -> int:
    """The shard a trace line belongs to, read off its raw bytes (no JSON decoding: every process routes every
    line, and decodes only its own). All turns of a conversation should land in one process, so that its
    `ViewBuilder` sees each turn after the one before and parses only the new messages: the key is the
    ``"session"`` value, else the opening of the first message (which every turn repeats), else the line. The
    key only decides which process prepares a line, never what the line means, so a nested ``"session"`` key
    or an odd layout can only cost speed, not change the report."""
    key = b""
    at = raw.rfind(b'"session"')  # the recorder writes the envelope's fields after the request body
    if at >= 0:
        match = _SESSION_VALUE.match(raw, at + 9)
        if match is not None:
            key = match.group(1)
    if not key:
        for name in (b'"messages"', b'"input"'):
            at = raw.find(name)
            if at >= 0:
                # Through the first closing brace: inside the first message whatever follows it (the first turn
                # has nothing after it, later turns more messages).
                end = raw.find(b"}", at, at + 512)
                key = raw[at : end if end >= 0 else at + 512]
                break
        else:
            key = raw
    return zlib.crc32(key) % shards


def _prepare_shard(
    ctx: PrepareContext, path: str, shard: int, shards: int, skip_invalid: bool
) -> Iterator[Prepared | TraceFormatError]:
    """Prepare the lines of ``path`` that belong to ``shard`` (see `_shard_of`), in line order. Without
    ``skip_invalid`` it stops at its first error, which the caller compares with the other shards'."""
    for line, offset, raw in iter_lines(path):
        assert isinstance(raw, bytes)
        if _shard_of(raw, shards) != shard:
            continue
        item = _prepare_one(ctx, line, offset, raw)
        yield item
        if not skip_invalid and isinstance(item, TraceFormatError):
            return


def _shard_process(  # noqa: PLR0917 - a process target: positional arguments
    settings: dict[str, Any], path: str, shard: int, shards: int, skip_invalid: bool, conn: Connection
) -> None:
    """A worker process: prepare one shard, send it in batches of JSON bytes (an empty one ends it), and leave."""
    try:
        gc.disable()  # as in `analyze`: nothing to collect, and millions of objects to rescan
        batch: list[Prepared | TraceFormatError] = []
        for item in _prepare_shard(PrepareContext(**settings), path, shard, shards, skip_invalid):
            batch.append(item)
            if len(batch) >= _BATCH:
                conn.send_bytes(encode_batch(batch))
                batch = []
        if batch:
            conn.send_bytes(encode_batch(batch))
        conn.send_bytes(b"")
        conn.close()
    finally:
        # Freeing the memo object by object takes seconds the parent's replay wants this core for; the OS takes
        # the memory back at once. (An exception leaves nothing sent: the parent prepares the shard itself.)
        os._exit(0)


def _chunks(lines: Iterable[tuple[int, int, Any]], size: int) -> Iterator[list[tuple[int, int, Any]]]:
    chunk: list[tuple[int, int, Any]] = []
    for item in lines:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _ShardWorker:
    """A spawned process preparing one shard (see `_shard_process`), or, when none could start, a placeholder
    whose shard this process prepares."""

    def __init__(self, settings: dict[str, Any], path: str, shard: int, shards: int, skip_invalid: bool) -> None:
        self.args = (path, shard, shards, skip_invalid)
        spawn = multiprocessing.get_context("spawn")
        receiver, sender = spawn.Pipe(duplex=False)
        process = spawn.Process(target=_shard_process, args=(settings, *self.args, sender), daemon=True)
        self.process: BaseProcess | None = process
        self.receiver: Connection | None = receiver
        self.received: list[Prepared | TraceFormatError] = []
        self.done = False
        try:
            process.start()
        except OSError:  # no process to spare
            receiver.close()
            self.process = self.receiver = None
        finally:
            sender.close()

    def drain(self, *, wait: bool = False) -> None:
        """Take in the batches the worker has sent so far (``wait``: all of them, to its end). The worker
        blocks once the pipe is full, so this process drains it while preparing its own shard."""
        receiver = self.receiver
        while receiver is not None and not self.done and (wait or receiver.poll()):
            try:
                data = receiver.recv_bytes()
            except (EOFError, OSError):  # the worker died: its shard is prepared here (see `items`)
                self.receiver = None
                self.received.clear()
                return
            if data:
                self.received.extend(decode_batch(data))
            else:
                self.done = True

    def items(self, local: PrepareContext) -> list[Prepared | TraceFormatError]:
        """The shard's items: the worker's, or prepared here if it could not start or died."""
        self.drain(wait=True)
        if self.done:
            return self.received
        return list(_prepare_shard(local, *self.args))

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.close()
        if self.process is not None:
            self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.kill()


def _prepare_sharded(
    path: Path, settings: dict[str, Any], jobs: int, skip_invalid: bool
) -> Iterator[Prepared | TraceFormatError]:
    """Split the trace by conversation over ``jobs`` processes, this one included (it prepares shard 0 and
    reports progress while the others work). Every process reads the whole file but prepares only its shard,
    so each keeps the memo of a serial run for its conversations. Items come out in no particular order; line
    errors come last, by line (the first is the one a serial run would raise)."""
    workers = [_ShardWorker(settings, str(path), shard, jobs, skip_invalid) for shard in range(1, jobs)]
    errors: list[TraceFormatError] = []
    local = PrepareContext(**settings)
    try:
        for n, item in enumerate(_prepare_shard(local, str(path), 0, jobs, skip_invalid)):
            if n % 64 == 0:
                for worker in workers:
                    worker.drain()
            if isinstance(item, TraceFormatError):
                errors.append(item)
            else:
                yield item
        for item in itertools.chain.from_iterable(w.items(local) for w in workers):
            if isinstance(item, TraceFormatError):
                errors.append(item)
            else:
                yield item
    finally:
        for worker in workers:
            worker.close()
    errors.sort(key=lambda e: e.line or 0)
    yield from errors


def _prepare_all(
    lines: Iterable[tuple[int, int, Any]], settings: dict[str, Any], ctx: PrepareContext | None, jobs: int
) -> Iterator[Prepared | TraceFormatError]:
    if jobs <= 1 or ctx is not None:
        local = ctx or PrepareContext(**settings)
        for line, offset, raw in lines:
            yield _prepare_one(local, line, offset, raw)
        return
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(settings,),
    )
    # A stream (stdin, records, a list of lines) is read once: chunks of lines are sent to the workers.
    tasks = ((_work, (c,)) for c in _chunks(lines, _CHUNK))
    pending: deque[Future[bytes]] = deque()
    try:
        for fn, args in tasks:
            pending.append(pool.submit(fn, *args))
            while len(pending) >= 3 * jobs:
                yield from decode_batch(pending.popleft().result())
        while pending:
            yield from decode_batch(pending.popleft().result())
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


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
        jobs: processes that prepare requests (default 1: this process; ``"auto"``: `auto_jobs`). A file is
            split by conversation (``session``, else the first message), so each process sees every turn of its
            conversations and parses only what is new in each; the report is the same as with one process. Other
            sources are sent to the workers in chunks. The replay, sequential per scenario, is split by scenario
            over forked processes (Linux). Preparation workers are spawned:
            a script that passes ``jobs`` needs the ``if __name__ == "__main__":`` guard (without it, the work
            falls back to this process).
        table, counter: provider table and token counter (custom ones keep the work in this process).
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
    size = lines.size
    # The analysis keeps every prepared request alive until the end (millions of small tuples) and allocates
    # without pause: the cyclic collector would rescan them all, again and again, for nothing to free.
    collecting = gc.isenabled()
    gc.disable()
    jobs = auto_jobs(source) if jobs == "auto" else (jobs or 1)
    try:
        compressed = lines.path is not None and lines.path.suffix in (".gz", ".xz")
        if jobs > 1 and local is None and lines.path is not None:
            prepared = _prepare_sharded(lines.path, settings, jobs, skip_invalid)
        else:
            prepared = _prepare_all(lines.iterate(), settings, local, jobs)
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

        result = replay.run(items, prints, replayed if progress is not None else None, jobs=jobs)
        _snippets(lines, result.examples)
        report = _assemble(
            source, items, errors, warnings, result, focus=chosen, timestamps=timestamps, started=started
        )
        # Free the requests by reference counting while the collector is still off: switched on first, its
        # next pass would scan every one of them (they are all still in its youngest generation), for seconds.
        del items, prints, result
    finally:
        lines.close()
        if collecting:
            gc.enable()
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
