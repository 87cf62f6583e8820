"""Run an awaitable within a time budget, the cheapest way the running Python offers.

``asyncio.timeout`` (3.11+) cancels the current task from a timer handle; ``asyncio.wait_for`` (3.10) wraps the
awaitable in a new task, which costs more on a hot path. Both raise the builtin ``TimeoutError`` here.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["within"]

T = TypeVar("T")


async def within(seconds: float | None, start: Callable[[], Awaitable[T]]) -> T:
    """Await ``start()`` for at most ``seconds`` (``None``: no limit); ``TimeoutError`` when the budget runs out.

    ``start`` is a factory so that nothing is created (and left un-awaited) when the budget is already spent.
    """
    if seconds is None:
        return await start()
    if seconds <= 0:
        raise TimeoutError("time budget exhausted")
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await start()
    else:  # pragma: no cover - exercised on 3.10 only
        try:
            return await asyncio.wait_for(start(), seconds)
        except asyncio.TimeoutError as exc:  # 3.10: not the builtin TimeoutError
            raise TimeoutError(f"timed out after {seconds:.3g}s") from exc
