"""CircuitBreaker against a reference model of its specification, driven by Hypothesis.

The model states the rules plainly: consecutive failures open it; open rejects until the recovery timeout;
half-open admits at most ``half_open_max_calls`` probes in flight (probes from an earlier half-open period still
count until they report); a current probe's failure re-opens, ``success_threshold`` current probe successes
close; outcomes of calls admitted under an earlier state change nothing.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cachepoint.core.breaker import BreakerState, CircuitBreaker, Permit


class Model:
    def __init__(self, threshold: int, recovery: float, max_probes: int, successes_needed: int) -> None:
        self.threshold, self.recovery = threshold, recovery
        self.max_probes, self.successes_needed = max_probes, successes_needed
        self.state = "closed"
        self.epoch = 0  # bumped on every state change
        self.opened_at = 0.0
        self.consecutive = 0
        self.probe_successes = 0
        self.in_flight_probes = 0
        self.counts = {"successes": 0, "failures": 0, "rejections": 0, "changes": 0}

    def move(self, state: str, now: float) -> None:
        self.state = state
        self.epoch += 1
        self.counts["changes"] += 1
        self.probe_successes = 0
        if state == "open":
            self.opened_at = now

    def tick(self, now: float) -> None:
        if self.state == "open" and now - self.opened_at >= self.recovery:
            self.move("half_open", now)

    def allow(self, now: float) -> tuple[int, bool] | None:
        self.tick(now)
        if self.state == "closed":
            return (self.epoch, False)
        if self.state == "half_open" and self.in_flight_probes < self.max_probes:
            self.in_flight_probes += 1
            return (self.epoch, True)
        self.counts["rejections"] += 1
        return None

    def report(self, ticket: tuple[int, bool], outcome: str, now: float) -> None:
        epoch, probe = ticket
        if probe:
            self.in_flight_probes -= 1
        if outcome == "abandon":
            return
        self.counts["successes" if outcome == "success" else "failures"] += 1
        if epoch != self.epoch:
            return  # admitted under an earlier state: no effect
        if outcome == "success":
            if self.state == "closed":
                self.consecutive = 0
            elif probe:
                self.probe_successes += 1
                if self.probe_successes >= self.successes_needed:
                    self.consecutive = 0
                    self.move("closed", now)
        elif self.state == "closed":
            self.consecutive += 1
            if self.consecutive >= self.threshold:
                self.move("open", now)
        elif probe:
            self.consecutive += 1
            self.move("open", now)


class BreakerMachine(RuleBasedStateMachine):
    @initialize(
        threshold=st.integers(1, 4),
        recovery=st.sampled_from([0.0, 1.0, 2.5]),
        max_probes=st.integers(1, 3),
        successes_needed=st.integers(1, 3),
    )
    def make(self, threshold: int, recovery: float, max_probes: int, successes_needed: int) -> None:
        self.now = 0.0
        self.model = Model(threshold, recovery, max_probes, successes_needed)
        self.breaker = CircuitBreaker(
            failure_threshold=threshold,
            recovery_timeout=recovery,
            half_open_max_calls=max_probes,
            success_threshold=successes_needed,
            clock=lambda: self.now,
        )
        self.outstanding: list[tuple[Permit, tuple[int, bool]]] = []

    @rule()
    def allow(self) -> None:
        permit = self.breaker.allow()
        ticket = self.model.allow(self.now)
        assert (permit is None) == (ticket is None)
        if permit is not None and ticket is not None:
            assert permit.probe == ticket[1]
            self.outstanding.append((permit, ticket))

    @precondition(lambda self: getattr(self, "outstanding", None))
    @rule(data=st.data(), outcome=st.sampled_from(["success", "failure", "abandon"]))
    def report(self, data: st.DataObject, outcome: str) -> None:
        index = data.draw(st.integers(0, len(self.outstanding) - 1))
        permit, ticket = self.outstanding.pop(index)
        getattr(self.breaker, outcome)(permit)
        self.model.report(ticket, outcome, self.now)

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5]))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        stats = self.breaker.stats
        self.model.tick(self.now)
        assert stats.state is BreakerState(self.model.state)
        counts = self.model.counts
        assert (stats.successes, stats.failures, stats.rejections, stats.state_changes) == (
            counts["successes"],
            counts["failures"],
            counts["rejections"],
            counts["changes"],
        )
        assert self.model.in_flight_probes <= self.model.max_probes


BreakerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestBreakerAgainstModel = BreakerMachine.TestCase
