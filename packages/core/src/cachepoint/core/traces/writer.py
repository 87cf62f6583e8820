"""`TraceWriter`: record live traffic as a JSONL trace that `cachepoint analyze` reads.

Each record is one line, written with one ``write(2)`` on a file opened with ``O_APPEND``: lines from many
threads (and from several processes appending to the same file) never interleave, and a crash loses at most
the line being written. There is no buffer to flush and no background thread, so the writer is as safe to call
from a request handler as a log statement; `TraceWriter.awrite` is the same call for async code (one small
append costs less than a hop to a thread).
"""

from __future__ import annotations

import base64
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from typing_extensions import Self

from cachepoint.core.traces.record import FORMAT_VERSION, parse_record

__all__ = ["TraceWriter"]


def _default(value: Any) -> Any:
    """JSON for what SDKs hand back: pydantic models, dataclasses, mappings, bytes."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"cannot write a {type(value).__name__} to a trace (expected JSON-like data)")


class TraceWriter:
    """Append requests (and what they cost) to a JSONL trace, one envelope per line.

    Args:
        path: the trace file (created with its parent directories; appended to when it exists).
        max_bytes: start a new file once this one would grow past this size; the full one is renamed
            ``<name>.<n>.jsonl`` (``n`` = 1, 2...). ``None``: one file. Rotation assumes one writing process.
        transform: called on each envelope before it is written (drop or hash fields you must not store);
            return the envelope to write, or ``None`` to skip the record.
        clock: the default ``timestamp`` when a call gives none (seconds since the epoch).

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "agent.jsonl"
    >>> with TraceWriter(path) as writer:
    ...     writer.write({"model": "claude-sonnet-4-5", "max_tokens": 64,
    ...                   "messages": [{"role": "user", "content": "Hi"}]},
    ...                  usage={"input_tokens": 8, "output_tokens": 3}, timestamp=1795428900.0, session="s-1")
    >>> from cachepoint.core.traces import read_trace
    >>> [(r.session, r.timestamp, r.usage["input_tokens"]) for r in read_trace(path)]
    [('s-1', 1795428900.0, 8)]
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes: expected a positive size or None, got {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.transform = transform
        self.clock = clock
        self.records = 0
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = os.fstat(self._fd).st_size

    def write(
        self,
        request: Any,
        *,
        usage: Any = None,
        timestamp: float | str | None = None,
        provider: str | None = None,
        model: str | None = None,
        tenant: str | None = None,
        session: str | None = None,
        ttft_s: float | None = None,
        id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one request. ``request`` is the body sent to the provider (a mapping or a
        `cachepoint.core.prompt.Request`); ``usage`` what the provider reported (its usage object or whole
        response, SDK objects welcome); ``timestamp`` when the request started (default: now).

        An envelope that would not read back (a bad timestamp, a non-object body) raises `TraceFormatError`
        here, not later in `cachepoint analyze`.
        """
        envelope: dict[str, Any] = {"v": FORMAT_VERSION, "timestamp": self.clock() if timestamp is None else timestamp}
        body = request.render() if hasattr(request, "render") and hasattr(request, "positions") else request
        envelope["request"] = body
        for name, value in (
            ("provider", provider),
            ("model", model),
            ("tenant", tenant),
            ("session", session),
            ("usage", usage),
            ("ttft_s", ttft_s),
            ("id", id),
            ("metadata", metadata),
        ):
            if value is not None:
                envelope[name] = value
        if self.transform is not None:
            transformed = self.transform(envelope)
            if transformed is None:
                return
            envelope = transformed
        line = orjson.dumps(envelope, default=_default, option=orjson.OPT_APPEND_NEWLINE)
        parse_record(orjson.loads(line))  # what we write must read back
        self._append(line)

    async def awrite(self, request: Any, **fields: Any) -> None:
        """`write` for async code (same arguments).

        >>> import asyncio, tempfile, pathlib
        >>> writer = TraceWriter(pathlib.Path(tempfile.mkdtemp()) / "t.jsonl")
        >>> asyncio.run(writer.awrite({"model": "gpt-4o", "messages": []}, timestamp=0.0)); writer.records
        1
        """
        self.write(request, **fields)

    def _append(self, line: bytes) -> None:
        with self._lock:
            if self._fd is None:
                raise ValueError("TraceWriter is closed")
            if self.max_bytes is not None and self._size and self._size + len(line) > self.max_bytes:
                self._rotate()
            assert self._fd is not None
            view = memoryview(line)
            while view:  # a regular file takes the whole line at once; loop for the rare short write
                written = os.write(self._fd, view)
                view = view[written:]
            self._size += len(line)
            self.records += 1

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        n = 1
        while (target := self.path.with_name(f"{self.path.stem}.{n}{self.path.suffix}")).exists():
            n += 1
        os.replace(self.path, target)
        self._open()

    def flush(self) -> None:
        """Make what was written durable (``fsync``); lines are already in the file after `write`."""
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._fd is None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TraceWriter({str(self.path)!r}, records={self.records})"
