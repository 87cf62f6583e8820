"""The OpenAI SDK client of CrewAI's native OpenAI provider, with caching on.

OpenAI caches prompt prefixes by itself; what a request can add is a ``prompt_cache_key`` that routes every
request with the same tools and system prompt (one agent's) to the same cache, and on GPT-5.6+ explicit
breakpoints. Both come from the strategy through core's compiler. Chat Completions (``chat.completions.create``
and its ``with_raw_response`` form, which CrewAI uses for plain calls) and the Responses API
(``responses.create``, CrewAI's ``api="responses"``) are covered, streamed or not; structured-output helpers
under ``beta`` pass through unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from cachepoint.crewai.state import Caching, Timer

__all__ = ["wrap_openai"]

_OPTIONS = ("extra_headers", "extra_query", "extra_body", "timeout")


def _split(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    payload = {k: v for k, v in params.items() if k not in _OPTIONS}
    options = {k: v for k, v in params.items() if k in _OPTIONS}
    return payload, options


class _Recorded:
    """A Chat Completions / Responses stream that keeps the usage chunk and records the call at its end."""

    def __init__(self, inner: Any, caching: Caching, payload: dict[str, Any], timer: Timer) -> None:
        self._inner = inner
        self._caching = caching
        self._payload = payload
        self._timer = timer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _usage(self, chunk: Any, usage: Any) -> Any:
        found = getattr(chunk, "usage", None)
        response = getattr(chunk, "response", None)  # Responses API: response.completed carries the response
        if found is None and response is not None:
            found = getattr(response, "usage", None)
        return found if found is not None else usage

    def _done(self, usage: Any) -> None:
        if usage is not None:
            self._caching.record(self._payload, usage, self._timer, model=self._payload.get("model"))

    def __iter__(self) -> Iterator[Any]:
        usage = None
        for chunk in self._inner:
            self._timer.first_chunk()
            usage = self._usage(chunk, usage)
            yield chunk
        self._done(usage)

    async def __aiter__(self) -> AsyncIterator[Any]:
        usage = None
        async for chunk in self._inner:
            self._timer.first_chunk()
            usage = self._usage(chunk, usage)
            yield chunk
        self._done(usage)


class _Endpoint:
    """One ``create`` endpoint (``chat.completions``, its ``with_raw_response``, ``responses``)."""

    def __init__(self, inner: Any, caching: Caching, fmt: str, *, raw: bool, is_async: bool) -> None:
        self._inner = inner
        self._caching = caching
        self._format = fmt
        self._raw = raw
        self._is_async = is_async

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _prepare(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        payload, options = _split(params)
        return self._caching.place(payload, format=self._format), options

    def _finish(self, result: Any, payload: dict[str, Any], timer: Timer) -> Any:
        if payload.get("stream"):
            return result if self._raw else _Recorded(result, self._caching, payload, timer)
        parsed = result.parse() if self._raw else result
        self._caching.record(payload, getattr(parsed, "usage", None), timer, model=payload.get("model"))
        return result

    def create(self, **params: Any) -> Any:
        payload, options = self._prepare(params)
        timer = Timer()
        if self._is_async:
            return self._acreate(payload, options, timer)
        return self._finish(self._inner.create(**payload, **options), payload, timer)

    async def _acreate(self, payload: dict[str, Any], options: dict[str, Any], timer: Timer) -> Any:
        return self._finish(await self._inner.create(**payload, **options), payload, timer)


class _Completions:
    def __init__(self, inner: Any, caching: Caching, *, is_async: bool) -> None:
        self._inner = inner
        self._endpoint = _Endpoint(inner, caching, "openai-chat", raw=False, is_async=is_async)
        self.with_raw_response = _Endpoint(inner.with_raw_response, caching, "openai-chat", raw=True, is_async=is_async)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, **params: Any) -> Any:
        return self._endpoint.create(**params)


class _Chat:
    def __init__(self, inner: Any, caching: Caching, *, is_async: bool) -> None:
        self._inner = inner
        self.completions = _Completions(inner.completions, caching, is_async=is_async)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Client:
    def __init__(self, inner: Any, caching: Caching, *, is_async: bool) -> None:
        self._inner = inner
        self.chat = _Chat(inner.chat, caching, is_async=is_async)
        self.responses = _Endpoint(inner.responses, caching, "openai-responses", raw=False, is_async=is_async)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def wrap_openai(client: Any, caching: Caching, *, is_async: bool) -> Any:
    """``client`` (an ``openai.OpenAI`` or ``AsyncOpenAI``) with caching on."""
    return _Client(client, caching, is_async=is_async)
