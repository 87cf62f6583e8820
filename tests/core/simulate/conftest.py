"""Helpers for the simulator tests.

Token counts are made trivial to work out by hand: the ``word_counter`` counts whitespace-separated words, and
``words(n, tag)`` makes a text of exactly ``n`` distinct words. With it, a block's tokens are its words, plus
the constants the prompt model documents (`MESSAGE_OVERHEAD_TOKENS` = 3 at the first block of each message,
`TOOLS_PREAMBLE_TOKENS` = 346 at the first Anthropic tool), so every expected number in the tests is simple
arithmetic written next to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cachepoint.core.simulate import SimResult, Simulator
from cachepoint.core.usage import normalize_usage


class WordCounter:
    """One token per whitespace-separated word."""

    def count(self, text: str) -> int:
        return len(text.split())


@pytest.fixture
def word_counter() -> WordCounter:
    return WordCounter()


@pytest.fixture
def words() -> Callable[[int, str], str]:
    def make(n: int, tag: str) -> str:
        return " ".join(f"{tag}{i}" for i in range(n))

    return make


@pytest.fixture
def anthropic_sim(word_counter: WordCounter) -> Simulator:
    return Simulator("anthropic", counter=word_counter)


@pytest.fixture
def consistent() -> Callable[[SimResult], SimResult]:
    """Check the invariants every result must satisfy, and that the native usage normalizes to ``usage``."""

    def check(result: SimResult) -> SimResult:
        assert result.read_tokens >= 0
        assert result.write_tokens >= 0
        assert result.uncached_tokens >= 0
        assert result.read_tokens + result.write_tokens + result.uncached_tokens == result.total_tokens
        assert sum(result.write_by_ttl.values()) == result.write_tokens
        native: dict[str, Any] = result.native()
        assert normalize_usage(native, provider=result.provider, model=result.model) == result.usage
        return result

    return check


@pytest.fixture
def anthropic_payload(words: Callable[[int, str], str]) -> Callable[..., dict[str, Any]]:
    """An Anthropic Messages payload: optional tool, system blocks and user messages, each ``(words, ttl|None|False)``.

    ``False`` as a TTL means no marker; ``None`` a marker with the default TTL.
    """

    def marker(ttl: Any) -> dict[str, Any]:
        return {"type": "ephemeral"} if ttl is None else {"type": "ephemeral", "ttl": ttl}

    def build(
        *,
        system: list[tuple[str, Any]] = (),  # type: ignore[assignment]
        messages: list[tuple[str, str, Any]] = (),  # type: ignore[assignment]
        tool: tuple[str, Any] | None = None,
        model: str = "claude-sonnet-4-5",
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": model, "max_tokens": 16}
        if tool is not None:
            description, ttl = tool
            spec: dict[str, Any] = {"name": "lookup", "description": description, "input_schema": {"type": "object"}}
            if ttl is not False:
                spec["cache_control"] = marker(ttl)
            payload["tools"] = [spec]
        if system:
            blocks = []
            for text, ttl in system:
                block: dict[str, Any] = {"type": "text", "text": text}
                if ttl is not False:
                    block["cache_control"] = marker(ttl)
                blocks.append(block)
            payload["system"] = blocks
        payload["messages"] = []
        for role, text, ttl in messages:
            block = {"type": "text", "text": text}
            if ttl is not False:
                block["cache_control"] = marker(ttl)
            payload["messages"].append({"role": role, "content": [block]})
        return payload

    return build
