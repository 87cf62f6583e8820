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
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from cachepoint.core.traces.errors import TraceFormatError
from cachepoint.core.traces.record import TraceRecord, parse_record

__all__ = ["TraceReader", "TraceSource", "iter_lines", "open_trace", "parse_line", "read_trace"]

#: What a trace can be read from: a path (``"-"`` is stdin), a binary or text file object, or an iterable of
#: lines (``str`` / ``bytes``) or already-decoded records (mappings).
TraceSource = str | Path | IO[bytes] | IO[str] | Iterable[str | bytes | Mapping[str, Any]]


def iter_lines(source: TraceSource) -> Iterator[tuple[int, int, bytes | Mapping[str, Any]]]:
    """``(line number, byte offset, raw line)`` for every non-blank line; decoded mappings pass through.
    A path ending in ``.gz`` or ``.xz`` is decompressed.

    >>> [(n, off, raw) for n, off, raw in iter_lines([b'{"a": 1}\\n', b"\\n", b'{"b": 2}\\n'])]
    [(1, 0, b'{"a": 1}\\n'), (3, 10, b'{"b": 2}\\n')]
    """
    if isinstance(source, (str, Path)):
        if str(source) == "-":
            yield from _iter_stream(sys.stdin.buffer)
            return
        with open_trace(source) as handle:
            yield from _iter_stream(handle)
        return
    if isinstance(source, io.TextIOBase):
        yield from _iter_stream(line.encode("utf-8") for line in source)
        return
    yield from _iter_stream(source)


def open_trace(path: str | Path) -> IO[bytes]:
    """Open a trace file for reading bytes; ``.gz`` and ``.xz`` files are decompressed on the fly (offsets then
    count uncompressed bytes; ``seek`` works, forward cheaply). Traces repeat their prompts line after line, so
    xz, whose window spans many lines, shrinks them 100x or more.

    >>> import gzip, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl.gz"
    >>> _ = path.write_bytes(gzip.compress(b'{"messages": []}\\n'))
    >>> with open_trace(path) as handle:
    ...     handle.read()
    b'{"messages": []}\\n'
    """
    name = str(path)
    if name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile is a binary file object
    if name.endswith(".xz"):
        return lzma.open(path, "rb")
    return open(path, "rb")


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
