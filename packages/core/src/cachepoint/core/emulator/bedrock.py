"""Amazon Bedrock Runtime: Converse (``POST /model/{modelId}/converse`` and ``/converse-stream``), CountTokens
(``/count-tokens``, which CrewAI calls before each task) and, for Anthropic models, InvokeModel (``/invoke`` and
``/invoke-with-response-stream``).

InvokeModel takes Anthropic's Messages body without ``model`` and ``stream`` (the model is in the path) and with
``anthropic_version`` (``bedrock-2023-05-31``, or the dated API version current SDKs send), and answers with the
Messages response body; the stream is the Messages API's events, each one an event stream ``chunk`` whose
``bytes`` hold the event's JSON, the last one with Bedrock's ``amazon-bedrock-invocationMetrics``. Cache markers
follow Bedrock's rules for the model, and the simulator caches the request as the Anthropic-format payload it
is; the token counts are also in the ``x-amzn-bedrock-*-token-count`` headers. This is what the ``anthropic``
SDK's ``AnthropicBedrock`` client (and so LangChain's ``ChatAnthropicBedrock``) calls.

Errors carry their code in the ``x-amzn-ErrorType`` header (boto3 raises ``client.exceptions.ValidationException``).
ConverseStream answers in the AWS event stream format: ``messageStart``, ``contentBlockStart`` (tool use
only) / ``contentBlockDelta`` / ``contentBlockStop`` per block, ``messageStop``, then ``metadata`` with the
usage (``inputTokens`` uncached, ``cacheReadInputTokens``, ``cacheWriteInputTokens``, ``cacheDetails`` 1h
before 5m) and metrics. The tenant is the AWS access key id from the SigV4 ``Authorization`` header (or a
Bedrock API key sent as a bearer token); the signature itself is not verified.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from cachepoint.core.emulator.anthropic import message_body, problem_message, stream_events, text_chunks
from cachepoint.core.emulator.errors import bedrock_error
from cachepoint.core.emulator.eventstream import encode_event
from cachepoint.core.emulator.records import RecordedRequest
from cachepoint.core.emulator.replies import Reply
from cachepoint.core.emulator.runtime import Response, Runtime, json_body, json_response
from cachepoint.core.emulator.validation import Problem, cache_marker_problem
from cachepoint.core.prompt import PrefixView, Request, RequestFormatError
from cachepoint.core.simulate import SimResult

__all__ = ["BEDROCK_ANTHROPIC_VERSION", "handle"]

_ROUTE = re.compile(
    r"^/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream|count-tokens|invoke|invoke-with-response-stream)$"
)
_OPERATIONS = {
    "converse": "converse",
    "converse-stream": "converse_stream",
    "count-tokens": "count_tokens",
    "invoke": "invoke_model",
    "invoke-with-response-stream": "invoke_model_stream",
}
#: Bedrock's ``anthropic_version`` for InvokeModel bodies of Anthropic models. Current ``anthropic`` SDKs send the
#: Messages API version instead (a date, e.g. ``2026-10-21``); both are accepted.
BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
_API_VERSION = re.compile(r"^20\d\d-\d\d-\d\d$")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_VALIDATION = "ValidationException"
_STOP = {"end_turn": "end_turn", "tool_use": "tool_use", "max_tokens": "max_tokens"}


def handle(rt: Runtime, record: RecordedRequest) -> Response:
    """Answer a Bedrock Runtime request (raises `ApiError` with the error code header for a bad one).

    >>> from cachepoint.core.emulator import Emulator, RecordedRequest
    >>> rt = Emulator(reply="ok")._runtime
    >>> call = RecordedRequest(0, "bedrock", "POST", "/model/anthropic.claude-sonnet-4-5/converse",
    ...     {"authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request"},
    ...     b'{"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}', 0.0)
    >>> handle(rt, call).status, call.tenant
    (200, 'AKID')
    """
    path = record.path.split("?", 1)[0]
    match = _ROUTE.match(path)
    if record.method != "POST" or match is None:
        raise bedrock_error(404, "UnknownOperationException", f"Unknown operation: {record.method} {path}")
    model = urllib.parse.unquote(match.group("model"))
    record.operation = _OPERATIONS[match.group("op")]
    record.stream = record.operation.endswith("stream")
    record.model = model
    record.tenant = _tenant(rt, record)
    try:
        body = json_body(record)
    except ValueError as exc:
        raise bedrock_error(400, "SerializationException", f"Could not parse the request body: {exc}") from None
    if not isinstance(body, dict):
        raise bedrock_error(400, "SerializationException", "The request body must be a JSON object")
    record.body = body
    if record.operation.startswith("invoke_model"):
        return _invoke(rt, record, body, model)
    if record.operation == "count_tokens":
        return _count_tokens(rt, record, body, model)
    return _converse(rt, record, body, model)


def _count_tokens(rt: Runtime, record: RecordedRequest, body: dict[str, Any], model: str) -> Response:
    """CountTokens: the input tokens the request in ``input`` would be billed (``converse``: a Converse body;
    ``invokeModel``: an InvokeModel body, base64 in JSON), counted as the emulator counts a call; nothing is cached
    or answered."""
    given = body.get("input")
    if not isinstance(given, dict) or len(given) != 1 or next(iter(given)) not in ("converse", "invokeModel"):
        raise bedrock_error(400, _VALIDATION, "input: expected exactly one of 'converse' or 'invokeModel'")
    try:
        if "converse" in given:
            request = Request.parse(given["converse"], format="bedrock")
        else:
            inner = json.loads(base64.b64decode(given["invokeModel"]["body"]))
            request = Request.parse({k: v for k, v in inner.items() if k != "anthropic_version"}, format="anthropic")
    except (RequestFormatError, ValueError, KeyError, TypeError) as exc:
        raise bedrock_error(400, _VALIDATION, f"input: {exc}") from None
    view = _checked_view(rt, record, request, model, _problem_message)
    return json_response(200, {"inputTokens": view.total_tokens}, {"x-amzn-RequestId": rt.next_id("emu-request-")})


def _tenant(rt: Runtime, record: RecordedRequest) -> str:
    auth = record.headers.get("authorization", "")
    match = _CREDENTIAL.search(auth)
    if match is not None:
        return rt.tenant(match.group(1))
    if auth.lower().startswith("bearer ") and auth[7:].strip():
        return rt.tenant(auth[7:].strip())
    raise bedrock_error(403, "AccessDeniedException", "Missing Authentication Token")


def _problem_message(problem: Problem) -> str:
    if problem.kind == "caching_unsupported":  # as users report it (LiteLLM #39210, Positron #12142, ZeroClaw #7315)
        return (
            "You invoked an unsupported model, or your request did not allow prompt caching. See the documentation "
            "for more information."
        )
    if problem.kind == "thinking_marker":
        return (
            "Cache point cannot be inserted after reasoning block. Please remove the invalid cache point and try again."
        )
    if problem.kind == "ineligible_marker" and "tool" in problem.reason:
        return f"The model returned the following errors: {problem.path}: {problem.reason}"
    if problem.kind == "ttl_unsupported":
        allowed = ", ".join(problem.allowed)
        return (
            f"The model returned the following errors: {problem.path}.cachePoint.ttl: ttl '{problem.ttl}' is not "
            f"supported for this model (supported: {allowed})"
        )
    return f"The model returned the following errors: {problem_message(problem)}"


def _conversation_problem(request: Request) -> str | None:
    roles = [m.role for m in request.messages]
    if not roles or roles[0] != "user":
        return (
            "A conversation must start with a user message. Try again with a conversation that starts with a user "
            "message."
        )
    # Claude's Messages body (InvokeModel) may carry a system turn in place (Claude 5: langchain-aws's model
    # profiles set `mid_conversation_system_messages` for them); the turns around it still alternate.
    allowed = ("user", "assistant", "system") if request.format == "anthropic" else ("user", "assistant")
    for i, role in enumerate(roles):
        if role not in allowed:
            return f"messages[{i}].role: expected 'user' or 'assistant', got {role!r}"
    roles = [role for role in roles if role != "system"]
    for i, role in enumerate(roles):
        if i and role == roles[i - 1]:
            return (
                "A conversation must alternate between user and assistant roles. Make sure the conversation "
                "alternates between user and assistant roles and try again."
            )
    return None


def _checked_view(
    rt: Runtime, record: RecordedRequest, request: Request, model: str, wording: Callable[[Problem], str]
) -> PrefixView:
    """The request's prefix view under Bedrock's rules for ``model``, once its turns and cache markers pass what
    Bedrock checks (a ``ValidationException`` otherwise, a marker problem worded by ``wording``)."""
    record.request = request
    problem = _conversation_problem(request)
    if problem is not None:
        raise bedrock_error(400, _VALIDATION, problem)
    info = rt.info("bedrock", model, record)
    view = rt.view(request, info)
    marker_problem = cache_marker_problem(view, info)
    if marker_problem is not None:
        raise bedrock_error(400, _VALIDATION, wording(marker_problem))
    return view


def _answer(rt: Runtime, record: RecordedRequest, limit: int | None) -> tuple[Reply, bool]:
    """The reply to send (cut to ``limit`` output tokens), and whether it was cut."""
    try:
        reply = rt.reply(record)
    except LookupError as exc:
        raise bedrock_error(500, "InternalServerException", str(exc)) from None
    reply, truncated = rt.fit(reply, limit)
    record.reply = reply
    return reply, truncated


def _converse(rt: Runtime, record: RecordedRequest, body: dict[str, Any], model: str) -> Response:
    try:
        request = Request.parse(body, format="bedrock")
    except RequestFormatError as exc:
        raise bedrock_error(400, _VALIDATION, str(exc)) from None
    view = _checked_view(rt, record, request, model, _problem_message)
    config = body.get("inferenceConfig")
    limit = config.get("maxTokens") if isinstance(config, dict) else None
    reply, truncated = _answer(rt, record, limit if isinstance(limit, int) else None)
    pending = rt.start(view, record, provider="bedrock", model=model, output_tokens=rt.output_tokens(reply))
    result = record.result = pending.result
    stop = "max_tokens" if truncated else _STOP[reply.stop_reason]
    content = _content(rt, reply)
    headers = {"x-amzn-RequestId": rt.next_id("emu-request-")}
    if not record.stream:
        payload = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": result.native(),
            "metrics": {"latencyMs": 0},
        }
        response = json_response(200, payload, headers)
        response.pending = pending
        return response

    def events() -> Iterator[bytes]:
        yield from _stream(content, stop, result)

    return Response(
        200, {"content-type": "application/vnd.amazon.eventstream", **headers}, chunks=events, pending=pending
    )


def _content(rt: Runtime, reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.text:
        blocks.append({"text": reply.text})
    for call in reply.tool_calls:
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": call.id or rt.next_id("tooluse_emu_"),
                    "name": call.name,
                    "input": dict(call.input),
                }
            }
        )
    return blocks


def _stream(content: list[dict[str, Any]], stop: str, result: SimResult) -> Iterator[bytes]:
    yield encode_event("messageStart", {"role": "assistant"})
    for index, block in enumerate(content):
        if "text" in block:
            for piece in text_chunks(block["text"]):
                yield encode_event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})
        else:
            use = block["toolUse"]
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            yield encode_event("contentBlockStart", {"contentBlockIndex": index, "start": start})
            raw = json.dumps(use["input"], separators=(",", ":"))
            yield encode_event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": raw}}})
        yield encode_event("contentBlockStop", {"contentBlockIndex": index})
    yield encode_event("messageStop", {"stopReason": stop})
    yield encode_event("metadata", {"usage": result.native(), "metrics": {"latencyMs": 0}})


# --- InvokeModel with an Anthropic Messages body ---


def _invoke(rt: Runtime, record: RecordedRequest, body: dict[str, Any], model: str) -> Response:
    if "anthropic" not in model and "claude" not in model:
        raise bedrock_error(
            400, _VALIDATION, f"cachepoint emulator: InvokeModel is emulated for Anthropic models only, not {model!r}"
        )
    version = body.get("anthropic_version")
    if version is None:
        raise bedrock_error(400, _VALIDATION, "Malformed input request: #: required key [anthropic_version] not found")
    if version != BEDROCK_ANTHROPIC_VERSION and not (isinstance(version, str) and _API_VERSION.match(version)):
        raise bedrock_error(400, _VALIDATION, f"Malformed input request: unsupported anthropic_version {version!r}")
    for name in ("model", "stream"):
        if name in body:
            raise bedrock_error(
                400, _VALIDATION, f"Malformed input request: #: extraneous key [{name}] is not permitted"
            )
    limit = body.get("max_tokens")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise bedrock_error(400, _VALIDATION, "Malformed input request: #: required key [max_tokens] not found")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bedrock_error(400, _VALIDATION, "Malformed input request: #/messages: expected at least 1 message")
    try:
        request = Request.parse(body, format="anthropic")
    except RequestFormatError as exc:
        raise bedrock_error(400, _VALIDATION, f"Malformed input request: {exc}") from None
    view = _checked_view(rt, record, request, model, problem_message)
    reply, truncated = _answer(rt, record, limit)
    pending = rt.start(view, record, provider="bedrock", model=model, output_tokens=rt.output_tokens(reply))
    result = record.result = pending.result
    message = message_body(rt, model, reply, "max_tokens" if truncated else reply.stop_reason, result)
    usage = result.native()
    headers = {
        "x-amzn-RequestId": rt.next_id("emu-request-"),
        "x-amzn-bedrock-input-token-count": str(usage["input_tokens"]),
        "x-amzn-bedrock-output-token-count": str(result.output_tokens),
        "x-amzn-bedrock-cache-read-input-token-count": str(usage["cache_read_input_tokens"]),
        "x-amzn-bedrock-cache-write-input-token-count": str(usage["cache_creation_input_tokens"]),
    }
    if not record.stream:
        response = json_response(200, message, headers)
        response.pending = pending
        return response

    def events() -> Iterator[bytes]:
        metrics = {
            "inputTokenCount": usage["input_tokens"],
            "outputTokenCount": result.output_tokens,
            "invocationLatency": 0,
            "firstByteLatency": 0,
            "cacheReadInputTokenCount": usage["cache_read_input_tokens"],
            "cacheWriteInputTokenCount": usage["cache_creation_input_tokens"],
        }
        for event in stream_events(message, result):
            sent = {**event, "amazon-bedrock-invocationMetrics": metrics} if event["type"] == "message_stop" else event
            raw = json.dumps(sent, separators=(",", ":")).encode()
            yield encode_event("chunk", {"bytes": base64.b64encode(raw).decode("ascii")})

    return Response(
        200,
        {
            "content-type": "application/vnd.amazon.eventstream",
            "x-amzn-bedrock-content-type": "application/json",
            **headers,
        },
        chunks=events,
        pending=pending,
    )
