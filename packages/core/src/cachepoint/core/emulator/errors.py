"""API errors in each provider's own shape, so the real SDKs raise their own exception types.

- Anthropic: ``{"type": "error", "error": {"type": "invalid_request_error", "message": ...}, "request_id": ...}``
  (``anthropic.BadRequestError`` for 400, ``AuthenticationError`` for 401, ``NotFoundError`` for 404).
- Bedrock (AWS rest-json): the error code in the ``x-amzn-ErrorType`` header and ``{"message": ...}`` in the
  body, so boto3 raises its modeled ``client.exceptions.ValidationException``.
- OpenAI: ``{"error": {"message", "type", "param", "code"}}`` (``openai.BadRequestError``...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiError", "anthropic_error", "bedrock_error", "openai_error"]


@dataclass
class ApiError(Exception):
    """An error response: ``status``, a JSON ``body`` and extra ``headers``.

    >>> err = anthropic_error(400, "invalid_request_error", "messages: Field required")
    >>> err.status, err.body["error"]["message"]
    (400, 'messages: Field required')
    """

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {json.dumps(self.body)}"

    @property
    def message(self) -> str:
        """The human-readable message, whatever the shape."""
        inner = self.body.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        return str(self.body.get("message", ""))


def anthropic_error(status: int, kind: str, message: str) -> ApiError:
    """An Anthropic error (``kind``: ``invalid_request_error``, ``authentication_error``, ``not_found_error``...).

    >>> anthropic_error(401, "authentication_error", "x-api-key header is required").body["type"]
    'error'
    """
    return ApiError(status, {"type": "error", "error": {"type": kind, "message": message}})


def bedrock_error(status: int, code: str, message: str) -> ApiError:
    """A Bedrock Runtime error (``code``: ``ValidationException``, ``ResourceNotFoundException``...).

    >>> bedrock_error(400, "ValidationException", "bad").headers["x-amzn-ErrorType"]
    'ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/'
    """
    return ApiError(
        status,
        {"message": message},
        {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"},
    )


def openai_error(
    status: int, message: str, *, kind: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> ApiError:
    """An OpenAI error.

    >>> openai_error(400, "Missing required parameter: 'messages'.", param="messages").body["error"]["param"]
    'messages'
    """
    return ApiError(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})
