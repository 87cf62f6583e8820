"""Convert a request between provider formats, through the Anthropic shape.

Conversion covers what every provider has: text, images, documents, tool definitions, tool calls and tool
results, system text, and the common parameters (model, max tokens, temperature, top-p, stop sequences, tool
choice); thinking blocks between Anthropic and Bedrock. Anything else (a provider's server-side tool blocks, a
parameter with no counterpart) raises `RenderError` naming it: a conversion never drops content silently.
Cache markers travel with their blocks.

>>> from cachepoint.core.prompt import Request, Message
>>> req = Request(messages=(Message.user("Hi"),), params={"model": "claude-sonnet-4-5", "max_tokens": 50})
>>> payload = req.render("bedrock")
>>> payload["modelId"], payload["inferenceConfig"], payload["messages"]
('claude-sonnet-4-5', {'maxTokens': 50}, [{'role': 'user', 'content': [{'text': 'Hi'}]}])
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from cachepoint.core.prompt.errors import RenderError
from cachepoint.core.prompt.formats.base import data_url_media
from cachepoint.core.prompt.model import Block, CacheMarker, Message, Request, Tool
from cachepoint.core.prompt.ttl import ttl_seconds

__all__ = ["convert_request"]

_ANTHROPIC = "anthropic"


def convert_request(request: Request, target: str) -> Request:
    """``request`` written in the ``target`` format (``anthropic``, ``bedrock``, ``openai-chat``,
    ``openai-responses``)."""
    from cachepoint.core.prompt.formats import get_format

    target = get_format(target).name
    if request.format == target:
        return request
    hub = request if request.format == _ANTHROPIC else _TO_HUB[_known(request.format)](request)
    converted = hub if target == _ANTHROPIC else _FROM_HUB[_known(target)](hub)
    return _translate_ttls(converted, request.format)


# TTL vocabularies differ: Anthropic and Bedrock take 5m/1h, OpenAI 30m (and 12h on Responses).
_TTLS = {
    "anthropic": ("5m", "1h"),
    "bedrock": ("5m", "1h"),
    "openai-chat": ("30m",),
    "openai-responses": ("30m", "12h"),
}


def _translate_ttls(request: Request, source: str) -> Request:
    """Markers whose TTL the target cannot take get the closest it can: the shortest that lasts at least as
    long, else its longest; a TTL the target takes (or none) is kept."""
    allowed = _TTLS.get(request.format)
    if allowed is None:
        return request

    def translate(marker: CacheMarker | None) -> CacheMarker | None:
        if marker is None or marker.ttl is None or marker.ttl in allowed:
            return marker
        wanted = ttl_seconds(marker.ttl)
        longer = [t for t in allowed if ttl_seconds(t) >= wanted]
        ttl = min(longer, key=ttl_seconds) if longer else max(allowed, key=ttl_seconds)
        return CacheMarker(ttl)

    return request._map(lambda _loc, item: item.with_cache(translate(item.cache)) if item.cache else item)


def _known(name: str) -> str:
    if name not in _TO_HUB:
        raise RenderError("", f"no conversion between {name!r} and the other formats")
    return name


def _fail(path: str, what: str, target: str) -> RenderError:
    return RenderError(path, f"{what} has no {target} form")


def _b64(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def _hub_block(kind: str, data: dict[str, Any], origin: Block) -> Block:
    return Block(kind, data, _ANTHROPIC, origin.cache, origin.stable)


def _hub_request(
    request: Request, messages: list[Message], system: list[Block], tools: list[Tool], params: dict[str, Any]
) -> Request:
    return Request(_ANTHROPIC, tuple(messages), tuple(system), tuple(tools), params, request.automatic, {})


def _append(messages: list[Message], role: str, block: Block) -> None:
    """Add ``block`` to the last message when it has the same role (tool results share one user turn)."""
    if messages and messages[-1].role == role and messages[-1].form == "list":
        last = messages[-1]
        messages[-1] = replace(last, blocks=(*last.blocks, block))
    else:
        messages.append(Message(role, (block,)))


# --- common parameters ---

_TOOL_CHOICE_TO_OPENAI = {"auto": "auto", "any": "required", "none": "none"}


def _hub_params(params: Mapping[str, Any], mapping: Mapping[str, str], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key not in mapping:
            raise RenderError(key, f"parameter {key!r} of {source} has no anthropic form")
        out[mapping[key]] = value
    return out


# --- bedrock -> anthropic ---

_IMAGE_MEDIA = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


def _bedrock_block(block: Block, path: str) -> Block:  # noqa: PLR0911, PLR0912 - one branch per block type
    key = next(iter(block.data))
    body = block.data[key]
    if key == "text":
        return _hub_block("text", {"type": "text", "text": body}, block)
    if key == "image":
        source = body.get("source", {})
        if "bytes" not in source:
            raise _fail(path, "an image outside 'bytes'", _ANTHROPIC)
        data = {
            "type": "base64",
            "media_type": _IMAGE_MEDIA.get(body.get("format"), "image/png"),
            "data": _b64(source["bytes"]),
        }
        return _hub_block("image", {"type": "image", "source": data}, block)
    if key == "document":
        source = body.get("source", {})
        out: dict[str, Any] = {"type": "document"}
        if body.get("format") == "pdf" and "bytes" in source:
            out["source"] = {"type": "base64", "media_type": "application/pdf", "data": _b64(source["bytes"])}
        elif "text" in source or "bytes" in source:
            raw = source.get("text", source.get("bytes"))
            text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else str(raw)
            out["source"] = {"type": "text", "media_type": "text/plain", "data": text}
        else:
            raise _fail(path, "a document without inline content", _ANTHROPIC)
        if body.get("name"):
            out["title"] = body["name"]
        return _hub_block("document", out, block)
    if key == "toolUse":
        return _hub_block(
            "tool_use",
            {"type": "tool_use", "id": body["toolUseId"], "name": body["name"], "input": body.get("input", {})},
            block,
        )
    if key == "toolResult":
        content: list[dict[str, Any]] = []
        for j, part in enumerate(body.get("content", [])):
            if "text" in part:
                content.append({"type": "text", "text": part["text"]})
            elif "json" in part:
                content.append({"type": "text", "text": json.dumps(part["json"])})
            elif "image" in part:
                content.append(dict(_bedrock_block(Block("image", part, "bedrock"), f"{path}.content[{j}]").data))
            else:
                raise _fail(f"{path}.content[{j}]", f"tool result part {next(iter(part))!r}", _ANTHROPIC)
        out = {"type": "tool_result", "tool_use_id": body["toolUseId"], "content": content}
        if body.get("status") == "error":
            out["is_error"] = True
        return _hub_block("tool_result", out, block)
    if key == "reasoningContent":
        if "reasoningText" in body:
            inner = body["reasoningText"]
            return _hub_block(
                "thinking",
                {"type": "thinking", "thinking": inner.get("text", ""), "signature": inner.get("signature", "")},
                block,
            )
        return _hub_block(
            "redacted_thinking", {"type": "redacted_thinking", "data": _b64(body.get("redactedContent", b""))}, block
        )
    raise _fail(path, f"block type {key!r}", _ANTHROPIC)


def _bedrock_to_hub(request: Request) -> Request:
    tools = []
    for i, tool in enumerate(request.tools):
        spec = tool.data.get("toolSpec")
        if not isinstance(spec, Mapping):
            raise _fail(f"toolConfig.tools[{i}]", "a tool other than toolSpec", _ANTHROPIC)
        schema = spec.get("inputSchema", {}).get("json", {"type": "object"})
        data = {"name": spec["name"], "input_schema": schema}
        if "description" in spec:
            data["description"] = spec["description"]
        tools.append(Tool(data, _ANTHROPIC, tool.cache, tool.stable))
    system = []
    for i, block in enumerate(request.system):
        if "text" not in block.data:
            raise _fail(f"system[{i}]", f"system block {next(iter(block.data))!r}", _ANTHROPIC)
        system.append(_hub_block("text", {"type": "text", "text": block.data["text"]}, block))
    messages = [
        Message(m.role, tuple(_bedrock_block(b, f"messages[{i}].content[{j}]") for j, b in enumerate(m.blocks)))
        for i, m in enumerate(request.messages)
    ]
    params: dict[str, Any] = {}
    for key, value in request.params.items():
        if key == "modelId":
            params["model"] = value
        elif key == "inferenceConfig":
            names = {
                "maxTokens": "max_tokens",
                "temperature": "temperature",
                "topP": "top_p",
                "stopSequences": "stop_sequences",
            }
            params.update(_hub_params(value, names, "inferenceConfig"))
        else:
            raise RenderError(key, f"parameter {key!r} of bedrock has no anthropic form")
    choice = request.layout.get("tool_config", {}).get("toolChoice")
    if isinstance(choice, Mapping):
        kind = next(iter(choice))
        params["tool_choice"] = {"type": "tool", "name": choice["tool"]["name"]} if kind == "tool" else {"type": kind}
    return _hub_request(request, messages, system, tools, params)


# --- openai chat -> anthropic ---


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def _image_from_url(url: str, origin: Block) -> Block:
    media_type, data = data_url_media(url)
    if data is not None:
        source: dict[str, Any] = {"type": "base64", "media_type": media_type or "image/png", "data": data}
    else:
        source = {"type": "url", "url": url}
    return _hub_block("image", {"type": "image", "source": source}, origin)


def _file_block(file_data: Any, filename: Any, origin: Block, path: str) -> Block:
    media_type, data = data_url_media(file_data) if isinstance(file_data, str) else (None, None)
    if data is None:
        raise _fail(path, "a file without inline data", _ANTHROPIC)
    out: dict[str, Any] = {
        "type": "document",
        "source": {"type": "base64", "media_type": media_type or "application/pdf", "data": data},
    }
    if filename:
        out["title"] = filename
    return _hub_block("document", out, origin)


def _chat_part(block: Block, path: str) -> Block:
    data = block.data
    kind = data.get("type")
    if kind == "text":
        return _hub_block("text", {"type": "text", "text": data["text"]}, block)
    if kind == "refusal":
        return _hub_block("text", {"type": "text", "text": data.get("refusal", "")}, block)
    if kind == "image_url":
        return _image_from_url(data["image_url"]["url"], block)
    if kind == "file":
        file = data.get("file", {})
        return _file_block(file.get("file_data"), file.get("filename"), block, path)
    raise _fail(path, f"content part {kind!r}", _ANTHROPIC)


def _chat_to_hub(request: Request) -> Request:  # noqa: PLR0912 - one branch per message kind
    tools = []
    for i, tool in enumerate(request.tools):
        function = tool.data.get("function")
        if tool.data.get("type") != "function" or not isinstance(function, Mapping):
            raise _fail(f"tools[{i}]", f"tool type {tool.data.get('type')!r}", _ANTHROPIC)
        data = {"name": function["name"], "input_schema": function.get("parameters") or {"type": "object"}}
        if "description" in function:
            data["description"] = function["description"]
        tools.append(Tool(data, _ANTHROPIC, tool.cache, tool.stable))
    system: list[Block] = []
    messages: list[Message] = []
    for i, message in enumerate(request.messages):
        path = f"messages[{i}]"
        if message.role in ("system", "developer") and not messages:
            system.extend(_chat_part(b, f"{path}.content") for b in message.blocks)
            continue
        if message.role == "tool":
            content = [dict(_chat_part(b, f"{path}.content").data) for b in message.blocks]
            result = Block(
                "tool_result",
                {"type": "tool_result", "tool_use_id": message.extra.get("tool_call_id", ""), "content": content},
                _ANTHROPIC,
            )
            cached = next((b.cache for b in reversed(message.blocks) if b.cache is not None), None)
            _append(messages, "user", replace(result, cache=cached))
            continue
        if message.role not in ("user", "assistant", "system"):
            raise _fail(path, f"role {message.role!r}", _ANTHROPIC)
        for j, block in enumerate(message.blocks):
            if block.kind == "tool_use":
                function = block.data.get("function", {})
                args = function.get("arguments") or "{}"
                data = {
                    "type": "tool_use",
                    "id": block.data.get("id", ""),
                    "name": function.get("name", ""),
                    "input": json.loads(args),
                }
                _append(messages, message.role, _hub_block("tool_use", data, block))
            else:
                _append(messages, message.role, _chat_part(block, f"{path}.content[{j}]"))
        if not message.blocks:
            messages.append(Message(message.role, ()))
    names = {
        "model": "model",
        "max_tokens": "max_tokens",
        "max_completion_tokens": "max_tokens",
        "temperature": "temperature",
        "top_p": "top_p",
        "stop": "stop_sequences",
    }
    params = {k: v for k, v in request.params.items() if k != "tool_choice"}
    hub_params = _hub_params(params, names, "openai-chat")
    choice = request.params.get("tool_choice")
    if isinstance(choice, str):
        hub_params["tool_choice"] = {"type": {"required": "any"}.get(choice, choice)}
    elif isinstance(choice, Mapping):
        hub_params["tool_choice"] = {"type": "tool", "name": choice["function"]["name"]}
    return _hub_request(request, messages, system, tools, hub_params)


# --- openai responses -> anthropic ---


def _responses_part(block: Block, path: str) -> Block:
    data = block.data
    kind = data.get("type")
    if kind in ("input_text", "output_text", "instructions"):
        return _hub_block("text", {"type": "text", "text": data["text"]}, block)
    if kind == "input_image" and isinstance(data.get("image_url"), str):
        return _image_from_url(data["image_url"], block)
    if kind == "input_file":
        return _file_block(data.get("file_data"), data.get("filename"), block, path)
    raise _fail(path, f"content part {kind!r}", _ANTHROPIC)


def _responses_to_hub(request: Request) -> Request:
    tools = []
    for i, tool in enumerate(request.tools):
        if tool.data.get("type") != "function":
            raise _fail(f"tools[{i}]", f"tool type {tool.data.get('type')!r}", _ANTHROPIC)
        data = {"name": tool.data["name"], "input_schema": tool.data.get("parameters") or {"type": "object"}}
        if tool.data.get("description"):
            data["description"] = tool.data["description"]
        tools.append(Tool(data, _ANTHROPIC, tool.cache, tool.stable))
    system = [_responses_part(b, "instructions") for b in request.system]
    messages: list[Message] = []
    for i, message in enumerate(request.messages):
        path = f"input[{i}]"
        if message.form == "item":
            item = message.blocks[0].data
            kind = item.get("type")
            if kind == "function_call":
                data = {
                    "type": "tool_use",
                    "id": item["call_id"],
                    "name": item["name"],
                    "input": json.loads(item.get("arguments") or "{}"),
                }
                _append(messages, "assistant", _hub_block("tool_use", data, message.blocks[0]))
            elif kind == "function_call_output":
                output = item.get("output")
                content = output if isinstance(output, str) else _text_of(output)
                data = {"type": "tool_result", "tool_use_id": item["call_id"], "content": content}
                _append(messages, "user", _hub_block("tool_result", data, message.blocks[0]))
            else:
                raise _fail(path, f"item type {kind!r}", _ANTHROPIC)
            continue
        if message.role in ("system", "developer") and not messages:
            system.extend(_responses_part(b, f"{path}.content") for b in message.blocks)
            continue
        role = "system" if message.role == "developer" else message.role
        for j, block in enumerate(message.blocks):
            _append(messages, role, _responses_part(block, f"{path}.content[{j}]"))
    names = {"model": "model", "max_output_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p"}
    params = {k: v for k, v in request.params.items() if k != "tool_choice"}
    hub_params = _hub_params(params, names, "openai-responses")
    choice = request.params.get("tool_choice")
    if isinstance(choice, str):
        hub_params["tool_choice"] = {"type": {"required": "any"}.get(choice, choice)}
    elif isinstance(choice, Mapping):
        hub_params["tool_choice"] = {"type": "tool", "name": choice["name"]}
    return _hub_request(request, messages, system, tools, hub_params)


# --- anthropic -> bedrock ---

_BEDROCK_IMAGE = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def _to_bedrock_block(block: Block, path: str) -> dict[str, Any]:  # noqa: PLR0911, PLR0912 - one branch per type
    data = block.data
    kind = data.get("type")
    if kind == "text":
        return {"text": data["text"]}
    if kind == "image":
        source = data["source"]
        if source.get("type") != "base64":
            raise _fail(path, "an image by URL or file id", "bedrock")
        return {
            "image": {
                "format": _BEDROCK_IMAGE.get(source.get("media_type"), "png"),
                "source": {"bytes": base64.b64decode(source["data"])},
            }
        }
    if kind == "document":
        source = data["source"]
        name = str(data.get("title") or "document")
        if source.get("type") == "text":
            return {"document": {"format": "txt", "name": name, "source": {"bytes": str(source["data"]).encode()}}}
        if source.get("type") == "base64":
            return {"document": {"format": "pdf", "name": name, "source": {"bytes": base64.b64decode(source["data"])}}}
        raise _fail(path, f"a document source {source.get('type')!r}", "bedrock")
    if kind == "tool_use":
        return {"toolUse": {"toolUseId": data["id"], "name": data["name"], "input": data["input"]}}
    if kind == "tool_result":
        content = data.get("content", "")
        parts: list[dict[str, Any]] = []
        if isinstance(content, str):
            parts.append({"text": content})
        else:
            for j, inner in enumerate(content):
                converted = _to_bedrock_block(Block(str(inner.get("type")), inner), f"{path}.content[{j}]")
                if not {"text", "image", "document"} & set(converted):
                    raise _fail(f"{path}.content[{j}]", f"tool result part {inner.get('type')!r}", "bedrock")
                parts.append(converted)
        out: dict[str, Any] = {"toolUseId": data["tool_use_id"], "content": parts}
        if data.get("is_error"):
            out["status"] = "error"
        return {"toolResult": out}
    if kind == "thinking":
        return {
            "reasoningContent": {"reasoningText": {"text": data["thinking"], "signature": data.get("signature", "")}}
        }
    if kind == "redacted_thinking":
        return {"reasoningContent": {"redactedContent": base64.b64decode(data["data"])}}
    raise _fail(path, f"block type {kind!r}", "bedrock")


def _from_hub_bedrock(hub: Request) -> Request:
    tools = []
    for tool in hub.tools:
        spec: dict[str, Any] = {"name": tool.data["name"]}
        if "description" in tool.data:
            spec["description"] = tool.data["description"]
        spec["inputSchema"] = {"json": tool.data.get("input_schema", {"type": "object"})}
        tools.append(Tool({"toolSpec": spec}, "bedrock", tool.cache, tool.stable))
    system = [Block("text", {"text": b.data["text"]}, "bedrock", b.cache, b.stable) for b in hub.system]
    messages = []
    for i, message in enumerate(hub.messages):
        blocks = tuple(
            Block(b.kind, _to_bedrock_block(b, f"messages[{i}].content[{j}]"), "bedrock", b.cache, b.stable)
            for j, b in enumerate(message.blocks)
        )
        messages.append(Message(message.role, blocks, "list", format="bedrock"))
    params: dict[str, Any] = {}
    inference: dict[str, Any] = {}
    layout: dict[str, Any] = {}
    names = {
        "max_tokens": "maxTokens",
        "temperature": "temperature",
        "top_p": "topP",
        "stop_sequences": "stopSequences",
    }
    for key, value in hub.params.items():
        if key == "model":
            params["modelId"] = value
        elif key in names:
            inference[names[key]] = value
        elif key == "tool_choice":
            kind = value.get("type")
            choice = {"tool": {"name": value.get("name")}} if kind == "tool" else {kind: {}}
            if kind != "none":
                layout["tool_config"] = {"toolChoice": choice}
        else:
            raise RenderError(key, f"parameter {key!r} has no bedrock form (put it in additionalModelRequestFields)")
    if inference:
        params["inferenceConfig"] = inference
    if hub.automatic is not None:
        raise RenderError("cache_control", "Bedrock Converse has no automatic (top-level) cache_control")
    return Request("bedrock", tuple(messages), tuple(system), tuple(tools), params, None, layout)


# --- anthropic -> openai chat ---


def _data_url(source: Mapping[str, Any]) -> str:
    return f"data:{source.get('media_type', 'image/png')};base64,{source['data']}"


def _to_chat_part(block: Block, path: str) -> dict[str, Any]:
    data = block.data
    kind = data.get("type")
    if kind == "text":
        return {"type": "text", "text": data["text"]}
    if kind == "image":
        source = data["source"]
        if source.get("type") == "base64":
            return {"type": "image_url", "image_url": {"url": _data_url(source)}}
        if source.get("type") == "url":
            return {"type": "image_url", "image_url": {"url": source["url"]}}
        raise _fail(path, "an image by file id", "openai")
    if kind == "document":
        source = data["source"]
        if source.get("type") == "text":
            return {"type": "text", "text": str(source["data"])}
        if source.get("type") == "base64":
            file: dict[str, Any] = {"file_data": _data_url(source)}
            file["filename"] = str(data.get("title") or "document.pdf")
            return {"type": "file", "file": file}
        raise _fail(path, f"a document source {source.get('type')!r}", "openai")
    raise _fail(path, f"block type {kind!r}", "openai")


def _from_hub_chat(hub: Request) -> Request:  # noqa: PLR0912 - one branch per block kind
    fmt = "openai-chat"
    tools = []
    for tool in hub.tools:
        function: dict[str, Any] = {"name": tool.data["name"]}
        if "description" in tool.data:
            function["description"] = tool.data["description"]
        function["parameters"] = tool.data.get("input_schema", {"type": "object"})
        tools.append(Tool({"type": "function", "function": function}, fmt, tool.cache, tool.stable))
    messages: list[Message] = []
    if hub.system:
        parts = tuple(
            Block("text", _to_chat_part(b, f"system[{i}]"), fmt, b.cache, b.stable) for i, b in enumerate(hub.system)
        )
        messages.append(Message("system", parts, "list", format=fmt))
    for i, message in enumerate(hub.messages):
        parts_list: list[Block] = []
        for j, block in enumerate(message.blocks):
            path = f"messages[{i}].content[{j}]"
            if block.kind == "tool_use":
                call = {
                    "id": block.data["id"],
                    "type": "function",
                    "function": {"name": block.data["name"], "arguments": json.dumps(block.data["input"])},
                }
                parts_list.append(Block("tool_use", call, fmt, block.cache, block.stable))
            elif block.kind == "tool_result":
                content = block.data.get("content", "")
                if isinstance(content, str):
                    inner = [{"type": "text", "text": content}]
                else:
                    inner = [
                        _to_chat_part(Block(str(c.get("type")), c), f"{path}.content[{k}]")
                        for k, c in enumerate(content)
                    ]
                tool_blocks = tuple(Block("text", part, fmt) for part in inner)
                if block.cache is not None and tool_blocks:
                    tool_blocks = (*tool_blocks[:-1], replace(tool_blocks[-1], cache=block.cache))
                messages.append(Message("tool", tool_blocks, "list", {"tool_call_id": block.data["tool_use_id"]}, fmt))
            else:
                part = _to_chat_part(block, path)
                parts_list.append(
                    Block("image" if part["type"] == "image_url" else "text", part, fmt, block.cache, block.stable)
                )
        if parts_list or not message.blocks:
            has_content = any(b.kind != "tool_use" for b in parts_list)
            messages.append(Message(message.role, tuple(parts_list), "list" if has_content else "none", format=fmt))
    params: dict[str, Any] = {}
    for key, value in hub.params.items():
        if key in ("model", "temperature", "top_p"):
            params[key] = value
        elif key == "max_tokens":
            params["max_completion_tokens"] = value
        elif key == "stop_sequences":
            params["stop"] = value
        elif key == "tool_choice":
            kind = value.get("type")
            params["tool_choice"] = (
                {"type": "function", "function": {"name": value.get("name")}}
                if kind == "tool"
                else _TOOL_CHOICE_TO_OPENAI.get(kind, kind)
            )
        else:
            raise RenderError(key, f"parameter {key!r} has no openai-chat form")
    return Request(fmt, tuple(messages), (), tuple(tools), params, None, {})


# --- anthropic -> openai responses ---


def _to_responses_part(block: Block, path: str) -> dict[str, Any]:
    part = _to_chat_part(block, path)
    if part["type"] == "text":
        return {"type": "input_text", "text": part["text"]}
    if part["type"] == "image_url":
        return {"type": "input_image", "image_url": part["image_url"]["url"], "detail": "auto"}
    return {"type": "input_file", "file_data": part["file"]["file_data"], "filename": part["file"]["filename"]}


def _flusher(messages: list[Message], pending: list[Block], fmt: str) -> Callable[[str], None]:
    def flush(role: str) -> None:
        if pending:
            messages.append(Message(role, tuple(pending), "list", format=fmt))
            pending.clear()

    return flush


def _from_hub_responses(hub: Request) -> Request:  # noqa: PLR0912 - one branch per block kind
    fmt = "openai-responses"
    tools = []
    for tool in hub.tools:
        data: dict[str, Any] = {"type": "function", "name": tool.data["name"]}
        if "description" in tool.data:
            data["description"] = tool.data["description"]
        data["parameters"] = tool.data.get("input_schema", {"type": "object"})
        data["strict"] = False
        tools.append(Tool(data, fmt, tool.cache, tool.stable))
    messages: list[Message] = []
    if hub.system:
        parts = tuple(
            Block("text", _to_responses_part(b, f"system[{i}]"), fmt, b.cache, b.stable)
            for i, b in enumerate(hub.system)
        )
        messages.append(Message("system", parts, "list", format=fmt))
    for i, message in enumerate(hub.messages):
        pending: list[Block] = []
        flush = _flusher(messages, pending, fmt)
        for j, block in enumerate(message.blocks):
            path = f"messages[{i}].content[{j}]"
            if block.kind == "tool_use":
                flush(message.role)
                item = {
                    "type": "function_call",
                    "call_id": block.data["id"],
                    "name": block.data["name"],
                    "arguments": json.dumps(block.data["input"]),
                }
                messages.append(Message("assistant", (Block("tool_use", item, fmt),), "item", format=fmt))
            elif block.kind == "tool_result":
                flush(message.role)
                content = block.data.get("content", "")
                output = content if isinstance(content, str) else _text_of(content)
                item = {"type": "function_call_output", "call_id": block.data["tool_use_id"], "output": output}
                messages.append(Message("tool", (Block("tool_result", item, fmt),), "item", format=fmt))
            elif message.role == "assistant":
                if block.data.get("type") != "text":
                    raise _fail(path, f"assistant block type {block.data.get('type')!r}", fmt)
                messages.append(
                    Message(
                        "assistant",
                        (Block("text", {"type": "input_text", "text": block.data["text"]}, fmt),),
                        "string",
                        format=fmt,
                    )
                )
            else:
                pending.append(Block(block.kind, _to_responses_part(block, path), fmt, block.cache, block.stable))
        flush(message.role)
    params: dict[str, Any] = {}
    for key, value in hub.params.items():
        if key in ("model", "temperature", "top_p"):
            params[key] = value
        elif key == "max_tokens":
            params["max_output_tokens"] = value
        elif key == "tool_choice":
            kind = value.get("type")
            params["tool_choice"] = (
                {"type": "function", "name": value.get("name")}
                if kind == "tool"
                else _TOOL_CHOICE_TO_OPENAI.get(kind, kind)
            )
        else:
            raise RenderError(key, f"parameter {key!r} has no openai-responses form")
    return Request(fmt, tuple(messages), (), tuple(tools), params, None, {})


_TO_HUB: dict[str, Callable[[Request], Request]] = {
    "bedrock": _bedrock_to_hub,
    "openai-chat": _chat_to_hub,
    "openai-responses": _responses_to_hub,
    "anthropic": lambda r: r,
}
_FROM_HUB: dict[str, Callable[[Request], Request]] = {
    "bedrock": _from_hub_bedrock,
    "openai-chat": _from_hub_chat,
    "openai-responses": _from_hub_responses,
    "anthropic": lambda r: r,
}
