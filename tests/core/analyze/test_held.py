"""What a replay holds stays bounded past its first window: read from `Replay.held`, not from resident memory.

A day of traffic is many windows long. Past the first one, the requests kept, the fingerprints, the simulators'
cache entries and the per-session totals in memory must level off: a replay twice as long holds no more.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

import orjson

from cachepoint.core.analyze.prepare import PrepareContext, Prepared
from cachepoint.core.analyze.replay import Held, Replay
from cachepoint.core.analyze.scenarios import scenarios_for

SYSTEM = "You answer from the returns policy. " * 300  # ~2k tokens, shared by every conversation


def _trace(ctx: PrepareContext, sessions: int) -> Iterator[Prepared]:
    """A conversation starts every 20 s and sends 3 turns a minute apart (each with the whole conversation so
    far), interleaved in start order: ``3 * sessions`` requests over ``20 * sessions`` seconds."""
    turns = sorted((20.0 * s + 60.0 * t, s, t) for s in range(sessions) for t in range(3))
    for line, (at, s, t) in enumerate(turns, 1):
        messages = []
        for k in range(t + 1):
            messages.append({"role": "user", "content": f"order {s} question {k}: " + "where is it " * 40})
            if k < t:
                messages.append({"role": "assistant", "content": f"order {s} answer {k}: " + "it ships " * 60})
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 64,
            "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
            "messages": messages,
        }
        envelope = {"timestamp": 1_800_000_000.0 + at, "session": f"order-{s}", "request": body}
        yield ctx.prepare_line(orjson.dumps(envelope), line=line, offset=0)


def test_what_the_replay_holds_stays_bounded_past_the_first_window() -> None:
    scenarios = scenarios_for()
    sessions = 1500  # 4,500 requests over 8.3 hours: 33 windows of 15 minutes
    replay = Replay(scenarios, window=900.0, keep=200, sessions_in_memory=100)
    held: list[Held] = []

    def progress(done: int) -> None:
        if done % 150 == 0:
            held.append(replay.held())

    tally = replay.run(_trace(PrepareContext(scenarios=scenarios), sessions), progress)
    result = replay.finish(tally)
    tally.close()
    assert result.sharing.requests == 3 * sessions
    assert result.sharing.sessions == sessions
    assert replay.held() == Held(0, 0, 0, 0, 0, 0, 0, 0, replay.held().memos)  # freed once the run is over

    # The first window (and the simulators' hour of 1h entries) is a sixth of the trace; compare what is held
    # in the last half with the second sixth to the half: a growing count would double.
    middle, late = held[len(held) // 6 : len(held) // 2], held[len(held) // 2 :]
    for name in asdict(held[0]):
        before = max(getattr(h, name) for h in middle)
        after = max(getattr(h, name) for h in late)
        # Retired fingerprints and timeline rows go to disk 8,192 at a time: a batch waits in memory until then.
        slack = 8192 if name in ("prints", "timeline_rows") else 64
        assert after <= 1.25 * before + slack, (name, before, after)
    assert max(h.sessions for h in held) <= 100
    assert max(h.requests for h in held) <= 200 + 50
