"""`cachepoint analyze` in one process vs one replay per tenant on local processes vs on a Dask local cluster.

The trace is `bench_analyze.iter_trace`'s support-agent traffic (about 5k tokens a request, sessions
interleaved in time) with each session given to one of ``--tenants`` tenants, written to a temporary file. Each
round runs the three modes one after the other, each in its own child process (so a mode's CPU time counts its
workers and nothing of the others'), and checks that the three reports are equal but for ``elapsed_s``. Medians
and min-max over the rounds; wall seconds, and CPU seconds of the child and the workers it waited for (Dask's
worker processes are the nanny's children: their CPU is counted when the cluster shuts down); peak RSS of the
driver (the process that reads, splits and merges) and of the largest worker process it waited for (for Dask,
the nanny's workers are not its children: that column then shows only what the driver itself started).

    python benchmarks/bench_sharded.py --requests 10000 --rounds 3
    python benchmarks/bench_sharded.py --requests 2000 --rounds 1 --workers 2   # a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from bench_analyze import iter_trace, run_child

MODES = ("one process", "local shards", "dask shards")


def build(path: Path, requests: int, tenants: int) -> None:
    with open(path, "wb") as handle:
        for raw in iter_trace(requests):
            record = orjson.loads(raw)
            record["tenant"] = f"tenant-{int(record['session'][1:]) % tenants}"
            handle.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))


def child(path: str, mode: str, workers: int) -> None:
    """The measured run: analyze ``path`` in ``mode``; print a digest of the report (but its duration)."""
    from cachepoint.core.analyze import analyze
    from cachepoint.core.analyze.sharded import analyze_sharded

    if mode == MODES[0]:
        report = analyze(path, jobs=1)
    else:
        report = analyze_sharded(path, engine="local" if mode == MODES[1] else "dask", workers=workers)
    data = orjson.loads(report.to_json())
    data["elapsed_s"] = None
    digest = hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()
    own, workers_ = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    found = {
        "requests": report.requests,
        "digest": digest,
        "driver_mb": own.ru_maxrss / 1024,  # Linux: KiB
        "worker_mb": workers_.ru_maxrss / 1024,  # the largest worker this process waited for (local processes)
    }
    sys.stdout.write(orjson.dumps(found).decode() + "\n")


def measure(path: Path, mode: str, workers: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(path), "--mode", mode, "--workers", str(workers)]
    found, wall, usage = run_child(command, mode)
    return {**found, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime}


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the sharded modes (default: 2)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.mode, args.workers)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "day.jsonl"
        build(path, args.requests, args.tenants)
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        for _ in range(args.rounds):
            for mode in MODES:  # alternating: a machine's load drifts over the rounds, not between the modes
                runs[mode].append(measure(path, mode, args.workers))
    digests = {r["digest"] for results in runs.values() for r in results}
    assert len(digests) == 1, "the reports differ"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"{args.requests} requests, {args.tenants} tenants, {args.workers} workers, {cores} cores, "
        f"{args.rounds} rounds; reports equal (but elapsed_s)"
    )
    print(
        f"{'mode':<14} {'wall s median (min-max)':>26} {'CPU s median (min-max)':>26} {'requests/s':>11} "
        f"{'driver peak RSS MB':>19} {'largest worker MB':>18}"
    )
    for mode, results in runs.items():
        walls = [r["wall"] for r in results]
        cpus = [r["cpu"] for r in results]
        rate = args.requests / statistics.median(walls)
        driver = statistics.median(r["driver_mb"] for r in results)
        worker = statistics.median(r["worker_mb"] for r in results)
        print(f"{mode:<14} {_spread(walls):>26} {_spread(cpus):>26} {rate:11.0f} {driver:19.0f} {worker:18.0f}")


if __name__ == "__main__":
    main()
