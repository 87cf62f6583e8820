"""OpenAI Chat Completions payloads (``client.chat.completions.create(**payload)``), and the same shape as
OpenRouter and LiteLLM take it.

OpenAI caches prefixes automatically; GPT-5.6 and later also take explicit markers,
``prompt_cache_breakpoint: {"mode": "explicit", "ttl"?: "30m" | "12h"}``, on the content parts ``text``,
``image_url``, ``input_audio`` and ``file`` (openai SDK ``chat_completion_content_part_*_param``; not on
``refusal`` parts, tool calls or tool definitions). OpenRouter and LiteLLM read Anthropic-style
``cache_control`` on the same parts instead (the ``cache_control`` marker style). Tool calls of an assistant
message are blocks of kind ``tool_use``; leading ``system`` / ``developer`` messages form the system layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from cachepoint.core.prompt.errors import RequestFormatError
from cachepoint.core.prompt.formats import anthropic as anthropic_format
from cachepoint.core.prompt.formats.base import (
    Content,
    Dialect,
    Media,
    check_role,
    data_url_media,
    expect_list,
    expect_mapping,
    expect_str,
    is_mapping,
    reorder,
)
from cachepoint.core.prompt.model import Block, CacheMarker, Locator, Message, Request, Tool
from cachepoint.core.providers import ModelInfo

__all__ = ["BREAKPOINT", "MARKABLE_PARTS", "OpenAIChatDialect", "parse_breakpoint", "render_breakpoint"]

BREAKPOINT = "prompt_cache_breakpoint"
_CACHE_CONTROL = "cache_control"
_PARTS = {"text": "text", "image_url": "image", "input_audio": "other", "file": "document", "refusal": "text"}
#: Content parts that may carry ``prompt_cache_breakpoint`` (openai SDK types).
MARKABLE_PARTS = frozenset({"text", "image_url", "input_audio", "file"})
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def parse_breakpoint(value: Any, path: str) -> CacheMarker:
    """A `CacheMarker` from a ``prompt_cache_breakpoint`` object."""
    marker = expect_mapping(value, path, "a prompt_cache_breakpoint object")
    if marker.get("mode") != "explicit":
        raise RequestFormatError(f"{path}.mode", f"expected 'explicit', got {marker.get('mode')!r}")
    ttl = marker.get("ttl")
    if ttl is not None and not isinstance(ttl, str):
        raise RequestFormatError(f"{path}.ttl", f"expected '30m' or '12h', got {ttl!r}")
    return CacheMarker(ttl, raw=dict(marker), style=BREAKPOINT)


def render_breakpoint(marker: CacheMarker) -> dict[str, Any]:
    """The ``prompt_cache_breakpoint`` object for ``marker``."""
    if marker.raw is not None and marker.style == BREAKPOINT and marker.raw.get("ttl") == marker.ttl:
        return dict(marker.raw)
    out: dict[str, Any] = {"mode": "explicit"}
    if marker.ttl is not None:
        out["ttl"] = marker.ttl
    return out


def split_part_marker(item: Mapping[str, Any], path: str) -> tuple[dict[str, Any], CacheMarker | None]:
    """A content part without its marker, and the marker (either style)."""
    data = dict(item)
    if is_mapping(data.get(BREAKPOINT)):
        return data, parse_breakpoint(data.pop(BREAKPOINT), f"{path}.{BREAKPOINT}")
    if is_mapping(data.get(_CACHE_CONTROL)):
        marker = anthropic_format.parse_marker(data.pop(_CACHE_CONTROL), f"{path}.{_CACHE_CONTROL}")
        return data, CacheMarker(marker.ttl, raw=marker.raw, style=_CACHE_CONTROL)
    return data, None


def part_with_marker(data: Mapping[str, Any], marker: CacheMarker | None, style: str) -> dict[str, Any]:
    """A content part carrying ``marker`` in its own style, or in ``style`` for a new marker."""
    out = dict(data)
    if marker is None:
        return out
    if (marker.style or style) == _CACHE_CONTROL:
        out[_CACHE_CONTROL] = anthropic_format.render_marker(marker)
    else:
        out[BREAKPOINT] = render_breakpoint(marker)
    return out


def _part_content(data: Mapping[str, Any]) -> Content:
    kind = data.get("type")
    if kind == "text":
        return Content(text=str(data.get("text", "")))
    if kind == "refusal":
        return Content(text=str(data.get("refusal", "")))
    if kind == "image_url":
        image = data.get("image_url")
        url = image.get("url") if is_mapping(image) else None
        media_type, b64 = data_url_media(url) if isinstance(url, str) else (None, None)
        return Content(media=(Media("image", b64, media_type),))
    if kind == "file":
        file = data.get("file")
        raw = file.get("file_data") if is_mapping(file) else None
        media_type, b64 = data_url_media(raw) if isinstance(raw, str) else (None, None)
        return Content(media=(Media("document", b64 if b64 is not None else raw, media_type or "application/pdf"),))
    return Content(media=(Media("other"),))


class OpenAIChatDialect(Dialect):
    """OpenAI Chat Completions (also OpenRouter, LiteLLM, vLLM and other OpenAI-compatible servers)."""

    name = "openai-chat"
    system_messages_are_system_layer = True
    #: Marker style for new markers: ``prompt_cache_breakpoint`` (OpenAI) or ``cache_control`` (OpenRouter/LiteLLM).
    marker_style = BREAKPOINT

    messages_key = "messages"

    def detect_payload(self, payload: Mapping[str, Any]) -> int:
        score = 0
        for key in ("max_completion_tokens", "response_format", "prompt_cache_key", "prompt_cache_options", "n"):
            if key in payload:
                score += 40
        tools = payload.get("tools")
        if isinstance(tools, list) and any(is_mapping(t) and "function" in t for t in tools):
            score += 60
        return score

    def detect_message(self, message: Any) -> int:
        if not is_mapping(message):
            return 0
        score = 0
        if message.get("role") in ("system", "developer", "tool", "function"):
            score += 40
        if "tool_calls" in message or "tool_call_id" in message:
            score += 60
        content = message.get("content")
        if isinstance(content, list):
            for item in content:
                if is_mapping(item) and item.get("type") in ("image_url", "input_audio", "file"):
                    score += 60
                if is_mapping(item) and BREAKPOINT in item:
                    score += 60
        return score

    def parse(self, payload: Mapping[str, Any], *, lenient: bool = False) -> Request:
        payload = expect_mapping(payload, "", "a JSON object (the request body)")
        if "messages" not in payload:
            raise RequestFormatError("messages", "required: the list of conversation messages")
        params = {k: v for k, v in payload.items() if k not in ("messages", "tools")}
        layout: dict[str, Any] = {"keys": tuple(payload)}
        tools = []
        if "tools" in payload:
            for i, item in enumerate(expect_list(payload["tools"], "tools")):
                tools.append(Tool(dict(expect_mapping(item, f"tools[{i}]", "a tool object")), self.name))
        messages = [
            self.parse_message(item, f"messages[{i}]", lenient=lenient)
            for i, item in enumerate(expect_list(payload["messages"], "messages"))
        ]
        return Request(format=self.name, messages=tuple(messages), tools=tuple(tools), params=params, layout=layout)

    def parse_message(self, raw: Any, path: str, *, lenient: bool = False) -> Message:
        item = expect_mapping(raw, path, "a message object with 'role'")
        role = check_role(item.get("role"), path, _ROLES)
        extra = {k: v for k, v in item.items() if k not in ("role", "content", "tool_calls")}
        blocks: list[Block] = []
        content = item.get("content")
        if "content" not in item:
            form = "absent"
        elif content is None:
            form = "none"
        elif isinstance(content, str):
            form = "string"
            blocks.append(Block("text", {"type": "text", "text": content}, self.name))
        else:
            form = "list"
            for j, raw_part in enumerate(
                expect_list(content, f"{path}.content", "a string or a list of content parts")
            ):
                part_path = f"{path}.content[{j}]"
                part = expect_mapping(raw_part, part_path, "a content part object")
                kind = part.get("type")
                if kind not in _PARTS and not lenient:
                    raise RequestFormatError(part_path, f"unknown content part type {kind!r}")
                if kind == "text":
                    expect_str(part.get("text"), f"{part_path}.text")
                data, marker = split_part_marker(part, part_path)
                blocks.append(Block(_PARTS.get(str(kind), "other"), data, self.name, marker))
        if "tool_calls" in item:
            calls = item["tool_calls"]
            if calls is None:
                extra["tool_calls"] = None
            else:
                for j, raw_call in enumerate(expect_list(calls, f"{path}.tool_calls")):
                    call = expect_mapping(raw_call, f"{path}.tool_calls[{j}]", "a tool call object")
                    blocks.append(Block("tool_use", dict(call), self.name))
        return Message(role, tuple(blocks), form, extra, self.name, tuple(item))

    def render(self, request: Request) -> dict[str, Any]:
        out: dict[str, Any] = dict(request.params)
        if request.tools or "tools" in request.layout.get("keys", ()):
            out["tools"] = [dict(t.data) for t in request.tools]
        style = request.layout.get("marker_style", self.marker_style)
        out["messages"] = [self._render_message(m, style) for m in request.messages]
        return reorder(out, request.layout.get("keys", ()))

    def _render_message(self, message: Message, style: str) -> dict[str, Any]:
        parts = [b for b in message.blocks if b.kind != "tool_use"]
        calls = [b for b in message.blocks if b.kind == "tool_use"]
        out: dict[str, Any] = {"role": message.role}
        form = message.form
        if form == "string" and len(parts) == 1 and parts[0].cache is None and _plain_text(parts[0].data):
            out["content"] = parts[0].data["text"]
        elif parts or form in ("list", "string"):
            out["content"] = [part_with_marker(p.data, p.cache, style) for p in parts]
        elif form == "none":
            out["content"] = None
        if calls:
            out["tool_calls"] = [dict(c.data) for c in calls]
        out.update(message.extra)
        return reorder(out, message.keys)

    def describe(self, block: Block) -> Content:
        if block.kind == "tool_use":
            function = block.data.get("function")
            if is_mapping(function):
                return Content(text=f"{function.get('name', '')} {function.get('arguments', '')}")
            return super().describe(block)
        return _part_content(block.data)

    def tool_name(self, tool: Tool) -> str:
        function = tool.data.get("function")
        if is_mapping(function) and isinstance(function.get("name"), str):
            return str(function["name"])
        return super().tool_name(tool)

    def ineligible(self, request: Request, locator: Locator, info: ModelInfo | None) -> str | None:
        if locator.section == "tools":
            return "OpenAI takes no cache marker on tool definitions (they are part of the cached prefix)"
        block = request.get(locator)
        assert isinstance(block, Block)
        kind = block.data.get("type") if block.kind != "tool_use" else "tool_calls"
        if kind not in MARKABLE_PARTS:
            return f"{kind!r} takes no prompt_cache_breakpoint (only text, image_url, input_audio and file parts)"
        if kind == "text" and not block.data.get("text"):
            return "empty text parts cannot be cached"
        return None

    def effective_info(self, info: ModelInfo) -> ModelInfo:
        # Chat Completions takes only "30m" (openai SDK: chat PromptCacheOptions.ttl is Literal["30m"]); "12h" is
        # a Responses API lifetime.
        if info.provider == "openai" and "12h" in info.ttls:
            ttls = tuple(t for t in info.ttls if t != "12h") or info.ttls
            return replace(info, ttls=ttls)
        return info

    def path(self, request: Request, locator: Locator) -> str:
        if locator.section == "tools":
            return f"tools[{locator.index}]"
        assert locator.message is not None
        message = request.messages[locator.message]
        block = message.blocks[locator.index]
        if block.kind == "tool_use":
            call = sum(1 for b in message.blocks[: locator.index] if b.kind == "tool_use")
            return f"messages[{locator.message}].tool_calls[{call}]"
        if message.form == "string" and block.cache is None:
            return f"messages[{locator.message}].content"
        return f"messages[{locator.message}].content[{locator.index}]"


def _plain_text(data: Mapping[str, Any]) -> bool:
    return set(data) == {"type", "text"} and data.get("type") == "text" and isinstance(data.get("text"), str)
