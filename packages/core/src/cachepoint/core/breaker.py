"""Circuit breaker, and `GuardedStore`: a store whose failures are cache misses, never failed calls.

A cache sits in front of something that works without it, so a sick cache must cost nothing: no exception, no
waiting on a dead server call after call. `CircuitBreaker` counts consecutive failures; at the threshold it opens
and rejects calls at once for ``recovery_timeout`` seconds; then it lets at most ``half_open_max_calls`` probes
through at a time (never a flood), closing after ``success_threshold`` probe successes and re-opening on a probe
failure. Results of calls admitted before a state change do not move the new state (a slow failure from before
the outage cleared cannot re-open a recovered breaker).

Hand-written rather than ``pybreaker``/``aiobreaker``/``purgatory``: none is both thread-safe and asyncio-native
with a bounded half-open state and coroutine *factories* (an un-awaited coroutine object is a leak and a warning).

>>> import asyncio
>>> from cachepoint.core.stores import MemoryStore
>>> async def demo() -> bytes | None:
...     async with GuardedStore(MemoryStore(max_entries=100), timeout=0.5) as store:
...         await store.set("k", b"v")
...         return await store.get("k")
>>> asyncio.run(demo())
b'v'
"""

from __future__ import annotations

import asyncio
import enum
import logging
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, Sequence
from dataclasses import dataclass
from types import CoroutineType
from typing import Any, TypeVar, cast

from typing_extensions import ParamSpec

from cachepoint.core.stores._checks import check_items, check_key, check_keys, check_namespace, check_ttl, check_value
from cachepoint.core.stores._deadline import within
from cachepoint.core.stores._unsupported import Unsupported
from cachepoint.core.stores.base import (
    CacheStore,
    ClosesOnExit,
    store_get_many_with_ttl,
    store_get_with_ttl,
    store_size,
    store_ttl,
)

__all__ = [
    "BreakerState",
    "BreakerStats",
    "CircuitBreaker",
    "CircuitOpenError",
    "GuardStats",
    "GuardedStore",
    "Permit",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")


class BreakerState(str, enum.Enum):
    """Where a `CircuitBreaker` is: passing calls, rejecting them, or probing for recovery.

    >>> str(BreakerState.HALF_OPEN)
    'half_open'
    """

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __str__(self) -> str:
        return self.value


class CircuitOpenError(Exception):
    """`CircuitBreaker.call` rejected the call without running it (open, or half-open with every probe taken).

    >>> import asyncio
    >>> breaker = CircuitBreaker(failure_threshold=1)
    >>> breaker.failure(breaker.allow())
    >>> async def work() -> int:
    ...     return 1
    >>> try:
    ...     asyncio.run(breaker.call(work))
    ... except CircuitOpenError as exc:
    ...     print(exc)
    breaker: circuit is open; call rejected
    """


@dataclass(frozen=True)
class BreakerStats:
    """Counters of a `CircuitBreaker` since it was created.

    >>> CircuitBreaker().stats.state
    <BreakerState.CLOSED: 'closed'>
    """

    state: BreakerState
    successes: int
    failures: int
    rejections: int
    state_changes: int
    consecutive_failures: int


class Permit:
    """Admission to run one call, returned by `CircuitBreaker.allow`; report its outcome exactly once.

    >>> breaker = CircuitBreaker()
    >>> permit = breaker.allow()
    >>> breaker.success(permit)  # or breaker.failure(permit), or breaker.abandon(permit) if cancelled
    """

    __slots__ = ("done", "generation", "probe")

    def __init__(self, generation: int, probe: bool) -> None:
        self.generation = generation
        self.probe = probe
        self.done = False


Listener = Callable[[BreakerState, BreakerState, "CircuitBreaker"], None]


class CircuitBreaker:
    """Thread-safe closed / open / half-open breaker with an injectable clock.

    - closed: every call runs; ``failure_threshold`` consecutive failures open it.
    - open: calls are rejected at once; after ``recovery_timeout`` seconds the next call finds it half-open.
    - half-open: at most ``half_open_max_calls`` probes run at a time, the rest are rejected; a probe failure
      re-opens it (for another ``recovery_timeout``), ``success_threshold`` probe successes close it.

    A probe that never reports (its permit dropped, its task cancelled outside a guarded path) would hold its slot
    forever, so probes expire: after ``probe_timeout`` seconds (default: ``recovery_timeout``, at least 1 s) the
    slot is free again and the late probe's verdict, if it ever comes, is ignored. `reset` forgets every probe.

    Listeners ``fn(old, new, breaker)`` run on every state change, in order, outside the breaker's lock (they may
    read it); an exception in one is logged and does not stop the others. ``exclude`` lists exception types
    that mean "the backend answered" (a caller's error): they count as successes.

    >>> clock = [0.0]
    >>> breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=10, clock=lambda: clock[0])
    >>> for _ in range(2):
    ...     breaker.failure(breaker.allow())
    >>> breaker.state, breaker.allow()
    (<BreakerState.OPEN: 'open'>, None)
    >>> clock[0] = 10.0
    >>> probe = breaker.allow()
    >>> breaker.state
    <BreakerState.HALF_OPEN: 'half_open'>
    >>> breaker.success(probe)
    >>> breaker.state
    <BreakerState.CLOSED: 'closed'>
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        exclude: tuple[type[BaseException], ...] = (),
        name: str = "breaker",
        probe_timeout: float | None = None,
    ) -> None:
        for field, value in (
            ("failure_threshold", failure_threshold),
            ("half_open_max_calls", half_open_max_calls),
            ("success_threshold", success_threshold),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field}: expected an int >= 1, got {value!r}")
        if not recovery_timeout >= 0:
            raise ValueError(f"recovery_timeout: expected seconds >= 0, got {recovery_timeout!r}")
        if probe_timeout is not None and not probe_timeout > 0:
            raise ValueError(f"probe_timeout: expected seconds > 0 or None, got {probe_timeout!r}")
        self.failure_threshold = failure_threshold
        self.recovery_timeout = float(recovery_timeout)
        self.half_open_max_calls = half_open_max_calls
        self.success_threshold = success_threshold
        self.probe_timeout = float(probe_timeout) if probe_timeout is not None else max(float(recovery_timeout), 1.0)
        self.name = name
        self._clock = clock
        self._exclude = exclude
        self._lock = threading.Lock()
        self._notify_lock = threading.RLock()
        self._pending: deque[tuple[BreakerState, BreakerState]] = deque()
        self._listeners: list[Listener] = []
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._opened_at = 0.0
        self._consecutive = 0
        self._probes: dict[Permit, float] = {}  # probes in flight -> when each was admitted
        self._probe_successes = 0
        self._successes = self._failures = self._rejections = self._changes = 0

    # -- observation -------------------------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose recovery timeout has passed reads as half-open)."""
        with self._lock:
            self._maybe_half_open()
            state = self._state
        self._notify()
        return state

    @property
    def stats(self) -> BreakerStats:
        """A snapshot of the counters."""
        with self._lock:
            self._maybe_half_open()
            stats = BreakerStats(
                state=self._state,
                successes=self._successes,
                failures=self._failures,
                rejections=self._rejections,
                state_changes=self._changes,
                consecutive_failures=self._consecutive,
            )
        self._notify()
        return stats

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(old, new, breaker)`` on every state change."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener`` (no error if it was not registered)."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # -- admission and outcomes --------------------------------------------------------------------------------

    def allow(self) -> Permit | None:
        """A `Permit` to run one call, or ``None`` if the call must be rejected (counted as a rejection)."""
        # Closed (the usual state) admits without bookkeeping, so without the lock: the generation and the state
        # are each read once, atomically. A state change racing with these reads is no different from one just
        # after admission: the permit then carries an older generation, and its outcome cannot move the new state.
        generation = self._generation
        if self._state is BreakerState.CLOSED and not self._pending:
            return Permit(generation, probe=False)
        with self._lock:
            self._maybe_half_open()
            if self._state is BreakerState.CLOSED:
                permit: Permit | None = Permit(self._generation, probe=False)
            elif self._state is BreakerState.HALF_OPEN and self._free_probe_slot():
                permit = Permit(self._generation, probe=True)
                self._probes[permit] = self._clock()
            else:
                self._rejections += 1
                permit = None
        self._notify()
        return permit

    def success(self, permit: Permit | None) -> None:
        """Report that the call admitted by ``permit`` succeeded."""
        if permit is None or permit.done:
            return
        with self._lock:
            self._succeeded(permit)
        self._notify()

    def failure(self, permit: Permit | None) -> None:
        """Report that the call admitted by ``permit`` failed."""
        if permit is None or permit.done:
            return
        with self._lock:
            self._failed(permit)
        self._notify()

    def abandon(self, permit: Permit | None) -> None:
        """Report that the call admitted by ``permit`` ended without a verdict (e.g. it was cancelled)."""
        if permit is None or permit.done:
            return
        with self._lock:
            permit.done = True
            if permit.probe:
                self._probes.pop(permit, None)

    async def call(self, factory: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``factory(*args, **kwargs)`` under the breaker; `CircuitOpenError` if rejected.

        Takes a coroutine *factory*, so nothing is created when the call is rejected.

        >>> import asyncio
        >>> async def fetch(x: int) -> int:
        ...     return x * 2
        >>> asyncio.run(CircuitBreaker().call(fetch, 21))
        42
        """
        permit = self.allow()
        if permit is None:
            raise CircuitOpenError(f"{self.name}: circuit is {self._state.value}; call rejected")
        try:
            result = await factory(*args, **kwargs)
        except asyncio.CancelledError:
            self.abandon(permit)
            raise
        except BaseException as exc:
            if self._exclude and isinstance(exc, self._exclude):
                self.success(permit)
            elif isinstance(exc, Exception):
                self.failure(permit)
            else:  # KeyboardInterrupt, SystemExit: not the backend's fault
                self.abandon(permit)
            raise
        self.success(permit)
        return result

    def reset(self) -> None:
        """Force the breaker closed, forget consecutive failures and probes in flight (counters are kept)."""
        with self._lock:
            self._consecutive = 0
            self._forget_probes(list(self._probes))
            if self._state is not BreakerState.CLOSED:
                self._move(BreakerState.CLOSED)
        self._notify()

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state.value})"

    # -- internals (lock held unless noted) --------------------------------------------------------------------

    def _succeeded(self, permit: Permit) -> None:
        """`success` with the lock held."""
        if permit.done:
            return
        permit.done = True
        self._successes += 1
        if permit.probe:
            self._probes.pop(permit, None)
        if permit.generation == self._generation:
            if self._state is BreakerState.CLOSED:
                self._consecutive = 0
            elif permit.probe:
                self._probe_successes += 1
                if self._probe_successes >= self.success_threshold:
                    self._consecutive = 0
                    self._move(BreakerState.CLOSED)

    def _failed(self, permit: Permit) -> None:
        """`failure` with the lock held (see `_succeeded`)."""
        if permit.done:
            return
        permit.done = True
        self._failures += 1
        if permit.probe:
            self._probes.pop(permit, None)
        if permit.generation == self._generation:
            if self._state is BreakerState.CLOSED:
                self._consecutive += 1
                if self._consecutive >= self.failure_threshold:
                    self._open()
            elif permit.probe:
                self._consecutive += 1
                self._open()

    def _free_probe_slot(self) -> bool:
        """Whether another probe may start, after giving up on probes older than ``probe_timeout``."""
        if len(self._probes) < self.half_open_max_calls:
            return True
        oldest = self._clock() - self.probe_timeout
        self._forget_probes([p for p, admitted in self._probes.items() if admitted <= oldest])
        return len(self._probes) < self.half_open_max_calls

    def _forget_probes(self, permits: list[Permit]) -> None:
        """Stop waiting for these probes: they free their slots now, and whatever they report later is ignored."""
        for permit in permits:
            permit.done = True
            del self._probes[permit]

    def _maybe_half_open(self) -> None:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.recovery_timeout:
            self._move(BreakerState.HALF_OPEN)

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._move(BreakerState.OPEN)

    def _move(self, new: BreakerState) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._changes += 1
        # `_probes` is not reset: probes still in flight from an earlier half-open period still load the backend
        # and count against `half_open_max_calls` until they report or expire.
        self._probe_successes = 0
        self._pending.append((old, new))

    def _notify(self) -> None:
        """Deliver queued state changes to listeners, in order, outside the state lock."""
        if not self._pending:
            return
        with self._notify_lock:
            while True:
                with self._lock:
                    if not self._pending:
                        return
                    old, new = self._pending.popleft()
                    listeners = list(self._listeners)
                for listener in listeners:
                    try:
                        listener(old, new, self)
                    except Exception:
                        log.exception("%s: state listener %r failed", self.name, listener)


@dataclass(frozen=True)
class GuardStats:
    """Counters of a `GuardedStore`.

    ``errors`` and ``timeouts`` are backend failures turned into misses; ``short_circuited`` are calls answered
    without touching the backend because the breaker was open; ``unsupported`` are calls of an operation the
    store cannot do at all (``NotImplementedError``: Memcached's ``size``, a user's store without ``ttl``).

    >>> from cachepoint.core.stores import MemoryStore
    >>> GuardedStore(MemoryStore(max_entries=10)).stats.errors
    0
    """

    calls: int
    successes: int
    errors: int
    timeouts: int
    short_circuited: int
    state: BreakerState
    last_error: str | None
    unsupported: int = 0


class GuardedStore(ClosesOnExit):
    """A `CacheStore` whose backend failures and timeouts are misses, behind a `CircuitBreaker`.

    Every call on the wrapped ``store`` runs within ``timeout`` seconds. An error or timeout never reaches the
    caller: ``get`` returns ``None``, ``get_many`` Nones, ``exists`` ``False``, ``ttl`` ``None``, ``size`` and
    ``clear`` ``0``, ``delete`` ``False``, and ``set`` / ``set_many`` are dropped. Failures feed the breaker;
    while it is open, calls return those same answers at once without touching the backend; after its recovery
    timeout a probe goes through and a success closes it again. Each state change is logged once (WARNING when
    it opens, INFO when it probes or closes), not each failed call; `stats` counts everything.

    An operation the store cannot do at all (it raises ``NotImplementedError``, or lacks an optional method such
    as ``ttl``) gets the same answers; it is logged as a WARNING once per operation and counted in
    ``stats.unsupported``, and it does not move the breaker (the backend answered).

    What still raises: the caller's own mistakes (a ``str`` value, a bad ttl: ``TypeError`` / ``ValueError``,
    checked here before the backend is touched) and cancellation. `close` always closes the wrapped store and
    never raises.

    >>> import asyncio
    >>> from cachepoint.core.stores import RedisStore
    >>> async def demo() -> bytes | None:
    ...     # Nothing listens on port 1: the call is a miss, not an exception.
    ...     async with GuardedStore(RedisStore("redis://127.0.0.1:1/0"), timeout=0.5) as store:
    ...         return await store.get("k")
    >>> asyncio.run(demo()) is None
    True
    """

    def __init__(
        self,
        store: CacheStore,
        breaker: CircuitBreaker | None = None,
        timeout: float | None = 1.0,
        *,
        name: str | None = None,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout: expected seconds > 0 or None, got {timeout!r}")
        self._store = store
        self._timeout = timeout
        self._name = name or type(store).__name__
        self._breaker = breaker if breaker is not None else CircuitBreaker(name=self._name)
        self._breaker.add_listener(self._on_state_change)
        self._lock = threading.Lock()  # this guard's counters; the breaker keeps its own
        self._calls = self._successes = self._errors = self._timeouts = self._short = 0
        self._last_error: BaseException | None = None
        self._unsupported = Unsupported(log)

    @property
    def store(self) -> CacheStore:
        """The wrapped store."""
        return self._store

    @property
    def breaker(self) -> CircuitBreaker:
        """The breaker guarding the store (possibly shared with other guards)."""
        return self._breaker

    @property
    def stats(self) -> GuardStats:
        """A snapshot of the counters and the breaker state."""
        state = self._breaker.state
        with self._lock:
            last = self._last_error
            return GuardStats(
                calls=self._calls,
                successes=self._successes,
                errors=self._errors,
                timeouts=self._timeouts,
                short_circuited=self._short,
                state=state,
                last_error=None if last is None else _describe(last),
                unsupported=sum(self._unsupported.counts.values()),
            )

    # -- CacheStore ------------------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        """The value, or ``None`` on a miss *or* a backend failure."""
        check_key(key)
        return await self._guard("get", lambda: self._store.get(key), None)

    async def get_with_ttl(self, key: str) -> tuple[bytes | None, float | None]:
        """``(value, seconds left)``; ``(None, None)`` on a miss or failure (used by `TieredStore`)."""
        check_key(key)
        return await self._guard("get", lambda: store_get_with_ttl(self._store, key), (None, None))

    async def get_many_with_ttl(self, keys: Sequence[str]) -> list[tuple[bytes | None, float | None]]:
        """``(value, seconds left)`` per key; all ``(None, None)`` on failure (used by `TieredStore`)."""
        checked = check_keys(keys)
        return await self._guard(
            "get_many", lambda: store_get_many_with_ttl(self._store, checked), [(None, None)] * len(checked)
        )

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store the value; dropped silently (and counted) if the backend fails."""
        check_key(key)
        check_value(value)
        check_ttl(ttl)
        await self._guard("set", lambda: self._store.set(key, value, ttl), None)

    async def delete(self, key: str) -> bool:
        """``True`` if the key was removed; ``False`` if absent or on failure."""
        check_key(key)
        return await self._guard("delete", lambda: self._store.delete(key), False)

    async def exists(self, key: str) -> bool:
        """Whether the key holds a value; ``False`` on failure."""
        check_key(key)
        return await self._guard("exists", lambda: self._store.exists(key), False)

    async def ttl(self, key: str) -> float | None:
        """Seconds left, or ``None`` (also on failure)."""
        check_key(key)
        return await self._guard("ttl", lambda: store_ttl(self._store, key), None)

    async def size(self) -> int:
        """Entries in the store; ``0`` on failure."""
        return await self._guard("size", lambda: store_size(self._store), 0)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values in order; all ``None`` on failure."""
        checked = check_keys(keys)
        return await self._guard("get_many", lambda: self._store.get_many(checked), [None] * len(checked))

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Store every item; dropped on failure."""
        checked = check_items(items)
        check_ttl(ttl)
        await self._guard("set_many", lambda: self._store.set_many(checked, ttl), None)

    async def clear(self, namespace: str | None = None) -> int:
        """Entries removed; ``0`` on failure."""
        check_namespace(namespace)
        return await self._guard("clear", lambda: self._store.clear(namespace), 0)

    async def close(self) -> None:
        """Close the wrapped store (always; a failure to close is logged, not raised). Idempotent."""
        self._breaker.remove_listener(self._on_state_change)
        try:
            await self._store.close()
        except Exception:
            log.warning("cachepoint: closing %s failed", self._name, exc_info=True)

    def __repr__(self) -> str:
        return f"GuardedStore({self._store!r}, timeout={self._timeout}, breaker={self._breaker!r})"

    # -- internals -------------------------------------------------------------------------------------------

    async def _guard(self, what: str, start: Callable[[], Awaitable[T]], fallback: T) -> T:
        breaker = self._breaker
        permit = breaker.allow()
        if permit is None:
            with self._lock:
                self._calls += 1
                self._short += 1
            return fallback
        try:
            operation = start()
            if type(operation) is not CoroutineType:
                result = await within(self._timeout, lambda: operation)
            else:
                # Run the operation's first step right here. An in-process store (a MemoryStore, a TieredStore's L1
                # hit) finishes in it without ever suspending: it needs no timer, and arming and cancelling one
                # would cost more than the lookup. An operation that suspends (network I/O) finishes under the
                # time budget, counted from its first suspension (the step before it is CPU work, which no
                # asyncio timeout can interrupt anyway).
                try:
                    pending = operation.send(None)
                except StopIteration as done:
                    result = done.value
                else:
                    result = await _finish_within(self._timeout, operation, pending)
        except asyncio.CancelledError:
            breaker.abandon(permit)
            raise
        except NotImplementedError as exc:
            with self._lock:
                self._calls += 1
            breaker.success(permit)  # the backend answered: the operation does not exist there
            self._unsupported.report(f"store {self._name}", what, str(exc) or type(exc).__name__, repr(fallback))
            return fallback
        except Exception as exc:
            timed_out = _is_timeout(exc)
            with self._lock:
                self._calls += 1
                self._last_error = exc
                if timed_out:
                    self._timeouts += 1
                else:
                    self._errors += 1
            breaker.failure(permit)
            log.debug("cachepoint: %s failed, served as a miss: %s", self._name, _describe(exc))
            return fallback
        except BaseException:  # KeyboardInterrupt, SystemExit, GeneratorExit: no verdict on the backend
            breaker.abandon(permit)
            raise
        with self._lock:
            self._calls += 1
            self._successes += 1
        breaker.success(permit)
        return result

    def _on_state_change(self, old: BreakerState, new: BreakerState, breaker: CircuitBreaker) -> None:
        last = self._last_error
        if new is BreakerState.OPEN:
            log.warning(
                "cachepoint: store %s is failing (%s); serving cache misses without calling it for %.3gs",
                self._name,
                "no error recorded" if last is None else _describe(last),
                breaker.recovery_timeout,
            )
        elif new is BreakerState.HALF_OPEN:
            log.info("cachepoint: store %s: probing whether it has recovered", self._name)
        elif old is not BreakerState.CLOSED:
            log.warning("cachepoint: store %s has recovered; caching again", self._name)


async def _finish_within(seconds: float | None, operation: Coroutine[Any, Any, T], pending: Any) -> T:
    """Await the rest of ``operation``, whose first step yielded ``pending``, within ``seconds``."""
    if seconds is None:
        return await _resume(operation, pending)
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await _resume(operation, pending)

    async def rest() -> T:  # pragma: no cover - 3.10 (wait_for runs it as a task of its own)
        return await _resume(operation, pending)

    return await within(seconds, rest)  # pragma: no cover - 3.10


@types.coroutine
def _resume(operation: Coroutine[Any, Any, T], pending: Any) -> Generator[Any, Any, T]:
    """What ``await operation`` does after its first step yielded ``pending``: pass what it yields to the running
    task and what the task sends or throws back to it, until it returns (PEP 380's ``yield from``, which cannot
    take over a coroutine that has already started)."""
    try:
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                operation.close()
                raise
            except BaseException as exc:  # cancellation, timeouts: delivered to the operation, as await would
                pending = operation.throw(exc)
            else:
                pending = operation.send(sent)
    except StopIteration as done:
        return cast(T, done.value)


def _is_timeout(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):  # the error itself or a short chain of causes (StoreError from TimeoutError)
        if seen is None:
            return False
        if isinstance(seen, (TimeoutError, asyncio.TimeoutError)):
            return True
        seen = seen.__cause__
    return False


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
