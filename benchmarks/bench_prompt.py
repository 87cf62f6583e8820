"""Prompt view throughput: payload -> `Request` -> `PrefixView` on a realistic multi-turn agent trace.

The analyzer turns every recorded request into a `PrefixView` before it can replay it, so this cost bounds how
fast `cachepoint analyze` goes. The trace is a support agent: 30 tools (~4.5k tokens of definitions), a ~3k-token
system prompt, and interleaved sessions that grow to 40-60 messages of user turns, assistant text, tool calls
and tool results; each request re-sends its whole conversation, as agents do. It is written twice, as
Anthropic Messages bodies (with the ``cache_control`` markers an app would send) and as OpenAI Chat Completions
bodies. Every request is decoded from its own JSON line before it is timed, so no two requests share objects
(as when reading a JSONL trace).

Stages, per request (median and mean microseconds, requests/s, seconds per 100k requests; each the median over
rounds, with the min-max of the round means for the stages the goal is about). Times are CPU seconds of this
process (``time.process_time``): "on one core" is CPU time, and waiting for a core on a shared machine is not the
builder's cost.

- ``json loads``: ``orjson.loads`` of the line, for scale (what reading the trace costs anyway).
- ``parse``: `Request.parse(payload)`.
- ``view cold``: `Request.positions()` with a fresh token counter (nothing seen before; sampled requests).
- ``view plain``: `Request.positions()` in trace order (the counter memoizes text across requests).
- ``builder``: `ViewBuilder.view(payload)` in trace order: parse and view in one call, reusing earlier work.
- ``builder cold``: the same with a fresh builder and counter per request (sampled requests).
- ``apply auto``: `apply_cache_points(payload, auto())` (parse, view, strategy, checks, render).
- ``apply+builder``: the same with ``builder=`` a `ViewBuilder` kept across the trace.
- ``builder+5 str``: the builder's view plus the five default strategies the analyzer replays, run on it.

The baseline, in the same process, is the plain path: ``parse`` + ``view plain``; the ratio to ``builder`` is
printed per format.

    python benchmarks/bench_prompt.py            # 6k requests per format, 3 rounds
    python benchmarks/bench_prompt.py --quick    # 1.2k requests per format, 1 round (CI smoke)
    python benchmarks/bench_prompt.py --rounds 5
    python benchmarks/bench_prompt.py --light    # sessions of 12-20 messages, shorter tool results (~5-8k tokens)
    python benchmarks/bench_prompt.py --profile anthropic  # cProfile of the builder path, top 25 functions
    python benchmarks/bench_prompt.py --requests 3000 --only builder  # the Anthropic builder alone, for
    python benchmarks/bench_prompt.py --requests 3000 --only decode   # instruction counts: run both under
        # `valgrind --tool=callgrind` (PYTHONHASHSEED=0) and subtract; the difference is the builder's

Goal (issue 6): parse + view of 100k such requests in < 20 s on one core (< 200 us per request, amortized).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from cachepoint.core.prompt import (
    PlacementContext,
    Request,
    ViewBuilder,
    apply_cache_points,
    auto,
    cache_at,
    cache_until,
    rolling,
    stable_prefix,
)
from cachepoint.core.tokens import EstimateCounter

GOAL_US = 200.0
GOAL_S = GOAL_US * 1e-6 * 100_000  # seconds per 100k requests


def _split(words: str) -> tuple[str, ...]:
    return tuple(words.split())


_SYLLABLES = _split(
    "ka ro mi te su na lo pe ri da ve to ba shi en or al in ex com pro tion ment ing er ly re de un st ch th "
    "qu ar ic ab ul os im pre con dis"
)
_COMMON = _split(
    "the of and to in is for on with as by that this be are it from or an at your you can order account "
    "refund shipping customer ticket policy please check status when not if will may must should return"
)


class Words:
    """Seeded pseudo-English: common words mixed with made-up ones, punctuation and the odd number."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        made_up = {"".join(self.rng.choices(_SYLLABLES, k=self.rng.randint(1, 4))) for _ in range(3000)}
        self.vocab = sorted(made_up)

    def text(self, words: int) -> str:
        rng = self.rng
        out: list[str] = []
        for i in range(words):
            w = rng.choice(_COMMON) if rng.random() < 0.45 else rng.choice(self.vocab)
            if i == 0 or out[-1].endswith("."):
                w = w.capitalize()
            if rng.random() < 0.03:
                w = str(rng.randint(1, 99999))
            if rng.random() < 0.08:
                w += rng.choice((".", ",", ".", ":"))
            out.append(w)
        return " ".join(out) + "."


def _tools(words: Words) -> list[dict[str, Any]]:
    tools = []
    for n in range(30):
        props = {
            f"field_{k}": {"type": words.rng.choice(("string", "integer", "boolean")), "description": words.text(12)}
            for k in range(words.rng.randint(2, 6))
        }
        tools.append(
            {
                "name": f"tool_{n:02d}_{words.rng.choice(words.vocab)}",
                "description": words.text(words.rng.randint(40, 90)),
                "input_schema": {"type": "object", "properties": props, "required": sorted(props)[:1]},
            }
        )
    return tools


def _session(words: Words, s: int, max_messages: int, result_words: int) -> Iterator[list[dict[str, Any]]]:
    """Neutral (Anthropic-shaped) conversations, one per model call, growing turn by turn."""
    rng = words.rng
    messages: list[dict[str, Any]] = []
    calls = 0
    while len(messages) < max_messages:
        messages.append({"role": "user", "content": f"[session {s}] " + words.text(rng.randint(15, 120))})
        yield messages
        for _ in range(rng.choice((0, 1, 1, 2, 3))):  # tool rounds in this turn
            uses = []
            for _ in range(rng.choice((1, 1, 1, 2))):
                calls += 1
                uses.append(
                    {
                        "type": "tool_use",
                        "id": f"toolu_{s:05d}_{calls:03d}",
                        "name": f"tool_{rng.randint(0, 29):02d}",
                        "input": {"query": words.text(rng.randint(3, 12)), "limit": rng.randint(1, 50)},
                    }
                )
            messages.append({"role": "assistant", "content": [{"type": "text", "text": words.text(12)}, *uses]})
            results = [
                {"type": "tool_result", "tool_use_id": u["id"], "content": words.text(rng.randint(40, result_words))}
                for u in uses
            ]
            messages.append({"role": "user", "content": results})
            yield messages
        messages.append({"role": "assistant", "content": [{"type": "text", "text": words.text(rng.randint(20, 150))}]})


def _anthropic(tools: list[dict[str, Any]], system: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    marked_tools = [*tools[:-1], {**tools[-1], "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    last = messages[-1]
    content = last["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else [dict(b) for b in content]
    blocks[-1]["cache_control"] = {"type": "ephemeral"}
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "tools": marked_tools,
        "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "messages": [*messages[:-1], {"role": last["role"], "content": blocks}],
    }


def _openai_chat(tools: list[dict[str, Any]], system: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for m in messages:
        content = m["content"]
        if isinstance(content, str):
            out.append({"role": m["role"], "content": content})
            continue
        if m["role"] == "assistant":
            text = " ".join(b["text"] for b in content if b["type"] == "text")
            calls = [
                {
                    "id": b["id"],
                    "type": "function",
                    "function": {"name": b["name"], "arguments": orjson.dumps(b["input"]).decode()},
                }
                for b in content
                if b["type"] == "tool_use"
            ]
            msg: dict[str, Any] = {"role": "assistant", "content": text}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
        else:
            out.extend({"role": "tool", "tool_call_id": b["tool_use_id"], "content": b["content"]} for b in content)
    functions = [
        {
            "type": "function",
            "function": {"name": t["name"], "description": t["description"], "parameters": t["input_schema"]},
        }
        for t in tools
    ]
    return {"model": "gpt-4.1", "max_completion_tokens": 2048, "tools": functions, "messages": out}


def build_trace(requests: int, seed: int = 11, *, light: bool = False) -> dict[str, list[bytes]]:
    """JSON lines per format: sessions interleaved (up to 40 open at once), in request order."""
    words = Words(seed)
    tools = _tools(words)
    system = "\n\n".join(words.text(words.rng.randint(80, 160)) for _ in range(20))
    rng = random.Random(seed + 1)
    out: dict[str, list[bytes]] = {"anthropic": [], "openai-chat": []}
    open_sessions: list[Iterator[list[dict[str, Any]]]] = []
    started = 0
    while len(out["anthropic"]) < requests:
        while len(open_sessions) < 40:
            longest = rng.randint(12, 20) if light else rng.randint(40, 60)
            open_sessions.append(_session(words, started, longest, 120 if light else 400))
            started += 1
        i = rng.randrange(len(open_sessions))
        messages = next(open_sessions[i], None)
        if messages is None:
            open_sessions.pop(i)
            continue
        out["anthropic"].append(orjson.dumps(_anthropic(tools, system, messages)))
        out["openai-chat"].append(orjson.dumps(_openai_chat(tools, system, messages)))
    return out


# --- stages ------------------------------------------------------------------------------------------------------

Stage = Callable[[Any], Any]
Prepare = Callable[[Any], Any]


def _raw(line: bytes) -> bytes:
    return line


def _time_stage(lines: list[bytes], stage: Stage, prepare: Prepare | None = None) -> list[float]:
    """Seconds per request for ``stage`` (``prepare`` runs untimed first, its result is what the stage gets;
    `_raw` hands the stage the JSON line itself)."""
    timings = []
    clock = time.process_time
    for line in lines:
        payload = orjson.loads(line) if prepare is not _raw else None
        arg = line if prepare is _raw else prepare(payload) if prepare is not None else payload
        begin = clock()
        stage(arg)
        timings.append(clock() - begin)
    return timings


def _stages(fmt: str) -> dict[str, tuple[Callable[[], Stage], Prepare | None]]:
    """name -> (factory making a fresh stage per round, untimed preparation)."""
    provider = "anthropic" if fmt == "anthropic" else "openai"
    parse = Request.parse

    def loads() -> Stage:
        return orjson.loads

    def parse_stage() -> Stage:
        return parse

    def view_cold() -> Stage:
        return lambda request: request.positions(provider=provider, counter=EstimateCounter())

    def view_plain() -> Stage:
        counter = EstimateCounter()
        return lambda request: request.positions(provider=provider, counter=counter)

    def builder() -> Stage:
        return ViewBuilder(provider=provider, counter=EstimateCounter()).view

    def builder_cold() -> Stage:
        return lambda payload: ViewBuilder(provider=provider, counter=EstimateCounter()).view(payload)

    def apply_auto() -> Stage:
        counter = EstimateCounter()
        strategy = auto()
        return lambda payload: apply_cache_points(payload, strategy, provider=provider, counter=counter)

    def apply_builder() -> Stage:
        views = ViewBuilder(counter=EstimateCounter())
        strategy = auto()
        return lambda payload: apply_cache_points(payload, strategy, provider=provider, builder=views)

    def strategies() -> Stage:
        # What the analyzer does per request besides the view: run each default strategy on it.
        views = ViewBuilder(provider=provider, counter=EstimateCounter())
        chosen = [auto(), stable_prefix(), cache_until(-1), cache_at("tools", "system", -1), rolling(4)]

        def run(payload: dict[str, Any]) -> None:
            view = views.view(payload)
            info = view.info
            assert info is not None
            for strategy in chosen:
                strategy(PlacementContext(view, info, provider, info.max_breakpoints))

        return run

    return {
        "json loads": (loads, _raw),
        "parse": (parse_stage, None),
        "view cold": (view_cold, parse),
        "view plain": (view_plain, parse),
        "builder": (builder, None),
        "builder cold": (builder_cold, None),
        "apply auto": (apply_auto, None),
        "apply+builder": (apply_builder, None),
        "builder+5 str": (strategies, None),
    }


def _spread(values: list[float]) -> str:
    """``median (min-max)``."""
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:10.1f}"


def run(trace: dict[str, list[bytes]], rounds: int, cold_sample: int) -> None:
    for fmt, lines in trace.items():
        sample = lines[:: max(1, len(lines) // cold_sample)]
        views = [Request.parse(orjson.loads(line)).positions() for line in sample]
        print(
            f"\n{fmt}: {len(lines)} requests, mean {statistics.fmean(len(line) for line in lines) / 1024:.0f} KiB, "
            f"{statistics.fmean(len(v) for v in views):.0f} positions, "
            f"~{statistics.fmean(v.total_tokens for v in views):,.0f} tokens per request"
        )
        medians: dict[str, list[float]] = {}
        means: dict[str, list[float]] = {}
        for _ in range(rounds):
            for name, (factory, prepare) in _stages(fmt).items():
                data = sample if "cold" in name else lines
                gc.collect()
                timings = _time_stage(data, factory(), prepare)
                medians.setdefault(name, []).append(statistics.median(timings))
                means.setdefault(name, []).append(statistics.fmean(timings))
        print(
            f"{'stage':<14} {'median us':>10} {'mean us':>10} {'requests/s':>11} {'s per 100k':>11}"
            f"  {'mean us per round: median (min-max)':>36}"
        )
        for name, runs in medians.items():
            med, mean = statistics.median(runs), statistics.median(means[name])
            print(
                f"{name:<14} {_us(med)} {_us(mean)} {1 / mean if mean else 0:11,.0f} {mean * 1e5:11.1f}"
                f"  {_spread([m * 1e6 for m in means[name]]):>36}"
            )
        plain = statistics.median(means["parse"]) + statistics.median(means["view plain"])
        fast = statistics.median(means["builder"])
        cold = statistics.median(means["parse"]) + statistics.median(means["view cold"])
        per_100k = [m * 1e5 for m in means["builder"]]
        ratios = [(p + v) / b for p, v, b in zip(means["parse"], means["view plain"], means["builder"], strict=True)]
        verdict = "meets" if statistics.median(per_100k) < GOAL_S else "MISSES"
        print(
            f"parse + view: plain {plain * 1e6:.0f} us, builder {fast * 1e6:.0f} us -> {plain / fast:.1f}x "
            f"(per round: {_spread(ratios)}x); builder, 100k requests in {_spread(per_100k)} s ({verdict} < "
            f"{GOAL_S:.0f} s); cold {cold * 1e6:.0f} us vs builder cold "
            f"{statistics.median(means['builder cold']) * 1e6:.0f} us"
        )


def profile(trace: dict[str, list[bytes]], fmt: str) -> None:
    payloads = [orjson.loads(line) for line in trace[fmt]]
    stage = ViewBuilder(provider="anthropic" if fmt == "anthropic" else "openai").view
    profiler = cProfile.Profile()
    profiler.enable()
    for payload in payloads:
        stage(payload)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def only(trace: dict[str, list[bytes]], what: str) -> None:
    """Decode every Anthropic line, and view it with one `ViewBuilder` unless ``what`` is ``decode``: the same
    work in both runs but the builder's, so the difference of two runs' instruction counts is the builder's."""
    lines = trace["anthropic"]
    view = ViewBuilder(provider="anthropic", counter=EstimateCounter()).view if what == "builder" else None
    gc.collect()
    spent = 0.0
    clock = time.process_time
    for line in lines:
        payload = orjson.loads(line)
        if view is not None:
            begin = clock()
            view(payload)
            spent += clock() - begin
    if view is not None:
        print(
            f"builder: {spent / len(lines) * 1e6:.1f} us per request (CPU), {spent / len(lines) * 1e5:.1f} s per 100k"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1.2k requests per format, 1 round")
    parser.add_argument(
        "--light", action="store_true", help="shorter sessions (12-20 messages) and tool results (~5-8k tokens)"
    )
    parser.add_argument("--profile", choices=("anthropic", "openai-chat"), help="cProfile the builder on one format")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3; 1 with --quick)")
    parser.add_argument("--requests", type=int, default=None, help="requests per format (6000; 1200 with --quick)")
    parser.add_argument(
        "--only", choices=("builder", "decode"), help="only decode the Anthropic trace, with or without the builder"
    )
    args = parser.parse_args()
    requests, rounds, cold = (1200, 1, 100) if args.quick else (6000, 3, 300)
    rounds = args.rounds or rounds
    requests = args.requests or requests
    begin = time.perf_counter()
    trace = build_trace(requests, light=args.light)
    print(f"trace built in {time.perf_counter() - begin:.1f} s; load average {os.getloadavg()[0]:.1f}")
    if args.profile:
        profile(trace, args.profile)
        return
    if args.only:
        only(trace, args.only)
        return
    run(trace, rounds, cold)


if __name__ == "__main__":
    main()
