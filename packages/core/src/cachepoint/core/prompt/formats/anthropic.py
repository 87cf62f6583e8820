"""Anthropic Messages API payloads (also Bedrock ``InvokeModel`` bodies for Claude, and Vertex).

Markers are ``cache_control: {"type": "ephemeral", "ttl"?: "5m" | "1h"}`` on tools, system text blocks and
message content blocks; a top-level ``cache_control`` turns on automatic caching (one breakpoint on the last
cacheable block). Thinking, redacted thinking and empty text blocks cannot carry one (Anthropic docs, "What can
be cached"); string ``system`` / message ``content`` become a one-block list only where a marker lands.
Block types and which of them take ``cache_control`` follow the ``anthropic`` SDK's ``*_block_param`` types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cachepoint.core.prompt.errors import RequestFormatError
from cachepoint.core.prompt.formats.base import (
    Content,
    Dialect,
    Media,
    check_role,
    dumps,
    expect_list,
    expect_mapping,
    expect_str,
    is_mapping,
    reorder,
)
from cachepoint.core.prompt.model import Block, CacheMarker, Locator, Message, Request, Tool, new_block, new_message
from cachepoint.core.providers import ModelInfo

__all__ = ["CACHEABLE_TYPES", "MESSAGE_BLOCK_TYPES", "AnthropicDialect"]

_KINDS = {
    "text": "text",
    "image": "image",
    "document": "document",
    "tool_use": "tool_use",
    "tool_result": "tool_result",
    "thinking": "thinking",
    "redacted_thinking": "redacted_thinking",
}
#: Content block types a message may hold (SDK ``ContentBlockParam`` plus beta blocks), and which take a marker.
MESSAGE_BLOCK_TYPES = frozenset(
    {
        "text",
        "image",
        "document",
        "search_result",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "tool_result",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "container_upload",
        "tool_reference",
        "mcp_tool_use",
        "mcp_tool_result",
        "compaction",
        "advisor_tool_result",
        "tool_addition",
        "tool_removal",
        "fallback",
    }
)
CACHEABLE_TYPES = MESSAGE_BLOCK_TYPES - {"thinking", "redacted_thinking", "fallback"}
_ROLES = ("user", "assistant", "system")
_MARKER = "cache_control"


def parse_marker(value: Any, path: str) -> CacheMarker:
    """A `CacheMarker` from an Anthropic ``cache_control`` object."""
    marker = expect_mapping(value, path, "a cache_control object")
    if marker.get("type") != "ephemeral":
        raise RequestFormatError(f"{path}.type", f"expected 'ephemeral', got {marker.get('type')!r}")
    ttl = marker.get("ttl")
    if ttl is not None and not isinstance(ttl, str):
        raise RequestFormatError(f"{path}.ttl", f"expected a string such as '5m' or '1h', got {ttl!r}")
    return CacheMarker(ttl, raw=dict(marker))


def render_marker(marker: CacheMarker) -> dict[str, Any]:
    """The ``cache_control`` object for ``marker``."""
    if marker.raw is not None and marker.raw.get("type") == "ephemeral" and marker.raw.get("ttl") == marker.ttl:
        return dict(marker.raw)
    out: dict[str, Any] = {"type": "ephemeral"}
    if marker.ttl is not None:
        out["ttl"] = marker.ttl
    return out


def _split_marker(item: Mapping[str, Any], path: str) -> tuple[dict[str, Any], CacheMarker | None]:
    data = dict(item)
    value = data.get(_MARKER)
    if is_mapping(value):
        del data[_MARKER]
        return data, parse_marker(value, f"{path}.{_MARKER}")
    return data, None


def _nested_markers(data: Mapping[str, Any]) -> int:
    inner = data.get("content")
    if not isinstance(inner, list):
        return 0
    return sum(1 for item in inner if is_mapping(item) and is_mapping(item.get(_MARKER)))


def _with_marker(data: Mapping[str, Any], marker: CacheMarker | None) -> dict[str, Any]:
    out = dict(data)
    if marker is not None:
        out[_MARKER] = render_marker(marker)
    return out


def _media_text(inner: Any) -> Content:
    """Text and media inside a tool result / search result ``content``."""
    if isinstance(inner, str):
        return Content(text=inner)
    texts: list[str] = []
    media: list[Media] = []
    if isinstance(inner, list):
        for item in inner:
            if not is_mapping(item):
                continue
            kind = item.get("type")
            if kind == "text":
                texts.append(str(item.get("text", "")))
            elif kind == "image":
                media.append(_image_media(item))
            elif kind == "document":
                doc = _document(item)
                texts.append(doc.text)
                media.extend(doc.media)
            else:
                texts.append(dumps(item).decode())
    return Content(text="\n".join(texts), media=tuple(media))


def _image_media(item: Mapping[str, Any]) -> Media:
    source = item.get("source")
    if is_mapping(source) and source.get("type") == "base64":
        return Media("image", source.get("data"), source.get("media_type"))
    return Media("image")


def _document(item: Mapping[str, Any]) -> Content:
    source = item.get("source")
    title = str(item.get("title") or "")
    context = str(item.get("context") or "")
    prefix = "\n".join(part for part in (title, context) if part)
    if is_mapping(source):
        kind = source.get("type")
        if kind == "text":
            return Content(text="\n".join(part for part in (prefix, str(source.get("data", ""))) if part))
        if kind == "content":
            inner = _media_text(source.get("content"))
            return Content(text="\n".join(p for p in (prefix, inner.text) if p), media=inner.media)
        if kind == "base64":
            media = Media("document", source.get("data"), source.get("media_type", "application/pdf"))
            return Content(text=prefix, media=(media,))
    return Content(text=prefix, media=(Media("document"),))


class AnthropicDialect(Dialect):
    """Anthropic Messages API (``client.messages.create(**payload)``)."""

    name = "anthropic"
    collapses_tool_runs = True
    messages_key = "messages"

    def detect_payload(self, payload: Mapping[str, Any]) -> int:
        score = 0
        if "anthropic_version" in payload or "cache_control" in payload:
            score += 60
        if "system" in payload:
            score += 40
        if "max_tokens" in payload:
            score += 10
        return score

    def detect_message(self, message: Any) -> int:
        score = 0
        content = message.get("content") if is_mapping(message) else None
        if isinstance(content, list):
            for item in content:
                kind = item.get("type") if is_mapping(item) else None
                if isinstance(kind, str) and kind in MESSAGE_BLOCK_TYPES:  # (a list or an object is no type)
                    score += 30 if kind in ("tool_use", "tool_result", "thinking", "image") else 5
                    if "cache_control" in item:
                        score += 40
        return score

    # --- parsing ---

    def parse(self, payload: Mapping[str, Any], *, lenient: bool = False) -> Request:
        payload = expect_mapping(payload, "", "a JSON object (the request body)")
        if "messages" not in payload:
            raise RequestFormatError("messages", "required: the list of conversation turns")
        params = {k: v for k, v in payload.items() if k not in ("messages", "system", "tools", _MARKER)}
        layout: dict[str, Any] = {"keys": tuple(payload)}

        tools: list[Tool] = []
        if "tools" in payload:
            for i, item in enumerate(expect_list(payload["tools"], "tools")):
                path = f"tools[{i}]"
                data, marker = _split_marker(expect_mapping(item, path, "a tool definition object"), path)
                tools.append(Tool(data, self.name, marker))

        system: list[Block] = []
        layout["system_form"] = "absent"
        if "system" in payload:
            value = payload["system"]
            if isinstance(value, str):
                layout["system_form"] = "string"
                system.append(Block("text", {"type": "text", "text": value}, self.name))
            elif value is None:
                layout["system_form"] = "null"
            else:
                layout["system_form"] = "list"
                for i, raw in enumerate(expect_list(value, "system", "a string or a list of text blocks")):
                    path = f"system[{i}]"
                    item = expect_mapping(raw, path, "a text block object")
                    if item.get("type") != "text":
                        raise RequestFormatError(
                            f"{path}.type", f"system blocks must be 'text', got {item.get('type')!r}"
                        )
                    expect_str(item.get("text"), f"{path}.text")
                    data, marker = _split_marker(item, path)
                    system.append(Block("text", data, self.name, marker))

        automatic = None
        if is_mapping(payload.get(_MARKER)):
            automatic = parse_marker(payload[_MARKER], _MARKER)
        elif _MARKER in payload:
            params[_MARKER] = payload[_MARKER]

        messages = [
            self.parse_message(item, f"messages[{i}]", lenient=lenient)
            for i, item in enumerate(expect_list(payload["messages"], "messages"))
        ]
        return Request(
            format=self.name,
            messages=tuple(messages),
            system=tuple(system),
            tools=tuple(tools),
            params=params,
            automatic=automatic,
            layout=layout,
        )

    def parse_message(self, raw: Any, path: str, *, lenient: bool = False) -> Message:
        item = expect_mapping(raw, path, "a message object with 'role' and 'content'")
        role = check_role(item.get("role"), path, _ROLES)
        if "content" not in item:
            raise RequestFormatError(f"{path}.content", "required: a string or a list of content blocks")
        content = item["content"]
        extra = {k: v for k, v in item.items() if k not in ("role", "content")}
        keys = tuple(item)
        if isinstance(content, str):
            block = new_block("text", {"type": "text", "text": content}, self.name)
            return new_message(role, (block,), "string", extra, self.name, keys)
        blocks = []
        for j, part in enumerate(expect_list(content, f"{path}.content", "a string or a list of content blocks")):
            blocks.append(self._parse_block(part, f"{path}.content[{j}]", role, lenient))
        return new_message(role, tuple(blocks), "list", extra, self.name, keys)

    def _parse_block(self, raw: Any, path: str, role: str, lenient: bool) -> Block:
        item = expect_mapping(raw, path, "a content block object")
        kind = item.get("type")
        if not isinstance(kind, str):
            raise RequestFormatError(f"{path}.type", f"expected a block type string, got {kind!r}")
        allowed = ("text",) if role == "system" else MESSAGE_BLOCK_TYPES
        if kind not in allowed and not lenient:
            if kind in MESSAGE_BLOCK_TYPES:
                raise RequestFormatError(path, f"system messages hold only text blocks, got {kind!r}")
            raise RequestFormatError(path, f"unknown block type {kind!r}")
        if kind == "text":
            expect_str(item.get("text"), f"{path}.text")
        elif kind == "tool_use":
            expect_str(item.get("id"), f"{path}.id")
            expect_str(item.get("name"), f"{path}.name")
            expect_mapping(item.get("input"), f"{path}.input", "an object")
        elif kind == "tool_result":
            expect_str(item.get("tool_use_id"), f"{path}.tool_use_id")
        data, marker = _split_marker(item, path)
        return new_block(_KINDS.get(kind, "other"), data, self.name, marker, _nested_markers(data))

    # --- rendering ---

    def render(self, request: Request) -> dict[str, Any]:
        out: dict[str, Any] = dict(request.params)
        if request.tools or "tools" in request.layout.get("keys", ()):
            out["tools"] = [_with_marker(tool.data, tool.cache) for tool in request.tools]
        form = request.layout.get("system_form", "list" if request.system else "absent")
        if request.system:
            first = request.system[0]
            if form == "string" and len(request.system) == 1 and first.cache is None and _plain_text(first.data):
                out["system"] = first.data["text"]
            else:
                out["system"] = [_with_marker(b.data, b.cache) for b in request.system]
        elif form == "null":
            out["system"] = None
        elif form in ("list", "string"):
            out["system"] = [] if form == "list" else ""
        out["messages"] = [self._render_message(m) for m in request.messages]
        if request.automatic is not None:
            out[_MARKER] = render_marker(request.automatic)
        return reorder(out, request.layout.get("keys", ()))

    def _render_message(self, message: Message) -> dict[str, Any]:
        blocks = message.blocks
        content: Any
        if message.form == "string" and len(blocks) == 1 and blocks[0].cache is None and _plain_text(blocks[0].data):
            content = blocks[0].data["text"]
        else:
            content = [_with_marker(b.data, b.cache) for b in blocks]
        out = {"role": message.role, "content": content, **message.extra}
        return reorder(out, message.keys)

    # --- questions about blocks ---

    def describe(self, block: Block) -> Content:  # noqa: PLR0911 - one return per type
        data = block.data
        kind = data.get("type")
        if kind == "text":
            return Content(text=str(data.get("text", "")))
        if kind == "image":
            return Content(media=(_image_media(data),))
        if kind == "document":
            return _document(data)
        if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
            return Content(text=f"{data.get('name', '')} {dumps(data.get('input', {})).decode()}")
        if kind in ("tool_result", "mcp_tool_result"):
            return _media_text(data.get("content", ""))
        if kind == "search_result":
            inner = _media_text(data.get("content", []))
            return Content(text="\n".join(str(data.get(k, "")) for k in ("title", "source")) + "\n" + inner.text)
        if kind == "thinking":
            return Content(text=str(data.get("thinking", "")))
        if kind == "redacted_thinking":
            # Encrypted reasoning: its size in tokens is unknown; base64 carries ~3 bytes per 4 chars, ~4 bytes/token.
            return Content(extra_tokens=len(str(data.get("data", ""))) * 3 // 16)
        return super().describe(block)

    def ineligible(self, request: Request, locator: Locator, info: ModelInfo | None) -> str | None:
        if locator.section == "tools":
            return None
        block = request.get(locator)
        assert isinstance(block, Block)
        kind = block.data.get("type")
        if kind in ("thinking", "redacted_thinking"):
            return "thinking blocks cannot carry cache_control (they are cached as part of the turn they sit in)"
        if kind == "text" and not block.data.get("text"):
            return "empty text blocks cannot be cached"
        if kind not in CACHEABLE_TYPES:
            return f"block type {kind!r} takes no cache_control"
        return None

    def path(self, request: Request, locator: Locator) -> str:
        if locator.section == "system":
            plain = request.layout.get("system_form") == "string" and request.system[0].cache is None
            return "system" if plain else f"system[{locator.index}]"
        if locator.section == "messages":
            assert locator.message is not None
            message = request.messages[locator.message]
            if message.form == "string" and message.blocks[0].cache is None:
                return f"messages[{locator.message}].content"
        return super().path(request, locator)

    def level_salt(self, request: Request) -> Mapping[str, Any]:
        # Anthropic: changing tool_choice or the thinking parameters invalidates the messages level.
        return {key: request.params[key] for key in ("tool_choice", "thinking") if key in request.params}

    def marker_count(self, request: Request) -> int:
        nested = sum(b.nested_markers for m in request.messages for b in m.blocks)
        return nested + (1 if request.automatic is not None else 0)


def _plain_text(data: Mapping[str, Any]) -> bool:
    return set(data) == {"type", "text"} and data.get("type") == "text" and isinstance(data.get("text"), str)
