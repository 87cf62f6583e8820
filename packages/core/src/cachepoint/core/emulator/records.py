"""`RecordedRequest`: everything the emulator saw and answered, for a test's assertions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cachepoint.core.emulator.replies import Reply
    from cachepoint.core.prompt import Request
    from cachepoint.core.simulate import SimResult
    from cachepoint.core.usage import CacheUsage

__all__ = ["RecordedRequest"]


@dataclass
class RecordedRequest:
    """One request the emulator received, and what it did with it.

    Attributes:
        index: arrival order (0, 1, 2...).
        protocol: ``anthropic``, ``bedrock``, ``bedrock-mantle``, ``vertex`` or ``openai``; ``operation`` the call
            (``messages``, ``count_tokens``, ``converse``, ``converse_stream``, ``invoke_model``,
            ``invoke_model_stream``, ``chat.completions``).
        method, path, headers (lower-cased names), raw: the HTTP request as received.
        at: the emulator clock's time when it arrived.
        body: the parsed JSON body (``None`` if it was not JSON).
        tenant: whose cache it used (API key, AWS access key id, or the name `Emulator(tenants=...)` maps it to).
        model: the model asked for; ``stream``: whether it streamed.
        request: the body as a `cachepoint.core.prompt.Request`.
        status: the HTTP status answered; ``error``: the error body, if any.
        reply: the `Reply` sent; ``result``: the simulator's `SimResult` (its ``usage`` / ``native()``).
        notes: things the emulator accepted but you may want to know (a marker the model ignores...).

    >>> call = RecordedRequest(0, "anthropic", "POST", "/v1/messages", {}, b"{}", 0.0,
    ...                        body={"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]})
    >>> call.last_user_text, call.usage
    ('Hi', None)
    """

    index: int
    protocol: str
    method: str
    path: str
    headers: Mapping[str, str]
    raw: bytes
    at: float
    body: Any = None
    operation: str | None = None
    tenant: str | None = None
    model: str | None = None
    stream: bool = False
    request: Request | None = None
    status: int | None = None
    error: Mapping[str, Any] | None = None
    reply: Reply | None = None
    result: SimResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def usage(self) -> CacheUsage | None:
        """The usage answered, as a `CacheUsage` (``None`` for errors and count_tokens)."""
        return self.result.usage if self.result is not None else None

    @property
    def native_usage(self) -> dict[str, Any] | None:
        """The usage object exactly as sent in the response."""
        return self.result.native() if self.result is not None else None

    @property
    def last_user_text(self) -> str:
        """The text of the last user message (text parts joined; tool results' text too)."""
        messages = self.body.get("messages") if isinstance(self.body, Mapping) else None
        if not isinstance(messages, list):
            return ""
        for message in reversed(messages):
            if isinstance(message, Mapping) and message.get("role") in ("user", "tool"):
                return _text(message.get("content"))
        return ""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, Mapping):
                continue
            if isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif "content" in part:  # Anthropic tool_result
                parts.append(_text(part["content"]))
            elif isinstance(part.get("toolResult"), Mapping):  # Bedrock tool result
                parts.append(_text(part["toolResult"].get("content")))
    return "\n".join(p for p in parts if p)
