"""Timing helpers the benchmark scripts share (they run as scripts, so this folder is on ``sys.path``)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable


async def per_batch(op: Callable[[], Awaitable[object]], batches: int, size: int) -> list[float]:
    """Seconds per call, one timing per batch of ``size`` calls (for operations of a few microseconds or less)."""
    out = []
    clock = time.perf_counter
    for _ in range(batches):
        start = clock()
        for _ in range(size):
            await op()
        out.append((clock() - start) / size)
    return out


def per_batch_sync(op: Callable[[], object], batches: int, size: int) -> list[float]:
    """`per_batch` for a plain function."""
    out = []
    clock = time.perf_counter
    for _ in range(batches):
        start = clock()
        for _ in range(size):
            op()
        out.append((clock() - start) / size)
    return out
