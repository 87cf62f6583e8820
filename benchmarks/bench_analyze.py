"""Analyzer throughput: `cachepoint analyze` end to end on a large generated trace.

The trace is a support agent's day, written as JSONL envelopes: 20 tools and a 1.5k-token system prompt shared by
every session, multi-turn sessions whose every model call carries the whole conversation (a few thousand tokens
per request, as agents send), interleaved in time. Measured, in this process:

- ``json floor``: only decoding every line with orjson, the least any analyzer of this trace must do (baseline);
- ``analyze``: the whole pipeline (parse each body, build its prefix view, place every strategy, fingerprint new
  blocks, then replay through the simulator under 7 scenarios and explain misses), with one process and with a
  pool; the split between preparing requests and replaying them is reported too;
- ``memo``: the bounded LRU memo every hot path of the analyzer uses (`cachepoint.core.lru.LRU`: token counts,
  block fingerprints, the view builder's memos, the simulator's entries) on a stream of block hashes (90% hits),
  against a plain ``dict`` (no bound, the floor), the same LRU written inline over an ``OrderedDict``, and
  ``cachetools.LRUCache`` when it is installed (`pip install cachetools`; it is not a dependency).

The analyzer's prefix index alone, on this trace's own block sequences, is measured by `bench_prefix.py`.

    python benchmarks/bench_analyze.py                  # 100k requests
    python benchmarks/bench_analyze.py --requests 20000
    python benchmarks/bench_analyze.py --quick          # 3k requests, 3 rounds (CI smoke)

Goal (issue 6): 100k requests of several thousand tokens well under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import importlib
import os
import random
import resource
import statistics
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
    """Write `iter_trace` to ``path``; return (requests, bytes)."""
    written = size = 0
    with open(path, "wb") as handle:
        for line in iter_trace(requests, seed):
            handle.write(line)
            written += 1
            size += len(line)
    return written, size


def json_floor(path: Path) -> float:
    begin = time.perf_counter()
    with open(path, "rb") as handle:
        for line in handle:
            orjson.loads(line)
    return time.perf_counter() - begin


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the pool's workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def run_analyze(path: Path, jobs: int) -> tuple[float, float, float, int]:
    """(wall seconds, seconds until the replay started, CPU seconds, estimated prompt tokens)."""
    marks: dict[str, float] = {}

    def progress(phase: str, done: int, total: int | None) -> None:
        marks.setdefault(phase, time.perf_counter())

    cpu = _cpu()
    begin = time.perf_counter()
    report = analyze(path, jobs=jobs, progress=progress)
    total = time.perf_counter() - begin
    prepared = marks.get("replaying", begin + total) - begin
    return total, prepared, _cpu() - cpu, report.sharing.input_tokens


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
    parser.add_argument("--requests", type=int, default=100_000, help="requests in the generated trace")
    parser.add_argument("--quick", action="store_true", help="3k requests, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per measurement (median reported)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="processes for the pooled run")
    args = parser.parse_args()
    requests = 3000 if args.quick else args.requests
    rounds = args.rounds or (3 if args.quick else 1)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.jsonl"
        begin = time.perf_counter()
        count, size = build_trace(path, requests)
        print(
            f"trace: {count:,} requests, {size / 1e6:,.0f} MB of JSONL (written in {time.perf_counter() - begin:.1f}s)"
        )

        floors: list[float] = []
        serial: list[list[float]] = []
        pooled: list[list[float]] = []
        tokens = 0
        for _ in range(rounds):
            floors.append(json_floor(path))
            *run, tokens = run_analyze(path, jobs=1)
            serial.append(run)
            *run, tokens = run_analyze(path, jobs=args.jobs)
            pooled.append(run)
        floor = statistics.median(floors)
        print(f"prompt tokens (estimated): {tokens:,} ({tokens / count:,.0f} per request)")
        print(f"load average: {os.getloadavg()[0]:.1f} (other work on the machine stretches wall times, not CPU s)")
        print(
            f"{'run':<22} {'median s':>9} {'requests/s':>11} {'tokens/s':>12} {'prepare s':>10} {'replay s':>9}"
            f" {'CPU s':>7} {'vs json floor':>14}"
        )
        rate = f"{count / floor:11,.0f} {tokens / floor:12,.0f}"
        print(f"{'json floor':<22} {floor:9.2f} {rate} {'':>10} {'':>9} {'':>7} {1.0:13.1f}x")
        for name, runs in (("analyze, 1 process", serial), (f"analyze, {args.jobs} processes", pooled)):
            total = statistics.median(r[0] for r in runs)
            prep = statistics.median(r[1] for r in runs)
            cpu = statistics.median(r[2] for r in runs)
            print(
                f"{name:<22} {total:9.2f} {count / total:11,.0f} {tokens / total:12,.0f} {prep:10.2f} "
                f"{total - prep:9.2f} {cpu:7.1f} {total / floor:13.1f}x"
            )

    stream = memo_stream(1_000_000)
    memos = time_memos(stream)
    floor = memos["dict (unbounded, the floor)"]
    print(f"\nmemo: get-or-put of {len(stream):,} block hashes (90% hits), CPU, median of 5:")
    for name, seconds in memos.items():
        print(f"  {name:<28} {seconds / len(stream) * 1e9:6.0f} ns per key  {seconds / floor:5.2f}x")


if __name__ == "__main__":
    main()
