"""In-process single-flight: concurrent identical calls share one upstream call, across tasks, threads and loops.

A flight is a ``concurrent.futures.Future`` (thread-safe, loop-agnostic) in a registry guarded by a
``threading.Lock``. The first caller of a key leads: it makes the call and settles the future. Everyone else who
asks for the same key while it is in flight waits for that future — sync callers by blocking, async callers on
their own event loop (the future's completion is handed to each waiter's loop with ``call_soon_threadsafe``, so
waiters on different loops never touch each other's loop, and a waiter that is cancelled does not cancel the
flight). A leader that is cancelled or interrupted *abandons* the flight: waiters then look again and one of
them leads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from typing import Any, Final

__all__ = ["ABANDONED", "Flight", "Flights", "wait_async"]


class _Abandoned:
    def __repr__(self) -> str:
        return "ABANDONED"


ABANDONED: Final = _Abandoned()
"""Result of a flight whose leader went away without an answer (cancelled, interrupted)."""


class Flight:
    """One in-flight call: its future and the thread of its leader."""

    __slots__ = ("future", "leader_thread")

    def __init__(self) -> None:
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.leader_thread = threading.get_ident()


class Flights:
    """Registry of in-flight calls by key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, Flight] = {}

    def lead_or_join(self, key: str) -> tuple[Flight, bool]:
        """The flight for ``key`` and ``True`` if the caller must lead it (it was not in flight)."""
        with self._lock:
            flight = self._active.get(key)
            if flight is not None:
                return flight, False
            flight = Flight()
            self._active[key] = flight
            return flight, True

    def settle(self, key: str, flight: Flight, *, value: Any = None, error: BaseException | None = None) -> None:
        """End ``flight``: waiters get ``value`` (or ``ABANDONED``), or ``error`` raised."""
        with self._lock:
            if self._active.get(key) is flight:
                del self._active[key]
        if error is not None:
            flight.future.set_exception(error)
        else:
            flight.future.set_result(value)

    def __len__(self) -> int:
        with self._lock:
            return len(self._active)


async def wait_async(future: concurrent.futures.Future[Any]) -> Any:
    """Wait for ``future`` on the running loop without binding it to this loop; returns or raises its outcome.

    Cancelling the waiter leaves the future (and everyone else waiting for it) alone, unlike
    ``asyncio.wrap_future``, which would cancel the shared future.
    """
    if not future.done():
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def wake(_: concurrent.futures.Future[Any]) -> None:
            with contextlib.suppress(RuntimeError):  # the waiter's loop is closed: nobody is left to wake
                loop.call_soon_threadsafe(_set_if_pending, waiter)

        future.add_done_callback(wake)
        await waiter
    return future.result()


def _set_if_pending(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
