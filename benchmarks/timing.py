"""Timing helpers the benchmark scripts share (they run as scripts, so this folder is on ``sys.path``)."""

from __future__ import annotations

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
