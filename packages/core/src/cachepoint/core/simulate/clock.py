"""The simulator's notion of time: seconds on a clock the caller controls, never the wall clock.

Every simulator call takes the request's start time (``at=``), or reads it from a `Clock` given to the
`Simulator`. Replaying a trace uses the trace's timestamps; a test uses a `ManualClock` and moves it forward,
so a five-minute TTL expires without anyone waiting five minutes.
"""

from __future__ import annotations

import math
import threading
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now() -> float`` (seconds). The simulator never reads the wall clock itself.

    >>> class Fixed:
    ...     def now(self) -> float:
    ...         return 42.0
    >>> isinstance(Fixed(), Clock)
    True
    """

    def now(self) -> float:
        """The current time in seconds."""
        ...


class ManualClock:
    """A clock that moves only when told to (thread-safe): ``advance(seconds)`` or ``set(t)``.

    >>> clock = ManualClock()
    >>> clock.now()
    0.0
    >>> clock.advance(301)
    301.0
    >>> clock.set(3600.0); clock.now()
    3600.0
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = _finite(start, "start")
        self._lock = threading.Lock()

    def now(self) -> float:
        """The current time in seconds."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (>= 0) and return the new time."""
        seconds = _finite(seconds, "seconds")
        if seconds < 0:
            raise ValueError(f"seconds: a clock only moves forward, got {seconds}")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Jump to ``now`` (not earlier than the current time)."""
        now = _finite(now, "now")
        with self._lock:
            if now < self._now:
                raise ValueError(f"now: a clock only moves forward ({now} is before {self._now})")
            self._now = now

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now()})"


def _finite(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name}: expected a finite number of seconds, got {value!r}")
    return float(value)
