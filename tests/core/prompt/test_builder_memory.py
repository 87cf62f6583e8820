"""A `ViewBuilder` holds about what its ``max_bytes`` says once full, not several times that.

The memory is what the builder alone keeps alive: traced (tracemalloc) with the builder full, minus what is still
traced once it is deleted and collected. The traffic is agents' conversations as an application sends them
(Anthropic with tools and tool runs, Bedrock Converse, OpenAI Chat), every conversation distinct, interleaved,
each request a fresh JSON value that the caller drops once viewed, as a server does. Before the memos copied what
they keep out of orjson's over-allocated output and counted their parses and positions, an 8 MiB builder held
41 MiB of this traffic (5x its budget); it holds 5.4 MiB.
"""

from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Iterator
from typing import Any

import orjson

from cachepoint.core.prompt import ViewBuilder

BUDGET = 8 * 2**20
#: The bound the docs promise: a full builder holds at most this much more than ``max_bytes``.
SLACK = 1.25

WORDS = (  # noqa: SIM905 - a paragraph reads better than a list literal
    "order refund customer shipment invoice address payment label carrier tracking warranty policy exchange "
    "credit coupon ticket status verify identity email account balance plan subscription return damaged file "
    "patch test function module error trace stack line column build deploy branch commit review merge"
).split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _shell(fmt: str, rng: random.Random) -> dict[str, Any]:
    """What every conversation of one agent repeats: tools, system prompt, parameters."""
    system = _text(rng, 400)
    if fmt == "anthropic":
        tools = [
            {"name": f"tool_{k}", "description": _text(rng, 40), "input_schema": {"type": "object"}} for k in range(8)
        ]
        return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "tools": tools, "system": system}
    if fmt == "bedrock":
        specs = [
            {"toolSpec": {"name": f"tool_{k}", "description": _text(rng, 40), "inputSchema": {"json": {}}}}
            for k in range(8)
        ]
        return {
            "modelId": "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "system": [{"text": system}],
            "toolConfig": {"tools": specs},
            "inferenceConfig": {"maxTokens": 1024},
        }
    return {"model": "gpt-4.1", "temperature": 0}


def _turn(fmt: str, rng: random.Random, n: int, session: int) -> list[dict[str, Any]]:
    """One exchange: the user's message, then the assistant's answer (a tool run every third turn for Anthropic)."""
    ask = f"[{session}.{n}] {_text(rng, rng.randint(20, 120))}"
    answer = _text(rng, rng.randint(40, 200))
    if fmt == "anthropic":
        if n % 3 == 2:
            call = {"type": "tool_use", "id": f"toolu_{session}_{n}", "name": "tool_1", "input": {"q": ask[:40]}}
            result = {"type": "tool_result", "tool_use_id": call["id"], "content": answer}
            return [
                {"role": "user", "content": ask},
                {"role": "assistant", "content": [call]},
                {"role": "user", "content": [result]},
                {"role": "assistant", "content": answer[:200]},
            ]
        return [{"role": "user", "content": ask}, {"role": "assistant", "content": answer}]
    if fmt == "bedrock":
        return [{"role": "user", "content": [{"text": ask}]}, {"role": "assistant", "content": [{"text": answer}]}]
    return [{"role": "user", "content": ask}, {"role": "assistant", "content": answer}]


def traffic(requests: int, seed: int = 7) -> Iterator[tuple[dict[str, Any], str]]:
    """(payload, provider): distinct conversations of 3 to 10 turns, 12 in progress at once, each request the whole
    conversation so far as fresh JSON."""
    rng = random.Random(seed)
    shells = {fmt: _shell(fmt, rng) for fmt in ("anthropic", "bedrock", "openai")}
    provider = {"anthropic": "anthropic", "bedrock": "bedrock", "openai": "openai"}
    live: list[tuple[str, int, int, list[dict[str, Any]]]] = []
    sessions = 0
    for _ in range(requests):
        while len(live) < 12:
            sessions += 1
            fmt = rng.choice(list(shells))
            system = [{"role": "system", "content": _text(rng, 300)}] if fmt == "openai" else []
            live.append((fmt, sessions, rng.randint(3, 10), system))
        k = rng.randrange(len(live))
        fmt, session, left, messages = live[k]
        exchange = _turn(fmt, rng, len(messages), session)
        messages.extend(exchange[:-1])
        key = "messages"
        yield orjson.loads(orjson.dumps({**shells[fmt], key: messages})), provider[fmt]
        messages.append(exchange[-1])
        if left > 1:
            live[k] = (fmt, session, left - 1, messages)
        else:
            del live[k]


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_a_full_builder_holds_about_its_byte_budget() -> None:
    stop = not tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        builder = ViewBuilder(max_bytes=BUDGET)
        for payload, provider in traffic(2500):
            builder.view(payload, provider=provider)
        del payload
        stats = builder.stats
        with_builder = _traced()
        del builder
        held = with_builder - _traced()
    finally:
        if stop:
            tracemalloc.stop()
    # The traffic filled the budget (the memos had to forget), so the bound is the one that matters.
    assert stats.evictions > 1000
    assert held <= SLACK * BUDGET, f"a builder of max_bytes=8 MiB held {held / 2**20:.1f} MiB"
    # Nor is the accounting so cautious that the budget buys little memo.
    assert held >= BUDGET / 3, f"a full builder of max_bytes=8 MiB held only {held / 2**20:.1f} MiB"
