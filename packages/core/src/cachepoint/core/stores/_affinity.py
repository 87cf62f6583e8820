"""Pin an object that belongs to one event loop (an aiocache cache, a caller's client) and reach it from others.

The first loop that uses the object owns it. Calls from that loop run directly; calls from another running loop
are forwarded to the owner with ``run_coroutine_threadsafe`` while it runs in another thread. A call that cannot
be forwarded (the owner loop has stopped or closed, or its thread is blocked waiting in ``run_sync`` — which
would deadlock) fails at once with a `StoreError` that says why, instead of the obscure "attached to a different
loop" error from deep inside a client.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cachepoint.core.bridge import _thread_is_blocked
from cachepoint.core.stores._deadline import within
from cachepoint.core.stores.base import StoreError

__all__ = ["LoopAffinity"]

T = TypeVar("T")


class LoopAffinity:
    """Runs coroutines on the event loop that first used the pinned object."""

    def __init__(self, owner_name: str, hint: str) -> None:
        self._owner_name = owner_name
        self._hint = hint
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0

    async def run(self, start: Callable[[], Awaitable[T]], timeout: float | None) -> T:
        """Await ``start()`` on the owner loop (claiming the running loop if there is none yet)."""
        loop = asyncio.get_running_loop()
        owner = self._loop
        if owner is None:
            with self._lock:
                if self._loop is None:
                    self._loop, self._thread = loop, threading.get_ident()
                owner = self._loop
        if owner is loop:
            return await start()
        if owner.is_closed() or not owner.is_running():
            raise StoreError(f"{self._owner_name} is bound to an event loop that is not running; {self._hint}")
        if _thread_is_blocked(self._thread):
            raise StoreError(
                f"{self._owner_name} is bound to an event loop that is blocked in run_sync (it would deadlock); "
                f"{self._hint}"
            )

        async def on_owner() -> T:
            return await start()

        future = asyncio.run_coroutine_threadsafe(on_owner(), owner)
        return await within(timeout, lambda: asyncio.wrap_future(future))
