"""Usage of a streamed response, read event by event.

Each provider puts stream usage somewhere else:

- Anthropic (and Bedrock InvokeModelWithResponseStream, whose ``chunk.bytes`` are Anthropic events):
  ``message_start`` has the full usage with the TTL split; ``message_delta`` has cumulative counts (which win)
  without the split.
- Bedrock ConverseStream: the ``metadata`` event.
- OpenAI Chat Completions: the last chunk, only with ``stream_options={"include_usage": True}`` (vLLM may send
  cumulative usage on every chunk: the last one wins).
- OpenAI Responses: the ``response.completed`` (or ``.incomplete`` / ``.failed``) event.
- Gemini: every chunk's ``usage_metadata`` is cumulative; the last one wins.
- LangChain ``AIMessageChunk``: each chunk holds a part, and LangChain adds chunks up; so do we.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from cachepoint.core.providers import normalize_provider
from cachepoint.core.usage.cache_usage import CacheUsage
from cachepoint.core.usage.errors import UsageFormatError
from cachepoint.core.usage.formats.anthropic import AnthropicCounts, finish, merge_stream, read_counts
from cachepoint.core.usage.formats.bedrock import parse_converse
from cachepoint.core.usage.formats.gemini import parse_gemini, usage_metadata_of
from cachepoint.core.usage.formats.langchain import parse_langchain
from cachepoint.core.usage.formats.openai import parse_chat, parse_responses
from cachepoint.core.usage.payload import Fields, to_data

__all__ = ["StreamUsage", "normalize_stream"]

_ANTHROPIC_EVENTS_WITHOUT_USAGE = frozenset(
    {"content_block_start", "content_block_delta", "content_block_stop", "message_stop", "ping", "error"}
)
_RESPONSE_EVENTS_WITH_USAGE = frozenset({"response.completed", "response.incomplete", "response.failed"})


class StreamUsage:
    """Collects the usage of one streamed response as its events go by; `usage` gives the result.

    Feed it every event (SDK objects or dicts); events without usage are skipped. Thread-safe.

    >>> s = StreamUsage()
    >>> s.feed({"type": "message_start", "message": {"model": "claude-sonnet-4-5", "usage": {
    ...     "input_tokens": 10, "cache_read_input_tokens": 1200, "cache_creation_input_tokens": 300,
    ...     "cache_creation": {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 0},
    ...     "output_tokens": 1}}})
    >>> s.feed({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 42}})
    >>> u = s.usage()
    >>> u.input_tokens, u.output_tokens, dict(u.cache_write_by_ttl)
    (1510, 42, {'5m': 300})
    """

    def __init__(self, *, provider: str | None = None, model: str | None = None) -> None:
        self._provider = normalize_provider(provider) if provider else None
        self._model = model
        self._lock = threading.Lock()
        self._events = 0
        self._start: AnthropicCounts | None = None
        self._delta: AnthropicCounts | None = None
        self._via_bedrock = False
        self._last: CacheUsage | None = None
        self._langchain: dict[str, Any] | None = None
        self._langchain_meta: dict[str, Any] = {}

    @property
    def events(self) -> int:
        """How many events were fed."""
        return self._events

    def feed(self, event: Any) -> None:
        """Read one stream event (raises `UsageFormatError` if an event that should carry usage is malformed)."""
        with self._lock:
            path = f"events[{self._events}]"
            self._events += 1
            data = to_data(event, path)
            if not isinstance(data, Mapping):
                raise UsageFormatError(path, f"expected an event object, got {type(data).__name__}")
            chunk = data.get("chunk")
            if isinstance(chunk, Mapping) and chunk.get("bytes") is not None:
                # InvokeModelWithResponseStream: the bytes are one Anthropic event.
                self._via_bedrock = True
                data = to_data(chunk["bytes"], f"{path}.chunk.bytes")
                path = f"{path}.chunk.bytes"
            try:
                self._read(Fields(data, path))
            except UsageFormatError:
                raise
            except (TypeError, ValueError) as exc:
                raise UsageFormatError(path, f"inconsistent usage: {exc}") from None

    def _read(self, event: Fields) -> None:
        kind = event.get("type")
        if kind == "message_start":
            message = event.require_child("message")
            self._start = read_counts(message.require_child("usage"))
            self._start.model = message.text("model")
        elif kind == "message_delta":
            self._delta = read_counts(event.require_child("usage"))
        elif kind in _ANTHROPIC_EVENTS_WITHOUT_USAGE:
            return
        elif kind in _RESPONSE_EVENTS_WITH_USAGE:
            response = event.require_child("response")
            self._last = parse_responses(
                response.require_child("usage"), provider=self._provider or "openai", model=response.text("model")
            )
        elif isinstance(kind, str) and kind.startswith("response."):
            return
        elif kind == "AIMessageChunk" or (kind == "ai" and "usage_metadata" in event):
            self._add_langchain(event)
        elif event.child("metadata") is not None and "usage" in event.require_child("metadata"):
            self._last = parse_converse(event, model=None)
        elif event.get("object") == "chat.completion.chunk" or "choices" in event:
            if event.get("usage") is not None:
                self._last = parse_chat(
                    event.require_child("usage"), provider=self._provider or "openai", model=event.text("model")
                )
        elif usage_metadata_of(event) is not None:
            self._last = parse_gemini(event, model=None)

    def _add_langchain(self, event: Fields) -> None:
        usage = event.get("usage_metadata")
        if isinstance(usage, Mapping):
            self._langchain = _add_nested(self._langchain or {}, usage)
        meta = event.get("response_metadata")
        if isinstance(meta, Mapping):
            self._langchain_meta.update({k: v for k, v in meta.items() if isinstance(v, str)})

    def usage(self) -> CacheUsage:
        """The usage of the stream so far; `UsageFormatError` if no event carried usage."""
        with self._lock:
            if self._start is not None or self._delta is not None:
                provider = self._provider or ("bedrock" if self._via_bedrock else "anthropic")
                merged = merge_stream(self._start, self._delta)
                # A stream without message_start has no prompt total: keep what is unknown unknown.
                return finish(merged, provider=provider, model=self._model, absent_is_zero=self._start is not None)
            if self._last is not None:
                return _relabel(self._last, provider=self._provider, model=self._model)
            if self._langchain is not None:
                payload = {"usage_metadata": self._langchain, "response_metadata": self._langchain_meta}
                return parse_langchain(Fields(payload, "stream"), provider=self._provider, model=self._model)
        raise UsageFormatError(
            "stream",
            f"no usage in {self._events} events (OpenAI Chat Completions report stream usage only with "
            "stream_options={'include_usage': True}; vLLM may need --enable-prompt-tokens-details for cache counts)",
        )


def _add_nested(total: Mapping[str, Any], part: Mapping[str, Any]) -> dict[str, Any]:
    # LangChain's add_usage: numbers add up key by key (absent counts as 0), nested dicts recursively.
    result = dict(total)
    for key, value in part.items():
        if isinstance(value, Mapping):
            result[key] = _add_nested(result.get(key) or {}, value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            result[key] = (result.get(key) or 0) + value
    return result


def _relabel(usage: CacheUsage, *, provider: str | None, model: str | None) -> CacheUsage:
    changes: dict[str, Any] = {}
    if provider is not None:
        changes["provider"] = provider
    if model is not None:
        changes["model"] = model
    return replace(usage, **changes) if changes else usage


def normalize_stream(events: Iterable[Any], *, provider: str | None = None, model: str | None = None) -> CacheUsage:
    """The usage of a whole stream, given all its events (see `StreamUsage` for one event at a time).

    >>> normalize_stream([
    ...     {"object": "chat.completion.chunk", "model": "gpt-4o", "choices": [{"delta": {"content": "Hi"}}]},
    ...     {"object": "chat.completion.chunk", "model": "gpt-4o", "choices": [], "usage": {
    ...         "prompt_tokens": 2006, "completion_tokens": 300, "prompt_tokens_details": {"cached_tokens": 1920}}},
    ... ]).cache_read_tokens
    1920
    """
    collector = StreamUsage(provider=provider, model=model)
    for event in events:
        collector.feed(event)
    return collector.usage()
