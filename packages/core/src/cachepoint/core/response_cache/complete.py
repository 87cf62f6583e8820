"""Whether a stream that ended without an error is a complete answer, for the provider SDK streams core knows.

A proxy or a connection that ends an HTTP body early, cleanly, leaves the SDKs with a stream that just ends: no
exception, only the events that end an answer missing. Such a stream must not be stored (it would be replayed,
cut, from then on). A stream is complete once what its provider always sends last has arrived: a stream cut after
its stop reason but before a usage event that follows it would be replayed without its usage. `EndWatch` looks at
a stream's first chunk to tell whose stream it is, then watches for its end:

- Anthropic raw events (``messages.create(stream=True)``, and ``messages.stream(...)``'s events): ``message_start``
  ... ``message_stop``;
- OpenAI Chat Completions chunks (and ``chat.completions.stream(...)``'s chunk events): a choice with a
  ``finish_reason``, and then, when the request asked for usage (``stream_options.include_usage``: every chunk then
  has a ``usage`` field, ``null`` until the last), the chunk with the usage;
- OpenAI Responses events: ``response.created`` ... ``response.completed`` or ``response.incomplete`` (a
  ``response.failed`` stream is not an answer to keep);
- Bedrock ConverseStream events: ``messageStart`` ... ``messageStop``, then ``metadata`` (the usage).

A stream of any other shape (your own chunks, dumped framework objects) is not judged: it is complete when it
ends without an error.

>>> watch = EndWatch()
>>> for event in ({"type": "message_start"}, {"type": "content_block_delta"}):
...     watch.see(event)
>>> watch.complete
False
>>> watch.see({"type": "message_stop"})
>>> watch.complete
True
"""

from __future__ import annotations

from typing import Any

__all__ = ["EndWatch"]

_ANTHROPIC, _CHAT, _RESPONSES, _CONVERSE, _UNKNOWN = "anthropic", "chat", "responses", "converse", "unknown"
_RESPONSES_ENDS = frozenset({"response.completed", "response.incomplete"})


def _field(chunk: Any, name: str) -> Any:
    return chunk.get(name) if isinstance(chunk, dict) else getattr(chunk, name, None)


def _chat_chunk(chunk: Any) -> Any:
    """The Chat Completions chunk ``chunk`` is or wraps (``chat.completions.stream(...)``'s ``chunk`` events), or
    ``None``."""
    if _field(chunk, "type") == "chunk":
        chunk = _field(chunk, "chunk")
    return chunk if _field(chunk, "object") == "chat.completion.chunk" else None


def _finished(chunk: Any) -> bool:
    choices = _field(chunk, "choices") or ()
    return any(_field(choice, "finish_reason") for choice in choices)


def _has_field(chunk: Any, name: str) -> bool:
    """Whether ``chunk`` came with field ``name``, even ``null`` (a dict's key; an SDK model's set fields)."""
    if isinstance(chunk, dict):
        return name in chunk
    return name in (getattr(chunk, "model_fields_set", None) or ())


class EndWatch:
    """Watches one stream's chunks (`see` each, in order): ``complete`` is false while a stream of a known shape
    has not reached its end."""

    __slots__ = ("_ended", "_kind", "_stopped")

    def __init__(self) -> None:
        self._kind: str | None = None
        self._ended = False
        self._stopped = False  # the stop reason arrived (Chat Completions, ConverseStream: their usage may follow)

    def see(self, chunk: Any) -> None:
        """Look at the next chunk."""
        kind = self._kind
        if kind is None:
            kind = self._kind = self._shape(chunk)
        if kind is _UNKNOWN or self._ended:
            return
        if kind is _ANTHROPIC:
            self._ended = _field(chunk, "type") == "message_stop"
        elif kind is _CONVERSE:
            self._stopped = self._stopped or (isinstance(chunk, dict) and "messageStop" in chunk)
            self._ended = self._stopped and isinstance(chunk, dict) and "metadata" in chunk
        elif kind is _RESPONSES:
            self._ended = _field(chunk, "type") in _RESPONSES_ENDS
        else:
            found = _chat_chunk(chunk)
            if found is None:
                return
            self._stopped = self._stopped or _finished(found)
            # asked for usage: it comes in a last chunk of its own, after the finish reason
            usage_follows = _has_field(found, "usage")
            self._ended = self._stopped and (not usage_follows or _field(found, "usage") is not None)

    @property
    def complete(self) -> bool:
        """Whether the chunks seen make a complete answer (always, for a stream of a shape not judged)."""
        return self._kind is None or self._kind is _UNKNOWN or self._ended

    @staticmethod
    def _shape(first: Any) -> str:
        if isinstance(first, dict) and "messageStart" in first:
            return _CONVERSE
        kind = _field(first, "type")
        if kind == "message_start":
            return _ANTHROPIC
        if kind == "response.created":
            return _RESPONSES
        if _chat_chunk(first) is not None:
            return _CHAT
        return _UNKNOWN
