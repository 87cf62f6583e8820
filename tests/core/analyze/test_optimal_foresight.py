"""`foresight` (cachepoint.core.analyze.optimal): how much of a placement's distance to the optimum is knowing the
future, on a three-request conversation worked out by hand.

claude-sonnet-4-5 list prices, per million tokens: input $3, 5-minute write $3.75, 1-hour write $6, read $0.30.
A 4,000-token system prompt ``S``, then 100 new tokens per turn; the customer answers after a minute, then goes
away for fourteen. The placement is auto's shape: the system prompt at 1h, the conversation tail at 5m.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cachepoint.core.analyze.optimal import foresight, retime
from cachepoint.core.simulate import SimBreakpoint


def _request(at: float, hashes: tuple[str, ...], cumulative: tuple[int, ...]) -> SimpleNamespace:
    return SimpleNamespace(
        time=at,
        ttft=None,
        tenant="t",
        provider="anthropic",
        model="claude-sonnet-4-5",
        hashes=hashes,
        cumulative=cumulative,
        lookback=tuple(range(len(hashes))),
        format="anthropic",
        retention=None,
        cache_mode=None,
        output=0,
    )


TRACE = [
    _request(0.0, ("S", "S/a"), (4000, 4100)),
    _request(60.0, ("S", "S/a", "S/a/b"), (4000, 4100, 4200)),
    _request(900.0, ("S", "S/a", "S/a/b", "S/a/b/c"), (4000, 4100, 4200, 4300)),
]
AUTO_LIKE = [
    (SimBreakpoint(0, "1h"), SimBreakpoint(1, "5m")),
    (SimBreakpoint(0, "1h"), SimBreakpoint(2, "5m")),
    (SimBreakpoint(0, "1h"), SimBreakpoint(3, "5m")),
]


def test_retime_raises_a_ttl_the_next_use_outlives_and_lowers_one_it_does_not_need() -> None:
    fitted = retime(TRACE, AUTO_LIKE, fit=True)
    # Request 0: S comes back after 60 s (5m is enough); request 1: the tail comes back after 840 s (needs 1h);
    # request 2: nothing comes back, its TTLs stay.
    assert [[bp.ttl for bp in p] for p in fitted] == [["5m", "5m"], ["1h", "1h"], ["1h", "5m"]]
    assert [[bp.ttl for bp in p] for p in retime(TRACE, AUTO_LIKE)] == [["1h", "5m"], ["1h", "1h"], ["1h", "5m"]]


def test_foresight_on_a_conversation_worked_out_by_hand() -> None:
    f = foresight(TRACE, AUTO_LIKE)
    usd = 1e-6
    # Causal: r0 writes S at 1h (4000 x 6 = 24,000) and the turn at 5m (100 x 3.75 = 375);
    # r1 reads 4,100 (1,230) and writes its 100 at 5m (375); after 14 minutes the 5m entries are gone:
    # r2 reads S (1,200) and writes 300 at 5m (1,125). 24,375 + 1,605 + 2,325 = 28,305.
    assert f.causal.cost_usd == pytest.approx(28_305 * usd)
    # Lengthened: r1's tail at 1h (600 instead of 375), so r2 reads 4,200 (1,260) and writes 100 (375):
    # 24,375 + 1,830 + 1,635 = 27,840.
    assert f.lengthened.cost_usd == pytest.approx(27_840 * usd)
    # Fitted: r0 also writes S at 5m, since it is read a minute later (15,000 + 375): 15,375 + 1,830 + 1,635.
    assert f.fitted.cost_usd == pytest.approx(18_840 * usd)
    assert (f.raised, f.lowered) == (1, 1)
    # Lower bound, block by block: S written at 5m and read twice (15,000 + 1,200 + 1,200); the first turn
    # written and read twice (375 + 30 + 30); the second sent uncached twice (300 + 300, cheaper than a 1h
    # write and a read, 600 + 30); the last once (300). 17,400 + 435 + 600 + 300 = 18,735.
    assert f.lower.cost_usd == pytest.approx(18_735 * usd)
    # So the placement's breakpoints are right, and its distance to the optimum is foresight: it costs
    # 28,305 / 18,840 = 1.502x the same breakpoints with TTLs that know the future, which are within
    # 18,840 / 18,735 = 1.006x of the bound.
    assert f.best is f.fitted
    assert f.foresight_gap == pytest.approx(28_305 / 18_840)
    assert f.gap_to_lower_bound == pytest.approx(28_305 / 18_735)
    assert f.lower.cost_usd <= f.best.cost_usd <= f.causal.cost_usd


def test_pruning_drops_the_writes_nothing_reads_and_tightens_the_bracket() -> None:
    # r2 is the conversation's last request: its breakpoints' prefixes are never sent again, so a placement that
    # knows the future writes nothing there; it keeps one breakpoint where r1's entry ends, to read it. Fitted r2
    # reads 4,200 (1,260) and writes its 100 at 5m (375); pruned, it reads the same and sends the 100 uncached
    # (300): 15,375 + 1,830 + 1,560 = 18,765.
    pruned = retime(TRACE, AUTO_LIKE, fit=True, prune=True)
    assert [[(bp.position, bp.ttl) for bp in p] for p in pruned] == [
        [(0, "5m"), (1, "5m")],
        [(0, "1h"), (2, "1h")],
        [(2, "5m")],
    ]
    f = foresight(TRACE, AUTO_LIKE)
    assert f.pruned is not None
    assert f.pruned.cost_usd == pytest.approx(18_765 * 1e-6)
    assert f.upper is f.pruned
    # Still a real placement: between the bound and every other clairvoyant variant.
    assert f.lower.cost_usd <= f.upper.cost_usd <= f.best.cost_usd


def test_pruning_keeps_a_breakpoint_whose_prefix_comes_back_within_the_hour() -> None:
    # r1's tail comes back after 14 minutes: kept (at 1h); only r2's move, onto the prefix r1 wrote.
    pruned = retime(TRACE, AUTO_LIKE, prune=True)
    assert [[bp.position for bp in p] for p in pruned] == [[0, 1], [0, 2], [2]]
