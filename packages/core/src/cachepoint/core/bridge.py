"""The one way sync code runs cachepoint's async code: a background event loop in a daemon thread.

Why not ``asyncio.run`` per call: it fails inside a running loop (Jupyter, an async web app calling a sync
library), creates and tears down a loop (and every connection bound to it) per call, and binds clients to loops
that are gone a moment later. Why not ``nest_asyncio``: it patches the loop globally and breaks other libraries.

Instead, one loop per process runs in a daemon thread, started on first use. `run_sync` submits a coroutine to it
and blocks the calling thread until the result is ready. That works with no loop, from inside a running loop (the
caller's loop is blocked for the duration, exactly like any other blocking call, and the coroutine does not need
it), and from any number of threads at once. Stores bind their connections to the loop that uses them (see
`cachepoint.core.stores.RedisStore`), so sync callers share one set of connections on the bridge loop.

After ``os.fork()`` the child starts a fresh bridge on first use (the parent's thread does not exist there). At
interpreter exit the loop cancels what is left, finalizes async generators (which closes every store connection
bound to it) and closes.

>>> from cachepoint.core.bridge import run_sync
>>> async def add(a: int, b: int) -> int:
...     return a + b
>>> run_sync(lambda: add(2, 3))
5
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import inspect
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync", "shutdown"]

T = TypeVar("T")

log = logging.getLogger(__name__)

_SHUTDOWN_GRACE = 5.0


class _Bridge:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._blocked: set[int] = set()  # idents of threads waiting in run_sync
        self._exiting = False
        # Loops inherited through fork(): never run again in this process. Kept alive, never closed: closing one
        # (or its transports) would unregister sockets from an epoll instance the child shares with the parent.
        self._abandoned: list[asyncio.AbstractEventLoop] = []

    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._exiting:
                raise RuntimeError("cachepoint's sync bridge is shut down (the interpreter is exiting)")
            if self._loop is None:
                new_loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._serve, args=(new_loop, ready), name="cachepoint-bridge", daemon=True
                )
                thread.start()
                ready.wait()
                self._loop, self._thread = new_loop, thread
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            try:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                # Closes every store connection bound to this loop (see RedisStore's per-loop clients).
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            except Exception:  # pragma: no cover - best effort at exit
                log.debug("cachepoint bridge: error while shutting down", exc_info=True)
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def in_bridge_thread(self) -> bool:
        thread = self._thread
        return thread is not None and thread.ident == threading.get_ident()

    def is_blocked(self, ident: int) -> bool:
        return ident in self._blocked

    def run(self, work: Awaitable[T] | Callable[[], Awaitable[T]], timeout: float | None) -> T:
        if self.in_bridge_thread():
            _discard(work)
            raise RuntimeError(
                "run_sync() was called from cachepoint's bridge loop itself, which would deadlock: await the "
                "coroutine instead"
            )
        # Marked blocked *before* the work is submitted: the work may check it at once (see RedisStore).
        ident = threading.get_ident()
        self._blocked.add(ident)
        try:
            loop = self.loop()
            future = asyncio.run_coroutine_threadsafe(_drive(work), loop)
        except BaseException:
            self._blocked.discard(ident)
            _discard(work)
            raise
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            if future.done():  # the coroutine itself raised TimeoutError (same class on 3.11+)
                raise
            future.cancel()
            raise TimeoutError(f"run_sync: the coroutine did not finish within {timeout}s (it was cancelled)") from None
        except BaseException:
            future.cancel()  # KeyboardInterrupt in the caller: do not leave the work running
            raise
        finally:
            self._blocked.discard(ident)

    def shutdown(self, *, exiting: bool = False) -> None:
        with self._lock:
            self._exiting = self._exiting or exiting
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if thread.ident == threading.get_ident():
            raise RuntimeError("cachepoint.core.bridge.shutdown() cannot be called from the bridge loop")
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # already closed
            return
        thread.join(_SHUTDOWN_GRACE)

    def after_fork_in_child(self) -> None:
        if self._loop is not None:
            self._abandoned.append(self._loop)
        self._lock = threading.Lock()
        self._loop = None
        self._thread = None
        self._blocked = set()


async def _drive(work: Awaitable[T] | Callable[[], Awaitable[T]]) -> T:
    # A factory is called here, on the bridge loop, so the coroutine exists only once it is certain to be awaited.
    awaitable = work() if callable(work) else work
    return await awaitable


def _discard(work: object) -> None:
    """Close a coroutine that will never run, so Python does not warn that it was never awaited."""
    if inspect.iscoroutine(work):
        work.close()


_BRIDGE = _Bridge()


def run_sync(work: Coroutine[Any, Any, T] | Callable[[], Awaitable[T]], *, timeout: float | None = None) -> T:
    """Run async ``work`` on cachepoint's background loop and return its result, from any sync context.

    ``work`` is a coroutine factory (preferred: nothing is created if submission fails) or a coroutine. Works
    with no event loop, inside a running one (Jupyter), from many threads at once, and after ``os.fork()``.
    ``timeout`` (seconds) cancels the work and raises ``TimeoutError``; the work's own exceptions propagate
    unchanged. Calling it from a coroutine running *on the bridge loop* raises ``RuntimeError`` (it would
    deadlock): await the coroutine there instead.

    >>> import asyncio
    >>> async def answer() -> int:
    ...     await asyncio.sleep(0)
    ...     return 42
    >>> run_sync(answer)
    42
    """
    return _BRIDGE.run(work, timeout)


def shutdown() -> None:
    """Stop the background loop now (it restarts on the next `run_sync`). Runs by itself at interpreter exit.

    Finalizes every connection bound to the bridge loop. Useful in tests and before ``os.fork()`` in servers that
    fork workers after warming up.

    >>> shutdown()
    """
    _BRIDGE.shutdown()


def _thread_is_blocked(ident: int) -> bool:
    """Whether thread ``ident`` is blocked in `run_sync` (so its event loop, if any, cannot run callbacks now)."""
    return _BRIDGE.is_blocked(ident)


def _at_exit() -> None:
    _BRIDGE.shutdown(exiting=True)


# Registered at import, not at first use: atexit runs handlers last-in first-out, so a user's handler registered
# after importing cachepoint (say, one that closes a SyncStore) still finds the bridge running.
atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_BRIDGE.after_fork_in_child)
