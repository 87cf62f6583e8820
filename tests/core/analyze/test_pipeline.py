"""The pieces between a live app and the report: TraceWriter -> trace -> prepare (across processes) -> report."""

from __future__ import annotations

import itertools
import lzma
from collections.abc import Callable
from pathlib import Path

import pytest
from openai.types import CompletionUsage
from openai.types.completion_usage import PromptTokensDetails

from cachepoint.core.analyze import analyze
from cachepoint.core.analyze.prepare import PrepareContext, decode_batch, encode_batch
from cachepoint.core.traces import TraceWriter

TRACES = Path(__file__).parents[3] / "examples" / "traces"


def test_prepared_requests_cross_processes_unchanged() -> None:
    ctx = PrepareContext()
    with lzma.open(TRACES / "support_agent.jsonl.xz") as handle:
        lines = handle.read().splitlines()[:40]
    items = [ctx.prepare_line(raw, line=n, offset=0) for n, raw in enumerate(lines, start=1)]
    assert any(p.observed is not None for p in items)
    assert any(p.prints for p in items)
    assert decode_batch(encode_batch(items)) == items


def test_recorded_live_traffic_is_analyzed(tmp_path: Path, words: Callable[[int, str], str]) -> None:
    path = tmp_path / "live.jsonl"
    system = {"role": "system", "content": words(1500, "s")}
    with TraceWriter(path) as writer:
        for n in range(3):
            usage = CompletionUsage(
                prompt_tokens=1600,
                completion_tokens=20,
                total_tokens=1620,
                prompt_tokens_details=PromptTokensDetails(cached_tokens=1536 if n else 0),
            )
            body = {"model": "gpt-4.1", "messages": [system, {"role": "user", "content": words(30, "q" + "abc"[n])}]}
            writer.write(body, usage=usage, timestamp=1795428900.0 + 20 * n, session="s1", tenant="key-1")
    report = analyze(path)
    assert report.requests == 3
    assert report.observed is not None
    # The SDK objects went in as the provider's JSON: 2 of 3 requests read 1536 of 1600 prompt tokens.
    observed = report.observed.observed
    assert (observed.hit_requests, observed.cache_read_tokens, observed.input_tokens) == (2, 3072, 4800)
    assert report.sharing.sessions == 1


def test_file_ranges_cover_whole_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cachepoint.core.analyze import run

    monkeypatch.setattr(run, "_RANGE_BYTES", 64)
    lines = [b"x" * n + b"\n" for n in (10, 70, 5, 200, 30, 0, 64, 63)] + [b"tail-without-newline"]
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"".join(lines))
    ranges = list(run._ranges(path, path.stat().st_size))
    starts = [sum(len(x) for x in lines[:i]) for i in range(len(lines))]
    assert ranges[0][0] == 0
    assert ranges[-1][1] == path.stat().st_size
    for (_, end, _), (start, _, _) in itertools.pairwise(ranges):
        assert end == start  # contiguous
    for start, _, first in ranges:
        assert start in starts  # every range starts at a line
        assert first == starts.index(start) + 1  # and knows that line's number
