"""The one error a bad trace line raises: it names the line, the field and what was expected."""

from __future__ import annotations

__all__ = ["TraceFormatError"]


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
