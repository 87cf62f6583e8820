"""Timing helpers the benchmark scripts share (they run as scripts, so this folder is on ``sys.path``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable


async def per_batch(
    op: Callable[[], Awaitable[object]], batches: int, size: int, *, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Seconds per call, one timing per batch of ``size`` calls (for operations of a few microseconds or less).

    ``clock``: wall time by default; ``time.thread_time`` counts only the CPU time of this thread, which leaves out
    the time other processes of a shared machine take the core away (for work that never waits on I/O)."""
    out = []
    for _ in range(batches):
        start = clock()
        for _ in range(size):
            await op()
        out.append((clock() - start) / size)
    return out


def per_batch_sync(
    op: Callable[[], object], batches: int, size: int, *, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """`per_batch` for a plain function."""
    out = []
    for _ in range(batches):
        start = clock()
        for _ in range(size):
            op()
        out.append((clock() - start) / size)
    return out


def timed(call: Callable[[], object], *, clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds one call takes (for operations long enough to time one by one, a millisecond or so); ``clock`` as
    for `per_batch` (``time.thread_time``: this thread's CPU time, for a loaded machine)."""
    start = clock()
    call()
    return clock() - start


def median_p99_row(name: str, seconds: list[float], *, bold: bool = False) -> str:
    """A Markdown table row: ``name``, then the median and the 99th percentile of ``seconds`` in milliseconds."""
    ordered = sorted(seconds)
    median = statistics.median(ordered)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    mark = "**" if bold else ""
    return f"| {name} | {mark}{median * 1e3:.3f} ms{mark} | {p99 * 1e3:.3f} ms |"
