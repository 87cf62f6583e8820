"""CircuitBreaker: transitions, bounded half-open, stale outcomes, listeners, counts, threads."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from cachepoint.core.breaker import BreakerState, CircuitBreaker, CircuitOpenError

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.failure(breaker.allow())


def test_opens_after_threshold_consecutive_failures(clock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=10, clock=clock)
    fail(breaker, 2)
    breaker.success(breaker.allow())  # a success resets the run
    fail(breaker, 2)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN
    assert breaker.allow() is None
    clock.advance(9.99)
    assert breaker.allow() is None
    assert breaker.state is OPEN


def test_half_open_admits_at_most_max_calls_probes(clock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=5, half_open_max_calls=2, clock=clock)
    fail(breaker)
    clock.advance(5)
    first, second, third = breaker.allow(), breaker.allow(), breaker.allow()
    assert breaker.state is HALF_OPEN
    assert first is not None
    assert first.probe
    assert second is not None
    assert second.probe
    assert third is None  # no flood
    breaker.abandon(first)  # a cancelled probe frees its slot
    assert breaker.allow() is not None


def test_probe_failure_reopens_for_a_full_recovery_timeout(clock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=5, clock=clock)
    fail(breaker)
    clock.advance(5)
    breaker.failure(breaker.allow())
    assert breaker.state is OPEN
    clock.advance(4.9)
    assert breaker.allow() is None
    clock.advance(0.1)
    assert breaker.allow() is not None
    assert breaker.state is HALF_OPEN


def test_success_threshold_probes_close_it(clock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=1, success_threshold=2, clock=clock)
    fail(breaker)
    clock.advance(1)
    breaker.success(breaker.allow())
    assert breaker.state is HALF_OPEN
    breaker.success(breaker.allow())
    assert breaker.state is CLOSED
    fail(breaker)  # closed again, with a fresh failure count: threshold 1 opens at once
    assert breaker.state is OPEN


def test_outcomes_of_calls_admitted_before_a_change_do_not_move_the_new_state(clock) -> None:
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=1, clock=clock)
    slow_failure, slow_success = breaker.allow(), breaker.allow()  # admitted while closed
    fail(breaker, 2)
    assert breaker.state is OPEN
    clock.advance(1)
    probe = breaker.allow()
    breaker.failure(slow_failure)  # from before the outage: must not re-open the half-open breaker
    breaker.success(slow_success)  # nor close it
    assert breaker.state is HALF_OPEN
    breaker.success(probe)
    assert breaker.state is CLOSED
    breaker.failure(probe)  # reporting twice is ignored
    assert breaker.stats.consecutive_failures == 0


def test_counts_worked_out_by_hand(clock) -> None:
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=1, clock=clock)
    breaker.success(breaker.allow())  # successes 1
    fail(breaker, 2)  # failures 2, -> open (change 1)
    assert breaker.allow() is None  # rejections 1
    assert breaker.allow() is None  # rejections 2
    clock.advance(1)
    probe = breaker.allow()  # -> half-open (change 2)
    assert breaker.allow() is None  # rejections 3 (the only probe slot is taken)
    breaker.success(probe)  # successes 2, -> closed (change 3)
    stats = breaker.stats
    assert (stats.successes, stats.failures, stats.rejections, stats.state_changes) == (2, 2, 3, 3)
    assert stats.state is CLOSED


def test_listeners_see_every_change_in_order_and_survive_a_failing_listener(clock, caplog) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=1, clock=clock, name="b")
    seen: list[tuple[str, str, str]] = []

    def broken(old, new, b) -> None:
        raise RuntimeError("listener bug")

    def record(old, new, b) -> None:
        seen.append((old.value, new.value, b.state.value))  # reading the breaker here must not deadlock

    breaker.add_listener(broken)
    breaker.add_listener(record)
    fail(breaker)
    clock.advance(1)
    breaker.failure(breaker.allow())
    clock.advance(1)
    breaker.success(breaker.allow())
    assert seen == [
        ("closed", "open", "open"),
        ("open", "half_open", "half_open"),
        ("half_open", "open", "open"),
        ("open", "half_open", "half_open"),
        ("half_open", "closed", "closed"),
    ]
    assert len([r for r in caplog.records if "state listener" in r.getMessage()]) == 5
    breaker.remove_listener(record)
    breaker.reset()
    assert len(seen) == 5


@pytest.mark.filterwarnings("error::RuntimeWarning")  # "coroutine ... was never awaited" would fail the test
async def test_call_takes_a_factory_and_never_creates_a_rejected_coroutine(clock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=10, clock=clock)
    created: list[int] = []

    async def work(x: int) -> int:
        return x

    def factory(x: int):
        created.append(x)
        return work(x)

    assert await breaker.call(factory, 1) == 1

    async def boom() -> None:
        raise OSError("down")

    with pytest.raises(OSError, match="down"):
        await breaker.call(boom)
    with pytest.raises(CircuitOpenError, match="open"):
        await breaker.call(factory, 2)
    assert created == [1]


async def test_cancelled_probe_frees_its_slot(clock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=1, clock=clock)
    fail(breaker)
    clock.advance(1)
    task = asyncio.create_task(breaker.call(asyncio.sleep, 60))
    await asyncio.sleep(0)
    assert breaker.allow() is None  # the probe is in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is HALF_OPEN
    assert breaker.allow() is not None


async def test_excluded_exceptions_count_as_successes(clock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, clock=clock, exclude=(KeyError,))

    async def missing() -> None:
        raise KeyError("caller's problem")

    with pytest.raises(KeyError):
        await breaker.call(missing)
    assert breaker.state is CLOSED
    assert breaker.stats.successes == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold: expected an int >= 1"),
        ({"half_open_max_calls": 0}, "half_open_max_calls"),
        ({"success_threshold": 1.5}, "success_threshold"),
        ({"recovery_timeout": -1}, "recovery_timeout"),
    ],
)
def test_bad_configuration_names_the_field(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        CircuitBreaker(**kwargs)


def test_concurrent_threads_never_exceed_the_probe_limit() -> None:
    """Sixteen threads hammer a flapping breaker; concurrent probes never exceed half_open_max_calls."""
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=0.0005, half_open_max_calls=3)
    lock = threading.Lock()
    active = 0
    peak = 0
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        nonlocal active, peak
        rng = random.Random(seed)
        try:
            for _ in range(2000):
                permit = breaker.allow()
                if permit is None:
                    continue
                if permit.probe:
                    with lock:
                        active += 1
                        peak = max(peak, active)
                    time.sleep(0)
                    with lock:
                        active -= 1
                if rng.random() < 0.5:
                    breaker.failure(permit)
                else:
                    breaker.success(permit)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert 1 <= peak <= 3
    stats = breaker.stats
    assert stats.state_changes > 0
    assert stats.successes + stats.failures + stats.rejections == 16 * 2000


# -- probes that are never reported -----------------------------------------------------------------------------


def half_open(clock, **kwargs) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=5, clock=clock, **kwargs)
    fail(breaker)
    clock.advance(5)
    return breaker


def test_a_dropped_probe_expires_after_the_probe_timeout(clock) -> None:
    breaker = half_open(clock, probe_timeout=2)
    assert breaker.allow() is not None  # a probe permit the caller simply drops
    assert breaker.allow() is None  # the one probe slot is taken...
    clock.advance(1.99)
    assert breaker.allow() is None
    clock.advance(0.01)
    probe = breaker.allow()  # ...until the lost probe expires
    assert probe is not None
    assert probe.probe
    breaker.success(probe)
    assert breaker.state is CLOSED


def test_the_probe_timeout_defaults_to_the_recovery_timeout(clock) -> None:
    breaker = half_open(clock)
    breaker.allow()
    clock.advance(4.99)
    assert breaker.allow() is None
    clock.advance(0.01)
    assert breaker.allow() is not None


def test_reset_forgets_probes_in_flight(clock) -> None:
    breaker = half_open(clock)
    lost = breaker.allow()
    breaker.reset()
    assert breaker.state is CLOSED
    fail(breaker)  # trips again...
    clock.advance(5)
    probe = breaker.allow()  # ...and the next half-open period has its probe slot, lost probe or not
    assert probe is not None
    assert probe.probe
    breaker.success(lost)  # a late verdict from before the reset changes nothing
    assert breaker.state is HALF_OPEN
    breaker.success(probe)
    assert breaker.state is CLOSED


def test_an_expired_probe_reporting_late_does_not_free_a_second_slot(clock) -> None:
    breaker = half_open(clock, probe_timeout=1)
    slow = breaker.allow()
    clock.advance(1)
    current = breaker.allow()
    assert current is not None
    breaker.failure(slow)  # given up on: its verdict is ignored
    assert breaker.state is HALF_OPEN
    assert breaker.allow() is None  # `current` still holds the only slot
    breaker.success(current)
    assert breaker.state is CLOSED


async def test_a_task_cancelled_between_allow_and_its_report_does_not_hold_the_breaker(clock) -> None:
    breaker = half_open(clock, probe_timeout=3)
    started = asyncio.Event()

    async def user_code() -> None:  # takes a permit outside any guarded path, then is cancelled
        permit = breaker.allow()
        started.set()
        await asyncio.sleep(3600)
        breaker.success(permit)

    task = asyncio.create_task(user_code())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.allow() is None
    clock.advance(3)
    assert breaker.allow() is not None


def test_bad_probe_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="probe_timeout: expected seconds > 0"):
        CircuitBreaker(probe_timeout=0)
