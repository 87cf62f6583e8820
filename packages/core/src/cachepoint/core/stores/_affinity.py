"""Pin an object that belongs to one event loop at a time (an aiocache cache) and reach it from every loop.

The loop that uses the object first owns it. Calls from the owner run directly; calls from another loop that is
running while the owner runs in another thread are forwarded to the owner with ``run_coroutine_threadsafe``. When
the owner has ended — closed, stopped, or shut down (``asyncio.run`` returned) — the next loop to call takes the
object over: the ``bind`` hook gives it what it needs on its new loop (a fresh client: connections, pools and
their locks belong to the loop that made them), and what the old loop owned is closed there if it still can be.
A loop ties what it owns to its own lifetime through a sentinel (see ``_loop_end``): when it shuts down, it
closes it and lets go. The one call that fails is one whose owner is running but blocked in ``run_sync``, which
would deadlock: it raises a `StoreError` that says why instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cachepoint.core.bridge import _thread_is_blocked
from cachepoint.core.stores._deadline import within
from cachepoint.core.stores._loop_end import Sentinel, detach, start, until_loop_end
from cachepoint.core.stores.base import StoreError

__all__ = ["Closer", "LoopAffinity"]

log = logging.getLogger(__name__)

T = TypeVar("T")

Closer = Callable[[], Awaitable[None]]
"""Closes what one loop owned (its client); run on that loop."""

Bind = Callable[[asyncio.AbstractEventLoop, "asyncio.AbstractEventLoop | None"], "Closer | None"]
"""``bind(new_owner, previous_owner)``: prepare the object for its new loop (``previous_owner`` is ``None`` the
first time); returns what closes what the new loop now owns, or ``None`` if nothing needs closing."""


class LoopAffinity:
    """Runs coroutines on the event loop that owns the pinned object, moving it to a new loop when the owner ends."""

    def __init__(self, owner_name: str, bind: Bind) -> None:
        self._owner_name = owner_name
        self._bind = bind
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last: asyncio.AbstractEventLoop | None = None  # the latest owner, even after it let go
        self._thread = 0
        self._closer: Closer | None = None
        self._sentinel: Sentinel | None = None

    async def run(self, start_call: Callable[[], Awaitable[T]], timeout: float | None) -> T:
        """Await ``start_call()`` on the owner loop (taking ownership if there is no live owner)."""
        loop = asyncio.get_running_loop()
        owner = self._loop
        if owner is loop:
            return await start_call()
        owner, sentinel = self._owner_for(loop)
        if owner is loop:
            if sentinel is not None:
                await start(sentinel)
            return await start_call()
        if _thread_is_blocked(self._thread):
            raise StoreError(
                f"{self._owner_name} is bound to an event loop that is blocked in run_sync (it would deadlock); "
                "call it from that loop's thread, or await it there"
            )

        async def on_owner() -> T:
            return await start_call()

        future = asyncio.run_coroutine_threadsafe(on_owner(), owner)
        return await within(timeout, lambda: asyncio.wrap_future(future))

    async def close(self, timeout: float | None) -> None:
        """Close what the current owner holds, on the owner (directly, or forwarded while it runs), and let go."""
        loop = asyncio.get_running_loop()
        with self._lock:
            owner, closer, sentinel = self._loop, self._closer, self._sentinel
            self._loop = self._closer = self._sentinel = None
        if sentinel is not None:
            detach(sentinel)
        if owner is None or closer is None:
            return
        if owner is loop:
            await closer()
        elif not owner.is_closed() and owner.is_running() and not _thread_is_blocked(self._thread):
            future = asyncio.run_coroutine_threadsafe(_call(closer), owner)
            await within(timeout, lambda: asyncio.wrap_future(future))
        else:
            _close_later(owner, closer)

    def release(self) -> None:
        """Let go of the owner without closing anything (the caller keeps the object's lifetime)."""
        with self._lock:
            sentinel = self._sentinel
            self._loop = self._closer = self._sentinel = None
        if sentinel is not None:
            detach(sentinel)

    def _owner_for(self, loop: asyncio.AbstractEventLoop) -> tuple[asyncio.AbstractEventLoop, Sentinel | None]:
        """The owner to run on: ``loop`` itself when it takes ownership now (with its sentinel to start)."""
        with self._lock:
            owner = self._loop
            if owner is not None and owner is not loop and not owner.is_closed() and owner.is_running():
                return owner, None
            if owner is loop:
                return loop, None
            # No live owner: this loop takes over.
            old_closer, old_sentinel = self._closer, self._sentinel
            closer = self._bind(loop, self._last)
            self._loop = self._last = loop
            self._thread = threading.get_ident()
            self._closer = closer
            self._sentinel = None
            if closer is not None:
                self._sentinel = until_loop_end(
                    _at_loop_end(weakref.ref(self), loop, closer), f"{self._owner_name}'s connections"
                )
            sentinel = self._sentinel
        if old_sentinel is not None:
            detach(old_sentinel)
        if owner is not None and old_closer is not None and not owner.is_closed():
            _close_later(owner, old_closer)  # an idle loop: it closes what it owned when it next runs
        return loop, sentinel

    def _loop_ended(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called by a loop's sentinel as that loop shuts down: it no longer owns the object."""
        with self._lock:
            if self._loop is loop:
                self._loop = self._closer = self._sentinel = None


def _at_loop_end(ref: weakref.ref[LoopAffinity], loop: asyncio.AbstractEventLoop, closer: Closer) -> Closer:
    async def at_end() -> None:
        affinity = ref()
        if affinity is not None:
            affinity._loop_ended(loop)
        await closer()

    return at_end


async def _call(closer: Closer) -> None:
    await closer()


def _close_later(loop: asyncio.AbstractEventLoop, closer: Closer) -> None:
    """Close what ``loop`` owned when it next runs (nothing is created if it never does)."""

    def on_loop() -> None:
        task = loop.create_task(_call(closer))
        task.add_done_callback(_log_failure)

    with contextlib.suppress(RuntimeError):  # closed meanwhile: its sockets go with the objects
        loop.call_soon_threadsafe(on_loop)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("cachepoint: error closing connections of an earlier event loop", exc_info=task.exception())
