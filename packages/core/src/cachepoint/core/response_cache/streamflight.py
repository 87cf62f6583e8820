"""Single-flight for streams: one upstream stream, fanned out live to every identical concurrent consumer.

The first consumer of a key starts a *pump* task on its event loop. The pump reads the upstream stream into a
shared, append-only chunk list and wakes every subscribed consumer (each on its own loop, through
``call_soon_threadsafe``); consumers read the list at their own pace, so a consumer that joins late first
catches up on the chunks already read, then follows live. Nobody waits for the whole stream before seeing
its first chunk.

The pump is decoupled from any single consumer: the first consumer may stop while others go on reading. When
the *last* consumer leaves before the upstream has finished, the flight is aborted, the upstream is closed
(``aclose()``), and nothing is stored. When the upstream finishes, the complete stream is stored — whether or
not anyone read it to the end — because it is then a complete, correct answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
from typing import Any

__all__ = ["State", "StreamFlight", "StreamFlights", "Subscriber"]


class State(enum.Enum):
    """Where a stream flight is."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    ABORTED = "aborted"


class Subscriber:
    """One consumer: the loop it reads on and the event that wakes it."""

    __slots__ = ("event", "loop")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()


class StreamFlight:
    """The shared state of one in-flight stream."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.chunks: list[Any] = []
        self.state = State.RUNNING
        self.error: BaseException | None = None
        self.subscribers: list[Subscriber] = []
        self.task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def subscribe(self) -> Subscriber:
        """Attach a consumer on the running loop."""
        sub = Subscriber()
        with self.lock:
            self.subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> bool:
        """Detach a consumer; if it was the last one and the stream is unfinished, abort it. ``True`` if aborted."""
        with self.lock:
            self.subscribers.remove(sub)
            abort = not self.subscribers and self.state is State.RUNNING
            if abort:
                self.state = State.ABORTED
        if abort:
            self._cancel_pump()
        return abort

    def publish(self, chunk: Any) -> None:
        """Append a chunk and wake every consumer (called by the pump)."""
        with self.lock:
            if self.state is not State.RUNNING:
                return
            self.chunks.append(chunk)
            subscribers = list(self.subscribers)
        _wake(subscribers)

    def finish(self, state: State, error: BaseException | None = None) -> None:
        """Move to a final state (unless already aborted) and wake every consumer."""
        with self.lock:
            if self.state is State.RUNNING:
                self.state = state
                self.error = error
            subscribers = list(self.subscribers)
        _wake(subscribers)

    def _cancel_pump(self) -> None:
        task, loop = self.task, self.loop
        if task is None or loop is None or task.done():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task.cancel()
            return
        with contextlib.suppress(RuntimeError):  # the pump's loop is closed; the task died with it
            loop.call_soon_threadsafe(task.cancel)


def _wake(subscribers: list[Subscriber]) -> None:
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for sub in subscribers:
        if sub.loop is running:
            sub.event.set()
        else:
            with contextlib.suppress(RuntimeError):  # that consumer's loop is closed
                sub.loop.call_soon_threadsafe(sub.event.set)


class StreamFlights:
    """Registry of in-flight streams by key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, StreamFlight] = {}

    def lead_or_join(self, key: str) -> tuple[StreamFlight, bool]:
        """The flight for ``key`` and whether the caller must start it. Failed or aborted flights are replaced."""
        with self._lock:
            flight = self._active.get(key)
            if flight is not None and flight.state in (State.RUNNING, State.DONE):
                return flight, False
            flight = StreamFlight()
            self._active[key] = flight
            return flight, True

    def remove(self, key: str, flight: StreamFlight) -> None:
        """Forget ``flight`` (if it is still the one registered for ``key``)."""
        with self._lock:
            if self._active.get(key) is flight:
                del self._active[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._active)
