"""Run a coroutine on an event loop as that loop shuts down, before its connections become unusable.

``asyncio.run``, ``asyncio.Runner`` and cachepoint's bridge all call ``loop.shutdown_asyncgens()`` before closing a
loop: every async generator first iterated on the loop is then closed *on that loop*. A store ties what it owns
on a loop (a client, its pool) to the loop's lifetime with such a generator — a *sentinel* — whose ``finally``
closes it, so a loop that ends takes its connections with it even if nobody closes the store.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable

__all__ = ["Sentinel", "detach", "start", "until_loop_end"]

log = logging.getLogger(__name__)

Sentinel = AsyncGenerator[None, bool]


async def until_loop_end(at_end: Callable[[], Awaitable[None]], what: str) -> Sentinel:
    """Suspends until its loop shuts down, then awaits ``at_end()`` on that loop (errors are logged: the loop is
    ending either way). Sending ``True`` (`detach`) ends it without calling ``at_end``."""
    detached = False
    try:
        detached = yield
    finally:
        if not detached:
            try:
                await at_end()
            except Exception:
                log.debug("cachepoint: error closing %s at event loop shutdown", what, exc_info=True)


async def start(sentinel: Sentinel) -> None:
    """Run ``sentinel`` to its ``yield`` on the running loop, which from then on finalizes it at shutdown."""
    with contextlib.suppress(StopAsyncIteration):
        await sentinel.asend(None)  # type: ignore[arg-type]  # the first send must be None


def detach(sentinel: Sentinel) -> None:
    """End a suspended sentinel without running its ``at_end`` (synchronously: its body does not await then)."""
    try:
        sentinel.asend(True).send(None)
    except (StopIteration, StopAsyncIteration):
        pass
    except (RuntimeError, TypeError):  # running its shutdown close already, or never started
        pass
