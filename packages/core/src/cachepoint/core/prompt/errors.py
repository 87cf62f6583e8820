"""Errors of the request model: every one names the path in the payload and what was expected there."""

from __future__ import annotations

__all__ = ["RenderError", "RequestFormatError"]


class RequestFormatError(ValueError):
    """A payload does not have the shape its provider format requires.

    ``path`` is where, in the payload's own terms (``messages[3].content[0]``); ``detail`` is what was expected.

    >>> err = RequestFormatError("messages[3].content[0]", "unknown block type 'foo'")
    >>> str(err)
    "messages[3].content[0]: unknown block type 'foo'"
    >>> isinstance(err, ValueError)
    True
    """

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}" if path else detail)

    def __reduce__(self) -> tuple[type[RequestFormatError], tuple[str, str]]:
        return (type(self), (self.path, self.detail))


class RenderError(RequestFormatError):
    """A request cannot be written in the asked format (e.g. a provider-specific block in another provider).

    >>> str(RenderError("messages[0].content[1]", "block type 'web_search_tool_result' has no bedrock form"))
    "messages[0].content[1]: block type 'web_search_tool_result' has no bedrock form"
    """
