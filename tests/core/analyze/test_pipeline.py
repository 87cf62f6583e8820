"""The pieces between a live app and the report: TraceWriter -> trace -> prepare (across processes) -> report."""

from __future__ import annotations

import gzip
import json
import lzma
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st
from openai.types import CompletionUsage
from openai.types.completion_usage import PromptTokensDetails

from cachepoint.core.analyze import AnalysisReport, analyze, auto_jobs
from cachepoint.core.analyze.prepare import PrepareContext, decode_batch, encode_batch
from cachepoint.core.analyze.run import _conversation
from cachepoint.core.traces import TraceFiles, TraceFormatError, TraceWriter

TRACES = Path(__file__).parents[3] / "examples" / "traces"


def test_prepared_requests_cross_processes_unchanged() -> None:
    ctx = PrepareContext()
    with lzma.open(TRACES / "support_agent.jsonl.xz") as handle:
        lines = handle.read().splitlines()[:40]
    lines += (TRACES / "hand_counted.jsonl").read_bytes().splitlines()  # with the usage they report
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


def _support_lines(count: int) -> list[bytes]:
    with lzma.open(TRACES / "support_agent.jsonl.xz") as handle:
        return handle.read().splitlines(keepends=True)[:count]


def _same(a: AnalysisReport, b: AnalysisReport) -> None:
    left, right = a.to_dict(), b.to_dict()
    left.pop("elapsed_s")
    right.pop("elapsed_s")
    assert left == right


def test_sessionless_traces_split_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "no_sessions.jsonl"
    rows = [orjson.loads(raw) for raw in _support_lines(240)]
    path.write_bytes(b"".join(orjson.dumps({k: v for k, v in row.items() if k != "session"}) + b"\n" for row in rows))
    _same(analyze(path, jobs=1), analyze(path, jobs=2))


def test_bad_lines_are_reported_as_one_process_reports_them(tmp_path: Path) -> None:
    lines = _support_lines(120)
    lines.insert(40, b'{"request": \n')  # invalid JSON (line 41)
    bad = orjson.loads(lines[70])
    bad["provider"] = "cohere"  # valid JSON, provider not simulated (line 71)
    lines[70] = orjson.dumps(bad) + b"\n"
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(lines))
    with pytest.raises(TraceFormatError) as serial:
        analyze(path, jobs=1)
    with pytest.raises(TraceFormatError) as parallel:
        analyze(path, jobs=3)
    assert str(parallel.value) == str(serial.value)
    assert serial.value.line == 41
    skipped = analyze(path, jobs=1, skip_invalid=True)
    assert skipped.invalid_lines == 2
    _same(skipped, analyze(path, jobs=3, skip_invalid=True))


def test_records_in_memory_are_prepared_in_chunks_by_workers() -> None:
    records = [orjson.loads(raw) for raw in _support_lines(300)]
    _same(analyze(records, jobs=1), analyze(records, jobs=2))


def test_auto_jobs_uses_the_cores_for_large_files_only(tmp_path: Path) -> None:
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"".join(_support_lines(10)))
    assert auto_jobs(small) == 1
    assert auto_jobs(small, threshold=1) == min(len(os.sched_getaffinity(0)), 8)
    assert auto_jobs("-") == 1
    assert auto_jobs(tmp_path / "missing.jsonl") == 1


def test_auto_jobs_sizes_a_compressed_trace_by_its_bytes_not_its_name(tmp_path: Path) -> None:
    # A compressed trace counts as about 50x its size on disk (traces shrink 12x to 150x), zstd as much as gzip,
    # and a gzip file named .jsonl as much as one named .gz: the bytes say what the analysis will read.
    cores = min(len(os.sched_getaffinity(0)), 8)
    data = b"".join(_support_lines(10))
    for name, body in [("t.jsonl.zst", zstandard.ZstdCompressor().compress(data)), ("t.jsonl", gzip.compress(data))]:
        path = tmp_path / name
        path.write_bytes(body)
        assert auto_jobs(path, threshold=len(body) * 10) == cores, name
        assert auto_jobs(path, threshold=len(body) * 100) == 1, name


def test_auto_jobs_sizes_several_files_by_their_sum(tmp_path: Path) -> None:
    cores = min(len(os.sched_getaffinity(0)), 8)
    parts = [tmp_path / f"{n}.jsonl" for n in range(3)]
    for part in parts:
        part.write_bytes(b"".join(_support_lines(5)))
    total = sum(part.stat().st_size for part in parts)
    assert auto_jobs(TraceFiles(parts), threshold=total) == cores
    assert auto_jobs(TraceFiles(parts), threshold=total + 1) == 1


def test_scenarios_replayed_in_worker_processes_match_one_process(tmp_path: Path) -> None:
    # A Bedrock coding agent whose long conversations exceed the lookback: every scenario's numbers, chart
    # buckets and cost samples come back from the workers exactly as one process computes them.
    plain = tmp_path / "coding_agent.jsonl"
    with lzma.open(TRACES / "coding_agent.jsonl.xz") as handle:
        plain.write_bytes(handle.read())
    serial = analyze(plain, jobs=1, focus="auto")
    assert serial.scenario("rolling") is not None
    _same(serial, analyze(plain, jobs=3, focus="auto"))


def test_lines_routed_by_conversation_come_back_in_file_order() -> None:
    # Workers take each conversation's lines (a lane per worker) and the lines leave in file order: one
    # conversation so rare that its lane's chunk never fills, lines without a session, a bad line, and records.
    lines = _support_lines(400)
    records = [orjson.loads(raw) for raw in lines]
    for n in range(0, 400, 97):
        records[n]["session"] = "rare"
    for n in range(5, 400, 50):
        del records[n]["session"]
    mixed: list[Any] = [orjson.dumps(r) for r in records]
    mixed[123] = b'{"request": '
    _same(analyze(mixed, jobs=1, skip_invalid=True), analyze(mixed, jobs=2, skip_invalid=True))
    _same(analyze(records, jobs=1), analyze(records, jobs=3))


@given(
    session=st.text(alphabet=st.characters(blacklist_characters='"\\', blacklist_categories=("Cs", "Cc")), max_size=20),
    spaced=st.booleans(),
    text=st.booleans(),
)
def test_a_lines_conversation_is_read_from_its_text(session: str, spaced: bool, text: bool) -> None:
    envelope = {"timestamp": 1.0, "session": session, "request": {"messages": []}}
    raw: Any = json.dumps(envelope, ensure_ascii=False).encode() if spaced else orjson.dumps(envelope)
    if text and isinstance(raw, bytes):
        raw = raw.decode()
    found = _conversation(raw)
    assert (found.decode() if isinstance(found, bytes) else found) == session
    assert _conversation(b'{"request": {"messages": []}}') is None
    assert _conversation(envelope) == session
