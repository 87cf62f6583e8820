"""Analyzer throughput and memory: `cachepoint analyze` end to end on generated traces of growing size.

The trace is a support agent's day, written as JSONL envelopes: 20 tools and a 1.5k-token system prompt shared by
every session, multi-turn sessions whose every model call carries the whole conversation (a few thousand tokens
per request, as agents send), interleaved in time and written in start order. It is generated on the fly and
streamed to a temporary file (gzip-compressed from 500k requests on: 34 KB a line), never stored in the repo.

- ``analyze``: per size, the whole pipeline (parse each body, build its prefix view, place every strategy,
  fingerprint new blocks, replay through the simulator under 7 scenarios, explain misses) in a child process:
  wall time (measured here, including the child's interpreter start), CPU seconds and peak RSS of the child and
  its workers (`os.wait4`), requests per second, and the child's resident memory at each tenth of the replay (a
  bounded replay is flat after its first window: one hour of traffic, or the last 25,000 requests);
- ``memo``: the bounded LRU memo every hot path of the analyzer uses (`cachepoint.core.lru.LRU`: token counts,
  block fingerprints, the view builder's memos, the simulator's entries) on a stream of block hashes (90% hits),
  against a plain ``dict`` (no bound, the floor), the same LRU written inline over an ``OrderedDict``, and
  ``cachetools.LRUCache`` when it is installed (`pip install cachetools`; it is not a dependency).

The analyzer's prefix index alone, on this trace's own block sequences, is measured by `bench_prefix.py`.

    python benchmarks/bench_analyze.py                          # 10k and 100k requests, 1 process
    python benchmarks/bench_analyze.py --sizes 10000,100000,1000000 --jobs 1,2
    python benchmarks/bench_analyze.py --quick                  # 3k requests (CI smoke)

Goal (issue 15): 1,000,000 requests with peak RSS at most 1.5 GB, flat after the first window, in at most 5
minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import heapq
import importlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from cachepoint.core.analyze import analyze
from cachepoint.core.lru import LRU

VOCAB = (  # noqa: SIM905 - a paragraph of words reads better than a list literal
    "order refund customer shipment invoice address payment label carrier tracking warranty policy exchange "
    "credit coupon ticket status verify identity email account balance plan subscription return damaged"
).split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(words))


def iter_trace(requests: int, seed: int = 11) -> Iterator[bytes]:
    """``requests`` JSONL envelopes, one line each, in start order: sessions start 7 s apart and run 3 to 12
    turns 5 s to 4 min apart, interleaved. Generated on the fly (a heap of the sessions in progress, a few
    hundred at a time), so a trace of millions of requests is streamed to disk, never held in memory."""
    rng = random.Random(seed)
    tools = [
        {
            "name": f"tool_{k}",
            "description": _text(rng, 90),
            "input_schema": {"type": "object", "properties": {"id": {"type": "string", "description": _text(rng, 8)}}},
        }
        for k in range(20)
    ]
    system = [{"type": "text", "text": _text(rng, 1500), "cache_control": {"type": "ephemeral"}}]
    start = 1795428900.0
    # (next turn's start, session number, turns left, messages so far)
    live: list[tuple[float, int, int, list[dict[str, Any]]]] = []
    session = 0
    written = 0
    while written < requests:
        next_session = start + (session + 1) * 7.0
        if not live or next_session <= live[0][0]:
            session += 1
            heapq.heappush(live, (next_session, session, rng.randint(3, 12), []))
            continue
        at, number, left, messages = heapq.heappop(live)
        messages.append({"role": "user", "content": _text(rng, rng.randint(20, 80))})
        yield orjson.dumps(
            {
                "timestamp": at,
                "session": f"s{number}",
                "request": {
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 512,
                    "tools": tools,
                    "system": system,
                    "messages": messages,
                },
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )
        written += 1
        messages.append({"role": "assistant", "content": _text(rng, rng.randint(40, 160))})
        if left > 1:
            heapq.heappush(live, (at + rng.uniform(5, 240), number, left - 1, messages))


def build_trace(path: Path, requests: int, seed: int = 11) -> tuple[int, int]:
    """Write `iter_trace` to ``path`` (gzip level 1 for a ``.gz`` path); return (requests, bytes of JSONL)."""
    written = size = 0
    opener: Any = functools.partial(gzip.open, compresslevel=1) if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        for line in iter_trace(requests, seed):
            handle.write(line)
            written += 1
            size += len(line)
    return written, size


def _rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return 0.0


def child(path: str, jobs: int, expected: int) -> None:
    """The measured run, in its own process: analyze ``path``, print what it found as one JSON line."""
    marks: list[float] = []
    step = max(1, expected // 10)

    def progress(phase: str, done: int, total: int | None) -> None:
        if phase == "replaying" and done >= (len(marks) + 1) * step:
            marks.append(round(_rss_mb()))

    report = analyze(path, jobs=jobs, progress=progress)
    found = {"requests": report.sharing.requests, "tokens": report.sharing.input_tokens, "rss": marks}
    sys.stdout.write(orjson.dumps(found).decode() + "\n")


def run_child(command: list[str], what: str) -> tuple[dict[str, Any], float, Any]:
    """Run a measuring child process: the JSON of the last line it printed, its wall seconds, and the resource
    usage of it and its waited-for workers (`os.wait4`)."""
    begin = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE) as process:
        assert process.stdout is not None
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - begin
    if process.returncode:
        raise SystemExit(f"{what} failed (exit {process.returncode})")
    found: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    return found, wall, usage


def measure(path: Path, jobs: int, expected: int) -> dict[str, Any]:
    """Run `child` on ``path``: wall seconds, CPU seconds and peak RSS (MB) of the child and its workers, and
    what the child printed."""
    command = [sys.executable, __file__, "--child", str(path), "--jobs", str(jobs), "--requests", str(expected)]
    found, wall, usage = run_child(command, f"the analysis of {path}")
    # ru_maxrss: KB on Linux; of the largest of the child and its waited-for workers.
    return {**found, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak": usage.ru_maxrss / 1e3}


def memo_stream(count: int, seed: int = 3) -> list[str]:
    """Block hashes as the analyzer's memos see them: 90% from a working set that fits, 10% new."""
    rng = random.Random(seed)
    hot = [hashlib.sha256(f"hot{i}".encode()).hexdigest()[:16] for i in range(20_000)]
    return [
        rng.choice(hot) if rng.random() < 0.9 else hashlib.sha256(f"cold{n}".encode()).hexdigest()[:16]
        for n in range(count)
    ]


def time_memos(stream: list[str], capacity: int = 40_000) -> dict[str, float]:
    """Seconds for a get-or-put of every key of ``stream``, per memo."""

    def lru() -> None:
        memo: LRU[str, int] = LRU(capacity)
        get, put = memo.get, memo.put
        for key in stream:
            if get(key) is None:
                put(key, 1)

    def inline() -> None:
        memo: OrderedDict[str, int] = OrderedDict()
        for key in stream:
            if memo.get(key) is not None:
                memo.move_to_end(key)
                continue
            memo[key] = 1
            if len(memo) > capacity:
                memo.popitem(last=False)

    def plain() -> None:
        memo: dict[str, int] = {}
        for key in stream:
            if memo.get(key) is None:
                memo[key] = 1

    runs: dict[str, Any] = {"dict (unbounded, the floor)": plain, "OrderedDict inline": inline, "LRU": lru}
    try:
        cachetools = importlib.import_module("cachetools")  # optional: measured only where it is installed

        def other() -> None:
            memo: Any = cachetools.LRUCache(capacity)
            get = memo.get
            for key in stream:
                if get(key) is None:
                    memo[key] = 1

        runs["cachetools.LRUCache"] = other
    except ImportError:
        pass
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(5):  # interleaved, so machine noise hits every memo alike
        for name, run in runs.items():
            begin = time.process_time()
            run()
            times[name].append(time.process_time() - begin)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="requests per generated trace, comma-separated")
    parser.add_argument("--jobs", default="1", help="processes per run, comma-separated (default: 1)")
    parser.add_argument("--quick", action="store_true", help="3k requests, 1 process")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, int(args.jobs), args.requests)
        return
    sizes = [3000] if args.quick else [int(n) for n in args.sizes.split(",")]
    jobs = [1] if args.quick else [int(n) for n in args.jobs.split(",")]

    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work stretches wall)")
    print(
        f"{'requests':>10} {'jobs':>4} {'MB read':>8} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>11} "
        f"{'requests/s':>10}  RSS MB at each tenth of the replay"
    )
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / ("trace.jsonl.gz" if size >= 500_000 else "trace.jsonl")
            count, written = build_trace(path, size)
            for n in jobs:
                got = measure(path, n, count)
                assert got["requests"] == count, got
                print(
                    f"{count:>10,} {n:>4} {written / 1e6:>8,.0f} {got['wall']:>8.1f} {got['cpu']:>8.1f} "
                    f"{got['peak']:>11,.0f} {count / got['wall']:>10,.0f}  {' '.join(map(str, got['rss']))}",
                    flush=True,
                )
        print(f"  load average after: {os.getloadavg()[0]:.1f}", flush=True)

    stream = memo_stream(1_000_000)
    memos = time_memos(stream)
    floor = memos["dict (unbounded, the floor)"]
    print(f"\nmemo: get-or-put of {len(stream):,} block hashes (90% hits), CPU, median of 5:")
    for name, seconds in memos.items():
        print(f"  {name:<28} {seconds / len(stream) * 1e9:6.0f} ns per key  {seconds / floor:5.2f}x")


if __name__ == "__main__":
    main()
