"""The Anthropic SDK client as CrewAI's native Anthropic provider sees it, with caching on.

CrewAI calls ``messages.create`` / ``messages.stream`` (and their ``beta`` twins, for structured output and the
Files API) with the Messages API payload it built: CrewAI's own two ``cache_control`` markers (system prompt
and task prompt) are already in it, so the strategy's breakpoints are placed around them within Anthropic's
four. Everything else (``count_tokens``, files, batches) passes through untouched. Works the same with the
``anthropic`` 0.x SDK CrewAI's extra pins and with 2.x, since only the SDK's public resource methods are used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from types import TracebackType
from typing import Any

from cachepoint.crewai.state import Caching, Timer

__all__ = ["wrap_anthropic"]

# SDK request options, not part of the payload the provider reads (they never reach the strategy).
_OPTIONS = ("extra_headers", "extra_query", "extra_body", "timeout", "betas")
# Options that change the answer, so they belong in the response-cache key.
_KEYED_OPTIONS = ("extra_body", "betas")


def _split(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    payload = {k: v for k, v in params.items() if k not in _OPTIONS}
    options = {k: v for k, v in params.items() if k in _OPTIONS}
    return payload, options


def _cache_key(payload: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    return {**payload, **{k: options[k] for k in _KEYED_OPTIONS if options.get(k) is not None}}


def _message_codec(beta: bool) -> tuple[Any, Any]:
    """dump / load of a ``Message`` (``BetaMessage``) for the response cache. A replayed message reports zero
    tokens: it reached no model, so CrewAI's own token counters stay true."""
    from anthropic.types import Message
    from anthropic.types.beta import BetaMessage

    message_type: type[Message] | type[BetaMessage] = BetaMessage if beta else Message

    def dump(message: Any) -> Any:
        return message.model_dump(mode="json", exclude_none=True)

    def load(data: Any) -> Any:
        message = message_type.model_validate(data)
        free = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        return message.model_copy(update={"usage": message.usage.model_copy(update=free)})

    return dump, load


class _Messages:
    """``client.messages`` (or ``client.beta.messages``) of a sync client."""

    def __init__(self, inner: Any, caching: Caching, *, beta: bool) -> None:
        self._inner = inner
        self._caching = caching
        self._beta = beta

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, **params: Any) -> Any:
        caching = self._caching
        payload, options = _split(params)
        payload = caching.place(payload, format="anthropic")
        if payload.get("stream"):  # a raw event stream: CrewAI streams through .stream(), which is recorded
            return self._inner.create(**payload, **options)
        timer = Timer()
        dump, load = _message_codec(self._beta)
        message, hit = caching.cached(
            _cache_key(payload, options), lambda: self._inner.create(**payload, **options), dump=dump, load=load
        )
        if not hit:
            caching.record(payload, message.usage, timer, model=payload.get("model"))
        return message

    def stream(self, **params: Any) -> Any:
        caching = self._caching
        payload, options = _split(params)
        payload = caching.place(payload, format="anthropic")
        caching.streams_uncached()
        return _StreamManager(self._inner.stream(**payload, **options), caching, payload)


class _Stream:
    """A ``MessageStream`` that marks its first event (time to first token)."""

    def __init__(self, inner: Any, timer: Timer) -> None:
        self._inner = inner
        self._timer = timer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __iter__(self) -> Iterator[Any]:
        for event in self._inner:
            self._timer.first_chunk()
            yield event


class _StreamManager:
    """``messages.stream(...)``: the SDK's manager, recording the final message's usage when the block ends
    without an error (an abandoned or failed stream is not recorded)."""

    def __init__(self, inner: Any, caching: Caching, payload: dict[str, Any]) -> None:
        self._inner = inner
        self._caching = caching
        self._payload = payload
        self._stream: Any = None
        self._timer = Timer()

    def __enter__(self) -> _Stream:
        self._timer = Timer()
        self._stream = self._inner.__enter__()
        return _Stream(self._stream, self._timer)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        if exc_type is None and self._stream is not None:
            final = self._stream.get_final_message()
            self._caching.record(self._payload, final.usage, self._timer, model=self._payload.get("model"))
        return self._inner.__exit__(exc_type, exc, tb)


class _AsyncMessages:
    """``client.messages`` (or ``client.beta.messages``) of an async client."""

    def __init__(self, inner: Any, caching: Caching, *, beta: bool) -> None:
        self._inner = inner
        self._caching = caching
        self._beta = beta

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def create(self, **params: Any) -> Any:
        caching = self._caching
        payload, options = _split(params)
        payload = caching.place(payload, format="anthropic")
        if payload.get("stream"):
            return await self._inner.create(**payload, **options)
        timer = Timer()
        dump, load = _message_codec(self._beta)

        async def call() -> Any:
            return await self._inner.create(**payload, **options)

        message, hit = await caching.acached(_cache_key(payload, options), call, dump=dump, load=load)
        if not hit:
            caching.record(payload, message.usage, timer, model=payload.get("model"))
        return message

    def stream(self, **params: Any) -> Any:
        caching = self._caching
        payload, options = _split(params)
        payload = caching.place(payload, format="anthropic")
        caching.streams_uncached()
        return _AsyncStreamManager(self._inner.stream(**payload, **options), caching, payload)


class _AsyncStream:
    def __init__(self, inner: Any, timer: Timer) -> None:
        self._inner = inner
        self._timer = timer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def __aiter__(self) -> AsyncIterator[Any]:
        async for event in self._inner:
            self._timer.first_chunk()
            yield event


class _AsyncStreamManager:
    def __init__(self, inner: Any, caching: Caching, payload: dict[str, Any]) -> None:
        self._inner = inner
        self._caching = caching
        self._payload = payload
        self._stream: Any = None
        self._timer = Timer()

    async def __aenter__(self) -> _AsyncStream:
        self._timer = Timer()
        self._stream = await self._inner.__aenter__()
        return _AsyncStream(self._stream, self._timer)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        if exc_type is None and self._stream is not None:
            final = await self._stream.get_final_message()
            self._caching.record(self._payload, final.usage, self._timer, model=self._payload.get("model"))
        return await self._inner.__aexit__(exc_type, exc, tb)


class _Beta:
    def __init__(self, inner: Any, messages: Any) -> None:
        self._inner = inner
        self.messages = messages

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Client:
    """An ``Anthropic`` / ``AsyncAnthropic`` client whose message calls are cached; the rest passes through."""

    def __init__(self, inner: Any, caching: Caching, *, is_async: bool) -> None:
        messages = _AsyncMessages if is_async else _Messages
        self._inner = inner
        self.messages = messages(inner.messages, caching, beta=False)
        self.beta = _Beta(inner.beta, messages(inner.beta.messages, caching, beta=True))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def wrap_anthropic(client: Any, caching: Caching, *, is_async: bool) -> Any:
    """``client`` (an ``anthropic.Anthropic`` or ``AsyncAnthropic``) with caching on."""
    return _Client(client, caching, is_async=is_async)
