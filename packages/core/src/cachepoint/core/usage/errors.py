"""The one exception a usage payload that cannot be read raises."""

from __future__ import annotations

__all__ = ["UsageFormatError"]


class UsageFormatError(ValueError):
    """A usage payload does not have the shape its provider documents.

    ``path`` names the offending field (``usage.prompt_tokens_details.cached_tokens``); the message says what
    was expected and what was found. It subclasses `ValueError` so callers that already guard against bad
    values keep working.

    >>> from cachepoint.core.usage import normalize_usage
    >>> try:
    ...     normalize_usage({"usage": {"prompt_tokens": "12", "completion_tokens": 3}})
    ... except UsageFormatError as exc:
    ...     print(exc.path)
    usage.prompt_tokens
    """

    def __init__(self, path: str, problem: str) -> None:
        path = path or "payload"
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
