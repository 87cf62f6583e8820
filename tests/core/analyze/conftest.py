"""Helpers for the analyzer tests.

Token counts are made easy to work out by hand: ``WordCounter`` counts whitespace-separated words and
``words(n, tag)`` makes a text of exactly ``n`` distinct words (letters only), so a block's tokens are its words
plus the documented constants (`MESSAGE_OVERHEAD_TOKENS` = 3 at the first block of each message,
`TOOLS_PREAMBLE_TOKENS` = 346 at the first Anthropic tool). Every expected number is arithmetic written next to
its assertion.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from cachepoint.core.analyze import AnalysisReport, analyze


class WordCounter:
    """One token per whitespace-separated word."""

    def count(self, text: str) -> int:
        return len(text.split())


def _letters(i: int) -> str:
    out = ""
    while True:
        i, rest = divmod(i, 26)
        out = chr(97 + rest) + out
        if i == 0:
            return out


def make_words(n: int, tag: str) -> str:
    """``n`` distinct words made of ``tag`` and letters (no digits: the analyzer masks tokens with digits when it
    looks for timestamps and ids, and test text should not look like ids)."""
    return " ".join(f"{tag}{_letters(i)}" for i in range(n))


@pytest.fixture
def words() -> Callable[[int, str], str]:
    return make_words


@pytest.fixture
def run() -> Callable[..., AnalysisReport]:
    """``run(records, **options)``: analyze decoded records with the word counter."""

    def go(records: Sequence[dict[str, Any]], **options: Any) -> AnalysisReport:
        options.setdefault("counter", WordCounter())
        return analyze(list(records), **options)

    return go


@pytest.fixture
def write_trace(tmp_path: Path) -> Callable[[Sequence[Any], str], Path]:
    """Write records (dicts, or raw strings for broken lines) as a JSONL file."""

    def write(records: Sequence[Any], name: str = "trace.jsonl") -> Path:
        path = tmp_path / name
        lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write
