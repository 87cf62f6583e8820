"""Reading zstd-compressed traces (``.jsonl.zst``) with the optional ``zstandard`` package
(``pip install 'cachepoint-core[zstd]'``).

`ZstdReader` behaves as `gzip.GzipFile` and `lzma.LZMAFile` do for the trace reader: damaged data raises an
`OSError`, data that stops before its frame ends raises `EOFError` (zstandard's own readers return what they have
and stop silently, which would make a truncated download look like a shorter trace), several frames one after the
other (``cat a.zst b.zst``) read as one stream, and ``seek`` works: forward by decompressing, backward by starting
again from the top.
"""

from __future__ import annotations

import io
from typing import IO, Any

from cachepoint.core.traces.errors import TraceFileError

__all__ = ["EXTRA_HINT", "ZstdReader", "open_zstd"]

#: What a user without the ``zstandard`` package is told to do.
EXTRA_HINT = "pip install 'cachepoint-core[zstd]'"

_CHUNK = 1 << 16  # compressed bytes read at a time


def _zstandard(source: str) -> Any:
    try:
        import zstandard
    except ImportError:
        raise TraceFileError(
            source,
            f"zstd-compressed data needs the zstandard package: {EXTRA_HINT} (or decompress it first, e.g. "
            f"`zstd -d {source}`)",
        ) from None
    return zstandard


class ZstdReader(io.RawIOBase):
    """The decompressed bytes of a zstd stream read from ``fileobj`` (which it closes when ``owns`` is true).
    Wrap it in `io.BufferedReader` for ``readline`` (as `open_zstd` does).

    >>> import io, zstandard
    >>> packed = zstandard.ZstdCompressor().compress(b'{"a": 1}\\n')
    >>> io.BufferedReader(ZstdReader(io.BytesIO(packed * 2))).read()
    b'{"a": 1}\\n{"a": 1}\\n'
    """

    def __init__(self, fileobj: IO[bytes], *, source: str = "<stream>", owns: bool = False) -> None:
        super().__init__()
        self._zstd = _zstandard(source)
        self._src = fileobj
        self._owns = owns
        self._start = fileobj.tell() if fileobj.seekable() else 0
        self._restart()

    def _restart(self) -> None:
        self._decompressor = self._zstd.ZstdDecompressor()
        self._frame = self._decompressor.decompressobj()
        self._in_frame = False  # some bytes of the current frame were fed and its end not seen yet
        self._pending = b""  # compressed bytes left over after a frame's end: the next frame's start
        self._out = b""
        self._used = 0  # bytes of ``_out`` already handed out
        self._pos = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._src.seekable()

    def tell(self) -> int:
        return self._pos

    def _fill(self) -> None:
        """Decompress until there are bytes to hand out or the stream has ended (checking that it ended whole)."""
        while self._used >= len(self._out) and not self._done:
            data = self._pending or self._src.read(_CHUNK)
            self._pending = b""
            if not data:
                self._done = True
                if self._in_frame:
                    raise EOFError("compressed data ends before the end of its frame")
                return
            try:
                out = self._frame.decompress(data)
            except self._zstd.ZstdError as exc:
                raise OSError(str(exc) or "invalid zstd data") from None
            self._in_frame = True
            if self._frame.eof:  # this frame is complete; what follows it (if anything) is another frame
                self._pending = self._frame.unused_data
                self._frame = self._decompressor.decompressobj()
                self._in_frame = False
            self._out, self._used = out, 0

    def readinto(self, buffer: Any) -> int:
        self._fill()
        size = min(len(buffer), len(self._out) - self._used)
        buffer[:size] = self._out[self._used : self._used + size]
        self._used += size
        self._pos += size
        return size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._pos + offset}.get(whence)
        if target is None:
            raise io.UnsupportedOperation("a zstd stream seeks from its start or its current position only")
        if target < self._pos:
            self._src.seek(self._start)
            self._restart()
        while self._pos < target:
            self._fill()
            if self._used >= len(self._out):
                break  # past the end, as a file would stop there
            step = min(target - self._pos, len(self._out) - self._used)
            self._used += step
            self._pos += step
        return self._pos

    def close(self) -> None:
        if not self.closed and self._owns:
            self._src.close()
        super().close()


def open_zstd(fileobj: IO[bytes], source: str = "<stream>", *, owns: bool = False) -> io.BufferedReader:
    """A buffered reader of the zstd data in ``fileobj`` (``readline``, iteration by line, forward ``seek``).
    Without the ``zstandard`` package it raises `TraceFileError` naming the extra to install."""
    return io.BufferedReader(ZstdReader(fileobj, source=source, owns=owns), buffer_size=_CHUNK)
