"""Fuzzing the `cachepoint analyze` entry point: random bytes, truncated lines, a wrong type at every field of a
valid record, compressed (gzip, xz, zstd) or not. Every outcome is a report (exit 0) or one `error: FILE: ...`
message (exit 2); never a traceback (an exception escaping `main`)."""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import json
import lzma
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachepoint.core.cli import main

from .conftest import make_words

_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _record(n: int) -> dict[str, Any]:
    """A valid envelope with every field the format has, and a body with tools, system, markers and tool use."""
    return {
        "v": 1,
        "timestamp": 1_795_428_000 + 30 * n,
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "tenant": "t1",
        "session": f"s{n % 2}",
        "ttft_s": 0.5,
        "id": f"r{n}",
        "metadata": {"team": "support"},
        "usage": {
            "input_tokens": 12,
            "cache_read_input_tokens": 0 if n == 0 else 1500,
            "cache_creation_input_tokens": 1500 if n == 0 else 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 1500 if n == 0 else 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 40,
        },
        "request": {
            "model": "claude-sonnet-4-5",
            "max_tokens": 256,
            "tools": [
                {
                    "name": "lookup",
                    "description": make_words(40, "d"),
                    "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}},
                }
            ],
            "system": [{"type": "text", "text": make_words(1500, "s"), "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": make_words(12, "q" + chr(97 + n))},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "tu1", "name": "lookup", "input": {}}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "tu1", "content": "found"},
                        {"type": "text", "text": "thanks", "cache_control": {"type": "ephemeral", "ttl": "5m"}},
                    ],
                },
            ],
        },
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value (the value itself included)."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


_PATHS = list(_paths(_record(1)))[1:]
_WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.one_of(st.none(), st.integers(), st.text(max_size=5)), max_size=3),
)


def _pack(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data)
    if how == "xz":
        return lzma.compress(data)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def _run(data: bytes, name: str, *args: str) -> None:
    """Run the CLI on ``data`` written to a file called ``name``: a report, or exit 2 with one error message."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["analyze", str(path), "--no-progress", *args])
    if code == 0:
        assert out.getvalue().strip(), "exit 0 without a report"
        return
    assert code == 2, (code, err.getvalue())
    assert err.getvalue().startswith(f"error: {path}: "), err.getvalue()


@_SETTINGS
@given(
    data=st.binary(max_size=400),
    how=st.sampled_from(["plain", "gzip", "xz", "zstd"]),
    name=st.sampled_from(["t.jsonl", "t.jsonl.gz", "t.jsonl.xz", "t.jsonl.zst"]),
)
def test_random_bytes(data: bytes, how: str, name: str) -> None:
    _run(_pack(data, how), name)


_VALID = b"".join(json.dumps(_record(n)).encode() + b"\n" for n in range(3))


@_SETTINGS
@given(
    cut=st.integers(min_value=0, max_value=len(_VALID)),
    how=st.sampled_from(["plain", "gzip", "xz", "zstd"]),
    cut_packed=st.booleans(),
    skip=st.booleans(),
)
def test_truncated_traces(cut: int, how: str, cut_packed: bool, skip: bool) -> None:
    # Cut the JSONL (a line broken in the middle), or cut the compressed bytes (a download that stopped).
    packed = _pack(_VALID, how)
    data = packed[: cut * len(packed) // len(_VALID)] if cut_packed else _pack(_VALID[:cut], how)
    _run(data, "t.jsonl.xz" if how == "xz" else "t.jsonl", *(["--skip-invalid"] if skip else []))


@_SETTINGS
@given(
    path=st.sampled_from(_PATHS),
    value=_WRONG,
    how=st.sampled_from(["plain", "gzip", "xz", "zstd"]),
    skip=st.booleans(),
)
def test_a_wrong_value_at_any_field(path: tuple[Any, ...], value: Any, how: str, skip: bool) -> None:
    record = copy.deepcopy(_record(1))
    target: Any = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    data = json.dumps(_record(0)).encode() + b"\n" + json.dumps(record).encode() + b"\n"
    _run(_pack(data, how), "t.jsonl", *(["--skip-invalid"] if skip else []))


@_SETTINGS
@given(
    hows=st.lists(st.sampled_from(["plain", "gzip", "xz", "zstd"]), min_size=1, max_size=3),
    cut=st.integers(min_value=0, max_value=len(_VALID)),
    cut_packed=st.booleans(),
    skip=st.booleans(),
)
def test_a_folder_of_traces(hows: list[str], cut: int, cut_packed: bool, skip: bool) -> None:
    # The valid trace split over files of mixed compressions, the last one cut (a download that stopped, or a
    # line broken in the middle): a report, or one error naming the folder or one of its files.
    lines = _VALID.splitlines(keepends=True)
    parts = [b"".join(lines[k :: len(hows)]) for k in range(len(hows))]
    with tempfile.TemporaryDirectory() as folder:
        names = []
        for n, (how, part) in enumerate(zip(hows, parts, strict=True)):
            packed = _pack(part, how)
            if n == len(hows) - 1:
                share = cut * len(packed) // len(_VALID)
                packed = packed[:share] if cut_packed else _pack(part[: cut * len(part) // len(_VALID)], how)
            names.append(str(Path(folder) / f"{n}.jsonl"))
            Path(names[-1]).write_bytes(packed)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["analyze", folder, "--no-progress", *(["--skip-invalid"] if skip else [])])
    if code == 0:
        assert out.getvalue().strip(), "exit 0 without a report"
        return
    assert code == 2, (code, err.getvalue())
    assert any(err.getvalue().startswith(f"error: {name}: ") for name in [folder, *names]), err.getvalue()
