"""Reading a trace file, by compression: what `cachepoint analyze` pays to split a file into lines
(`cachepoint.core.traces.raw_lines`) when it is plain, gzip, xz or zstd, and how small each makes it.

The trace is the shipped ``examples/traces/support_agent.jsonl.xz`` decompressed (793 requests, 24 MB of JSONL),
written once per compression to a temporary folder: gzip level 6 (``gzip``'s default), xz preset 6 (``xz``'s
default), zstd level 3 (``zstd``'s default) and 19 (``zstd -19``). Each round reads every file once, in an order
that rotates from round to round; times are CPU seconds of this process (``time.process_time``: on a shared
machine, waiting for a core is not the reader's cost), the median over rounds with the min-max range, and the
ratio to reading the plain file is taken per round.

    python benchmarks/bench_traces.py            # 7 rounds
    python benchmarks/bench_traces.py --quick    # 2 rounds (CI smoke)

Needs the ``zstd`` extra (``zstandard``), as `nox -s bench` installs it.
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import zstandard

from cachepoint.core.traces import raw_lines

TRACE = Path(__file__).parents[1] / "examples" / "traces" / "support_agent.jsonl.xz"

PACKERS: dict[str, Callable[[bytes], bytes]] = {
    "plain": lambda data: data,
    "gzip -6": lambda data: gzip.compress(data, compresslevel=6),
    "xz -6": lambda data: lzma.compress(data, preset=6),
    "zstd -3": lambda data: zstandard.ZstdCompressor(level=3).compress(data),
    "zstd -19": lambda data: zstandard.ZstdCompressor(level=19).compress(data),
}


def _read(path: Path) -> int:
    return sum(1 for _ in raw_lines(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2 rounds")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds

    data = lzma.decompress(TRACE.read_bytes())
    lines = data.count(b"\n")
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for name, pack in PACKERS.items():
            paths[name] = Path(folder) / f"{name.replace(' ', '')}.jsonl"
            paths[name].write_bytes(pack(data))
        names = list(PACKERS)
        seconds: dict[str, list[float]] = {name: [] for name in names}
        for k in range(rounds):
            for name in names[k % len(names) :] + names[: k % len(names)]:
                start = time.process_time()
                assert _read(paths[name]) == lines
                seconds[name].append(time.process_time() - start)
        sizes = {name: paths[name].stat().st_size for name in names}

    print(f"{lines} lines, {len(data) / 1e6:.1f} MB of JSONL; {rounds} rounds, CPU time of this process\n")
    print("| file | size | smaller by | read (median, min-max) | MB/s of JSONL | x reading plain |")
    print("|---|---|---|---|---|---|")
    for name in names:
        times = seconds[name]
        ratios = [t / p for t, p in zip(times, seconds["plain"], strict=True)]
        median = statistics.median(times)
        print(
            f"| {name} | {sizes[name] / 1e6:.2f} MB | {len(data) / sizes[name]:.0f}x | {median * 1e3:.0f} ms "
            f"({min(times) * 1e3:.0f}-{max(times) * 1e3:.0f}) | {len(data) / 1e6 / median:.0f} | "
            f"{statistics.median(ratios):.1f}x |"
        )


if __name__ == "__main__":
    main()
