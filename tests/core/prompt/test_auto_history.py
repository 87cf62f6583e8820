"""`auto(history=GapHistory())`: `auto_adaptive`'s TTLs, placed live one request at a time, as an adapter places
them (`cachepoint.core.analyze.adaptive.GapHistory`, consulted by `cachepoint.core.prompt.auto`)."""

from __future__ import annotations

import lzma
import threading
from pathlib import Path
from typing import Any

import pytest

from cachepoint.core.analyze.adaptive import GapHistory, adapt_stream
from cachepoint.core.analyze.prepare import PrepareContext
from cachepoint.core.analyze.scenarios import place, unmarked
from cachepoint.core.prompt import ViewBuilder, apply_cache_points, auto
from cachepoint.core.traces import parse_line

TRACES = Path(__file__).parents[3] / "examples" / "traces"
SYSTEM = "You are the support agent of Acme routers. Answer from the manual. " * 120


class Conversation:
    """One customer's chat sent through a strategy, on a clock the test moves."""

    def __init__(self, strategy: Any, clock: list[float], opening: str) -> None:
        self.strategy, self.clock = strategy, clock
        self.messages: list[dict[str, Any]] = [{"role": "user", "content": opening + " My router reboots. " * 150}]

    def turn(self, gap: float) -> dict[str, Any]:
        """The next request, ``gap`` seconds after the previous one; returns the payload sent."""
        self.clock[0] += gap
        payload, _ = apply_cache_points(
            {"model": "claude-sonnet-4-5", "max_tokens": 8, "system": SYSTEM, "messages": self.messages},
            strategy=self.strategy,
        )
        self.messages = [*self.messages, {"role": "assistant", "content": "Try this. " * 60}]
        self.messages.append({"role": "user", "content": "Still rebooting. " * 60})
        return payload


def tail_ttl(payload: dict[str, Any]) -> str:
    marker = payload["messages"][-1]["content"][-1]["cache_control"]
    return str(marker.get("ttl", "5m"))


def test_a_conversation_that_keeps_pausing_gets_the_1h_tail() -> None:
    clock = [0.0]
    chat = Conversation(auto(history=GapHistory(clock=lambda: clock[0])), clock, "Customer A.")
    ttls = [tail_ttl(chat.turn(gap)) for gap in (30.0, 900.0) * 4]
    assert ttls[0] == "5m"  # nothing seen yet
    assert ttls[-4:] == ["1h"] * 4  # after its pauses: written to last through the next one


def test_steady_conversations_keep_5m() -> None:
    clock = [0.0]
    strategy = auto(history=GapHistory(clock=lambda: clock[0]))
    chats = [Conversation(strategy, clock, f"Customer {n}.") for n in range(3)]
    ttls = [tail_ttl(chat.turn(20.0)) for _ in range(6) for chat in chats]
    assert ttls == ["5m"] * 18


def test_without_a_history_auto_is_unchanged() -> None:
    clock = [0.0]
    plain = Conversation(auto(), clock, "Customer A.")
    assert [tail_ttl(plain.turn(gap)) for gap in (30.0, 900.0) * 3] == ["5m"] * 6
    assert auto() == auto(history=GapHistory())  # the history is not part of the strategy's identity
    assert repr(auto(history=GapHistory())) == "Auto(static_ttl=None, conversation_ttl=None, anchors=1)"


def test_auto_rejects_a_history_without_advise() -> None:
    with pytest.raises(TypeError, match="history: expected a TTLHistory"):
        auto(history="1h")  # type: ignore[arg-type]


def test_live_placements_are_the_analyzers_auto_adaptive_request_by_request() -> None:
    """The first 300 requests of the shipped support trace (24 tools, a quarter of the sessions with their own
    tool order, customers away 6-25 minutes): placed live in start order, no session ids, on a clock that reads
    each request's timestamp, every breakpoint and TTL is the one `cachepoint analyze` replays as auto_adaptive."""
    with lzma.open(TRACES / "support_agent.jsonl.xz") as handle:
        lines = [line for line in handle.read().splitlines() if line.strip()][:300]
    ctx = PrepareContext(strategies=["auto_adaptive"])  # scenarios: recorded, none, auto_adaptive
    items = sorted(
        (ctx.prepare_line(line, line=n + 1, offset=0) for n, line in enumerate(lines)),
        key=lambda p: (p.time or 0.0, p.line),
    )
    analyzer = [item.placements[2] for item in adapt_stream(items, ctx.scenarios)]
    now = [0.0]
    strategy = auto(history=GapHistory(clock=lambda: now[0]))
    builder = ViewBuilder()
    live = []
    for item in items:
        request = builder.parse(parse_line(lines[item.line - 1], line=1, offset=0).request, provider=item.provider)
        info = ctx.info(item.provider, item.model, request.format)[0]
        now[0] = item.time or 0.0
        live.append(place(unmarked(builder.positions(request, info=info)), strategy, info=info, provider=item.provider))

    def ttls(placements: Any) -> list[list[tuple[int, str]]]:  # None is the default TTL, 5m
        return [[(bp.position, bp.ttl or "5m") for bp in p] for p in placements]

    assert ttls(p.breakpoints for p in live) == ttls(analyzer)
    assert sum(bp.ttl == "1h" for p in analyzer for bp in p if bp.position > 1) > 0  # some conversations went 1h


def test_one_history_from_many_threads_stays_bounded() -> None:
    history = GapHistory(sessions=8)
    strategy = auto(history=history)
    errors: list[BaseException] = []

    def customer(n: int) -> None:
        try:
            chat = Conversation(strategy, [0.0], f"Customer {n}.")
            for _ in range(5):
                chat.turn(10.0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=customer, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert history.conversations == 8  # 32 conversations seen, the 8 most recently active kept
