"""Trace format: reading envelopes and bare bodies, bad-line messages, the writer, and the shipped JSON schema."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachepoint.core.traces import (
    ENVELOPE_FIELDS,
    TraceFormatError,
    TraceReader,
    TraceWriter,
    parse_line,
    read_trace,
    schema,
)

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}
VALIDATOR = jsonschema.Draft202012Validator(schema())


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_envelope_and_bare_body_lines_with_numbers_and_offsets(tmp_path: Path) -> None:
    first = json.dumps({"request": BODY, "timestamp": "2026-11-23T10:15:00Z", "session": "s1", "tenant": "k1"})
    second = json.dumps(BODY)
    path = _write(tmp_path, [first, "", second])
    records = read_trace(path)
    assert [(r.line, r.bare) for r in records] == [(1, False), (3, True)]
    # Offsets point at the line's first byte: the reader can seek back to a line for a diff snippet.
    raw = path.read_bytes()
    assert raw[records[1].offset :].startswith(second.encode())
    assert records[0].timestamp == 1795428900.0  # 2026-11-23T10:15:00Z, worked out with datetime by hand
    assert (records[0].session, records[0].tenant) == ("s1", "k1")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 1: invalid JSON: "),  # orjson's own words follow, then "at column 2"
        ("[1, 2]", "line 1: expected a JSON object (an envelope or a request body), got a list"),
        ('{"request": "hi"}', "line 1: request: expected the provider request body (an object), got str"),
        ('{"request": {}, "timestamp": "yesterday"}', "line 1: timestamp: expected an ISO 8601 date and time"),
        ('{"request": {}, "timestamp": true}', "line 1: timestamp: expected seconds since the epoch"),
        ('{"request": {}, "ttft_s": "fast"}', "line 1: ttft_s: expected a non-negative number of seconds"),
        ('{"request": {}, "session": ["a"]}', "line 1: session: expected a string, got a list"),
        ('{"request": {}, "v": 2}', "line 1: v: this reader understands envelope version 1, got 2"),
        ('{"request": {}, "usage": 12}', "line 1: usage: expected the provider's usage object, got int"),
    ],
)
def test_bad_lines_name_line_and_field(line: str, message: str) -> None:
    with pytest.raises(TraceFormatError) as info:
        parse_line(line.encode(), line=1)
    assert str(info.value).startswith(message)
    if "invalid JSON" in message:
        assert str(info.value).endswith("at column 2")


def test_body_errors_are_prefixed_with_the_envelope_path() -> None:
    bad = {**BODY, "messages": [{"role": "user", "content": [{"type": "foo"}]}]}
    enveloped = parse_line(json.dumps({"request": bad}).encode(), line=17)
    with pytest.raises(TraceFormatError, match=r"^line 17: request\.messages\[0\]\.content\[0\]: unknown block type"):
        enveloped.parse_request()
    bare = parse_line(json.dumps(bad).encode(), line=4)
    with pytest.raises(TraceFormatError, match=r"^line 4: messages\[0\]\.content\[0\]: unknown block type 'foo'"):
        bare.parse_request()


def test_skip_invalid_counts_and_goes_on(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps(BODY), "oops", json.dumps({"request": BODY}), '{"request": 1}'])
    reader = TraceReader(path, skip_invalid=True)
    assert [r.line for r in reader] == [1, 3]
    assert [e.line for e in reader.errors] == [2, 4]
    with pytest.raises(TraceFormatError, match=r"^line 2: invalid JSON"):
        read_trace(path)


def test_unknown_envelope_keys_are_kept_visible() -> None:
    record = parse_line(json.dumps({"request": BODY, "latency_ms": 800}).encode())
    assert record.ignored == ("latency_ms",)


def test_writer_appends_readable_lines_from_many_threads(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "live.jsonl"
    writer = TraceWriter(path)

    def work(n: int) -> None:
        for i in range(50):
            writer.write(BODY, session=f"t{n}", timestamp=float(i), usage={"input_tokens": i, "output_tokens": 1})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    records = read_trace(path)
    assert len(records) == 400
    assert sorted({r.session for r in records}) == [f"t{n}" for n in range(8)]
    for line in path.read_text(encoding="utf-8").splitlines():
        VALIDATOR.validate(json.loads(line))


def test_writer_rotates_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, max_bytes=400) as writer:
        for i in range(6):
            writer.write(BODY, timestamp=float(i))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files[0] == "t.1.jsonl"
    assert "t.jsonl" in files
    total = sum(len(read_trace(tmp_path / name)) for name in files)
    assert total == 6
    for name in files:
        assert (tmp_path / name).stat().st_size <= 400


def test_writer_takes_sdk_objects_and_transform(tmp_path: Path) -> None:
    from anthropic.types import Usage

    usage = Usage(input_tokens=10, output_tokens=2, cache_read_input_tokens=1200, cache_creation_input_tokens=0)
    seen: list[dict[str, Any]] = []

    def redact(envelope: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(envelope)
        if envelope.get("session") == "drop":
            return None
        return {**envelope, "metadata": {"redacted": True}}

    path = tmp_path / "sdk.jsonl"

    async def main() -> None:
        async with TraceWriter(path, transform=redact, clock=lambda: 42.0) as writer:
            await writer.awrite(BODY, usage=usage)
            await writer.awrite(BODY, session="drop")

    asyncio.run(main())
    (record,) = read_trace(path)
    assert record.timestamp == 42.0
    assert record.usage["cache_read_input_tokens"] == 1200
    assert record.metadata == {"redacted": True}
    assert len(seen) == 2


def test_writer_refuses_what_would_not_read_back(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "x.jsonl") as writer, pytest.raises(TraceFormatError, match="timestamp"):
        writer.write(BODY, timestamp="not a time")
    with pytest.raises(ValueError, match="closed"):
        writer.write(BODY)


def test_schema_documents_every_envelope_field() -> None:
    assert set(schema()["$defs"]["envelope"]["properties"]) == set(ENVELOPE_FIELDS)


_text = st.text(min_size=1, max_size=8)
_envelopes = st.fixed_dictionaries(
    {"request": st.just(BODY)},
    optional={
        "timestamp": st.one_of(st.floats(0, 4e9), st.integers(0, 4_000_000_000), st.just("2026-11-23T10:15:00Z")),
        "session": _text,
        "tenant": _text,
        "provider": st.sampled_from(["anthropic", "bedrock", "openai"]),
        "model": _text,
        "ttft_s": st.floats(0, 30),
        "id": _text,
        "metadata": st.dictionaries(_text, st.integers(), max_size=2),
        "usage": st.just({"input_tokens": 3, "output_tokens": 1}),
        "v": st.just(1),
    },
)


@settings(max_examples=150, deadline=None)
@given(_envelopes)
def test_reader_accepts_what_the_schema_accepts(envelope: dict[str, Any]) -> None:
    VALIDATOR.validate(envelope)
    record = parse_line(json.dumps(envelope).encode(), line=1)
    assert record.request == BODY


@pytest.mark.parametrize(
    "envelope",
    [
        {"request": "body"},
        {"request": BODY, "timestamp": -5},
        {"request": BODY, "ttft_s": -1},
        {"request": BODY, "session": ""},
        {"request": BODY, "metadata": [1]},
        {"request": BODY, "v": 2},
    ],
)
def test_reader_and_schema_reject_the_same_lines(envelope: dict[str, Any]) -> None:
    assert not VALIDATOR.is_valid(envelope)
    with pytest.raises(TraceFormatError):
        parse_line(json.dumps(envelope).encode(), line=1)
