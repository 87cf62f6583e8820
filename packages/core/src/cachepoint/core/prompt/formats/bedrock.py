"""Amazon Bedrock Converse / ConverseStream payloads (``client.converse(**payload)``).

Markers are separate ``{"cachePoint": {"type": "default", "ttl"?: "5m" | "1h"}}`` blocks placed *after* the
content they close, in ``system``, in message ``content`` and in ``toolConfig.tools``; never inside a tool
result (``ToolResultContentBlock`` has no ``cachePoint`` member in botocore's service model). Parsing attaches
each ``cachePoint`` to the block before it, so positions are content blocks and the marker renders back right
after its block. Amazon Nova models do not cache tool definitions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from cachepoint.core.prompt.model import Block, CacheMarker, Locator, Message, Request, Tool
from cachepoint.core.providers import ModelInfo

__all__ = ["BedrockDialect"]

# botocore bedrock-runtime 2023-09-30: members of the ContentBlock / SystemContentBlock / Tool unions.
_CONTENT_MEMBERS = {
    "text": "text",
    "image": "image",
    "document": "document",
    "video": "other",
    "audio": "other",
    "toolUse": "tool_use",
    "toolResult": "tool_result",
    "guardContent": "other",
    "reasoningContent": "thinking",
    "citationsContent": "other",
    "searchResult": "other",
    "toolAddition": "other",
    "toolRemoval": "other",
}
_SYSTEM_MEMBERS = {"text": "text", "guardContent": "other"}
_TOOL_MEMBERS = ("toolSpec", "systemTool")
_CACHE_POINT = "cachePoint"
_ROLES = ("user", "assistant", "system")


def parse_marker(value: Any, path: str) -> CacheMarker:
    """A `CacheMarker` from a ``cachePoint`` object."""
    marker = expect_mapping(value, path, "a cachePoint object")
    if marker.get("type") != "default":
        raise RequestFormatError(f"{path}.type", f"expected 'default', got {marker.get('type')!r}")
    ttl = marker.get("ttl")
    if ttl is not None and not isinstance(ttl, str):
        raise RequestFormatError(f"{path}.ttl", f"expected '5m' or '1h', got {ttl!r}")
    return CacheMarker(ttl, raw=dict(marker))


def render_marker(marker: CacheMarker) -> dict[str, Any]:
    """The ``{"cachePoint": {...}}`` block for ``marker``."""
    if marker.raw is not None and marker.raw.get("type") == "default" and marker.raw.get("ttl") == marker.ttl:
        return {_CACHE_POINT: dict(marker.raw)}
    inner: dict[str, Any] = {"type": "default"}
    if marker.ttl is not None:
        inner["ttl"] = marker.ttl
    return {_CACHE_POINT: inner}


def _member(item: Mapping[str, Any], path: str, members: Sequence[str], lenient: bool) -> str:
    keys = [k for k in item if item[k] is not None]
    if len(keys) != 1:
        expected = ", ".join(repr(m) for m in members)
        raise RequestFormatError(path, f"expected exactly one of {expected}, got {sorted(keys) or 'none'}")
    key = keys[0]
    if key not in members and key != _CACHE_POINT and not lenient:
        raise RequestFormatError(path, f"unknown block type {key!r}")
    return key


def _parse_list(
    items: Sequence[Any], path: str, members: Mapping[str, str] | Sequence[str], lenient: bool, what: str
) -> list[tuple[str, dict[str, Any], CacheMarker | None]]:
    """(member, object, marker) per item; each cachePoint becomes the marker of the item before it."""
    out: list[tuple[str, dict[str, Any], CacheMarker | None]] = []
    for i, raw in enumerate(items):
        item_path = f"{path}[{i}]"
        item = expect_mapping(raw, item_path, what)
        key = _member(item, item_path, list(members), lenient)
        if key == _CACHE_POINT:
            marker = parse_marker(item[key], f"{item_path}.{_CACHE_POINT}")
            if not out:
                raise RequestFormatError(item_path, "a cachePoint must follow the content it caches, not open a list")
            if out[-1][2] is not None:
                raise RequestFormatError(item_path, "a cachePoint must follow content, not another cachePoint")
            member, obj, _ = out[-1]
            out[-1] = (member, obj, marker)
            continue
        out.append((key, dict(item), None))
    return out


def _with_markers(items: Sequence[tuple[Mapping[str, Any], CacheMarker | None]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for data, marker in items:
        out.append(dict(data))
        if marker is not None:
            out.append(render_marker(marker))
    return out


def _source_media(kind: str, body: Mapping[str, Any]) -> Content:
    source = body.get("source")
    fmt = body.get("format")
    if kind == "image":
        media_type = f"image/{'jpeg' if fmt == 'jpg' else fmt}" if isinstance(fmt, str) else None
        data = source.get("bytes") if is_mapping(source) else None
        return Content(media=(Media("image", data, media_type),))
    name = str(body.get("name", ""))
    if is_mapping(source):
        if isinstance(source.get("text"), str):
            return Content(text=f"{name}\n{source['text']}")
        if isinstance(source.get("content"), list):
            texts = [str(part.get("text", "")) for part in source["content"] if is_mapping(part)]
            return Content(text="\n".join([name, *texts]))
        if "bytes" in source and fmt in ("pdf", None):
            return Content(text=name, media=(Media("document", source.get("bytes"), "application/pdf"),))
        if "bytes" in source:
            raw = source.get("bytes")
            body_text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
            return Content(text=f"{name}\n{body_text}")
    return Content(text=name, media=(Media("document"),))


class BedrockDialect(Dialect):
    """Amazon Bedrock Converse API."""

    name = "bedrock"
    collapses_tool_runs = True

    messages_key = "messages"

    def detect_payload(self, payload: Mapping[str, Any]) -> int:
        score = 0
        for key in ("modelId", "toolConfig", "inferenceConfig", "additionalModelRequestFields", "guardrailConfig"):
            if key in payload:
                score += 60
        system = payload.get("system")
        if isinstance(system, list) and any(is_mapping(s) and "type" not in s for s in system):
            score += 40
        return score

    def detect_message(self, message: Any) -> int:
        score = 0
        content = message.get("content") if is_mapping(message) else None
        if isinstance(content, list):
            for item in content:
                if is_mapping(item) and "type" not in item and set(item) & set(_CONTENT_MEMBERS):
                    score += 40
                if is_mapping(item) and _CACHE_POINT in item:
                    score += 60
        return score

    def parse(self, payload: Mapping[str, Any], *, lenient: bool = False) -> Request:
        payload = expect_mapping(payload, "", "a JSON object (the request body)")
        if "messages" not in payload:
            raise RequestFormatError("messages", "required: the list of conversation turns")
        params = {k: v for k, v in payload.items() if k not in ("messages", "system", "toolConfig")}
        layout: dict[str, Any] = {"keys": tuple(payload)}

        tools: list[Tool] = []
        if "toolConfig" in payload:
            config = expect_mapping(payload["toolConfig"], "toolConfig", "an object with 'tools'")
            layout["tool_config"] = {k: v for k, v in config.items() if k != "tools"}
            layout["tool_config_keys"] = tuple(config)
            if "tools" not in config:
                raise RequestFormatError("toolConfig.tools", "required: the list of tool definitions")
            items = _parse_list(
                expect_list(config["tools"], "toolConfig.tools"),
                "toolConfig.tools",
                _TOOL_MEMBERS,
                lenient,
                "a tool object ({'toolSpec': ...})",
            )
            tools = [Tool(obj, self.name, marker) for _, obj, marker in items]

        system: list[Block] = []
        if "system" in payload:
            items = _parse_list(
                expect_list(payload["system"], "system", "a list of system content blocks"),
                "system",
                _SYSTEM_MEMBERS,
                lenient,
                "a system content block ({'text': ...})",
            )
            for i, (key, obj, marker) in enumerate(items):
                if key == "text":
                    expect_str(obj["text"], f"system[{i}].text")
                system.append(Block(_SYSTEM_MEMBERS.get(key, "other"), obj, self.name, marker))
            layout["system_present"] = True

        messages = [
            self.parse_message(raw, f"messages[{i}]", lenient=lenient)
            for i, raw in enumerate(expect_list(payload["messages"], "messages"))
        ]
        return Request(
            format=self.name,
            messages=tuple(messages),
            system=tuple(system),
            tools=tuple(tools),
            params=params,
            layout=layout,
        )

    def parse_message(self, raw: Any, path: str, *, lenient: bool = False) -> Message:
        item = expect_mapping(raw, path, "a message object with 'role' and 'content'")
        role = check_role(item.get("role"), path, _ROLES)
        if "content" not in item:
            raise RequestFormatError(f"{path}.content", "required: a list of content blocks")
        content = expect_list(item["content"], f"{path}.content", "a list of content blocks")
        blocks = []
        for key, obj, marker in _parse_list(content, f"{path}.content", _CONTENT_MEMBERS, lenient, "a block"):
            kind = _CONTENT_MEMBERS.get(key, "other")
            if key == "reasoningContent":
                inner = obj[key]
                kind = "redacted_thinking" if is_mapping(inner) and "redactedContent" in inner else kind
            blocks.append(Block(kind, obj, self.name, marker))
        extra = {k: v for k, v in item.items() if k not in ("role", "content")}
        return Message(role, tuple(blocks), "list", extra, self.name, tuple(item))

    def render(self, request: Request) -> dict[str, Any]:
        out: dict[str, Any] = dict(request.params)
        out["messages"] = [
            reorder(
                {
                    "role": m.role,
                    "content": _with_markers([(b.data, b.cache) for b in m.blocks]),
                    **m.extra,
                },
                m.keys,
            )
            for m in request.messages
        ]
        if request.system or request.layout.get("system_present"):
            out["system"] = _with_markers([(b.data, b.cache) for b in request.system])
        if request.tools or "tool_config" in request.layout:
            config = dict(request.layout.get("tool_config", {}))
            config["tools"] = _with_markers([(t.data, t.cache) for t in request.tools])
            out["toolConfig"] = reorder(config, request.layout.get("tool_config_keys", ("tools",)))
        return reorder(out, request.layout.get("keys", ()))

    def block_type(self, block: Block) -> str:
        return next(iter(block.data), block.kind)

    def tool_name(self, tool: Tool) -> str:
        spec = tool.data.get("toolSpec") or tool.data.get("systemTool")
        name = spec.get("name") if is_mapping(spec) else None
        return name if isinstance(name, str) else ""

    def describe(self, block: Block) -> Content:  # noqa: PLR0911, PLR0912 - one branch per block type
        key = self.block_type(block)
        body = block.data.get(key)
        if key == "text":
            return Content(text=str(body))
        if key in ("image", "document") and is_mapping(body):
            return _source_media(key, body)
        if key == "toolUse" and is_mapping(body):
            return Content(text=f"{body.get('name', '')} {dumps(body.get('input', {})).decode()}")
        if key == "toolResult" and is_mapping(body):
            texts: list[str] = []
            media: list[Media] = []
            for part in body.get("content") or []:
                if not is_mapping(part):
                    continue
                if "text" in part:
                    texts.append(str(part["text"]))
                elif "json" in part:
                    texts.append(dumps(part["json"]).decode())
                elif is_mapping(part.get("image")):
                    media.extend(_source_media("image", part["image"]).media)
                elif is_mapping(part.get("document")):
                    doc = _source_media("document", part["document"])
                    texts.append(doc.text)
                    media.extend(doc.media)
                else:
                    texts.append(dumps(part).decode())
            return Content(text="\n".join(texts), media=tuple(media))
        if key == "reasoningContent" and is_mapping(body):
            reasoning = body.get("reasoningText")
            if is_mapping(reasoning):
                return Content(text=str(reasoning.get("text", "")))
            redacted = body.get("redactedContent")
            size = len(redacted) if isinstance(redacted, (bytes, bytearray, str)) else 0
            return Content(extra_tokens=size // 4)
        if key in ("video", "audio"):
            return Content(media=(Media("other"),))
        return Content(text=dumps(body).decode())

    def ineligible(self, request: Request, locator: Locator, info: ModelInfo | None) -> str | None:
        if locator.section == "tools":
            if info is not None and "tools" not in info.cacheable:
                return f"{info.model} does not cache tool definitions"
            return None
        block = request.get(locator)
        assert isinstance(block, Block)
        if block.kind in ("thinking", "redacted_thinking"):
            return "reasoning blocks cannot be followed by a cachePoint"
        if self.block_type(block) == "text" and not block.data.get("text"):
            return "empty text blocks cannot be cached"
        if self.block_type(block) in ("toolAddition", "toolRemoval"):
            return f"{self.block_type(block)} blocks take no cachePoint"
        return None

    def path(self, request: Request, locator: Locator) -> str:
        # Indexes count the cachePoint blocks the rendered payload holds before this block.
        if locator.section == "tools":
            before = sum(1 for t in request.tools[: locator.index] if t.cache is not None)
            return f"toolConfig.tools[{locator.index + before}]"
        if locator.section == "system":
            before = sum(1 for b in request.system[: locator.index] if b.cache is not None)
            return f"system[{locator.index + before}]"
        assert locator.message is not None
        blocks = request.messages[locator.message].blocks
        before = sum(1 for b in blocks[: locator.index] if b.cache is not None)
        return f"messages[{locator.message}].content[{locator.index + before}]"

    def level_salt(self, request: Request) -> Mapping[str, Any]:
        salt: dict[str, Any] = {}
        config = request.layout.get("tool_config", {})
        if "toolChoice" in config:
            salt["toolChoice"] = config["toolChoice"]
        extra = request.params.get("additionalModelRequestFields")
        if is_mapping(extra) and "thinking" in extra:
            salt["thinking"] = extra["thinking"]
        return salt
