"""Simulator throughput: replaying an agent trace of 100k requests (several thousand tokens each).

The analyzer replays recorded traces through `cachepoint.core.simulate`; this measures how many requests per
second one core replays, for each cache model, on a synthetic agent workload: sessions of tool-calling turns
(tools ~1.5k tokens, system ~2.5k, then +3 positions per turn), interleaved in time, with the breakpoints
`apply_cache_points` would place (last tool and system at 1h, last user turn at 5m). Prompts are prebuilt
`SimPrompt` columns, as a trace that stores them provides; building them from raw payloads (parse + prefix
view) is measured separately on a sample, because that part belongs to `cachepoint.core.prompt`.

Baseline, in the same process and interleaved round by round: the cheapest possible replay, one dict lookup
and one store per request (a cache that only knows whole prompts), so the ratio shows what the real rules cost.

    python benchmarks/bench_simulate.py            # 100k requests, 5 rounds
    python benchmarks/bench_simulate.py --quick    # 10k requests, 2 rounds (CI smoke)

Goal (issue 5): 100k requests replay in well under a minute on 2 cores (the simulator alone: a few seconds).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from cachepoint.core.simulate import SimBreakpoint, SimPrompt, Simulator

GOAL_SECONDS_PER_100K = 60.0


def build_trace(requests: int, turns: int, seed: int = 7) -> list[tuple[float, str, SimPrompt, SimPrompt]]:
    """(start time, tenant, Anthropic prompt, OpenAI prompt) in start order."""
    rng = random.Random(seed)
    sessions = requests // turns
    out: list[tuple[float, str, SimPrompt, SimPrompt]] = []
    for s in range(sessions):
        tenant = f"tenant-{s % 20}"
        agent = s % 5  # five agents: shared tools + system per agent
        start = rng.uniform(0, 36_000)
        hashes = [f"tools-{agent}", f"tools-{agent}/system"]
        cumulative = [1500, 4000]
        chain = hashes[-1]
        t = start
        for turn in range(turns):
            for part, size in (("user", rng.randint(40, 300)), ("call", 60), ("result", rng.randint(60, 500))):
                chain = f"{chain}/{s}.{turn}.{part}"
                hashes.append(chain)
                cumulative.append(cumulative[-1] + size)
            # The user turn of this request is third from the end; the assistant/tool parts follow in history.
            breakpoints = (SimBreakpoint(0, "1h"), SimBreakpoint(1, "1h"), SimBreakpoint(len(hashes) - 1))
            columns = (tuple(hashes), tuple(cumulative))
            anthropic = SimPrompt(*columns, breakpoints=breakpoints, model="claude-sonnet-4-5")
            openai = SimPrompt(*columns, format="openai-chat", model="gpt-4o", cache_key=f"agent-{agent}")
            out.append((t, tenant, anthropic, openai))
            t += rng.uniform(5, 120)
    out.sort(key=lambda item: item[0])
    return out


def replay(provider: str, trace: list[tuple[float, str, SimPrompt, SimPrompt]]) -> tuple[float, float]:
    """(seconds, hit rate by tokens) for one replay through a fresh simulator."""
    sim = Simulator(provider)
    index = 2 if provider == "anthropic" else 3
    request = sim.request
    read = total = 0
    begin = time.perf_counter()
    for item in trace:
        result = request(item[index], at=item[0], tenant=item[1], first_byte_at=item[0] + 1.2)  # type: ignore[arg-type]
        read += result.read_tokens
        total += result.total_tokens
    return time.perf_counter() - begin, read / total


def baseline(trace: list[tuple[float, str, SimPrompt, SimPrompt]]) -> float:
    seen: dict[tuple[str, str], float] = {}
    begin = time.perf_counter()
    for at, tenant, prompt, _ in trace:
        key = (tenant, prompt.hashes[-1])
        seen.get(key)
        seen[key] = at
    return time.perf_counter() - begin


def payload_cost(samples: int) -> float:
    """Seconds per request to build a SimPrompt from a raw Anthropic payload (parse + prefix view)."""
    from cachepoint.core.prompt import apply_cache_points

    rng = random.Random(3)
    payloads = []
    for i in range(samples):
        messages: list[dict[str, object]] = []
        for turn in range(rng.randint(3, 20)):
            messages.append({"role": "user", "content": f"question {i} {turn} " * rng.randint(10, 60)})
            messages.append(
                {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{turn}", "name": "f", "input": {}}]}
            )
            messages.append(
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{turn}", "content": "x " * 300}]}
            )
        payload = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 512,
            "system": "You are an agent for the operations team. " * 250,
            "tools": [{"name": "f", "description": "Look things up. " * 150, "input_schema": {"type": "object"}}],
            "messages": messages,
        }
        payloads.append(apply_cache_points(payload)[0])
    sim = Simulator("anthropic")
    begin = time.perf_counter()
    for payload in payloads:
        sim.prompt(payload)
    return (time.perf_counter() - begin) / samples


def median_of(runs: list[float]) -> float:
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k requests, 2 rounds")
    args = parser.parse_args()
    n, rounds = (10_000, 2) if args.quick else (100_000, 5)
    trace = build_trace(n, turns=20)
    tokens = statistics.mean(p.total_tokens for _, _, p, _ in trace)
    positions = statistics.mean(len(p.hashes) for _, _, p, _ in trace)
    print(f"trace: {len(trace)} requests, mean {tokens:,.0f} tokens and {positions:.0f} positions per request")

    timings: dict[str, list[float]] = {"baseline": [], "anthropic": [], "openai": []}
    rates: dict[str, float] = {}
    jobs: list[tuple[str, Callable[[], float]]] = [
        ("baseline", lambda: baseline(trace)),
        ("anthropic", lambda: _timed("anthropic", trace, rates)),
        ("openai", lambda: _timed("openai", trace, rates)),
    ]
    for _ in range(rounds):
        for name, job in jobs:
            timings[name].append(job())

    base = median_of(timings["baseline"])
    print(
        f"{'model':<11} {'median s':>9} {'requests/s':>12} {'per request':>12} {'vs baseline':>12}"
        f" {'token hit rate':>15}"
    )
    for name in ("baseline", "anthropic", "openai"):
        seconds = median_of(timings[name])
        rate = f"{rates[name]:.1%}" if name in rates else ""
        print(
            f"{name:<11} {seconds:9.3f} {len(trace) / seconds:12,.0f} {seconds / len(trace) * 1e6:9.1f} us"
            f" {seconds / base:11.1f}x {rate:>15}"
        )
    worst = max(median_of(timings["anthropic"]), median_of(timings["openai"])) * 100_000 / len(trace)
    print(f"simulator, 100k requests on one core: {worst:.2f} s (goal: well under {GOAL_SECONDS_PER_100K:.0f} s)")
    per_payload = payload_cost(200 if args.quick else 1000)
    print(
        f"building a SimPrompt from a raw payload (parse + PrefixView): {per_payload * 1e3:.2f} ms per request "
        f"-> {per_payload * 100_000:.0f} s per 100k on one core, {per_payload * 50_000:.0f} s on two"
    )


def _timed(provider: str, trace: list[tuple[float, str, SimPrompt, SimPrompt]], rates: dict[str, float]) -> float:
    seconds, rate = replay(provider, trace)
    rates[provider] = rate
    return seconds


if __name__ == "__main__":
    main()
