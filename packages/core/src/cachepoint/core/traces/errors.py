"""The errors a bad trace raises: `TraceFormatError` for a line (it names the line, the field and what was
expected), `TraceFileError` for a file that cannot be read at all (damaged or truncated compressed data, an
unsupported compression)."""

from __future__ import annotations

__all__ = ["TraceFileError", "TraceFormatError"]


class TraceFormatError(ValueError):
    """A trace line that cannot be read.

    ``line`` is the 1-based line number (``None`` for a record that came from no file), ``path`` the field
    inside the record (``request.messages[2].content[0]``; ``""`` for the line as a whole), ``detail`` what was
    expected there.

    >>> err = TraceFormatError(17, "request.messages[2].content[0]", "unknown block type 'foo'")
    >>> str(err)
    "line 17: request.messages[2].content[0]: unknown block type 'foo'"
    >>> isinstance(err, ValueError), err.line, err.path
    (True, 17, 'request.messages[2].content[0]')
    """

    def __init__(self, line: int | None, path: str, detail: str) -> None:
        self.line = line
        self.path = path
        self.detail = detail
        where = [f"line {line}"] if line is not None else []
        if path:
            where.append(path)
        super().__init__(": ".join([*where, detail]))

    def __reduce__(self) -> tuple[type[TraceFormatError], tuple[int | None, str, str]]:
        return (type(self), (self.line, self.path, self.detail))


class TraceFileError(ValueError):
    """A trace file that cannot be read as a whole: damaged or truncated compressed data, a compression this
    reader does not read. ``source`` names the file (``"-"`` for stdin), ``detail`` says what is wrong.

    >>> err = TraceFileError("day.jsonl.xz", "the xz data ends early, after line 311 (a truncated file?)")
    >>> str(err)
    'day.jsonl.xz: the xz data ends early, after line 311 (a truncated file?)'
    """

    def __init__(self, source: str, detail: str) -> None:
        self.source = source
        self.detail = detail
        super().__init__(f"{source}: {detail}")

    def __reduce__(self) -> tuple[type[TraceFileError], tuple[str, str]]:
        return (type(self), (self.source, self.detail))
