"""Compressed traces: whatever the compression (told by the bytes) and however the data is split into zstd frames,
a trace file reads back as the bytes that were written; seeking to an offset reads what follows it there; a cut
anywhere in zstd data is an error, never a shorter trace."""

from __future__ import annotations

import gzip
import itertools
import lzma
import tempfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cachepoint.core.traces import TraceFileError, TraceFiles, compression_of, open_trace, raw_lines

_LINES = st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b" ") + b"\n"), max_size=30)


def _zstd(data: bytes, cuts: list[int]) -> bytes:
    """``data`` as consecutive zstd frames, split at ``cuts`` (as `cat a.zst b.zst` makes)."""
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return b"".join(zstandard.ZstdCompressor().compress(data[a:b]) for a, b in itertools.pairwise(points))


def _file(data: bytes) -> Path:
    path = Path(tempfile.mkdtemp()) / "t.jsonl"  # no suffix: the bytes decide
    path.write_bytes(data)
    return path


@settings(max_examples=150, deadline=None)
@given(lines=_LINES, how=st.sampled_from(["plain", "gzip", "xz", "zstd"]), cuts=st.lists(st.integers(0, 10**4)))
def test_a_trace_reads_back_line_for_line(lines: list[bytes], how: str, cuts: list[int]) -> None:
    data = b"".join(lines)
    if how == "plain":  # the bytes decide: plain data that opens with a compression's magic number is read as such
        try:
            assume(compression_of(data[:6]) is None)
        except TraceFileError:  # a compression the reader names and refuses (bzip2, lz4...)
            assume(False)
    packed = {"plain": data, "gzip": gzip.compress(data), "xz": lzma.compress(data), "zstd": _zstd(data, cuts)}[how]
    assert list(raw_lines(_file(packed))) == lines


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=5000), offsets=st.lists(st.integers(0, 6000), max_size=5), cuts=st.lists(st.integers()))
def test_zstd_seeks_to_any_offset_forward_and_back(data: bytes, offsets: list[int], cuts: list[int]) -> None:
    with open_trace(_file(_zstd(data, cuts) if data else zstandard.ZstdCompressor().compress(b""))) as handle:
        for offset in offsets:
            assert handle.seek(offset) == min(offset, len(data))
            assert handle.read(100) == data[offset : offset + 100]


@settings(max_examples=100, deadline=None)
@given(data=st.binary(min_size=1, max_size=3000), cut=st.integers(min_value=0))
def test_zstd_cut_anywhere_is_an_error_naming_the_file(data: bytes, cut: int) -> None:
    packed = zstandard.ZstdCompressor().compress(data)
    # Keep at least the 4 magic bytes (fewer cannot be told from plain text), and never all of it.
    path = _file(packed[: 4 + cut % (len(packed) - 4)])
    with pytest.raises(TraceFileError) as caught:
        list(raw_lines(path))
    assert caught.value.source == str(path)
    assert "zstd" in caught.value.detail


def test_files_read_as_one_and_lines_are_located(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"1\n\n3")  # a blank line counts; a missing last newline is added
    (tmp_path / "b.jsonl").write_bytes(zstandard.ZstdCompressor().compress(b"4\n5\n"))
    files = TraceFiles([tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
    assert list(files) == [b"1\n", b"\n", b"3\n", b"4\n", b"5\n"]
    assert [files.locate(n) for n in (1, 3, 4, 5)] == [
        (str(tmp_path / "a.jsonl"), 1),
        (str(tmp_path / "a.jsonl"), 3),
        (str(tmp_path / "b.jsonl"), 1),
        (str(tmp_path / "b.jsonl"), 2),
    ]
