"""OpenAI Chat Completions: ``POST /v1/chat/completions``, JSON and SSE.

``usage`` is in every JSON response; a stream carries it only with ``stream_options: {"include_usage": true}``,
in a last chunk with empty ``choices`` (every other chunk then has ``"usage": null``), as the API does. The
tenant is the bearer API key; within it, ``prompt_cache_key`` routes to its own cache. ``n`` asks for that many
choices (the same reply in each; their output tokens add up in ``usage``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cachepoint.core.emulator.anthropic import text_chunks
from cachepoint.core.emulator.errors import openai_error
from cachepoint.core.emulator.records import RecordedRequest
from cachepoint.core.emulator.replies import Reply
from cachepoint.core.emulator.runtime import EPOCH, Response, Runtime, json_body, json_response
from cachepoint.core.prompt import Request, RequestFormatError
from cachepoint.core.simulate import SimResult

__all__ = ["handle"]

_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth "
    "(i.e. Authorization: Bearer YOUR_KEY)."
)
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library "
    "correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)
_CHAT_TTLS = ("30m",)
_MAX_N = 128  # the most choices the API gives one request


def handle(rt: Runtime, record: RecordedRequest) -> Response:
    """Answer an OpenAI request (raises `ApiError` with the API's error body for a bad one).

    >>> from cachepoint.core.emulator import Emulator, RecordedRequest
    >>> rt = Emulator(reply="ok")._runtime
    >>> call = RecordedRequest(0, "openai", "POST", "/v1/chat/completions", {"authorization": "Bearer k"},
    ...     b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}', 0.0)
    >>> import json; json.loads(handle(rt, call).body)["choices"][0]["message"]["content"]
    'ok'
    """
    path = record.path.split("?", 1)[0].rstrip("/")
    if record.method != "POST" or path != "/v1/chat/completions":
        raise openai_error(404, f"Invalid URL ({record.method} {path})", kind="invalid_request_error")
    record.operation = "chat.completions"
    auth = record.headers.get("authorization", "")
    key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not key:
        raise openai_error(401, _NO_KEY)
    record.tenant = rt.tenant(key)
    try:
        body = json_body(record)
    except ValueError:
        raise openai_error(400, _BAD_JSON) from None
    if not isinstance(body, dict):
        raise openai_error(400, _BAD_JSON)
    record.body = body
    return _chat(rt, record, body)


def _check(body: dict[str, Any]) -> None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise openai_error(400, "you must provide a model parameter")
    if "messages" not in body:
        raise openai_error(
            400, "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if isinstance(body["messages"], list) and not body["messages"]:
        raise openai_error(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    n = body.get("n", 1)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= _MAX_N):
        raise openai_error(
            400,
            f"Invalid 'n': expected an integer between 1 and {_MAX_N}, but got {n!r} instead.",
            param="n",
            code="invalid_value",
        )
    if body.get("stream_options") is not None and body.get("stream") is not True:
        raise openai_error(
            400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param="stream_options"
        )
    options = body.get("prompt_cache_options")
    if isinstance(options, dict):
        ttl = options.get("ttl")
        if ttl is not None and ttl not in _CHAT_TTLS:
            raise openai_error(
                400,
                f"Invalid value: {ttl!r}. Supported values are: {', '.join(repr(t) for t in _CHAT_TTLS)}.",
                param="prompt_cache_options.ttl",
                code="invalid_value",
            )
        mode = options.get("mode")
        if mode is not None and mode not in ("implicit", "explicit"):
            raise openai_error(
                400,
                f"Invalid value: {mode!r}. Supported values are: 'implicit' and 'explicit'.",
                param="prompt_cache_options.mode",
                code="invalid_value",
            )


def _chat(rt: Runtime, record: RecordedRequest, body: dict[str, Any]) -> Response:
    _check(body)
    model = body["model"]
    record.model = model
    try:
        request = Request.parse(body, format="openai-chat")
    except RequestFormatError as exc:
        raise openai_error(400, f"Invalid value at '{exc.path}': {exc.detail}", param=exc.path or None) from None
    record.request = request
    info = rt.info("openai", model, record)
    view = rt.view(request, info)
    for p in view:
        if p.marker is None:
            continue
        if not info.explicit:
            record.notes.append(
                f"{p.path}: {model} caches automatically and ignores prompt_cache_breakpoint (GPT-5.6+ take markers)"
            )
        elif not p.eligible:
            raise openai_error(
                400,
                f"Invalid '{p.path}': prompt_cache_breakpoint is not supported here ({p.ineligible_reason}).",
                param=p.path,
            )
        elif p.marker.ttl is not None and p.marker.ttl not in _CHAT_TTLS:
            raise openai_error(
                400,
                f"Invalid value: {p.marker.ttl!r}. Supported values are: {', '.join(repr(t) for t in _CHAT_TTLS)}.",
                param=f"{p.path}.prompt_cache_breakpoint.ttl",
                code="invalid_value",
            )
    record.stream = body.get("stream") is True
    try:
        reply = rt.reply(record)
    except LookupError as exc:
        raise openai_error(500, str(exc), kind="server_error") from None
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    reply, truncated = rt.fit(reply, limit if isinstance(limit, int) else None)
    record.reply = reply
    n = body.get("n") or 1
    pending = rt.start(view, record, provider="openai", model=model, output_tokens=rt.output_tokens(reply) * n)
    result = record.result = pending.result
    finish = "length" if truncated else ("tool_calls" if reply.tool_calls else "stop")
    completion_id = rt.next_id("chatcmpl-emu")
    created = EPOCH + int(rt.now())
    headers = {"x-request-id": rt.next_id("req_emu_")}
    calls = _tool_calls(rt, reply)
    if not record.stream:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text if (reply.text or not calls) else None,
            "refusal": None,
            "annotations": [],
        }
        if calls:
            message["tool_calls"] = calls
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": index, "message": message, "logprobs": None, "finish_reason": finish} for index in range(n)
            ],
            "usage": result.native(),
            "service_tier": "default",
            "system_fingerprint": None,
        }
        response = json_response(200, payload, headers)
        response.pending = pending
        return response
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True

    def events() -> Iterator[bytes]:
        yield from _sse(_Stream(completion_id, created, model, reply, calls, finish, result, include_usage, n))

    return Response(
        200, {"content-type": "text/event-stream; charset=utf-8", **headers}, chunks=events, pending=pending
    )


def _tool_calls(rt: Runtime, reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id or rt.next_id("call_emu_"),
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(dict(call.input), separators=(",", ":"))},
        }
        for call in reply.tool_calls
    ]


@dataclass(frozen=True)
class _Stream:
    completion_id: str
    created: int
    model: str
    reply: Reply
    calls: list[dict[str, Any]]
    finish: str
    result: SimResult
    include_usage: bool
    n: int = 1


def _sse(stream: _Stream) -> Iterator[bytes]:
    include_usage = stream.include_usage

    def chunk(choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        data: dict[str, Any] = {
            "id": stream.completion_id,
            "object": "chat.completion.chunk",
            "created": stream.created,
            "model": stream.model,
            "service_tier": "default",
            "system_fingerprint": None,
            "choices": choices,
        }
        if include_usage:
            data["usage"] = usage
        return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

    def delta(payload: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
        return [
            {"index": index, "delta": payload, "logprobs": None, "finish_reason": finish_reason}
            for index in range(stream.n)
        ]

    yield chunk(delta({"role": "assistant", "content": "", "refusal": None}))
    if stream.reply.text:
        for piece in text_chunks(stream.reply.text):
            yield chunk(delta({"content": piece}))
    for index, call in enumerate(stream.calls):
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        yield chunk(delta({"tool_calls": [head]}))
        yield chunk(delta({"tool_calls": [{"index": index, "function": {"arguments": call["function"]["arguments"]}}]}))
    yield chunk(delta({}, stream.finish))
    if include_usage:
        yield chunk([], stream.result.native())
    yield b"data: [DONE]\n\n"
