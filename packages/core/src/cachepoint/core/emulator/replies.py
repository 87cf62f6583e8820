"""What the emulator answers: deterministic replies, from a fixed text, a script, an echo, or your function.

A reply source is any of:

- a string: the same text every time;
- a `Reply`: text and/or tool calls (an agent test scripts "call the tool, then answer");
- a list of strings / `Reply`s: a script, one per request in order (an error once it runs out);
- a function ``(call) -> str | Reply``, given the `RecordedRequest` being answered (its parsed ``request``,
  ``body``, ``model``, ``tenant``, ``last_user_text``...);
- ``None``: `echo`, which answers with the last user text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from cachepoint.core.emulator.records import RecordedRequest

__all__ = ["Reply", "ReplySource", "ToolCall", "echo", "replier", "script"]


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model makes: ``name`` and ``input`` (``id`` is generated when omitted).

    >>> ToolCall("get_weather", {"city": "Paris"}).name
    'get_weather'
    """

    name: str
    input: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """One assistant answer: ``text``, ``tool_calls``, and optionally the output token count to report
    (otherwise counted from the text and tool inputs).

    >>> Reply(tool_calls=(ToolCall("search", {"q": "prompt caching"}),)).stop_reason
    'tool_use'
    >>> Reply("Done.").stop_reason
    'end_turn'
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    output_tokens: int | None = None

    @property
    def stop_reason(self) -> str:
        """``tool_use`` when the reply calls tools, else ``end_turn`` (Anthropic's names)."""
        return "tool_use" if self.tool_calls else "end_turn"


#: What `Emulator(reply=...)` accepts.
ReplySource = Union[str, Reply, Sequence[str | Reply], Callable[["RecordedRequest"], str | Reply], None]  # noqa: UP007


def echo(call: RecordedRequest) -> Reply:
    """Answer with the last user text (the default).

    >>> from cachepoint.core.emulator.records import RecordedRequest
    >>> echo(RecordedRequest(0, "anthropic", "POST", "/v1/messages", {}, b"", 0.0,
    ...      body={"messages": [{"role": "user", "content": "ping"}]})).text
    'ping'
    """
    return Reply(call.last_user_text)


class _Script:
    def __init__(self, replies: Sequence[str | Reply]) -> None:
        self._replies = list(replies)
        self._next = 0
        self._lock = threading.Lock()

    def __call__(self, call: RecordedRequest) -> Reply:
        with self._lock:
            if self._next >= len(self._replies):
                raise LookupError(f"the emulator's reply script is exhausted ({len(self._replies)} replies)")
            value = self._replies[self._next]
            self._next += 1
        return value if isinstance(value, Reply) else Reply(value)


def script(replies: Sequence[str | Reply]) -> Callable[[RecordedRequest], Reply]:
    """Answer request *n* with ``replies[n]``; an error once the script runs out.

    >>> from cachepoint.core.emulator.records import RecordedRequest
    >>> answer = script(["first", Reply("second")])
    >>> call = RecordedRequest(0, "openai", "POST", "/v1/chat/completions", {}, b"", 0.0)
    >>> answer(call).text, answer(call).text
    ('first', 'second')
    """
    return _Script(replies)


def replier(source: ReplySource) -> Callable[[RecordedRequest], Reply]:
    """Turn any reply source into a function returning a `Reply`.

    >>> from cachepoint.core.emulator.records import RecordedRequest
    >>> replier("Hello!")(RecordedRequest(0, "openai", "POST", "/", {}, b"", 0.0)).text
    'Hello!'
    """
    if source is None:
        return echo
    if isinstance(source, str):
        fixed = Reply(source)
        return lambda _call: fixed
    if isinstance(source, Reply):
        reply = source
        return lambda _call: reply
    if callable(source):
        function = source

        def call_user(call: RecordedRequest) -> Reply:
            value = function(call)
            if isinstance(value, str):
                return Reply(value)
            if isinstance(value, Reply):
                return value
            raise TypeError(f"reply function: expected a str or Reply, got {type(value).__name__}")

        return call_user
    if isinstance(source, Sequence):
        return script(source)
    raise TypeError(f"reply: expected a str, Reply, list, function or None, got {type(source).__name__}")
