"""The simulator's state is bounded by the traffic of its longest lifetime, not by the length of the replay.

A day of traffic replayed through one `Simulator` writes millions of entries; a provider forgets each one after
its lifetime. The simulator must too, or a long replay holds every entry it ever wrote. What it holds is read
through `Simulator.entries(live_only=False)` (every stored entry, expired or not) and `Simulator.held()`.
"""

from __future__ import annotations

from cachepoint.core.simulate import SimBreakpoint, SimPrompt, Simulator


def _conversation(n: int, *, model: str = "claude-sonnet-4-5", key: str | None = None) -> SimPrompt:
    """A request of its own conversation: 2,000 shared tokens, then 1,500 of its own, a 5-minute breakpoint on
    each (the second one is new for every ``n``)."""
    return SimPrompt(
        ("sys", f"sys/q{n}"),
        (2000, 3500),
        breakpoints=(SimBreakpoint(0, "5m"), SimBreakpoint(1, "5m")),
        model=model,
        cache_key=key,
    )


def test_entries_that_expired_are_dropped_as_a_long_replay_goes_on() -> None:
    sim = Simulator("anthropic")
    held: list[int] = []
    for n in range(12_000):  # a request every 10 s: 30 conversations in any 5 minutes, 33 hours in all
        at = n * 10.0
        result = sim.request(_conversation(n), at=at)
        assert result.read_tokens == (2000 if n else 0)  # the shared part stays warm all along
        if n % 1000 == 999:
            held.append(len(sim.entries(at=at, live_only=False)))
    live = len(sim.entries(at=12_000 * 10.0))
    assert live <= 32
    # Expired entries go in sweeps (amortized), so what is held may exceed what is live, but not grow.
    assert max(held) <= 2 * 1024 + 64, held
    assert held[-1] <= held[2], held


def test_openai_routing_partitions_are_dropped_once_their_entries_expired() -> None:
    # GPT-5.6 explicit breakpoints: one breakpoint store per routing bucket (prompt_cache_key + leading prefix).
    sim = Simulator("openai")
    for n in range(6000):  # a new prompt_cache_key every request, for 10 hours
        prompt = _conversation(n, model="gpt-5.6", key=f"user-{n}")
        sim.request(prompt, at=n * 6.0)
    held = sim.held()
    assert held.partitions <= 2 * 1024 + 64, held
    assert held.entries <= 2 * (2 * 1024 + 64), held


def test_openai_automatic_buckets_are_dropped_once_their_prefixes_expired() -> None:
    # gpt-4o caches automatically; in_memory retention: a prefix lives 5 minutes after its last use.
    sim = Simulator("openai")
    for n in range(12_000):
        prompt = SimPrompt(
            (f"doc{n}", f"doc{n}/q"), (1500, 2000), model="gpt-4o", cache_key=f"user-{n}", retention="in_memory"
        )
        sim.request(prompt, at=n * 6.0)
    held = sim.held()
    assert held.entries <= 2 * 4096 + 64, held
    assert held.routes <= 2 * 4096 + 64, held


def test_a_partition_swept_away_reads_as_if_it_had_stayed() -> None:
    # The tenant comes back after its entries expired and others' traffic swept its partition away: a cold start,
    # as it would be with its expired entries still stored.
    sim = Simulator("anthropic")
    first = sim.request(_conversation(0), at=0.0, tenant="early")
    for n in range(1, 3000):
        sim.request(_conversation(n), at=n * 10.0, tenant="busy")
    back = sim.request(_conversation(0), at=3000 * 10.0, tenant="early")
    assert (back.read_tokens, back.write_tokens) == (first.read_tokens, first.write_tokens) == (0, 3500)
