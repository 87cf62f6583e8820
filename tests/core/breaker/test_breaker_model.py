"""CircuitBreaker against a reference model of its specification, driven by Hypothesis.

The model states the rules plainly: consecutive failures open it; open rejects until the recovery timeout;
half-open admits at most ``half_open_max_calls`` probes in flight (probes from an earlier half-open period still
count until they report or expire); a probe not reported within ``probe_timeout`` is given up on (its slot is
free, its late report ignored); a current probe's failure re-opens, ``success_threshold`` current probe successes
close; outcomes of calls admitted under an earlier state change nothing; reset closes and forgets probes.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cachepoint.core.breaker import BreakerState, CircuitBreaker, Permit


class Model:
    def __init__(
        self, threshold: int, recovery: float, max_probes: int, successes_needed: int, probe_timeout: float
    ) -> None:
        self.threshold, self.recovery = threshold, recovery
        self.max_probes, self.successes_needed = max_probes, successes_needed
        self.probe_timeout = probe_timeout
        self.state = "closed"
        self.epoch = 0  # bumped on every state change
        self.opened_at = 0.0
        self.consecutive = 0
        self.probe_successes = 0
        self.probes: dict[int, float] = {}  # ticket id -> admitted at
        self.given_up: set[int] = set()
        self.next_id = 0
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

    def allow(self, now: float) -> tuple[int, bool, int] | None:
        self.tick(now)
        self.next_id += 1
        if self.state == "closed":
            return (self.epoch, False, self.next_id)
        if self.state == "half_open":
            if len(self.probes) >= self.max_probes:
                for ticket_id, admitted in list(self.probes.items()):
                    if now - admitted >= self.probe_timeout:
                        del self.probes[ticket_id]
                        self.given_up.add(ticket_id)
            if len(self.probes) < self.max_probes:
                self.probes[self.next_id] = now
                return (self.epoch, True, self.next_id)
        self.counts["rejections"] += 1
        return None

    def reset(self) -> None:
        self.given_up.update(self.probes)
        self.probes.clear()
        self.consecutive = 0
        if self.state != "closed":
            self.move("closed", 0.0)

    def report(self, ticket: tuple[int, bool, int], outcome: str, now: float) -> None:
        epoch, probe, ticket_id = ticket
        if ticket_id in self.given_up:
            return
        if probe:
            del self.probes[ticket_id]
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
        probe_timeout=st.sampled_from([None, 0.5, 3.0]),
    )
    def make(
        self, threshold: int, recovery: float, max_probes: int, successes_needed: int, probe_timeout: float | None
    ) -> None:
        self.now = 0.0
        expiry = probe_timeout if probe_timeout is not None else max(recovery, 1.0)
        self.model = Model(threshold, recovery, max_probes, successes_needed, expiry)
        self.breaker = CircuitBreaker(
            failure_threshold=threshold,
            recovery_timeout=recovery,
            half_open_max_calls=max_probes,
            success_threshold=successes_needed,
            clock=lambda: self.now,
            probe_timeout=probe_timeout,
        )
        self.outstanding: list[tuple[Permit, tuple[int, bool, int]]] = []

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

    @precondition(lambda self: hasattr(self, "breaker"))
    @rule()
    def reset(self) -> None:
        self.breaker.reset()
        self.model.reset()

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
        assert len(self.model.probes) <= self.model.max_probes


BreakerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestBreakerAgainstModel = BreakerMachine.TestCase
