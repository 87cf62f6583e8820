"""Prefix index: `PrefixCache` side by side with prompt-cache-engine's radix trie, and the analyzer's sharing index
on a trace's own block sequences.

The baseline is prompt-cache-engine's `RadixTrie` (re-implemented step for step in `seed_trie.py`, which says
why and from which commit). Workloads:

- ``seed``: the seed's own benchmark (its ``benchmarks/bench_core.py``): 50,000 inserts of 30 tokens (10 shared
  prefixes of 20 tokens, 10 unique tokens each); lookups of 10,000 queries (5,000 of the stored sequences, 5,000
  new 35-token ones) against 10,000 stored sequences. Sequences are built as the seed builds them.
- ``agent``: 4k-token agent prompts, tokenized as a tokenizer returns them: every prompt a new tuple of new int
  objects (ids above 256 are new objects in CPython; a tokenizer's output list is built from scratch each call).
  A support agent: tools and system prompt (2,500 tokens) shared by every session, sessions of 3-12 turns whose
  every request carries the whole conversation, sessions interleaved. Build: insert every prompt (2,000 by
  default, ~4.3k tokens each). Lookup: for every stored prompt, the next request of another branch of its
  conversation (the stored prompt, then a different assistant reply and user message).
- memory retained: what each structure holds after the build (tracemalloc: traced bytes after the build minus
  before, with the prompts themselves released), once, outside the timed rounds (tracemalloc slows Python down).

Each round times both sides on the same work, and alternates which side goes first; figures are per operation,
the median over rounds with the min-max range, and the ratio is taken per round (seed / `PrefixCache`). Times
are CPU seconds of this process (``time.process_time``): on a shared machine, waiting for a core is not the
structure's cost.

``trace``: the prefix index of ``cachepoint analyze`` on the block-hash sequences the analyzer itself prepares
from a generated support-agent trace (`bench_analyze.build_trace`, `PrepareContext.prepare_line`): one
`PrefixCache.insert` per request, as the analyzer's sharing index does, against the cheapest possible index, a
dict lookup and store of the whole prompt's last block hash per request (which finds only exact repeats).

    python benchmarks/bench_prefix.py                  # full run
    python benchmarks/bench_prefix.py --quick          # a short run (CI smoke)
    python benchmarks/bench_prefix.py --rounds 7 --prompts 3000 --requests 100000

Goals (issue 18): `PrefixCache` >= 10x the seed trie on the agent prompts, >= 1x on its 30-token workload,
and no more memory retained than the seed trie.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from array import array
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any

from bench_analyze import build_trace
from cachepoint.core.analyze.prepare import PrepareContext
from cachepoint.core.prefix import PrefixCache
from seed_trie import SeedTrie

GOAL_AGENT = 10.0
GOAL_SEED = 1.0
VOCABULARY = 100_000

Sequences = Callable[[], Iterator[tuple[int, ...]]]


# --- workloads ---


def seed_sequences(
    count: int, prefix_length: int, suffix_length: int, unique_prefixes: int = 10
) -> list[tuple[int, ...]]:
    """The seed benchmark's generator: ``count`` sequences of a shared prefix (one of ``unique_prefixes``) and a
    unique suffix of consecutive ids."""
    out = []
    for i in range(count):
        p = i % unique_prefixes
        out.append(
            tuple(range(p * 1000, p * 1000 + prefix_length)) + tuple(range(i * 10000, i * 10000 + suffix_length))
        )
    return out


class AgentPrompts:
    """Token ids of a support agent's requests; `tokenize` returns new int objects every call."""

    def __init__(self, prompts: int, seed: int = 18) -> None:
        rng = random.Random(seed)
        # Token frequencies follow Zipf's law over a 100k vocabulary; the 10 most frequent (punctuation, spaces:
        # about a quarter of all tokens) have ids under 256, the rest ids spread over the vocabulary. CPython
        # shares the int objects of ids under 257; every other id is a new object in every tokenizer output.
        ranks = range(VOCABULARY)
        weights = list(accumulate(1 / (rank + 1) for rank in ranks))
        ids = rng.sample(range(256), 10)
        rest = sorted(set(range(VOCABULARY)) - set(ids))
        rng.shuffle(rest)
        ids += rest

        def text(tokens: int) -> array[int]:
            return array("q", [ids[rank] for rank in rng.choices(ranks, cum_weights=weights, k=tokens)])

        self.shared = text(2500)  # tools and system prompt
        self.prompts: list[array[int]] = []  # conversation part of each request, arrival order
        self.branches: list[array[int]] = []  # the same conversation, continued differently
        active: list[list[array[int]]] = []
        while len(self.prompts) < prompts:
            while len(active) < 12:
                active.append([array("q") for _ in range(rng.randint(3, 12))])  # one empty slot per turn
            session = rng.choice(active)
            turns = len([t for t in session if len(t)])
            so_far = array("q")
            for turn in session[:turns]:
                so_far.extend(turn)
            user = text(rng.randint(40, 200))
            session[turns].extend(user)
            self.prompts.append(so_far + user)
            self.branches.append(so_far + user + text(rng.randint(100, 500)) + text(rng.randint(40, 200)))
            session[turns].extend(text(rng.randint(100, 500)))  # the reply this session goes on with
            if turns + 1 == len(session):
                active.remove(session)

    def tokenize(self, part: list[array[int]]) -> Iterator[tuple[int, ...]]:
        shared = self.shared
        for conversation in part:
            yield tuple((shared + conversation).tolist())


# --- timing ---


def per_call(op: Callable[[tuple[int, ...]], object], sequences: Iterable[tuple[int, ...]]) -> tuple[float, int]:
    """(seconds spent inside ``op``, calls). A list is timed as one loop (for operations of microseconds); any
    other iterable call by call, each sequence made just before its call, outside the timing (for prompts of
    thousands of tokens, which would not all fit in memory at once)."""
    clock = time.process_time
    gc.collect()  # garbage of the previous phase is collected now, not charged to this one
    if isinstance(sequences, list):
        start = clock()
        for seq in sequences:
            op(seq)
        return clock() - start, len(sequences)
    spent = 0.0
    calls = 0
    for seq in sequences:
        start = clock()
        op(seq)
        spent += clock() - start
        calls += 1
    return spent, calls


class Side:
    """One contender: how it is built, how it stores and looks up."""

    def __init__(self, name: str, make: Callable[[], Any], store: str, find: str) -> None:
        self.name, self.make, self.store, self.find = name, make, store, find

    def build(self, sequences: Iterable[tuple[int, ...]], keys: list[str]) -> tuple[Any, float, int]:
        index = self.make()
        store = getattr(index, self.store)
        gc.collect()
        if isinstance(sequences, list):
            start = time.process_time()
            for seq, key in zip(sequences, keys, strict=False):
                store(seq, key)
            return index, time.process_time() - start, len(sequences)
        next_key = iter(keys).__next__
        spent, calls = per_call(lambda seq: store(seq, next_key()), sequences)
        return index, spent, calls


SEED = Side("seed RadixTrie", SeedTrie, "insert", "find_longest_prefix")
OURS = Side("PrefixCache", PrefixCache, "put", "lookup")


def rounds_of(rounds: int, work: Callable[[Side], tuple[float, float]]) -> dict[str, list[tuple[float, float]]]:
    """``work(side)`` -> (seconds per build op, seconds per lookup op) for each side, ``rounds`` times, alternating
    which side goes first."""
    out: dict[str, list[tuple[float, float]]] = {SEED.name: [], OURS.name: []}
    for r in range(rounds):
        for side in (SEED, OURS) if r % 2 == 0 else (OURS, SEED):
            out[side.name].append(work(side))
    return out


def retained(side: Side, sequences: Sequences, keys: list[str]) -> int:
    """Bytes the built structure holds (the sequences are released as they are stored)."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index, _, _ = side.build(sequences(), keys)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del index
    return after - before


# --- reporting ---


def span(values: list[float], scale: float = 1e6, fmt: str = "{:.1f}") -> str:
    """``median (min-max)`` of ``values`` times ``scale``."""
    median, low, high = (fmt.format(v * scale) for v in (statistics.median(values), min(values), max(values)))
    return f"{median} ({low}-{high})"


def report(title: str, results: dict[str, list[tuple[float, float]]], ops: tuple[str, str], goal: float) -> None:
    seed, ours = results[SEED.name], results[OURS.name]
    print(
        f"\n{title}  (us per operation, median (min-max) of {len(seed)} rounds; ratio = seed / PrefixCache per round)"
    )
    for k, op in enumerate(ops):
        ratios = [s[k] / o[k] for s, o in zip(seed, ours, strict=True)]
        verdict = "meets" if statistics.median(ratios) >= goal else "MISSES"
        print(
            f"  {op:8s} seed {span([s[k] for s in seed]):>26}  PrefixCache {span([o[k] for o in ours]):>24}"
            f"  ratio {span(ratios, 1, '{:.1f}')}x  ({verdict} >= {goal:g}x)"
        )


# --- workloads run ---


def bench_seed(rounds: int) -> None:
    inserts = 50_000
    keys = [f"key-{i}" for i in range(inserts)]

    def work(side: Side) -> tuple[float, float]:
        _, build_s, n = side.build(seed_sequences(inserts, 20, 10), keys)
        stored = seed_sequences(10_000, 20, 10)
        # As the seed's lookup benchmark: 5,000 of the stored sequences (the same tuples), 5,000 new ones.
        index, _, _ = side.build(stored, keys)
        queries = stored[:5000] + seed_sequences(5000, 20, 15)
        lookup_s, m = per_call(getattr(index, side.find), queries)
        return build_s / n, lookup_s / m

    report("seed's own workload, 30-token sequences", rounds_of(rounds, work), ("insert", "lookup"), GOAL_SEED)
    mem = {side.name: retained(side, lambda: iter(seed_sequences(inserts, 20, 10)), keys) for side in (SEED, OURS)}
    print_memory(mem, f"{inserts:,} sequences of 30 tokens")


def bench_agent(rounds: int, prompts: int) -> None:
    agent = AgentPrompts(prompts)
    keys = [f"key-{i}" for i in range(prompts)]
    tokens = sum(len(agent.shared) + len(p) for p in agent.prompts)
    print(f"\nagent prompts: {prompts:,} requests, {tokens / prompts:,.0f} tokens on average ({tokens:,} in all)")

    def work(side: Side) -> tuple[float, float]:
        index, build_s, n = side.build(agent.tokenize(agent.prompts), keys)
        lookup_s, m = per_call(getattr(index, side.find), agent.tokenize(agent.branches))
        return build_s / n, lookup_s / m

    report("agent prompts, fresh int objects per prompt", rounds_of(rounds, work), ("build", "lookup"), GOAL_AGENT)
    mem = {side.name: retained(side, lambda: agent.tokenize(agent.prompts), keys) for side in (SEED, OURS)}
    print_memory(mem, f"{prompts:,} agent prompts")


def print_memory(mem: dict[str, int], what: str) -> None:
    seed, ours = mem[SEED.name], mem[OURS.name]
    verdict = "meets" if ours <= seed else "MISSES"
    print(
        f"  memory retained after storing {what}: seed {seed / 2**20:,.1f} MiB, PrefixCache {ours / 2**20:,.1f} MiB"
        f" ({ours / seed:.2f} of the seed's: {verdict} <= 1)"
    )


def bench_trace(rounds: int, requests: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.jsonl"
        count, _ = build_trace(path, requests)
        context = PrepareContext()
        begin = time.perf_counter()
        with open(path, "rb") as handle:
            sequences = [context.prepare_line(line, line=n, offset=0).blocks for n, line in enumerate(handle, 1)]
        prepared_s = time.perf_counter() - begin
    blocks = sum(len(s) for s in sequences)
    print(
        f"\ntrace: {count:,} requests of bench_analyze's support agent, prepared by the analyzer in {prepared_s:.0f}s:"
        f" {blocks / count:.1f} block hashes per request"
    )

    def index() -> None:
        cache: PrefixCache[int] = PrefixCache()
        insert = cache.insert
        for n, seq in enumerate(sequences):
            insert(seq, n)

    def whole_prompt_dict() -> None:
        seen: dict[str, int] = {}
        for n, seq in enumerate(sequences):
            seen.get(seq[-1])
            seen[seq[-1]] = n

    runs: dict[str, list[float]] = {"index": [], "dict": []}
    for r in range(rounds):
        for name in ("index", "dict") if r % 2 == 0 else ("dict", "index"):
            gc.collect()
            begin = time.process_time()
            index() if name == "index" else whole_prompt_dict()
            runs[name].append(time.process_time() - begin)
    ratios = [i / d for i, d in zip(runs["index"], runs["dict"], strict=True)]
    rate = count / statistics.median(runs["index"])
    print(f"  prefix index of cachepoint analyze, all {count:,} requests, median (min-max) of {rounds} rounds:")
    print(f"  PrefixCache.insert       {span(runs['index'], 1, '{:.3f}')} s   {rate:,.0f} requests/s")
    print(
        f"  dict of whole prompts    {span(runs['dict'], 1, '{:.3f}')} s   (index / dict: {span(ratios, 1, '{:.1f}')}x)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run (CI smoke)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per measurement (default 5; 3 with --quick)")
    parser.add_argument("--prompts", type=int, default=None, help="agent prompts (default 2,000; 300 with --quick)")
    parser.add_argument("--requests", type=int, default=None, help="trace requests (default 100k; 3k with --quick)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    prompts = args.prompts or (300 if args.quick else 2000)
    requests = args.requests or (3000 if args.quick else 100_000)
    print(f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    bench_seed(rounds)
    bench_agent(rounds, prompts)
    bench_trace(rounds, requests)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
