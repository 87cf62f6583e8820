"""The Anthropic SDK client as CrewAI's native Anthropic provider sees it, with caching on.

CrewAI calls ``messages.create`` / ``messages.stream`` (and their ``beta`` twins, for structured output and the
Files API) with the Messages API payload it built: CrewAI's own two ``cache_control`` markers (system prompt
and task prompt) are already in it, so the strategy's breakpoints are placed around them within Anthropic's
four. Everything else (``count_tokens``, files, batches) passes through untouched. Works the same with the
``anthropic`` 0.x SDK CrewAI's extra pins and with 2.x, since only the SDK's public resource methods and
streaming classes are used.

With a response cache, ``messages.stream(...)`` is served as the raw event stream of the same request
(``messages.create(..., stream=True)``, which the cache records, or replays) read by the SDK's own
``MessageStream``: CrewAI iterates the same events and gets the same ``get_final_message()`` either way.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator, Mapping
from types import TracebackType
from typing import Any, cast

from cachepoint.crewai.state import Caching, RecordingStream, Timer, free, reached_model, request_key

__all__ = ["wrap_anthropic"]

# SDK request options, not part of the payload the provider reads (they never reach the strategy); the
# response-cache key holds those that change the answer (`request_key`).
_OPTIONS = ("extra_headers", "extra_query", "extra_body", "timeout", "betas")


def _split(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    payload = {k: v for k, v in params.items() if k not in _OPTIONS}
    options = {k: v for k, v in params.items() if k in _OPTIONS}
    return payload, options


class _Messages:
    """``client.messages`` (or ``client.beta.messages``) of a sync client."""

    def __init__(self, inner: Any, caching: Caching, *, beta: bool, url: str) -> None:
        self._inner = inner
        self._caching = caching
        self._beta = beta
        self._url = url

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, **params: Any) -> Any:
        caching = self._caching
        payload, options = _split(params)
        payload = caching.place(payload, format="anthropic")
        if payload.get("stream"):  # a raw event stream: CrewAI streams through .stream(), which is cached
            caching.streams_uncached("raw event stream (messages.create(stream=True))")
            return self._inner.create(**payload, **options)
        timer = Timer()
        message, reached = caching.cached(
            request_key(payload, options),
            lambda: self._inner.create(**payload, **options),
            load=free,
            timer=timer,
            model=payload.get("model"),
        )
        if reached:
            caching.record(payload, message.usage, timer, model=payload.get("model"))
        return message

    def stream(self, **params: Any) -> Any:
        caching = self._caching
        payload, options = _split(params)
        payload = caching.place(payload, format="anthropic")
        cache = caching.response_cache
        if cache is None:
            return _recording(self._inner.stream(**payload, **options), caching, payload)
        upstream = _Upstream(self._url, options)
        events = cache.sync.stream(
            request_key(payload, options),
            lambda: upstream.opened(self._inner.create(**payload, **options, stream=True)),
            load=free,
        )
        return _recording(_CachedStreamManager(events, upstream, beta=self._beta), caching, payload)


def _message_stream(raw: Any, *, beta: bool, is_async: bool) -> Any:
    """The SDK's own ``MessageStream`` (or its beta or async twin) reading the raw events ``raw``: it accumulates
    them into the final message, and gives CrewAI its events and ``get_final_message()``, as for a live stream."""
    from anthropic.lib import streaming

    names = {(False, False): "MessageStream", (True, False): "BetaMessageStream"}
    names.update({(False, True): "AsyncMessageStream", (True, True): "BetaAsyncMessageStream"})
    cls = getattr(streaming, names[beta, is_async])
    if "output_format" in inspect.signature(cls).parameters:  # the beta streams (and anthropic 2.x's) parse outputs
        from anthropic import NOT_GIVEN

        return cls(raw, NOT_GIVEN)
    return cls(raw)


class _Upstream:
    """The raw event stream a cached ``messages.stream(...)`` opened (none when it was replayed), and the HTTP
    response its readers see: the live one, or, for a replay, a response to the same request (the SDK's beta
    stream reads the request's ``anthropic-beta`` header to know how to parse tool input)."""

    def __init__(self, url: str, options: Mapping[str, Any]) -> None:
        self.stream: Any = None
        self._url = url
        headers = {k: v for k, v in (options.get("extra_headers") or {}).items() if isinstance(v, str)}
        if options.get("betas"):
            headers["anthropic-beta"] = ",".join(options["betas"])
        self._headers = headers

    def opened(self, stream: Any) -> Any:
        self.stream = stream
        return stream

    @property
    def response(self) -> Any:
        if self.stream is not None:
            return self.stream.response
        import httpx  # the HTTP client of the anthropic SDK CrewAI pins (~=0.73)

        request = httpx.Request("POST", self._url, headers=self._headers)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, request=request)


class _CachedEvents:
    """The raw event stream a ``MessageStream`` reads, served by the response cache: recorded as it streams live,
    or replayed."""

    def __init__(self, events: Any, upstream: _Upstream) -> None:
        self._events = events
        self._upstream = upstream

    @property
    def response(self) -> Any:
        return self._upstream.response

    def __iter__(self) -> Iterator[Any]:
        return iter(self._events)

    def close(self) -> None:
        self._events.close()


class _AsyncCachedEvents:
    def __init__(self, events: Any, upstream: _Upstream) -> None:
        self._events = events
        self._upstream = upstream

    @property
    def response(self) -> Any:
        return self._upstream.response

    def __aiter__(self) -> AsyncIterator[Any]:
        return cast(AsyncIterator[Any], self._events.__aiter__())

    async def close(self) -> None:
        await self._events.aclose()


class _CachedStreamManager:
    """What ``messages.stream(...)`` returns when the response cache serves the stream: the SDK's ``MessageStream``
    over the cached raw events (replayed ones report zero tokens)."""

    def __init__(self, events: Any, upstream: _Upstream, *, beta: bool) -> None:
        self.events = events
        self._upstream = upstream
        self._beta = beta
        self._stream: Any = None

    def __enter__(self) -> Any:
        self._stream = _message_stream(_CachedEvents(self.events, self._upstream), beta=self._beta, is_async=False)
        return self._stream

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stream is not None:
            self._stream.close()

    async def __aenter__(self) -> Any:
        raw = _AsyncCachedEvents(self.events, self._upstream)
        self._stream = _message_stream(raw, beta=self._beta, is_async=True)
        return self._stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stream is not None:
            await self._stream.close()


def _recorded(manager: Any) -> bool:
    """Whether a stream manager's stream reached the model (a replay, or another caller's stream, did not)."""
    return not isinstance(manager, _CachedStreamManager) or reached_model(manager.events)


def _recording(inner: Any, caching: Caching, payload: dict[str, Any]) -> RecordingStream:
    """``messages.stream(...)``'s manager: the SDK's (or the response cache's), recording the final message's usage
    when the block ends without an error; a stream that fails or is cancelled after ``message_start`` is recorded
    with the usage it reported so far (what the provider billed); a replay is recorded as a hit."""
    model = payload.get("model")
    cached = inner if isinstance(inner, _CachedStreamManager) else None
    return RecordingStream(
        inner,
        final="get_final_message",
        partial="current_message_snapshot",  # from message_start on: the input, cache reads and writes billed
        record=lambda final, timer: caching.record(payload, final.usage, timer, model=model),
        reached=lambda: _recorded(inner),
        replay=None if cached is None else lambda timer: caching.replayed_stream(cached.events, timer, model=model),
    )


class _AsyncMessages:
    """``client.messages`` (or ``client.beta.messages``) of an async client."""

    def __init__(self, inner: Any, caching: Caching, *, beta: bool, url: str) -> None:
        self._inner = inner
        self._caching = caching
        self._beta = beta
        self._url = url

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def create(self, **params: Any) -> Any:
        caching = self._caching
        payload, options = _split(params)
        payload = caching.place(payload, format="anthropic")
        if payload.get("stream"):
            caching.streams_uncached("raw event stream (messages.create(stream=True))")
            return await self._inner.create(**payload, **options)
        timer = Timer()

        async def call() -> Any:
            return await self._inner.create(**payload, **options)

        message, reached = await caching.acached(
            request_key(payload, options), call, load=free, timer=timer, model=payload.get("model")
        )
        if reached:
            caching.record(payload, message.usage, timer, model=payload.get("model"))
        return message

    def stream(self, **params: Any) -> Any:
        caching = self._caching
        payload, options = _split(params)
        payload = caching.place(payload, format="anthropic")
        cache = caching.response_cache
        if cache is None:
            return _recording(self._inner.stream(**payload, **options), caching, payload)
        upstream = _Upstream(self._url, options)

        async def call() -> Any:
            return upstream.opened(await self._inner.create(**payload, **options, stream=True))

        events = cache.stream(request_key(payload, options), call, load=free)
        return _recording(_CachedStreamManager(events, upstream, beta=self._beta), caching, payload)


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
        url = str(inner.base_url).rstrip("/") + "/v1/messages"
        self.messages = messages(inner.messages, caching, beta=False, url=url)
        self.beta = _Beta(inner.beta, messages(inner.beta.messages, caching, beta=True, url=url + "?beta=true"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def wrap_anthropic(client: Any, caching: Caching, *, is_async: bool) -> Any:
    """``client`` (an ``anthropic.Anthropic`` or ``AsyncAnthropic``) with caching on."""
    return _Client(client, caching, is_async=is_async)
