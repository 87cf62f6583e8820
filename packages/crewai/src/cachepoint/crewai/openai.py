"""The OpenAI SDK client of CrewAI's native OpenAI provider, with caching on.

OpenAI caches prompt prefixes by itself; what a request can add is a ``prompt_cache_key`` that routes every
request with the same tools and system prompt (one agent's) to the same cache, and on GPT-5.6+ explicit
breakpoints. Both come from the strategy through core's compiler. Chat Completions (``chat.completions.create``
and its ``with_raw_response`` form, which CrewAI uses for plain calls) and the Responses API
(``responses.create``, CrewAI's ``api="responses"``) are covered, streamed or not. The structured-output
helpers (``parse``, its ``with_raw_response`` form and ``stream``, under ``beta`` where CrewAI calls them for
``response_model=``) get the same breakpoints and are recorded. ``parse`` is answered from the response cache
when its output model is a pydantic class and it offers no tools: the plain completion is stored, and a replay's
``parsed`` is validated again from its text by the caller's own class (a ``ParsedChatCompletion[Model]`` is of a
class made for that model, which no stored name could rebuild). ``stream`` (CrewAI's sync structured stream) is
not: the SDK's stream helper sends its own request.

With a response cache, each of those is answered from it when the policy allows: a completion or a Responses
response as the SDK's own object, a stream as its chunks or events (live and recorded, or replayed), and a raw
response (``with_raw_response``, which CrewAI reads for plain chat calls) as a stand-in for the SDK's
``LegacyAPIResponse`` whose ``parse()`` is the replayed completion and whose ``http_response`` is an
``httpx.Response`` holding its JSON. Replays report zero tokens and are not recorded.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from cachepoint.crewai.state import Caching, RecordingStream, Timer, free, reached_model, request_key

__all__ = ["wrap_openai"]

# SDK request options, not part of the payload the provider reads (they never reach the strategy); the
# response-cache key holds those that change the answer (`request_key`: not the timeout, nor most headers).
_OPTIONS = ("extra_headers", "extra_query", "extra_body", "timeout")


def _split(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    payload = {k: v for k, v in params.items() if k not in _OPTIONS}
    options = {k: v for k, v in params.items() if k in _OPTIONS}
    return payload, options


class _Recorded:
    """A Chat Completions / Responses stream that keeps the usage chunk and records the call at its end (unless
    the response cache replayed it)."""

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

    def _usage(self, chunk: Any, usage: Any) -> Any:
        found = getattr(chunk, "usage", None)
        response = getattr(chunk, "response", None)  # Responses API: response.completed carries the response
        if found is None and response is not None:
            found = getattr(response, "usage", None)
        return found if found is not None else usage

    def _done(self, usage: Any) -> None:
        if self._cached and not reached_model(self._inner):
            self._caching.replayed_stream(self._inner, self._timer, model=self._payload.get("model"))
            return
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


def _parsed(raw: Any) -> Any:
    """What a raw Chat Completions response stores: its completion (a 200 that carries an error instead of choices
    is not stored; CrewAI raises its own error on it)."""
    completion = raw.parse()
    if not getattr(completion, "choices", None):
        raise ValueError("the response holds no choices")
    return completion


class _ReplayedRawResponse:
    """What ``chat.completions.with_raw_response.create(...)`` returns — the SDK's ``LegacyAPIResponse`` — for a
    completion the response cache replayed: ``parse()`` gives the completion (zero tokens), and ``http_response``
    is an ``httpx.Response`` holding the completion's JSON, so ``text``, ``headers``, ``status_code`` and the
    request's URL read as for the call that was made once. There was no request this time: no ``request_id``."""

    retries_taken = 0
    request_id: str | None = None

    def __init__(self, completion: Any, url: str, *, sent: Any = None) -> None:
        import httpx  # the HTTP client of the openai SDK CrewAI pins (openai<3)

        self._completion = completion
        body = completion if sent is None else sent  # `sent`: the completion as the API sent it (parse(): unparsed)
        self.http_response = httpx.Response(
            200,
            headers={"content-type": "application/json"},
            content=body.to_json(indent=None, warnings=False).encode("utf-8"),
            request=httpx.Request("POST", url),
        )

    def parse(self, *, to: type | None = None) -> Any:
        if to is not None and not isinstance(self._completion, to):
            raise TypeError(f"a replayed response parses to {type(self._completion).__name__}, not {to.__name__}")
        return self._completion

    @property
    def headers(self) -> Any:
        return self.http_response.headers

    @property
    def http_request(self) -> Any:
        return self.http_response.request

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def url(self) -> Any:
        return self.http_response.request.url

    @property
    def method(self) -> str:
        return str(self.http_response.request.method)

    @property
    def http_version(self) -> str:
        return str(self.http_response.http_version)

    @property
    def content(self) -> bytes:
        return self.http_response.content

    @property
    def text(self) -> str:
        return str(self.http_response.text)

    @property
    def elapsed(self) -> datetime.timedelta:
        return datetime.timedelta(0)

    @property
    def is_closed(self) -> bool:
        return True


class _Endpoint:
    """One ``create`` endpoint (``chat.completions``, its ``with_raw_response``, ``responses``)."""

    def __init__(self, inner: Any, caching: Caching, fmt: str, *, raw: bool, is_async: bool, url: str) -> None:
        self._inner = inner
        self._caching = caching
        self._format = fmt
        self._raw = raw
        self._is_async = is_async
        self._url = url

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

    def parse(self, **params: Any) -> Any:
        """``parse(...)`` (structured output): placed and recorded; with a response cache, a request whose output
        model is a pydantic class (and that offers no tools) is answered from it, the stored answer validated
        again through the caller's class (`_Reparse`)."""
        payload, options = self._prepare(params)
        timer = Timer()
        cache = self._caching.response_cache
        response_format = payload.get("response_format")
        if cache is not None and _reparseable(payload):
            reparse = _Reparse(response_format, self._url, raw=self._raw)
            key = request_key(payload, options)  # core keys a pydantic class by its JSON schema
            if self._is_async:
                return self._acached_parse(key, payload, options, timer, reparse)
            result, reached = self._caching.cached(
                key,
                lambda: self._inner.parse(**payload, **options),
                dump=reparse.dump,
                load=reparse.load,
                timer=timer,
                model=payload.get("model"),
            )
            return self._parsed(result, payload, timer) if reached else result
        if self._is_async:
            return self._aparse(payload, options, timer)
        return self._parsed(self._inner.parse(**payload, **options), payload, timer)

    async def _acached_parse(
        self, key: dict[str, Any], payload: dict[str, Any], options: dict[str, Any], timer: Timer, reparse: _Reparse
    ) -> Any:
        async def call() -> Any:
            return await self._inner.parse(**payload, **options)

        result, reached = await self._caching.acached(
            key, call, dump=reparse.dump, load=reparse.load, timer=timer, model=payload.get("model")
        )
        return self._parsed(result, payload, timer) if reached else result

    async def _aparse(self, payload: dict[str, Any], options: dict[str, Any], timer: Timer) -> Any:
        return self._parsed(await self._inner.parse(**payload, **options), payload, timer)

    def _parsed(self, result: Any, payload: dict[str, Any], timer: Timer) -> Any:
        parsed = result.parse() if self._raw else result
        usage = getattr(parsed, "usage", None)
        self._caching.record(_as_sent(self._caching, payload), usage, timer, model=payload.get("model"))
        return result

    def stream(self, **params: Any) -> Any:
        """``stream(...)`` (structured output, streamed): placed, recorded when its block ends without an error."""
        payload, options = self._prepare(params)
        caching = self._caching

        def record(completion: Any, timer: Timer) -> None:
            usage = getattr(completion, "usage", None)
            caching.record(_as_sent(caching, payload), usage, timer, model=payload.get("model"))

        # Cut short, it is recorded only if its usage chunk (the last one) had arrived: before it, nothing was reported.
        return RecordingStream(
            self._inner.stream(**payload, **options),
            final="get_final_completion",
            partial="current_completion_snapshot",
            record=record,
        )

    def _load(self, data: Any) -> Any:
        """A stored answer as this endpoint returns it (a replay reports zero tokens)."""
        return _ReplayedRawResponse(free(data), self._url) if self._raw else free(data)

    def create(self, **params: Any) -> Any:
        payload, options = self._prepare(params)
        timer = Timer()
        cache = self._caching.response_cache
        if cache is not None and payload.get("stream"):
            if self._raw:  # a raw HTTP stream: CrewAI streams through create(stream=True), which is cached
                self._caching.streams_uncached("raw HTTP stream (with_raw_response.create(stream=True))")
            else:
                key = request_key(payload, options)
                face = cache if self._is_async else cache.sync
                events = face.stream(key, lambda: self._inner.create(**payload, **options), load=free)
                recorded = _Recorded(events, self._caching, payload, timer, cached=True)
                return self._ready(recorded) if self._is_async else recorded
        elif cache is not None:
            return self._cached(payload, options, timer)
        if self._is_async:
            return self._acreate(payload, options, timer)
        return self._finish(self._inner.create(**payload, **options), payload, timer)

    async def _ready(self, value: Any) -> Any:
        """``value`` as what awaiting the async client's ``create(...)`` gives (the stream starts when read)."""
        return value

    def _cached(self, payload: dict[str, Any], options: dict[str, Any], timer: Timer) -> Any:
        key = request_key(payload, options)
        dump = _parsed if self._raw else None
        if self._is_async:
            return self._acached(key, payload, options, timer, dump)
        result, reached = self._caching.cached(
            key,
            lambda: self._inner.create(**payload, **options),
            dump=dump,
            load=self._load,
            timer=timer,
            model=payload.get("model"),
        )
        return self._finish(result, payload, timer) if reached else result

    async def _acached(
        self, key: dict[str, Any], payload: dict[str, Any], options: dict[str, Any], timer: Timer, dump: Any
    ) -> Any:
        async def call() -> Any:
            return await self._inner.create(**payload, **options)

        result, reached = await self._caching.acached(
            key, call, dump=dump, load=self._load, timer=timer, model=payload.get("model")
        )
        return self._finish(result, payload, timer) if reached else result

    async def _acreate(self, payload: dict[str, Any], options: dict[str, Any], timer: Timer) -> Any:
        return self._finish(await self._inner.create(**payload, **options), payload, timer)


def _reparseable(payload: Mapping[str, Any]) -> bool:
    """Whether a ``parse(...)`` answer can be served from the response cache: its output model is a pydantic class
    (what CrewAI passes for ``response_model=``), which parses the stored text again, and it offers no tools (the
    SDK parses tool calls' arguments against the tools given, which a replay does not redo)."""
    from pydantic import BaseModel

    output = payload.get("response_format")
    return isinstance(output, type) and issubclass(output, BaseModel) and not payload.get("tools")


class _Reparse:
    """How a ``parse(...)`` answer is stored and replayed. Stored: the completion as the API sent it, a plain
    ``ChatCompletion`` (a ``ParsedChatCompletion[Model]`` is of a class made for the caller's model, which no
    stored name can rebuild). Replayed: the ``ParsedChatCompletion`` the SDK builds from it, each message's
    ``parsed`` validated from its text by the caller's own class, as the SDK does (``model_validate_json``; none
    for a refusal or an empty message). A stored answer that class does not accept is a miss."""

    def __init__(self, model: Any, url: str, *, raw: bool) -> None:
        self._model = model
        self._url = url
        self._raw = raw

    def dump(self, result: Any) -> Any:
        from openai.types.chat import ChatCompletion

        completion = _parsed(result) if self._raw else result
        if not getattr(completion, "choices", None):
            raise ValueError("the response holds no choices")
        data = completion.to_dict(mode="json", warnings=False)
        for choice in data["choices"]:
            choice["message"].pop("parsed", None)
        return ChatCompletion.model_validate(data)

    def load(self, data: Any) -> Any:
        from openai.types.chat import ParsedChatCompletion

        completion = free(data)
        choices = []
        for choice in completion.choices:
            message = choice.message
            if message.tool_calls:
                raise ValueError("a stored structured answer with tool calls is not replayed")
            parsed = (
                self._model.model_validate_json(message.content) if message.content and not message.refusal else None
            )
            choices.append({**choice.to_dict(), "message": {**message.to_dict(), "parsed": parsed}})
        parsed_type: Any = ParsedChatCompletion  # parametrized by a class known only at run time
        replay = parsed_type[self._model].model_validate({**completion.to_dict(), "choices": choices})
        return _ReplayedRawResponse(replay, self._url, sent=completion) if self._raw else replay


def _as_sent(caching: Caching, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with a ``response_format`` given as a class (``parse``, ``stream``) in the JSON form the SDK sends
    for it: the trace line is JSON, and holds the request as the provider saw it (only a trace reads it, and the
    schema costs a walk over the class, so without a recorder it stays as it is)."""
    response_format = payload.get("response_format")
    if caching.calls.recorder is None or not isinstance(response_format, type):
        return payload
    try:
        # Private: no public SDK function gives the exact response_format parse() sends (the trace holds what was sent)
        from openai.lib._parsing._completions import type_to_response_format_param

        return {**payload, "response_format": type_to_response_format_param(response_format)}
    except Exception:  # an SDK without that helper: the trace line goes without the schema
        return {k: v for k, v in payload.items() if k != "response_format"}


class _Completions:
    def __init__(self, inner: Any, caching: Caching, *, is_async: bool, url: str) -> None:
        self._inner = inner
        self._endpoint = _Endpoint(inner, caching, "openai-chat", raw=False, is_async=is_async, url=url)
        self.with_raw_response = _Endpoint(
            inner.with_raw_response, caching, "openai-chat", raw=True, is_async=is_async, url=url
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, **params: Any) -> Any:
        return self._endpoint.create(**params)

    def parse(self, **params: Any) -> Any:
        return self._endpoint.parse(**params)

    def stream(self, **params: Any) -> Any:
        return self._endpoint.stream(**params)


class _Chat:
    def __init__(self, inner: Any, caching: Caching, *, is_async: bool, url: str) -> None:
        self._inner = inner
        self.completions = _Completions(inner.completions, caching, is_async=is_async, url=url)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Beta:
    def __init__(self, inner: Any, chat: _Chat) -> None:
        self._inner = inner
        self.chat = chat

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Client:
    def __init__(self, inner: Any, caching: Caching, *, is_async: bool) -> None:
        self._inner = inner
        base = str(inner.base_url).rstrip("/")
        self.chat = _Chat(inner.chat, caching, is_async=is_async, url=f"{base}/chat/completions")
        self.responses = _Endpoint(
            inner.responses, caching, "openai-responses", raw=False, is_async=is_async, url=f"{base}/responses"
        )
        # CrewAI's structured output (`response_model=`) goes through beta.chat.completions.
        self.beta = _Beta(
            inner.beta, _Chat(inner.beta.chat, caching, is_async=is_async, url=f"{base}/chat/completions")
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def wrap_openai(client: Any, caching: Caching, *, is_async: bool) -> Any:
    """``client`` (an ``openai.OpenAI`` or ``AsyncOpenAI``) with caching on."""
    return _Client(client, caching, is_async=is_async)
