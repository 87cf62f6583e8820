"""Anthropic Messages API: ``POST /v1/messages`` (JSON and SSE) and ``POST /v1/messages/count_tokens``; also as
Amazon Bedrock's Mantle endpoint serves it (``POST /anthropic/v1/messages``: the same API under Bedrock's caching
rules, authenticated by a Bedrock API key or SigV4), which the ``anthropic`` SDK's ``AnthropicBedrockMantle``
client (LangChain's ``ChatAnthropicMantle``) calls; and as Vertex AI serves Anthropic's models
(``POST /v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict`` and
``:streamRawPredict``, ``.../models/count-tokens:rawPredict``: the model in the URL, a Messages body with
``anthropic_version`` ("vertex-2023-10-16", or the dated API version current SDKs send) and no ``model``,
Anthropic's caching rules), which the ``anthropic`` SDK's ``AnthropicVertex`` client (LangChain's
``ChatAnthropicVertex``) calls.

The stream follows the API's event order: ``message_start`` (with the full input usage: uncached input, cache
reads, cache writes and their 5m/1h split, and ``output_tokens`` 1), ``content_block_start`` /
``content_block_delta`` (``text_delta``, ``input_json_delta``) / ``content_block_stop`` per block, a ``ping``,
``message_delta`` (stop reason and the cumulative usage), ``message_stop``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from cachepoint.core.emulator.errors import anthropic_error
from cachepoint.core.emulator.records import RecordedRequest
from cachepoint.core.emulator.replies import Reply
from cachepoint.core.emulator.runtime import Response, Runtime, json_body, json_response
from cachepoint.core.emulator.validation import Problem, cache_marker_problem, dotted
from cachepoint.core.prompt import Request, RequestFormatError
from cachepoint.core.simulate import SimResult

__all__ = [
    "MANTLE_PREFIX",
    "VERTEX_PREFIX",
    "VERTEX_VERSION",
    "handle",
    "message_body",
    "problem_message",
    "stream_events",
    "text_chunks",
]

_INVALID = "invalid_request_error"
#: Where Bedrock's Mantle endpoint serves the Messages API (``https://bedrock-mantle.<region>.api.aws/anthropic``).
MANTLE_PREFIX = "/anthropic"
#: Where Vertex AI's URLs start (the ``anthropic`` SDK's ``AnthropicVertex`` base URL ends in ``/v1``).
VERTEX_PREFIX = "/v1/projects/"
#: Vertex AI's ``anthropic_version`` for Anthropic models' bodies. Current ``anthropic`` SDKs' ``AnthropicVertex``
#: sends the Messages API version instead (a date, e.g. ``2026-10-21``); both are accepted.
VERTEX_VERSION = "vertex-2023-10-16"
_API_VERSION = re.compile(r"^20\d\d-\d\d-\d\d$")
# Vertex AI caches Anthropic's models under Anthropic's rules (minimums, TTLs, four breakpoints), so the simulator
# runs those requests as Anthropic's; each access token is its own tenant, as each API key is.
_VERTEX_RULES = "anthropic"
_VERTEX_PATH = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/publishers/anthropic/models/"
    r"(?P<model>[^/:]+):(?P<method>rawPredict|streamRawPredict)$"
)
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def handle(rt: Runtime, record: RecordedRequest) -> Response:
    """Answer an Anthropic request (raises `ApiError` with the API's error body for a bad one).

    >>> from cachepoint.core.emulator import Emulator, RecordedRequest
    >>> rt = Emulator(reply="ok")._runtime
    >>> call = RecordedRequest(0, "anthropic", "POST", "/v1/messages/count_tokens", {"x-api-key": "k"},
    ...     b'{"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "Hello there"}]}', 0.0)
    >>> handle(rt, call).body
    b'{"input_tokens": 5}'
    """
    path = record.path.split("?", 1)[0].rstrip("/")
    if path.startswith(VERTEX_PREFIX):
        return _vertex(rt, record, path)
    provider = "anthropic"
    if path.startswith(MANTLE_PREFIX):
        path, provider = path[len(MANTLE_PREFIX) :], "bedrock"
    if record.method != "POST" or path not in ("/v1/messages", "/v1/messages/count_tokens"):
        raise anthropic_error(404, "not_found_error", f"Not Found: {record.method} {path}")
    record.tenant = _tenant(rt, record, sigv4=provider == "bedrock")
    body = _body(record)
    if path.endswith("count_tokens"):
        record.operation = "count_tokens"
        return _count_tokens(rt, record, body, provider)
    record.operation = "messages"
    return _messages(rt, record, body, provider)


def _vertex(rt: Runtime, record: RecordedRequest, path: str) -> Response:
    """Vertex AI: the model comes from the URL, the body names the Vertex ``anthropic_version`` and no model."""
    match = _VERTEX_PATH.match(path)
    if record.method != "POST" or match is None:
        raise anthropic_error(404, "not_found_error", f"Not Found: {record.method} {path}")
    record.tenant = _tenant(rt, record)
    body = _body(record)
    version = body.get("anthropic_version")
    if version is None:
        raise anthropic_error(400, _INVALID, "anthropic_version: Field required")
    if version != VERTEX_VERSION and not (isinstance(version, str) and _API_VERSION.match(version)):
        raise anthropic_error(
            400,
            _INVALID,
            f"anthropic_version: Input should be '{VERTEX_VERSION}' or a dated API version, got {version!r}",
        )
    model = unquote(match["model"])
    if model == "count-tokens":  # the SDK keeps the model in the body here (``models/count-tokens:rawPredict``)
        if match["method"] != "rawPredict":
            raise anthropic_error(404, "not_found_error", f"Not Found: {record.method} {path}")
        record.operation = "count_tokens"
        return _count_tokens(rt, record, body, _VERTEX_RULES)
    if "model" in body:
        raise anthropic_error(400, _INVALID, "model: Extra inputs are not permitted (Vertex AI takes it from the URL)")
    streamed = match["method"] == "streamRawPredict"
    if streamed != (body.get("stream") is True):
        raise anthropic_error(
            400, _INVALID, f"stream: {match['method']} expects stream={str(streamed).lower()} in the body"
        )
    record.operation = "messages"
    return _messages(rt, record, {**body, "model": model}, _VERTEX_RULES)


def _tenant(rt: Runtime, record: RecordedRequest, *, sigv4: bool = False) -> str:
    key = record.headers.get("x-api-key")
    auth = record.headers.get("authorization", "")
    if not key:
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not key and sigv4:
        match = _CREDENTIAL.search(auth)
        key = match.group(1) if match is not None else ""
    if not key:
        raise anthropic_error(401, "authentication_error", "x-api-key header is required")
    return rt.tenant(key)


def _body(record: RecordedRequest) -> dict[str, Any]:
    try:
        body = json_body(record)
    except ValueError as exc:
        raise anthropic_error(400, _INVALID, f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise anthropic_error(400, _INVALID, "Input should be a valid dictionary or object to extract fields from")
    record.body = body
    return body


def _required(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if name not in body:
            raise anthropic_error(400, _INVALID, f"{name}: Field required")
    if not isinstance(body["model"], str):
        raise anthropic_error(400, _INVALID, "model: Input should be a valid string")
    if "max_tokens" in names:
        value = body["max_tokens"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise anthropic_error(400, _INVALID, "max_tokens: Input should be a valid non-negative integer")
    if not isinstance(body["messages"], list):
        raise anthropic_error(400, _INVALID, "messages: Input should be a valid list")


def problem_message(problem: Problem) -> str:  # noqa: PLR0911 - one wording per kind of problem
    """The API's wording for a cache-marker problem.

    >>> problem_message(Problem("too_many", "", count=5, limit=4))
    'A maximum of 4 blocks with cache_control may be provided. Found 5.'
    """
    where = dotted(problem.path)
    if problem.kind == "thinking_marker":
        return f"{where}.{problem.block_type}.cache_control: Extra inputs are not permitted"
    if problem.kind == "empty_text_marker":
        return f"{where}.text: cache_control cannot be set for empty text blocks"
    if problem.kind == "ineligible_marker":
        return f"{where}.{problem.block_type}.cache_control: Extra inputs are not permitted"
    if problem.kind == "ttl_unsupported":
        allowed = " or ".join(repr(t) for t in problem.allowed)
        return f"{where}.cache_control.ttl: Input should be {allowed}"
    if problem.kind == "too_many":
        return f"A maximum of {problem.limit} blocks with cache_control may be provided. Found {problem.count}."
    if problem.kind == "caching_unsupported":
        return f"{where}.cache_control: this model does not support prompt caching"
    if problem.kind == "automatic_conflict":
        return (
            f"cache_control: the top-level cache_control (ttl='{problem.ttl}') lands on {where}, which already has "
            f"cache_control with ttl='{problem.other_ttl}'"
        )
    return (
        f"{where}.cache_control.ttl: a ttl='{problem.ttl}' cache_control block must not come after a "
        f"ttl='{problem.other_ttl}' cache_control block. Note that blocks are processed in the following order: "
        "`tools`, `system`, `messages`."
    )


def _parse(rt: Runtime, record: RecordedRequest, body: dict[str, Any], provider: str) -> tuple[Request, Any]:
    try:
        request = Request.parse(body, format="anthropic")
    except RequestFormatError as exc:
        raise anthropic_error(400, _INVALID, f"{dotted(exc.path)}: {exc.detail}" if exc.path else exc.detail) from None
    model = body["model"]
    record.model, record.request = model, request
    info = rt.info(provider, model, record)
    view = rt.view(request, info)
    problem = cache_marker_problem(view, info)
    if problem is not None:
        raise anthropic_error(400, _INVALID, problem_message(problem))
    return request, view


def _count_tokens(rt: Runtime, record: RecordedRequest, body: dict[str, Any], provider: str) -> Response:
    _required(body, "model", "messages")
    _, view = _parse(rt, record, body, provider)
    return json_response(200, {"input_tokens": view.total_tokens})


def _messages(rt: Runtime, record: RecordedRequest, body: dict[str, Any], provider: str) -> Response:
    _required(body, "model", "max_tokens", "messages")
    if not body["messages"]:
        raise anthropic_error(400, _INVALID, "messages: at least one message is required")
    _, view = _parse(rt, record, body, provider)
    record.stream = body.get("stream") is True
    try:
        reply = rt.reply(record)
    except LookupError as exc:
        raise anthropic_error(500, "api_error", str(exc)) from None
    reply, truncated = rt.fit(reply, body["max_tokens"])
    record.reply = reply
    pending = rt.start(view, record, provider=provider, model=body["model"], output_tokens=rt.output_tokens(reply))
    result = record.result = pending.result
    stop = "max_tokens" if truncated else reply.stop_reason
    message = message_body(rt, body["model"], reply, stop, result)
    headers = {"request-id": rt.next_id("req_emu_")}
    if not record.stream:
        response = json_response(200, message, headers)
        response.pending = pending
        return response

    def events() -> Iterator[bytes]:
        yield from _sse(message, result)

    return Response(
        200,
        {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", **headers},
        chunks=events,
        pending=pending,
    )


def _content(rt: Runtime, reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.text or not reply.tool_calls:
        blocks.append({"type": "text", "text": reply.text})
    for call in reply.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id or rt.next_id("toolu_emu_"),
                "name": call.name,
                "input": dict(call.input),
            }
        )
    return blocks


def message_body(rt: Runtime, model: str, reply: Reply, stop: str, result: SimResult) -> dict[str, Any]:
    """The Messages API response for ``reply`` (also Bedrock InvokeModel's body for Anthropic models)."""
    content = _content(rt, reply) if (reply.text or reply.tool_calls) else []
    return {
        "id": rt.next_id("msg_emu_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": result.native(),
    }


def text_chunks(text: str, pieces: int = 3) -> list[str]:
    """Split ``text`` into at most ``pieces`` deltas on word boundaries (deterministic).

    >>> text_chunks("one two three four five")
    ['one two ', 'three four ', 'five']
    """
    words = text.split(" ")
    if len(words) <= 1:
        return [text]
    size = -(-len(words) // pieces)
    groups = [words[i : i + size] for i in range(0, len(words), size)]
    return [" ".join(g) + (" " if i < len(groups) - 1 else "") for i, g in enumerate(groups)]


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _sse(message: dict[str, Any], result: SimResult) -> Iterator[bytes]:
    for data in stream_events(message, result):
        yield _event(data["type"], data)


def stream_events(message: dict[str, Any], result: SimResult) -> Iterator[dict[str, Any]]:
    """The events of a streamed Messages response, in the API's order (SSE here; Bedrock's
    InvokeModelWithResponseStream sends the same events as event stream chunks).

    >>> from cachepoint.core.simulate import SimResult
    >>> result = SimResult(provider="anthropic", model="m", tenant="t", format="anthropic", mode="breakpoints",
    ...                    started_at=0.0, total_tokens=9, read_tokens=0, write_tokens=0, output_tokens=2)
    >>> message = {"content": [{"type": "text", "text": "Hi there"}], "stop_reason": "end_turn"}
    >>> [e["type"] for e in stream_events(message, result)]  # doctest: +NORMALIZE_WHITESPACE
    ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta',
     'content_block_stop', 'message_delta', 'message_stop']
    """
    usage = result.native()
    start_usage = {**usage, "output_tokens": min(1, result.output_tokens)}
    yield {"type": "message_start", "message": {**message, "content": [], "stop_reason": None, "usage": start_usage}}
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            if index == 0:
                yield {"type": "ping"}
            for piece in text_chunks(block["text"]):
                if piece:
                    yield {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    }
        else:
            yield {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
            raw = json.dumps(block["input"], separators=(",", ":"))
            for piece in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield {"type": "content_block_delta", "index": index, "delta": delta}
        yield {"type": "content_block_stop", "index": index}
    final = {
        "input_tokens": usage["input_tokens"],
        "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
        "cache_read_input_tokens": usage["cache_read_input_tokens"],
        "output_tokens": result.output_tokens,
    }
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": final,
    }
    yield {"type": "message_stop"}
