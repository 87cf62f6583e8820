"""The ``bedrock-runtime`` client (boto3, or aiobotocore for ``acall``) of CrewAI's native Bedrock provider, with
caching on.

CrewAI calls ``converse`` / ``converse_stream`` with the Converse request as keyword arguments and places no
``cachePoint`` of its own; the strategy's go into ``system``, ``toolConfig.tools`` and message content. Usage is
read from the response (or the stream's ``metadata`` event) as Bedrock reports it, so the cache writes CrewAI's
own token counters drop (``cacheWriteInputTokens``) reach the ledger. Other operations pass through.

With a response cache, ``converse`` answers and ``converse_stream`` event streams are served from it (a replay
reports zero tokens). A stream it serves is the response's ``{"stream": events}`` without the
``ResponseMetadata`` of an HTTP exchange: a replay made none (CrewAI reads only the events).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from cachepoint.crewai.state import Caching, Timer, reached_model, zeroed

__all__ = ["wrap_bedrock"]

# Parts of a Converse response that describe the HTTP exchange, not the answer: not stored, not replayed.
_TRANSPORT_KEYS = ("ResponseMetadata", "metrics")
_FREE_USAGE = {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}


def _dump(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k not in _TRANSPORT_KEYS}


def _load(data: Mapping[str, Any]) -> dict[str, Any]:
    """A replayed response reports zero tokens: it reached no model, so CrewAI's token counters stay true."""
    return {**data, "usage": dict(_FREE_USAGE)}


def _free_event(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """A replayed stream event, its usage (in the ``metadata`` event) at zero."""
    metadata = event.get("metadata")
    if not isinstance(metadata, Mapping) or "usage" not in metadata:
        return event
    return {**event, "metadata": {**metadata, "usage": zeroed(metadata["usage"])}}


def _usage_of(event: Mapping[str, Any]) -> Any:
    metadata = event.get("metadata")
    return metadata.get("usage") if isinstance(metadata, Mapping) else None


class _Events:
    """The ``stream`` of a ConverseStream response: passes events on and records the call with the usage of its
    ``metadata`` event.

    Bedrock sends ``metadata`` after ``messageStop``, and CrewAI does not always read that far: its async handler
    stops at ``messageStop``, and both handlers return at the end of a tool-use block when they run the tool
    themselves (``available_functions``) or take it as the structured output (``response_model``). So at either
    point the rest of the stream (already on its way) is read ahead, the call recorded, and the events handed on
    as they came; an error met reading ahead is raised where it was met, for a reader who gets that far.
    """

    def __init__(
        self, inner: Any, caching: Caching, payload: dict[str, Any], timer: Timer, *, cached: bool = False
    ) -> None:
        self._inner = inner
        self._caching = caching
        self._payload = payload
        self._timer = timer
        self._cached = cached  # `inner` is the response cache's stream: a replay of it is not recorded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _finish(self, events: list[Any]) -> None:
        if self._cached and not reached_model(self._inner):
            self._caching.replayed_stream(self._inner, self._timer, model=self._payload.get("modelId"))
            return
        usage = next((u for u in map(_usage_of, reversed(events)) if u is not None), None)
        if usage is not None:
            self._caching.record(self._payload, usage, self._timer, model=self._payload.get("modelId"))

    def __iter__(self) -> Iterator[Any]:
        events = iter(self._inner)
        last = _LastEvent()
        for event in events:
            self._timer.first_chunk()
            if last.is_it(event):
                rest: list[Any] = []
                error: Exception | None = None
                try:
                    rest.extend(events)
                except Exception as exc:
                    error = exc
                self._finish(rest)
                yield event
                yield from rest
                if error is not None:
                    raise error
                return
            yield event

    async def __aiter__(self) -> AsyncIterator[Any]:
        events = aiter(self._inner)
        last = _LastEvent()
        async for event in events:
            self._timer.first_chunk()
            if last.is_it(event):
                rest: list[Any] = []
                error: Exception | None = None
                try:
                    async for later in events:
                        rest.append(later)
                except Exception as exc:
                    error = exc
                self._finish(rest)
                yield event
                for later in rest:
                    yield later
                if error is not None:
                    raise error
                return
            yield event


class _LastEvent:
    """Tells the event after which CrewAI may read no further: ``messageStop``, or the end of a tool-use block."""

    __slots__ = ("_tool_blocks",)

    def __init__(self) -> None:
        self._tool_blocks: set[Any] = set()

    def is_it(self, event: Mapping[str, Any]) -> bool:
        if "messageStop" in event:
            return True
        start = event.get("contentBlockStart")
        if isinstance(start, Mapping) and "toolUse" in (start.get("start") or {}):
            self._tool_blocks.add(start.get("contentBlockIndex", 0))
            return False
        stop = event.get("contentBlockStop")
        return isinstance(stop, Mapping) and stop.get("contentBlockIndex", 0) in self._tool_blocks


class _Client:
    def __init__(self, inner: Any, caching: Caching) -> None:
        self._inner = inner
        self._caching = caching

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _prepare(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._caching.place(params, format="bedrock")


class _SyncClient(_Client):
    def converse(self, **params: Any) -> Any:
        caching = self._caching
        payload = self._prepare(params)
        timer = Timer()
        response, reached = caching.cached(
            payload,
            lambda: self._inner.converse(**payload),
            dump=_dump,
            load=_load,
            timer=timer,
            model=payload.get("modelId"),
        )
        if reached:
            caching.record(payload, response.get("usage"), timer, model=payload.get("modelId"))
        return response

    def converse_stream(self, **params: Any) -> Any:
        caching = self._caching
        payload = self._prepare(params)
        timer = Timer()
        cache = caching.response_cache
        if cache is not None:
            events = cache.sync.stream(
                payload, lambda: self._inner.converse_stream(**payload)["stream"], load=_free_event
            )
            return {"stream": _Events(events, caching, payload, timer, cached=True)}
        response = self._inner.converse_stream(**payload)
        if isinstance(response, dict) and response.get("stream") is not None:
            response = {**response, "stream": _Events(response["stream"], caching, payload, timer)}
        return response


class _AsyncClient(_Client):
    async def converse(self, **params: Any) -> Any:
        caching = self._caching
        payload = self._prepare(params)
        timer = Timer()

        async def call() -> Any:
            return await self._inner.converse(**payload)

        response, reached = await caching.acached(
            payload, call, dump=_dump, load=_load, timer=timer, model=payload.get("modelId")
        )
        if reached:
            caching.record(payload, response.get("usage"), timer, model=payload.get("modelId"))
        return response

    async def converse_stream(self, **params: Any) -> Any:
        caching = self._caching
        payload = self._prepare(params)
        timer = Timer()
        cache = caching.response_cache
        if cache is not None:

            async def events_of_the_call() -> Any:
                return (await self._inner.converse_stream(**payload))["stream"]

            events = cache.stream(payload, events_of_the_call, load=_free_event)
            return {"stream": _Events(events, caching, payload, timer, cached=True)}
        response = await self._inner.converse_stream(**payload)
        if isinstance(response, dict) and response.get("stream") is not None:
            response = {**response, "stream": _Events(response["stream"], caching, payload, timer)}
        return response


def wrap_bedrock(client: Any, caching: Caching, *, is_async: bool) -> Any:
    """``client`` (a boto3 or aiobotocore ``bedrock-runtime`` client) with caching on."""
    return _AsyncClient(client, caching) if is_async else _SyncClient(client, caching)
