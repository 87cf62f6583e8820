"""`auto_adaptive` (`cachepoint.core.analyze.adaptive`): auto's breakpoints with each session's TTL chosen from the
gaps it has shown so far, never from the ones to come; replayed by ``cachepoint analyze`` but never recommended.

The worked example (`test_the_cost_on_a_hand_made_session_is_the_one_worked_out`) prices every request by hand at
Claude Sonnet 4.5's list prices (per million tokens: input 3, 5m write 3.75, 1h write 6, read 0.30)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachepoint.core.analyze import AnalysisReport
from cachepoint.core.analyze.adaptive import AdaptiveTTL, adapt_stream, auto_adaptive
from cachepoint.core.analyze.optimal import SearchRequest, exact_optimum, replay_placements
from cachepoint.core.analyze.prepare import PrepareContext
from cachepoint.core.analyze.scenarios import parse_strategy, scenarios_for
from cachepoint.core.providers import model_info
from cachepoint.core.simulate import SimBreakpoint, SimPrompt

from .conftest import WordCounter, make_words
from .test_cli_input import cli

MODEL = "claude-sonnet-4-5"
PAUSE = 900.0  # 15 minutes: after the 5m TTL, within the 1h one
QUICK = 30.0


def _turn(at: float, n: int, session: str = "s") -> SimpleNamespace:
    """Turn ``n`` of a session: a 4000-token system prompt, then one 1000-token message per turn."""
    return SimpleNamespace(
        time=at,
        tenant="t",
        session=session,
        provider="anthropic",
        model=MODEL,
        hashes=tuple(f"{session}/{k}" for k in range(n + 1)),
        cumulative=tuple(4000 + 1000 * k for k in range(n + 1)),
        layers="s" + "m" * n,
        lookback=tuple(range(n + 1)),
        ttft=None,
        format="anthropic",
        retention=None,
        cache_mode=None,
        output=0,
    )


def _auto(n: int) -> tuple[SimBreakpoint, ...]:
    """`auto`'s placement on `_turn` ``n``: the system prompt at 1h, the conversation tail at the default 5m."""
    return (SimBreakpoint(0, "1h"), SimBreakpoint(n, None))


def _session(gaps: Sequence[float]) -> list[SimpleNamespace]:
    at, out = 0.0, []
    for n in range(1, len(gaps) + 2):
        out.append(_turn(at, n))
        if n <= len(gaps):
            at += gaps[n - 1]
    return out


def _adapted(items: Sequence[SimpleNamespace]) -> list[tuple[SimBreakpoint, ...]]:
    ttl = AdaptiveTTL()
    return [ttl.adapt(item, _auto(len(item.hashes) - 1)) for item in items]


# --- the rule ---------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    past=st.lists(st.sampled_from([QUICK, 200.0, PAUSE, 2000.0, 5000.0]), min_size=1, max_size=8),
    future_a=st.lists(st.sampled_from([QUICK, PAUSE, 5000.0]), min_size=1, max_size=5),
    future_b=st.lists(st.sampled_from([QUICK, PAUSE, 5000.0]), min_size=1, max_size=5),
)
def test_a_turns_ttl_depends_only_on_the_turns_before_it(
    past: list[float], future_a: list[float], future_b: list[float]
) -> None:
    # Two streams alike up to a point and different after it: every decision up to that point is the same.
    a = _adapted(_session(past + future_a))
    b = _adapted(_session(past + future_b))
    shared = len(past) + 1
    assert a[:shared] == b[:shared]


def test_the_adapter_in_the_analyzer_sees_no_later_request() -> None:
    # The same through the analyzer's hook, on prepared requests: the first turns are placed the same whether the
    # session then goes quiet or carries on after a pause.
    ctx = PrepareContext(scenarios=scenarios_for(["auto_adaptive"]), counter=WordCounter())
    scenarios = ctx.scenarios

    def stream(gaps: Sequence[float]) -> list[Any]:
        at, records = 0.0, []
        for n, gap in enumerate([*gaps, 0.0], 1):
            records.append(_record("s", at, n))
            at += gap
        items = [ctx.prepare_line(r, line=i + 1, offset=0) for i, r in enumerate(records)]
        return [p.placements[2] for p in adapt_stream(items, scenarios)]

    early = [QUICK, PAUSE, QUICK, PAUSE]
    quiet = stream([*early, QUICK, QUICK, QUICK])
    paused = stream([*early, PAUSE, PAUSE, PAUSE])
    assert quiet[: len(early) + 1] == paused[: len(early) + 1]


def test_long_pauses_get_the_1h_ttl() -> None:
    placed = _adapted(_session([QUICK, PAUSE] * 4))
    ttls = [p[-1].ttl for p in placed]
    # No pause seen yet: 5m. Once the session has paused for 15 minutes between turns, its conversation is
    # written for an hour (the system prompt, still warm from auto's 1h, is not written again: the premium is paid
    # on the conversation after it).
    assert ttls[:2] == ["5m", "5m"]
    assert set(ttls[2:]) == {"1h"}
    # The provider takes longer TTLs first: the system prompt's breakpoint goes with it.
    assert all(p[0].ttl == "1h" for p in placed[2:])


def test_short_steady_traffic_keeps_5m() -> None:
    placed = _adapted(_session([QUICK] * 8))
    # Every turn within five minutes: the conversation stays at 5m. The first turn's system prompt keeps auto's
    # 1h (nothing is known yet about whether other sessions will send it); later turns only read it.
    assert [p[-1].ttl for p in placed] == ["5m"] * 9
    assert placed[0][0] == SimBreakpoint(0, "1h")


def test_system_prompts_no_other_session_sends_are_written_for_5m() -> None:
    # Sessions that each send their own system prompt (tools in a different order, a prompt naming the user):
    # once the prefixes seen so far have mostly stayed with one session, the next session's is written for 5m
    # instead of auto's 1h (whose premium only pays when the session pauses, and none has yet).
    ttl = AdaptiveTTL()
    first_turns = []
    for s in range(6):
        at = 600.0 * s
        for n, gap in enumerate([QUICK, QUICK, 0.0], 1):
            placed = ttl.adapt(_turn(at, n, f"own{s}"), _auto(n))
            if n == 1:
                first_turns.append(placed[0].ttl)
            at += gap
    assert first_turns == ["1h", "5m", "5m", "5m", "5m", "5m"]


def test_a_system_prompt_other_sessions_send_keeps_autos_ttl() -> None:
    ttl = AdaptiveTTL()
    one = SimpleNamespace(**{**vars(_turn(0.0, 1, "a")), "hashes": ("shared", "a/1")})
    two = SimpleNamespace(**{**vars(_turn(10.0, 1, "b")), "hashes": ("shared", "b/1")})
    ttl.adapt(one, _auto(1))
    placed = ttl.adapt(two, _auto(1))
    assert placed[0] == SimBreakpoint(0, "1h")  # kept warm by every session: auto's long TTL stays
    assert placed[1].ttl == "5m"


# --- cost against the optimum, worked out by hand ----------------------------------------------------------------


def test_the_cost_on_a_hand_made_session_is_the_one_worked_out() -> None:
    # One session, 4000-token system prompt, 1000 tokens per message, turns at 0, 60, 1260, 1320, 2520 s (two
    # 20-minute pauses). Prices per million tokens: input 3, 5m write 3.75, 1h write 6, read 0.30.
    gaps = [60.0, 1200.0, 60.0, 1200.0]
    items = []
    at = 0.0
    for n, gap in enumerate([*gaps, 0.0], start=1):
        items.append(SimpleNamespace(**{**vars(_turn(at, 2 * n - 1)), "hashes": tuple(f"p{k}" for k in range(2 * n))}))
        at += gap
    # Turn n has 2n positions (system, then 2n-1 messages): 4000 + 1000 * (2n - 1) tokens.
    auto = [_auto(len(item.hashes) - 1) for item in items]
    adaptive = _adapted(items)

    # auto: system 1h, tail 5m.
    #   t=0     write 4000 @1h + 1000 @5m                             24000 + 3750  = 27750
    #   t=60    read 5000, write 2000 @5m                              1500 + 7500  =  9000
    #   t=1260  the 5m entries lapsed: read 4000 (1h), write 5000 @5m  1200 + 18750 = 19950
    #   t=1320  read 9000, write 2000 @5m                              2700 + 7500  = 10200
    #   t=2520  lapsed again: read 4000, write 9000 @5m                1200 + 33750 = 34950   total 101850
    auto_cost = 101_850 / 1e6
    # auto_adaptive (margin 1.5, prior weight 10: chance = (late + 10 * prior) / (gaps + 1 + 10), see the module;
    # 1h when chance * (3.75 - 0.30) * own tokens > 1.5 * (6 - 3.75) * tokens written):
    #   t=0     no static prefix seen yet: the system prompt keeps auto's 1h; no gap seen, chance 0: tail 5m,
    #           as auto                                                                 27750
    #   t=60    chance 0: 5m, as auto (the system prompt is read, not written)              9000
    #   t=1260  one late gap of two (prior 1/2): chance (1 + 5) / 13 = 0.46; 4000 cached (1h), 9000 own, 5000
    #           to write: 0.46 * 3.45 * 9000 = 14331 < 1.5 * 2.25 * 5000 = 16875: 5m, as auto    19950
    #   t=1320  chance (1 + 10/3) / 14 = 0.31; 9000 cached, 2000 new, 11000 own:
    #           0.31 * 3.45 * 11000 = 11746 > 6750: 1h                    2700 + 12000 = 14700
    #   t=2520  the 1h tail is warm: read 11000, write 2000 @1h (chance 7/15) 3300 + 12000 = 15300  total 86700
    adaptive_cost = 86_700 / 1e6
    # The optimum (exact search, below) knows the pauses: 5m, then 1h on the turn before each pause only. Before
    # the second pause it writes the 1h entry one message short of the tail (the last 1000 tokens go uncached
    # twice, 2 * 3, instead of written for an hour and read, 6 + 0.30), and the last turn writes nothing:
    #   t=0 18750; t=60 1500 + 12000; t=1260 read 7000, write 2000 @5m 2100 + 7500;
    #   t=1320 read 9000, write 1000 @1h, 1000 uncached 2700 + 6000 + 3000; t=2520 read 10000, 3000 uncached
    #   3000 + 9000: total 65550
    optimum_cost = 65_550 / 1e6

    assert [p[-1].ttl for p in adaptive] == ["5m", "5m", "5m", "1h", "1h"]
    assert replay_placements(items, auto).cost_usd == pytest.approx(auto_cost, rel=1e-12)
    assert replay_placements(items, adaptive).cost_usd == pytest.approx(adaptive_cost, rel=1e-12)
    info = model_info("anthropic", MODEL)
    search = [
        SearchRequest(SimPrompt(item.hashes, item.cumulative, model=MODEL), item.time, tuple(range(len(item.hashes))))
        for item in items
    ]
    found = exact_optimum(search, info=info)
    assert found is not None
    assert found.exact
    assert found.cost_usd == pytest.approx(optimum_cost, rel=1e-12)
    assert found.placements[3] == ((6, "1h"),)
    assert adaptive_cost / found.cost_usd == pytest.approx(86_700 / 65_550, rel=1e-12)  # 1.323 (auto: 1.554)


# --- in the analyzer and its report ---------------------------------------------------------------------------


def _record(session: str, at: float, n: int) -> dict[str, Any]:
    """Turn ``n`` of a support session: a shared policy, then ``n`` customer messages of 1500 words."""
    messages: list[dict[str, Any]] = []
    for k in range(n):
        if k:
            messages.append({"role": "assistant", "content": f"Noted {session}."})
        messages.append({"role": "user", "content": make_words(1500, f"{session}x{chr(97 + k)}")})
    body = {"model": MODEL, "max_tokens": 64, "system": make_words(3000, "policy"), "messages": messages}
    return {"request": body, "timestamp": 1_795_428_000 + at, "session": session}


def _pausing_sessions(sessions: int = 4, turns: int = 8) -> list[dict[str, Any]]:
    """Sessions that answer quickly, then pause for 15 minutes, again and again (started 7 minutes apart)."""
    records = []
    for s in range(sessions):
        at = 420.0 * s
        for n in range(1, turns + 1):
            records.append(_record(f"ticket{chr(97 + s)}", at, n))
            at += QUICK if n % 2 else PAUSE
    return sorted(records, key=lambda r: r["timestamp"])


def test_the_analyzer_replays_auto_adaptive_cheaper_than_auto_on_pausing_sessions(
    run: Callable[..., AnalysisReport],
) -> None:
    report = run(_pausing_sessions(), strategies=["auto", "auto_adaptive"])
    auto, adaptive = report.scenario("auto"), report.scenario("auto_adaptive")
    assert auto is not None
    assert adaptive is not None
    assert auto.cost_usd is not None
    assert adaptive.cost_usd is not None
    assert adaptive.cost_usd < auto.cost_usd
    # The turn after each pause reads the conversation instead of writing it again.
    assert adaptive.cache_read_tokens > auto.cache_read_tokens


def test_auto_adaptive_in_the_cli_json_output(write_trace: Callable[[Sequence[Any], str], Path]) -> None:
    trace = write_trace(_pausing_sessions(), "pausing.jsonl")
    done = cli(str(trace), "--compare", "auto_adaptive", "--json", "--no-progress")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    costs = {s["name"]: s["cost_usd"] for s in report["scenarios"]}
    # --compare auto_adaptive adds to the default comparison: auto is still there to compare with.
    assert {"auto", "auto_adaptive", "stable_prefix", "rolling"} <= set(costs)
    adaptive = next(s for s in report["scenarios"] if s["name"] == "auto_adaptive")
    assert adaptive["spec"] == "auto_adaptive"
    assert costs["auto_adaptive"] < costs["auto"]


def test_the_summary_does_not_recommend_auto_adaptive(write_trace: Callable[[Sequence[Any], str], Path]) -> None:
    trace = write_trace(_pausing_sessions(), "pausing.jsonl")
    out = trace.parent / "report.json"
    done = cli(str(trace), "--compare", "auto", "--compare", "auto_adaptive", "--json-out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    costs = {s["name"]: s["cost_usd"] for s in report["scenarios"]}
    assert costs["auto_adaptive"] < costs["auto"]  # the cheapest replayed...
    assert report["best"] == "auto"  # ...but no adapter can place it: the recommendation is auto
    text = " ".join(done.stdout.split())
    assert "auto would cost" in text
    assert "auto_adaptive costs less still" in text
    assert "analyzer only" in text


def test_auto_adaptive_is_a_strategy_spec() -> None:
    scenario = parse_strategy("auto_adaptive(margin=2.5)")
    assert scenario.name == "auto_adaptive"
    assert scenario.strategy == auto_adaptive(margin=2.5)
    with pytest.raises(ValueError, match="margin: expected a number > 0"):
        parse_strategy("auto_adaptive(margin=-1)")
