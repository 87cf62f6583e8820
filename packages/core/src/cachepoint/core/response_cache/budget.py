"""The time budget of one call: what it may spend waiting on the store and the lock, all operations together.

A call makes several store and lock operations: the read, on a miss the lock, the tag tokens, the write, the
release, and while it waits for another process, a read and a lock attempt per poll. Each has its own bound (the
guard's or the lock's timeout), but a store that hangs would cost a call the sum of them. A `Budget` is the
call's one allowance: every operation runs within what is left of it and is charged the time it took; once it
is spent, the call's remaining operations are skipped (a read is a miss, a write is dropped, a lock is gone
ahead without). Time the call spends elsewhere — the upstream call, sleeping between polls — is not charged.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cachepoint.core.stores._deadline import within

__all__ = ["Budget", "BudgetSpentError"]

T = TypeVar("T")


class BudgetSpentError(Exception):
    """The call has no time left for another store or lock operation."""


class Budget:
    """What is left of one call's time for store and lock operations.

    >>> import asyncio
    >>> budget = Budget(0.5)
    >>> async def fast() -> str:
    ...     return "answered"
    >>> asyncio.run(budget.run(fast)), 0 < budget.left <= 0.5
    ('answered', True)
    """

    __slots__ = ("left",)

    def __init__(self, seconds: float) -> None:
        self.left = seconds
        """Seconds left (``<= 0``: spent)."""

    def charge(self, seconds: float) -> None:
        """Count ``seconds`` spent by an operation that ran outside `run` (the call's first read)."""
        self.left -= seconds

    async def run(self, start: Callable[[], Awaitable[T]], cap: float | None = None) -> T:
        """Await ``start()`` within what is left (and within ``cap`` seconds, if less), charging the time it took.

        `BudgetSpentError` if nothing is left; ``TimeoutError`` if the operation ran out of time.
        """
        left = self.left
        if left <= 0:
            raise BudgetSpentError
        began = time.monotonic()
        try:
            return await within(left if cap is None or cap > left else cap, start)
        finally:
            self.left -= time.monotonic() - began
