"""GuardedStore: failures and timeouts are misses, the breaker skips a dead backend, logs once per change."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cachepoint.core.breaker import BreakerState, CircuitBreaker, GuardedStore
from cachepoint.core.stores import CacheStore, MemoryStore

FALLBACKS = [
    ("get", ("k",), None),
    ("get_with_ttl", ("k",), (None, None)),
    ("set", ("k", b"v", 10), None),
    ("delete", ("k",), False),
    ("exists", ("k",), False),
    ("ttl", ("k",), None),
    ("size", (), 0),
    ("get_many", (["a", "b", "c"],), [None, None, None]),
    ("set_many", ({"a": b"1"}, 10), None),
    ("clear", ("ns",), 0),
]


async def test_is_a_cache_store(faulty) -> None:
    assert isinstance(GuardedStore(faulty), CacheStore)


@pytest.mark.parametrize(("method", "args", "fallback"), FALLBACKS, ids=[f[0] for f in FALLBACKS])
async def test_every_failure_is_a_miss(faulty, method, args, fallback) -> None:
    guard = GuardedStore(faulty, timeout=5)
    await faulty.inner.set("k", b"present")
    faulty.mode = "fail"
    assert await getattr(guard, method)(*args) == fallback
    stats = guard.stats
    assert (stats.errors, stats.timeouts, stats.successes) == (1, 0, 0)
    assert stats.last_error == "StoreError: backend down (injected)"


@pytest.mark.parametrize(("method", "args", "fallback"), FALLBACKS, ids=[f[0] for f in FALLBACKS])
async def test_every_hang_is_a_miss_after_the_timeout(faulty, method, args, fallback) -> None:
    guard = GuardedStore(faulty, timeout=0.05)
    faulty.mode = "hang"
    assert await getattr(guard, method)(*args) == fallback
    assert guard.stats.timeouts == 1
    assert guard.stats.errors == 0


async def test_healthy_calls_pass_through(faulty) -> None:
    guard = GuardedStore(faulty, timeout=5)
    await guard.set("k", b"v", ttl=30)
    assert await guard.get("k") == b"v"
    assert await guard.get_with_ttl("k") == (b"v", pytest.approx(30, abs=1))
    assert await guard.get_many(["k", "x"]) == [b"v", None]
    assert await guard.exists("k")
    assert await guard.size() == 1
    assert await guard.delete("k")
    assert guard.stats.successes == 7


async def test_open_breaker_skips_the_backend_and_a_probe_closes_it(faulty, clock, caplog) -> None:
    caplog.set_level(logging.INFO, logger="cachepoint.core.breaker")
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=30, clock=clock)
    guard = GuardedStore(faulty, breaker=breaker, timeout=5, name="redis-main")
    await faulty.inner.set("k", b"v")
    faulty.mode = "fail"
    for _ in range(3):
        assert await guard.get("k") is None
    assert breaker.state is BreakerState.OPEN
    calls_when_opened = faulty.calls
    for _ in range(50):
        assert await guard.get("k") is None
        await guard.set("k", b"new")
    assert faulty.calls == calls_when_opened  # the backend was not touched while open
    assert guard.stats.short_circuited == 100

    faulty.mode = "ok"  # the backend recovers; nothing happens until the recovery timeout
    assert await guard.get("k") is None
    clock.advance(30)
    assert await guard.get("k") == b"v"  # the probe
    assert breaker.state is BreakerState.CLOSED
    assert await guard.get("k") == b"v"

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one when it opened, one when it recovered: not one per failed call
    assert "redis-main is failing (StoreError: backend down (injected))" in warnings[0]
    assert "redis-main has recovered" in warnings[1]


async def test_failed_probe_keeps_it_open(faulty, clock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=10, clock=clock)
    guard = GuardedStore(faulty, breaker=breaker, timeout=5)
    faulty.mode = "fail"
    await guard.get("k")
    clock.advance(10)
    before = faulty.calls
    assert await guard.get("k") is None
    assert faulty.calls == before + 1  # exactly one probe reached the backend
    assert breaker.state is BreakerState.OPEN


async def test_timeouts_open_the_breaker_too(faulty, clock) -> None:
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=10, clock=clock)
    guard = GuardedStore(faulty, breaker=breaker, timeout=0.02)
    faulty.mode = "hang"
    assert await asyncio.gather(guard.get("a"), guard.get("b")) == [None, None]
    assert breaker.state is BreakerState.OPEN
    assert guard.stats.timeouts == 2


async def test_caller_mistakes_still_raise_even_when_open(faulty, clock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=10, clock=clock)
    guard = GuardedStore(faulty, breaker=breaker)
    faulty.mode = "fail"
    await guard.get("k")
    with pytest.raises(TypeError, match="value: expected bytes, got str"):
        await guard.set("k", "text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl: expected seconds, got NaN"):
        await guard.set("k", b"v", ttl=float("nan"))
    with pytest.raises(TypeError, match="key: expected str"):
        await guard.get(b"k")  # type: ignore[arg-type]


async def test_not_implemented_is_an_answer_not_a_failure(clock) -> None:
    class NoClear(MemoryStore):
        async def clear(self, namespace: str | None = None) -> int:
            raise NotImplementedError("this backend cannot delete by namespace")

    breaker = CircuitBreaker(failure_threshold=1, clock=clock)
    guard = GuardedStore(NoClear(max_entries=10), breaker=breaker)
    assert await guard.clear("ns") == 0
    assert breaker.state is BreakerState.CLOSED
    assert guard.stats.unsupported == 1
    assert guard.stats.errors == 0


def half_open_guard(faulty, clock) -> GuardedStore:
    """A guard over ``faulty`` whose breaker tripped and is due for a probe (the next call is one)."""
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=1, clock=clock)
    breaker.failure(breaker.allow())
    clock.advance(1)
    return GuardedStore(faulty, breaker=breaker, timeout=None)


async def test_cancellation_propagates_and_frees_the_probe(faulty, clock) -> None:
    guard = half_open_guard(faulty, clock)
    breaker = guard.breaker
    faulty.mode = "hang"
    task = asyncio.create_task(guard.get("k"))  # the probe hangs
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    faulty.mode = "ok"
    assert await guard.exists("k") is False  # a new probe was admitted and succeeded
    assert breaker.state is BreakerState.CLOSED


async def test_close_always_closes_the_inner_store_and_never_raises(faulty, caplog) -> None:
    faulty.fail_on_close = True
    breaker = CircuitBreaker()
    async with GuardedStore(faulty, breaker=breaker):
        pass
    assert faulty.closed
    assert "closing FaultyStore failed" in caplog.text
    assert breaker._listeners == []  # a shared breaker does not keep closed guards alive


def test_bad_timeout_is_refused(faulty) -> None:
    with pytest.raises(ValueError, match="timeout: expected seconds > 0"):
        GuardedStore(faulty, timeout=0)


class Stepping(MemoryStore):
    """A MemoryStore whose ``get`` suspends like network I/O: ``steps`` loop turns, then a future another
    callback resolves, then (optionally) a failure. It records whether it was cancelled while suspended."""

    def __init__(self, steps: int = 3, fail: bool = False, hang: bool = False) -> None:
        super().__init__(max_entries=10)
        self.steps = steps
        self.fail = fail
        self.hang = hang
        self.cancelled = False
        self.finished = False

    async def get(self, key: str) -> bytes | None:
        try:
            for _ in range(self.steps):
                await asyncio.sleep(0)
            reply: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if not self.hang:
                asyncio.get_running_loop().call_soon(reply.set_result, None)
            await reply
            if self.fail:
                raise OSError("connection reset after the request was sent")
            value = await super().get(key)
            self.finished = True
            return value
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_an_operation_that_suspends_is_followed_to_its_answer() -> None:
    backend = Stepping()
    await backend.set("k", b"v")
    guard = GuardedStore(backend, timeout=30)
    assert await guard.get("k") == b"v"
    assert await guard.get("absent") is None
    assert backend.finished
    assert (guard.stats.successes, guard.stats.errors, guard.stats.timeouts) == (2, 0, 0)


async def test_an_operation_that_fails_after_suspending_is_a_miss() -> None:
    guard = GuardedStore(Stepping(fail=True), timeout=30)
    assert await guard.get("k") is None
    assert (guard.stats.errors, guard.stats.last_error) == (1, "OSError: connection reset after the request was sent")
    assert guard.breaker.stats.failures == 1


async def test_a_suspended_operation_that_overruns_is_cancelled_and_counted_as_a_timeout() -> None:
    backend = Stepping(hang=True)
    guard = GuardedStore(backend, timeout=0.05)
    assert await guard.get("k") is None
    assert backend.cancelled  # the operation itself was stopped, not left running
    assert (guard.stats.timeouts, guard.stats.errors) == (1, 0)


async def test_cancelling_the_caller_cancels_the_operation_and_blames_nobody() -> None:
    backend = Stepping(hang=True)
    guard = GuardedStore(backend, timeout=30)
    task = asyncio.create_task(guard.get("k"))
    for _ in range(10):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.cancelled
    stats = guard.breaker.stats
    assert (stats.failures, stats.successes, stats.state) == (0, 0, BreakerState.CLOSED)


async def test_a_store_that_returns_a_future_is_guarded_too() -> None:
    class FutureStore(MemoryStore):
        def get(self, key: str) -> asyncio.Future[bytes | None]:  # type: ignore[override]
            reply: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(reply.set_result, b"from a future")
            return reply

    guard = GuardedStore(FutureStore(max_entries=10), timeout=30)
    assert await guard.get("k") == b"from a future"
    assert guard.stats.successes == 1


async def test_an_in_process_store_is_answered_without_a_timer() -> None:
    # A MemoryStore never suspends: the guard answers from the operation's first step. Had a timer been armed,
    # the loop's scheduled-timer heap would hold a cancelled handle afterwards.
    guard = GuardedStore(MemoryStore(max_entries=10), timeout=30)
    await guard.set("k", b"v")
    loop = asyncio.get_running_loop()
    before = len(loop._scheduled)  # type: ignore[attr-defined]
    for _ in range(100):
        assert await guard.get("k") == b"v"
    assert len(loop._scheduled) == before  # type: ignore[attr-defined]
    assert guard.stats.successes == 101


# -- a probe abandoned on the guarded path itself --------------------------------------------------------------


def test_a_keyboard_interrupt_during_a_probe_frees_it(faulty, clock) -> None:
    guard = half_open_guard(faulty, clock)
    faulty.mode = "interrupt"
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(guard.get("k"))  # Ctrl-C lands while the probe is in the backend
    faulty.mode = "ok"
    calls = faulty.calls
    assert asyncio.run(guard.get("k")) is None
    assert faulty.calls == calls + 1  # a new probe reached the backend at once...
    assert guard.breaker.state is BreakerState.CLOSED  # ...and closed the breaker


async def test_a_probe_whose_coroutine_is_closed_unfinished_frees_it(faulty, clock) -> None:
    guard = half_open_guard(faulty, clock)
    faulty.mode = "hang"
    probe = guard.get("k")
    probe.send(None)  # runs to the backend, which hangs
    probe.close()  # the coroutine is dropped without finishing (GeneratorExit), as when its task is destroyed
    faulty.mode = "ok"
    calls = faulty.calls
    await guard.get("k")
    assert faulty.calls == calls + 1
    assert guard.breaker.state is BreakerState.CLOSED
