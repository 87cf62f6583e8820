"""Several trace files read as one trace: what ``cachepoint analyze DIR``, ``'logs/*.jsonl.zst'`` or
``day1.jsonl day2.jsonl.gz`` reads.

A directory stands for the trace files in it (names ending ``.jsonl``, ``.jsonl.gz``, ``.jsonl.xz``,
``.jsonl.zst``; not its subdirectories), a glob pattern for the files it matches, both sorted by name. The
files are read in that order as if concatenated (line numbers count on from one file to the next), and each is
decompressed according to its first bytes, whatever its name says. `TraceFiles.locate` turns a line number back
into the file and its line there, for error messages.
"""

from __future__ import annotations

import bisect
import glob
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from cachepoint.core.traces.errors import TraceFileError
from cachepoint.core.traces.reader import raw_lines

__all__ = ["TRACE_SUFFIXES", "TraceFiles", "resolve_traces"]

#: The names a directory's trace files end with (their content, not the name, decides the compression).
TRACE_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.xz", ".jsonl.zst")
_GLOB_CHARS = frozenset("*?[")


def _in_folder(folder: Path) -> list[Path]:
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise TraceFileError(str(folder), f"cannot list the folder: {exc.strerror or exc}") from None
    found = [
        folder / name
        for name in names
        if not name.startswith(".") and name.endswith(TRACE_SUFFIXES) and (folder / name).is_file()
    ]
    if not found:
        raise TraceFileError(str(folder), f"no trace files in this folder (looked for *{', *'.join(TRACE_SUFFIXES)})")
    return found


def _one(spec: str) -> list[Path]:
    path = Path(spec)
    if path.is_dir():
        return _in_folder(path)
    if path.exists():
        if not os.access(path, os.R_OK):
            raise TraceFileError(spec, "permission denied")
        return [path]
    if _GLOB_CHARS & set(spec):
        matches = sorted(glob.glob(spec))
        files = [Path(m) for m in matches if Path(m).is_file()]
        if not files:
            raise TraceFileError(spec, "no files match this pattern")
        return files
    raise TraceFileError(spec, "no such file")


def resolve_traces(specs: Sequence[str]) -> list[Path]:
    """The trace files that ``specs`` (files, directories, glob patterns) stand for, in order: each spec's
    files sorted by name, the specs in the order given, a file named twice read once. A spec that stands for no
    readable file raises `TraceFileError` naming it.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ["b.jsonl.zst", "a.jsonl", "notes.txt"]:
    ...     _ = (folder / name).write_bytes(b"")
    >>> [p.name for p in resolve_traces([str(folder)])], [p.name for p in resolve_traces([f"{folder}/*.zst"])]
    (['a.jsonl', 'b.jsonl.zst'], ['b.jsonl.zst'])
    >>> resolve_traces([f"{folder}/*.gz"])
    Traceback (most recent call last):
    ...
    cachepoint.core.traces.errors.TraceFileError: .../*.gz: no files match this pattern
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for spec in specs:
        for path in _one(spec):
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(path)
    return found


class TraceFiles:
    """The lines of several trace files, one after the other, as one trace (an iterable of ``bytes`` lines that
    `cachepoint.core.analyze.analyze` and `TraceReader` read like any other). A file whose last line has no
    newline gets one, so that it does not run into the next file's first line.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.jsonl").write_bytes(b'{"n": 1}\\n{"n": 2}')
    >>> _ = (folder / "b.jsonl").write_bytes(b'{"n": 3}\\n')
    >>> files = TraceFiles(resolve_traces([str(folder)]))
    >>> list(files)
    [b'{"n": 1}\\n', b'{"n": 2}\\n', b'{"n": 3}\\n']
    >>> name, line = files.locate(3)
    >>> pathlib.Path(name).name, line
    ('b.jsonl', 1)
    """

    def __init__(self, paths: Sequence[str | Path]) -> None:
        if not paths:
            raise ValueError("paths: expected at least one trace file")
        self.paths = [Path(p) for p in paths]
        self._starts: list[int] = []  # the global number of each file's line 1, for the files read so far
        self._offsets: list[int] = []  # the global byte offset of each file's first byte, likewise

    def __iter__(self) -> Iterator[bytes]:
        self._starts, self._offsets = [], []
        number = offset = 0
        for path in self.paths:
            self._starts.append(number + 1)
            self._offsets.append(offset)
            for line in raw_lines(path):
                number += 1
                whole = line if line.endswith(b"\n") else line + b"\n"
                offset += len(whole)
                yield whole

    def locate(self, line: int) -> tuple[str, int]:
        """``(file, line in that file)`` for a line number of the whole (as read so far)."""
        index = max(0, bisect.bisect_right(self._starts, line) - 1) if self._starts else 0
        start = self._starts[index] if self._starts else 1
        return str(self.paths[index]), line - start + 1

    def file_offset(self, line: int, offset: int) -> tuple[Path, int]:
        """``(file, byte offset in that file)`` of line ``line`` of the whole, which starts at byte ``offset`` of the
        whole (as `cachepoint.core.traces.iter_lines` numbers and offsets it), for the files read so far: a line
        can be read back from its file (`cachepoint.core.traces.open_trace`, ``seek``) instead of kept in memory."""
        index = max(0, bisect.bisect_right(self._starts, line) - 1) if self._starts else 0
        start = self._offsets[index] if self._offsets else 0
        return self.paths[index], offset - start

    def __str__(self) -> str:
        return str(self.paths[0]) if len(self.paths) == 1 else f"{self.paths[0]} and {len(self.paths) - 1} more"
