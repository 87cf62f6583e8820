"""Reading JSONL traces: lines with their numbers and byte offsets, decoded and checked into `TraceRecord`s.

Reading is split in two steps so that a process pool can do the expensive one: `iter_lines` only splits the
file (no JSON work), and `parse_line` decodes and checks one line. `TraceReader` does both for the common case,
and with ``skip_invalid=True`` goes on past bad lines and keeps their errors.
"""

from __future__ import annotations

import gzip
import io
import lzma
import sys
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, cast

import orjson

from cachepoint.core.traces.errors import TraceFileError, TraceFormatError
from cachepoint.core.traces.record import TraceRecord, parse_record
from cachepoint.core.traces.zstd import ZstdReader, open_zstd

__all__ = [
    "TraceReader",
    "TraceSource",
    "compression_of",
    "iter_lines",
    "open_trace",
    "parse_line",
    "raw_lines",
    "read_trace",
]

#: What a trace can be read from: a path (``"-"`` is stdin), a binary or text file object, or an iterable of
#: lines (``str`` / ``bytes``) or already-decoded records (mappings).
TraceSource = str | Path | IO[bytes] | IO[str] | Iterable[str | bytes | Mapping[str, Any]]


def iter_lines(source: TraceSource) -> Iterator[tuple[int, int, bytes | Mapping[str, Any]]]:
    """``(line number, byte offset, raw line)`` for every non-blank line; decoded mappings pass through.
    A path (``"-"``: stdin) or a binary file holding gzip, xz or zstd data is decompressed, whatever its name says
    (see `open_trace`); damaged or truncated compressed data raises `TraceFileError`.

    >>> [(n, off, raw) for n, off, raw in iter_lines([b'{"a": 1}\\n', b"\\n", b'{"b": 2}\\n'])]
    [(1, 0, b'{"a": 1}\\n'), (3, 10, b'{"b": 2}\\n')]
    """
    if isinstance(source, (str, Path)):
        if str(source) == "-":
            yield from _read(sys.stdin.buffer, "-")
            return
        with open_trace(source, buffering=_STREAM_BUFFER) as handle:
            yield from _lines(handle, str(source), _decompressing(handle))
        return
    if isinstance(source, io.TextIOBase):
        yield from _iter_stream(line.encode("utf-8") for line in source)
        return
    if isinstance(source, (io.BufferedIOBase, io.RawIOBase)):
        yield from _read(cast("IO[bytes]", source), str(getattr(source, "name", None) or "<stream>"))
        return
    yield from _iter_stream(source)


#: Leading bytes of the compressed formats this reader decompresses.
_READ = {b"\x1f\x8b": "gzip", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
#: ...and of formats it recognizes but does not read, with the command that turns them into JSONL.
_NOT_READ = {
    b"BZh": ("bzip2", "bunzip2"),
    b"PK\x03\x04": ("zip", "unzip"),
    b"\x04\x22\x4d\x18": ("lz4", "lz4 -d"),
}


def compression_of(head: bytes, source: str = "<stream>") -> str | None:
    """``"gzip"``, ``"xz"`` or ``"zstd"`` when ``head`` (a file's first bytes) starts compressed data this reader reads,
    ``None`` for anything else (plain JSONL, or data that will fail as JSON, line by line). A compression it
    does not read raises `TraceFileError` naming it.

    >>> compression_of(b"\\xfd7zXZ\\x00\\x00"), compression_of(b'{"request"'), compression_of(b"\\x1f\\x8b\\x08")
    ('xz', None, 'gzip')
    """
    for magic, kind in _READ.items():
        if head.startswith(magic):
            return kind
    for magic, (kind, command) in _NOT_READ.items():
        if head.startswith(magic):
            raise TraceFileError(
                source,
                f"{kind}-compressed data: cachepoint reads plain, gzip, xz and zstd traces (decompress it first, e.g. "
                f"`{command} {source}`)",
            )
    return None


def _compression_of_file(path: str | Path) -> str | None:
    with open(path, "rb") as probe:
        return compression_of(probe.read(6), str(path))


#: Bytes read at a time from a plain trace streamed from start to end: its lines are tens of KB (a whole
#: conversation each), so the default 8 KB buffer fills several times per line; 1 MB reads them about three times
#: faster. (`open_trace` keeps the default for reading a line back at an offset.)
_STREAM_BUFFER = 1 << 20


def open_trace(path: str | Path, *, buffering: int = -1) -> IO[bytes]:
    """Open a trace file for reading bytes; gzip, xz and zstd data is decompressed on the fly, recognized by its
    first bytes (not its name); zstd needs the ``zstd`` extra (``pip install 'cachepoint-core[zstd]'``). Offsets
    then count uncompressed bytes; ``seek`` works, forward cheaply. Traces repeat their prompts line after line,
    so xz and zstd, whose windows span many lines, shrink them about 100x (the shipped support-agent trace: xz
    159x, zstd 92x at its default level). ``buffering`` is `open`'s, for a plain file.

    >>> import gzip, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"
    >>> _ = path.write_bytes(gzip.compress(b'{"messages": []}\\n'))
    >>> with open_trace(path) as handle:
    ...     handle.read()
    b'{"messages": []}\\n'
    """
    kind = _compression_of_file(path)
    if kind == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile is a binary file object
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "zstd":
        handle = open(path, "rb")  # noqa: SIM115 - the reader owns and closes it
        try:
            return open_zstd(handle, str(path), owns=True)
        except BaseException:
            handle.close()
            raise
    return open(path, "rb", buffering=buffering)


def _peek(stream: IO[bytes], size: int) -> bytes:
    """The first ``size`` bytes of a stream, left in it to be read (``b""`` when that cannot be done)."""
    peek = getattr(stream, "peek", None)
    if callable(peek):
        return bytes(peek(size)[:size])
    if stream.seekable():
        start = stream.tell()
        head = stream.read(size)
        stream.seek(start)
        return head
    return b""


def _decompressing(handle: object) -> str | None:
    """The compression ``handle`` (from `open_trace`) decodes, if any."""
    if isinstance(handle, gzip.GzipFile):
        return "gzip"
    if isinstance(getattr(handle, "raw", None), ZstdReader):
        return "zstd"
    return "xz" if isinstance(handle, lzma.LZMAFile) else None


def _read(stream: IO[bytes], source: str) -> Iterator[tuple[int, int, bytes | Mapping[str, Any]]]:
    """The lines of a binary stream, decompressed when its first bytes say gzip, xz or zstd."""
    kind = compression_of(_peek(stream, 6), source)
    if kind == "gzip":
        with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
            yield from _lines(unzipped, source, kind)
    elif kind == "xz":
        with lzma.LZMAFile(stream, "rb") as unpacked:
            yield from _lines(unpacked, source, kind)
    elif kind == "zstd":
        with open_zstd(stream, source) as unpacked:
            yield from _lines(unpacked, source, kind)
    else:
        yield from _lines(stream, source, None)


def raw_lines(path: str | Path) -> Iterator[bytes]:
    """Every line of a trace file as bytes, blank ones included, decompressed as `open_trace` does; damaged or
    truncated compressed data raises `TraceFileError` naming the file and the line after which it broke.

    >>> import lzma, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl.xz"
    >>> _ = path.write_bytes(lzma.compress(b'{"a": 1}\\n\\n{"b": 2}\\n'))
    >>> list(raw_lines(path))
    [b'{"a": 1}\\n', b'\\n', b'{"b": 2}\\n']
    """
    with open_trace(path) as handle:
        yield from _guarded(handle, str(path), _decompressing(handle))


def _lines(
    stream: Iterable[bytes], source: str, kind: str | None
) -> Iterator[tuple[int, int, bytes | Mapping[str, Any]]]:
    """The numbered non-blank lines of ``stream`` (``kind``: the compression it is decoding)."""
    yield from _iter_stream(_guarded(stream, source, kind))


def _guarded(stream: Iterable[bytes], source: str, kind: str | None) -> Iterator[bytes]:
    """The lines of ``stream``; damaged or truncated data raises `TraceFileError` saying where it broke."""
    last = 0
    try:
        for line in stream:
            yield line
            last += 1
    except EOFError:
        detail = f"the {kind or 'compressed'} data ends early, after line {last} (a truncated file?)"
        raise TraceFileError(source, detail) from None
    except (lzma.LZMAError, zlib.error, OSError) as exc:
        what = f"damaged {kind} data" if kind else "cannot be read"
        raise TraceFileError(source, f"{what} after line {last}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _iter_stream(lines: Iterable[Any]) -> Iterator[tuple[int, int, bytes | Mapping[str, Any]]]:
    offset = 0
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, Mapping):
            yield number, offset, raw
            continue
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        start = offset
        offset += len(data)
        if data and not data.isspace():  # (not ``strip()``: that copies every line, tens of KB each)
            yield number, start, data


def parse_line(
    raw: bytes | str | Mapping[str, Any], *, line: int | None = None, offset: int | None = None
) -> TraceRecord:
    """Decode and check one trace line (see `parse_record`).

    >>> parse_line(b'{"request": {"messages": []}, "session": "s1"}', line=2).session
    's1'
    >>> parse_line(b'{"request": ', line=5)
    Traceback (most recent call last):
    ...
    cachepoint.core.traces.errors.TraceFormatError: line 5: invalid JSON: unexpected end of data at column 13
    """
    if isinstance(raw, Mapping):
        return parse_record(raw, line=line, offset=offset)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise TraceFormatError(line, "", f"invalid JSON: {_json_problem(exc)}") from None
    return parse_record(data, line=line, offset=offset)


def _json_problem(exc: orjson.JSONDecodeError) -> str:
    message = exc.msg[:1].lower() + exc.msg[1:] if exc.msg else "malformed"
    return f"{message.rstrip('.')} at column {exc.colno}"


class TraceReader:
    """Iterate the `TraceRecord`s of a trace. Bad lines raise `TraceFormatError`, or with ``skip_invalid=True``
    are collected in ``errors`` and skipped.

    >>> reader = TraceReader([b'{"model": "gpt-4o", "messages": []}', b"not json"], skip_invalid=True)
    >>> [r.line for r in reader], [e.line for e in reader.errors], reader.lines
    ([1], [2], 2)
    """

    def __init__(self, source: TraceSource, *, skip_invalid: bool = False) -> None:
        self.source = source
        self.skip_invalid = skip_invalid
        self.errors: list[TraceFormatError] = []
        self.lines = 0

    def __iter__(self) -> Iterator[TraceRecord]:
        for number, offset, raw in iter_lines(self.source):
            self.lines += 1
            try:
                yield parse_line(raw, line=number, offset=offset)
            except TraceFormatError as exc:
                if not self.skip_invalid:
                    raise
                self.errors.append(exc)


def read_trace(source: TraceSource, *, skip_invalid: bool = False) -> list[TraceRecord]:
    """Every record of a trace (see `TraceReader`).

    >>> [r.model for r in read_trace(['{"request": {"messages": []}, "model": "claude-sonnet-4-5"}'])]
    ['claude-sonnet-4-5']
    """
    return list(TraceReader(source, skip_invalid=skip_invalid))
