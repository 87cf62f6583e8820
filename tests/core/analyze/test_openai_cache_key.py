"""OpenAI's ``prompt_cache_key`` as strategies set it: derived from what every request of a workload shares, so
OpenAI's routing (a hash of the prompt's opening *combined with* the key) keeps requests that share a prefix
on one machine. Regression: a key derived from the last message made every request's key unique, and a RAG
trace that got 82.5% of its prompt from the cache as recorded got 0% under ``auto``.

Model: gpt-4.1 (automatic caching: prompts of 1024+ tokens, hits in whole 128-token increments; $2 / M input,
$0.50 / M cached). Tokens: one per word (`WordCounter`), plus 3 at the first block of each message. Routing:
the prefix through the first block that reaches 256 tokens, with the key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cachepoint.core.analyze import AnalysisReport

MODEL = "gpt-4.1"


def rag_request(system: str, doc: str, question: str) -> dict[str, Any]:
    return {
        "model": MODEL,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": [{"type": "text", "text": doc}, {"type": "text", "text": question}]},
        ],
    }


def test_rag_requests_keep_reading_the_shared_document_under_every_strategy(
    run: Callable[..., AnalysisReport], words: Callable[[int, str], str]
) -> None:
    # System: 100 words + 3 = 103 tokens (below the 1024 minimum on its own). User: the same 1500-word document
    # (1500 + 3 = 1503) and a 10-word question that differs every time. 103 + 1503 + 10 = 1616 tokens each.
    system, doc = words(100, "s"), words(1500, "d")
    records = [
        {"request": rag_request(system, doc, words(10, tag)), "timestamp": 60 * n, "session": f"user-{n}"}
        for n, tag in enumerate(("qa", "qb", "qc"))
    ]
    report = run(records, strategies=["auto", "cache_until(-1)", "rolling(4)"])
    # Recorded (no key): every request routes on the prefix through the document (the first block reaching 256
    # tokens: 103, then 1606). r1 caches 1616 - 1616 % 128 = 1536 tokens; r2 and r3 match through the document
    # (1606 tokens) and read min(1606, 1536) = 1536 each.
    recorded = report.scenario("recorded")
    assert recorded is not None
    assert (recorded.input_tokens, recorded.cache_read_tokens, recorded.hit_requests) == (3 * 1616, 2 * 1536, 2)
    # Every strategy gets the same key for all three (the system prompt's), so the same routes: the same reads.
    for name in ("auto", "cache_until", "rolling"):
        scenario = report.scenario(name)
        assert scenario is not None
        assert (scenario.cache_read_tokens, scenario.hit_requests) == (2 * 1536, 2), name
        # $2 / M for 4848 - 3072 = 1776 uncached tokens, $0.50 / M for 3072 cached ones
        assert scenario.cost_usd == pytest.approx((1776 * 2.0 + 3072 * 0.5) / 1e6)


def test_a_conversation_reads_its_previous_turn_under_auto(
    run: Callable[..., AnalysisReport], words: Callable[[int, str], str]
) -> None:
    system = words(100, "s")
    u1 = {"role": "user", "content": words(1500, "u")}
    a1 = {"role": "assistant", "content": words(20, "a")}
    u2 = {"role": "user", "content": words(10, "v")}
    turn1 = {"model": MODEL, "messages": [{"role": "system", "content": system}, u1]}
    turn2 = {"model": MODEL, "messages": [{"role": "system", "content": system}, u1, a1, u2]}
    records = [
        {"request": turn1, "timestamp": 0, "session": "c1"},
        {"request": turn2, "timestamp": 60, "session": "c1"},
    ]
    auto = run(records, strategies=["auto"]).scenario("auto")
    assert auto is not None
    # Turn 1: 103 + 1503 = 1606 tokens, caches 1606 - 1606 % 128 = 1536. Turn 2 (1606 + 23 + 13 = 1642) has the
    # same key (the system prompt's, not its own last message's) and the same route (through U1): it reads 1536.
    assert (auto.input_tokens, auto.cache_read_tokens, auto.hit_requests) == (1606 + 1642, 1536, 1)


def test_bare_openai_bodies_are_read_as_openai_chat() -> None:
    # No envelope, no provider: plain string contents and max_tokens fit Anthropic's shape too; the model id
    # says OpenAI (the format decides the message overheads and where the system layer ends).
    from cachepoint.core.analyze.prepare import PrepareContext

    line = b'{"model": "gpt-4o", "max_tokens": 64, "messages": [{"role": "user", "content": "Reset?"}]}'
    prepared = PrepareContext(strategies=["auto"]).prepare_line(line, line=1, offset=0)
    assert (prepared.provider, prepared.format) == ("openai", "openai-chat")
    claude = line.replace(b"gpt-4o", b"claude-sonnet-4-5")
    prepared = PrepareContext(strategies=["auto"]).prepare_line(claude, line=1, offset=0)
    assert (prepared.provider, prepared.format) == ("anthropic", "anthropic")
