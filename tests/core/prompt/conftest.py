"""Helpers for the prompt tests, shared through fixtures.

- ``sdk``: strict validators built from the provider SDKs' own request types (anthropic and openai TypedDicts,
  checked key by key and value by value with pydantic; botocore's bedrock-runtime service model through
  ``ParamValidator``). Pydantic alone is too lenient on the anthropic union types (response models with extra
  fields allowed are union members), so each block is validated against the TypedDict its ``type`` selects, and
  unknown keys are errors.
- ``markers``: reads cache markers out of a payload directly (independently of cachepoint's parsers), in prefix
  order, and strips them for "differs only by markers" comparisons.
- ``gen``: hypothesis strategies that draw random valid payloads for each format.
"""

from __future__ import annotations

import base64
import copy
import functools
import struct
import typing
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import strategies as st

# --- strict validation against the SDK types ---------------------------------------------------------------


@functools.cache
def _hints(td: type) -> dict[str, Any]:
    return typing.get_type_hints(td, include_extras=True)


def _required(td: type) -> set[str]:
    out = set()
    for key, hint in _hints(td).items():
        origin = typing.get_origin(hint)
        if (origin is not None and getattr(origin, "__name__", "") == "Required") or str(hint).startswith(
            ("typing_extensions.Required", "typing.Required")
        ):
            out.add(key)
    return out


@functools.cache
def _adapter(td: type) -> Any:
    import pydantic

    return pydantic.TypeAdapter(td)


class InvalidPayloadError(AssertionError):
    pass


def strict(td: type, value: Any, path: str) -> None:
    """``value`` is exactly a ``td`` TypedDict: no unknown keys, required keys present, values of the right type."""
    if not isinstance(value, Mapping):
        raise InvalidPayloadError(f"{path}: expected an object for {td.__name__}, got {type(value).__name__}")
    known = set(_hints(td))
    extra = set(value) - known
    if extra:
        raise InvalidPayloadError(f"{path}: keys {sorted(extra)} are not in {td.__name__}")
    missing = _required(td) - set(value)
    if missing:
        raise InvalidPayloadError(f"{path}: {td.__name__} requires {sorted(missing)}")
    try:
        _adapter(td).validate_python(dict(value))
    except Exception as exc:  # pydantic.ValidationError
        raise InvalidPayloadError(f"{path}: not a valid {td.__name__}: {exc}") from exc


def _by_type(union: Any) -> dict[str, type]:
    table = {}
    for member in typing.get_args(union):
        hint = _hints(member).get("type")
        for arg in _flatten(hint):
            if isinstance(arg, str):
                table[arg] = member
    return table


def _flatten(hint: Any) -> list[Any]:
    out: list[Any] = []
    for arg in typing.get_args(hint):
        if typing.get_args(arg):
            out.extend(_flatten(arg))
        else:
            out.append(arg)
    return out


class SDK:
    """Validators for each provider's request body, built from the installed SDKs."""

    def __init__(self) -> None:
        from anthropic.types.content_block_param import ContentBlockParam
        from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
        from anthropic.types.text_block_param import TextBlockParam
        from anthropic.types.tool_param import ToolParam
        from anthropic.types.tool_result_block_param import Content as ToolResultContent
        from openai.types.chat import completion_create_params
        from openai.types.chat.chat_completion_content_part_param import ChatCompletionContentPartParam
        from openai.types.chat.chat_completion_message_param import ChatCompletionMessageParam
        from openai.types.chat.chat_completion_message_tool_call_param import ChatCompletionMessageToolCallParam
        from openai.types.chat.chat_completion_tool_param import ChatCompletionToolParam
        from openai.types.responses import response_create_params
        from openai.types.responses.easy_input_message_param import EasyInputMessageParam
        from openai.types.responses.function_tool_param import FunctionToolParam
        from openai.types.responses.response_input_item_param import ResponseInputItemParam
        from openai.types.responses.response_input_message_content_list_param import ResponseInputContentParam

        self.a_params = MessageCreateParamsNonStreaming
        self.a_blocks = _by_type(ContentBlockParam)
        self.a_text = TextBlockParam
        self.a_tool = ToolParam
        self.a_result_content = _by_type(ToolResultContent)
        self.c_params = completion_create_params.CompletionCreateParamsNonStreaming
        self.c_messages = {_flatten(_hints(m)["role"])[0]: m for m in typing.get_args(ChatCompletionMessageParam)}
        self.c_parts = _by_type(ChatCompletionContentPartParam)
        from openai.types.chat.chat_completion_content_part_refusal_param import (
            ChatCompletionContentPartRefusalParam,
        )

        self.c_parts["refusal"] = ChatCompletionContentPartRefusalParam
        self.c_tool_call = ChatCompletionMessageToolCallParam
        self.c_tool = ChatCompletionToolParam
        self.r_params = response_create_params.ResponseCreateParamsNonStreaming
        self.r_easy = EasyInputMessageParam
        self.r_items = _by_type(ResponseInputItemParam)
        self.r_parts = _by_type(ResponseInputContentParam)
        self.r_tool = FunctionToolParam
        import botocore.session
        from botocore.validate import ParamValidator

        session = botocore.session.get_session()
        model = session.get_service_model("bedrock-runtime")
        self._converse = model.operation_model("Converse").input_shape
        self._validator = ParamValidator()

    # anthropic

    def anthropic(self, payload: Mapping[str, Any]) -> None:
        """Raise `InvalidPayloadError` unless ``payload`` is a valid ``MessageCreateParams`` body."""
        top = {k: v for k, v in payload.items() if k not in ("messages", "system", "tools")}
        top["messages"] = []
        strict(self.a_params, top, "")
        system = payload.get("system")
        if isinstance(system, list):
            for i, block in enumerate(system):
                strict(self.a_text, block, f"system[{i}]")
        elif system is not None and not isinstance(system, str):
            raise InvalidPayloadError("system: expected a string or a list of text blocks")
        for i, tool in enumerate(payload.get("tools", [])):
            strict(self.a_tool, tool, f"tools[{i}]")
        for i, message in enumerate(payload["messages"]):
            if message.get("role") not in ("user", "assistant", "system") or set(message) != {"role", "content"}:
                raise InvalidPayloadError(f"messages[{i}]: bad message {sorted(message)}")
            content = message["content"]
            if isinstance(content, str):
                continue
            for j, block in enumerate(content):
                path = f"messages[{i}].content[{j}]"
                td = self.a_blocks.get(block.get("type"))
                if td is None:
                    raise InvalidPayloadError(f"{path}: unknown block type {block.get('type')!r}")
                strict(td, block, path)
                if block["type"] == "tool_result" and isinstance(block.get("content"), list):
                    for k, inner in enumerate(block["content"]):
                        strict(self.a_result_content[inner["type"]], inner, f"{path}.content[{k}]")

    # bedrock

    def bedrock(self, payload: Mapping[str, Any]) -> None:
        """Raise `InvalidPayloadError` unless botocore accepts ``payload`` as Converse input."""
        report = self._validator.validate(dict(payload), self._converse)
        if report.has_errors():
            raise InvalidPayloadError(report.generate_report())
        _check_enums(self._converse, payload, "")

    # openai chat

    def openai_chat(self, payload: Mapping[str, Any]) -> None:
        """Raise `InvalidPayloadError` unless ``payload`` is a valid chat ``CompletionCreateParams`` body."""
        top = {k: v for k, v in payload.items() if k not in ("messages", "tools")}
        top["messages"] = []
        strict(self.c_params, top, "")
        for i, tool in enumerate(payload.get("tools", [])):
            strict(self.c_tool, tool, f"tools[{i}]")
        for i, message in enumerate(payload["messages"]):
            td = self.c_messages.get(message.get("role"))
            if td is None:
                raise InvalidPayloadError(f"messages[{i}]: bad role {message.get('role')!r}")
            shallow = {k: v for k, v in message.items() if k not in ("content", "tool_calls")}
            if "content" in message:
                shallow["content"] = message["content"] if isinstance(message["content"], (str, type(None))) else []
            strict(td, shallow, f"messages[{i}]")
            if isinstance(message.get("content"), list):
                for j, part in enumerate(message["content"]):
                    part_td = self.c_parts.get(part.get("type"))
                    if part_td is None:
                        raise InvalidPayloadError(f"messages[{i}].content[{j}]: unknown part {part.get('type')!r}")
                    strict(part_td, part, f"messages[{i}].content[{j}]")
            for j, call in enumerate(message.get("tool_calls") or []):
                strict(self.c_tool_call, call, f"messages[{i}].tool_calls[{j}]")

    # openai responses

    def openai_responses(self, payload: Mapping[str, Any]) -> None:
        """Raise `InvalidPayloadError` unless ``payload`` is a valid ``ResponseCreateParams`` body."""
        top = {k: v for k, v in payload.items() if k not in ("input", "tools")}
        strict(self.r_params, top, "")
        for i, tool in enumerate(payload.get("tools", [])):
            strict(self.r_tool, tool, f"tools[{i}]")
        items = payload.get("input")
        if isinstance(items, str) or items is None:
            return
        for i, item in enumerate(items):
            path = f"input[{i}]"
            if "role" in item and item.get("type", "message") == "message":
                shallow = {k: v for k, v in item.items() if k != "content"}
                shallow["content"] = item["content"] if isinstance(item["content"], str) else []
                strict(self.r_easy, shallow, path)
                if isinstance(item["content"], list):
                    for j, part in enumerate(item["content"]):
                        strict(self.r_parts[part["type"]], part, f"{path}.content[{j}]")
                continue
            td = self.r_items.get(item.get("type"))
            if td is None:
                raise InvalidPayloadError(f"{path}: unknown item {item.get('type')!r}")
            strict(td, item, path)

    def validate(self, fmt: str, payload: Mapping[str, Any]) -> None:
        """Validate ``payload`` in ``fmt`` (``anthropic``, ``bedrock``, ``openai-chat``, ``openai-responses``)."""
        {
            "anthropic": self.anthropic,
            "bedrock": self.bedrock,
            "openai-chat": self.openai_chat,
            "openai-responses": self.openai_responses,
        }[fmt](payload)


def _check_enums(shape: Any, value: Any, path: str) -> None:
    # botocore's ParamValidator checks types and required members but not enums (the service does).
    kind = shape.type_name
    if kind == "string" and getattr(shape, "enum", None) and value not in shape.enum:
        raise InvalidPayloadError(f"{path}: {value!r} is not one of {shape.enum}")
    if kind == "structure" and isinstance(value, Mapping):
        for name, member in shape.members.items():
            if name in value:
                _check_enums(member, value[name], f"{path}.{name}" if path else name)
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            _check_enums(shape.member, item, f"{path}[{i}]")


@pytest.fixture(scope="session")
def sdk() -> SDK:
    """Strict validators built from the provider SDKs' request types."""
    return SDK()


# --- reading markers independently of cachepoint ---------------------------------------------------------


@dataclass(frozen=True)
class Found:
    path: str
    ttl: str | None


class Markers:
    """Finds and strips cache markers in raw payloads, in prefix order (tools -> system -> messages)."""

    @staticmethod
    def find(fmt: str, payload: Mapping[str, Any]) -> list[Found]:
        found: list[Found] = []
        if fmt == "anthropic":
            for i, tool in enumerate(payload.get("tools", [])):
                if "cache_control" in tool:
                    found.append(Found(f"tools[{i}]", tool["cache_control"].get("ttl")))
            system = payload.get("system")
            for i, block in enumerate(system if isinstance(system, list) else []):
                if "cache_control" in block:
                    found.append(Found(f"system[{i}]", block["cache_control"].get("ttl")))
            for i, message in enumerate(payload["messages"]):
                content = message["content"]
                for j, block in enumerate(content if isinstance(content, list) else []):
                    if "cache_control" in block:
                        found.append(Found(f"messages[{i}].content[{j}]", block["cache_control"].get("ttl")))
                    inner = block.get("content") if block.get("type") == "tool_result" else None
                    for k, sub in enumerate(inner if isinstance(inner, list) else []):
                        if "cache_control" in sub:
                            found.append(
                                Found(f"messages[{i}].content[{j}].content[{k}]", sub["cache_control"].get("ttl"))
                            )
            if isinstance(payload.get("cache_control"), Mapping):
                found.append(Found("cache_control", payload["cache_control"].get("ttl")))
        elif fmt == "bedrock":
            tools = payload.get("toolConfig", {}).get("tools", [])
            lists = [("toolConfig.tools", tools), ("system", payload.get("system", []))]
            lists += [(f"messages[{i}].content", m["content"]) for i, m in enumerate(payload["messages"])]
            for name, items in lists:
                for j, item in enumerate(items):
                    if "cachePoint" in item:
                        found.append(Found(f"{name}[{j}]", item["cachePoint"].get("ttl")))
        else:
            key = "messages" if fmt == "openai-chat" else "input"
            items = payload.get(key)
            for i, message in enumerate(items if isinstance(items, list) else []):
                content = message.get("content")
                for j, part in enumerate(content if isinstance(content, list) else []):
                    for name in ("prompt_cache_breakpoint", "cache_control"):
                        if name in part:
                            found.append(Found(f"{key}[{i}].content[{j}]", part[name].get("ttl")))
        return found

    @staticmethod
    def strip(fmt: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``payload`` without markers, string content as one text block, and no ``prompt_cache_key``."""
        out = copy.deepcopy(dict(payload))
        out.pop("prompt_cache_key", None)
        if fmt == "anthropic":
            out.pop("cache_control", None)
            for tool in out.get("tools", []):
                tool.pop("cache_control", None)
            if isinstance(out.get("system"), str):
                out["system"] = [{"type": "text", "text": out["system"]}]
            for block in out.get("system") or []:
                block.pop("cache_control", None)
            for message in out["messages"]:
                if isinstance(message["content"], str):
                    message["content"] = [{"type": "text", "text": message["content"]}]
                for block in message["content"]:
                    block.pop("cache_control", None)
        elif fmt == "bedrock":
            config = out.get("toolConfig")
            if config:
                config["tools"] = [t for t in config["tools"] if "cachePoint" not in t]
            if "system" in out:
                out["system"] = [s for s in out["system"] if "cachePoint" not in s]
            for message in out["messages"]:
                message["content"] = [b for b in message["content"] if "cachePoint" not in b]
        else:
            key = "messages" if fmt == "openai-chat" else "input"
            if isinstance(out.get(key), str):
                out[key] = [{"role": "user", "content": [{"type": "input_text", "text": out[key]}]}]
            for message in out.get(key) or []:
                if isinstance(message.get("content"), str) and "role" in message:
                    kind = "text" if fmt == "openai-chat" else "input_text"
                    message["content"] = [{"type": kind, "text": message["content"]}]
                for part in message.get("content") or [] if isinstance(message.get("content"), list) else []:
                    part.pop("prompt_cache_breakpoint", None)
                    part.pop("cache_control", None)
        return out


@pytest.fixture(scope="session")
def markers() -> Markers:
    """Marker finder / stripper that does not use cachepoint's own parsers."""
    return Markers()


# --- hypothesis strategies ----------------------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


PNG_B64 = base64.b64encode(_png(40, 30)).decode()

_WORDS = st.sampled_from(
    ["the", "cache", "prefix", "policy", "refund", "tool", "weather", "Paris", "naïve", "東京", "JSON", "{", "}", "42"]
)


def _text(min_words: int = 1) -> st.SearchStrategy[str]:
    short = st.lists(_WORDS, min_size=min_words, max_size=12).map(" ".join)
    # Long texts push prefixes over the providers' minimums (1024-4096 tokens).
    long = st.integers(min_value=200, max_value=2500).map(lambda n: "Section of the reference manual. " * n)
    return st.one_of(short, short, long)


_IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=4, max_size=10)
_TTL_A = st.sampled_from([None, "5m", "1h"])


def _anthropic_marker(ttl: str | None) -> dict[str, Any]:
    return {"type": "ephemeral"} if ttl is None else {"type": "ephemeral", "ttl": ttl}


class Gen:
    """Hypothesis strategies for random, valid request payloads."""

    # anthropic

    @staticmethod
    @st.composite
    def anthropic(draw: Callable[..., Any], markers: bool = True) -> dict[str, Any]:
        def maybe_mark(block: dict[str, Any]) -> dict[str, Any]:
            if markers and draw(st.integers(0, 9)) == 0:
                block["cache_control"] = _anthropic_marker(draw(_TTL_A))
            return block

        payload: dict[str, Any] = {
            "model": draw(
                st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "claude-opus-5"])
            ),
            "max_tokens": draw(st.integers(1, 4096)),
        }
        if draw(st.booleans()):
            tools = []
            for n in range(draw(st.integers(1, 3))):
                tool = {
                    "name": f"tool_{n}",
                    "description": draw(_text()),
                    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
                }
                tools.append(maybe_mark(tool))
            payload["tools"] = tools
        system_kind = draw(st.sampled_from(["absent", "string", "list"]))
        if system_kind == "string":
            payload["system"] = draw(_text())
        elif system_kind == "list":
            payload["system"] = [
                maybe_mark({"type": "text", "text": draw(_text())}) for _ in range(draw(st.integers(1, 2)))
            ]
        messages = []
        pending_calls: list[str] = []
        for turn in range(draw(st.integers(1, 9))):
            role = "user" if turn % 2 == 0 else "assistant"
            if role == "user" and draw(st.integers(0, 4)) == 0 and not pending_calls:
                messages.append({"role": role, "content": draw(_text())})
                continue
            blocks: list[dict[str, Any]] = []
            if role == "user":
                for call in pending_calls:
                    blocks.append(maybe_mark({"type": "tool_result", "tool_use_id": call, "content": draw(_text())}))
                pending_calls = []
                for _ in range(draw(st.integers(0 if blocks else 1, 3))):
                    kind = draw(st.sampled_from(["text", "text", "image", "document"]))
                    if kind == "text":
                        blocks.append(maybe_mark({"type": "text", "text": draw(_text())}))
                    elif kind == "image":
                        source = {"type": "base64", "media_type": "image/png", "data": PNG_B64}
                        blocks.append(maybe_mark({"type": "image", "source": source}))
                    else:
                        source = {"type": "text", "media_type": "text/plain", "data": draw(_text())}
                        blocks.append(maybe_mark({"type": "document", "source": source, "title": "doc"}))
            else:
                if draw(st.booleans()):
                    blocks.append({"type": "thinking", "thinking": draw(_text()), "signature": "sig"})
                if draw(st.booleans()):
                    blocks.append(maybe_mark({"type": "text", "text": draw(_text())}))
                for _ in range(draw(st.integers(0, 3))):
                    call = f"toolu_{draw(_IDS)}"
                    pending_calls.append(call)
                    blocks.append(
                        maybe_mark({"type": "tool_use", "id": call, "name": "tool_0", "input": {"q": draw(_text())}})
                    )
                if not blocks:
                    blocks.append({"type": "text", "text": "ok"})
            messages.append({"role": role, "content": blocks})
        payload["messages"] = messages
        if markers and draw(st.integers(0, 7)) == 0:
            payload["cache_control"] = _anthropic_marker(draw(_TTL_A))
        return payload

    # bedrock

    @staticmethod
    @st.composite
    def bedrock(draw: Callable[..., Any], markers: bool = True) -> dict[str, Any]:
        def point(items: list[dict[str, Any]]) -> None:
            if markers and draw(st.integers(0, 9)) == 0:
                ttl = draw(_TTL_A)
                items.append({"cachePoint": {"type": "default"} if ttl is None else {"type": "default", "ttl": ttl}})

        model = draw(
            st.sampled_from(
                [
                    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    "anthropic.claude-haiku-4-5-20251001-v1:0",
                    "amazon.nova-pro-v1:0",
                    "global.anthropic.claude-opus-4-5-20251101-v1:0",
                ]
            )
        )
        payload: dict[str, Any] = {"modelId": model}
        if draw(st.booleans()):
            payload["inferenceConfig"] = {"maxTokens": draw(st.integers(1, 4096))}
        if draw(st.booleans()):
            tools: list[dict[str, Any]] = []
            for n in range(draw(st.integers(1, 3))):
                spec = {"name": f"tool_{n}", "description": draw(_text()), "inputSchema": {"json": {"type": "object"}}}
                tools.append({"toolSpec": spec})
                point(tools)
            payload["toolConfig"] = {"tools": tools}
        if draw(st.booleans()):
            system: list[dict[str, Any]] = []
            for _ in range(draw(st.integers(1, 2))):
                system.append({"text": draw(_text())})
                point(system)
            payload["system"] = system
        messages = []
        pending: list[str] = []
        for turn in range(draw(st.integers(1, 9))):
            role = "user" if turn % 2 == 0 else "assistant"
            content: list[dict[str, Any]] = []
            if role == "user":
                for call in pending:
                    content.append({"toolResult": {"toolUseId": call, "content": [{"text": draw(_text())}]}})
                    point(content)
                pending = []
                for _ in range(draw(st.integers(0 if content else 1, 3))):
                    kind = draw(st.sampled_from(["text", "text", "image", "document"]))
                    if kind == "text":
                        content.append({"text": draw(_text())})
                    elif kind == "image":
                        content.append({"image": {"format": "png", "source": {"bytes": base64.b64decode(PNG_B64)}}})
                    else:
                        doc = {"format": "txt", "name": "doc", "source": {"bytes": draw(_text()).encode()}}
                        content.append({"document": doc})
                    point(content)
            else:
                if draw(st.booleans()):
                    content.append({"reasoningContent": {"reasoningText": {"text": draw(_text()), "signature": "sig"}}})
                if draw(st.booleans()):
                    content.append({"text": draw(_text())})
                    point(content)
                for _ in range(draw(st.integers(0, 2))):
                    call = f"tooluse_{draw(_IDS)}"
                    pending.append(call)
                    content.append({"toolUse": {"toolUseId": call, "name": "tool_0", "input": {"q": "x"}}})
                    point(content)
                if not content:
                    content.append({"text": "ok"})
            messages.append({"role": role, "content": content})
        payload["messages"] = messages
        return payload

    # openai chat

    @staticmethod
    @st.composite
    def openai_chat(draw: Callable[..., Any], markers: bool = True) -> dict[str, Any]:
        def maybe_mark(part: dict[str, Any]) -> dict[str, Any]:
            if markers and draw(st.integers(0, 11)) == 0:
                part["prompt_cache_breakpoint"] = {"mode": "explicit"}
            return part

        payload: dict[str, Any] = {"model": draw(st.sampled_from(["gpt-5.6", "gpt-5.6-2026-07-10", "gpt-4o", "gpt-5"]))}
        if draw(st.booleans()):
            payload["max_completion_tokens"] = draw(st.integers(1, 4096))
        if draw(st.integers(0, 3)) == 0:
            payload["prompt_cache_options"] = {"mode": draw(st.sampled_from(["implicit", "explicit"]))}
        if draw(st.booleans()):
            payload["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": f"tool_{n}",
                        "description": draw(_text()),
                        "parameters": {"type": "object", "properties": {}},
                    },
                }
                for n in range(draw(st.integers(1, 3)))
            ]
        messages: list[dict[str, Any]] = []
        if draw(st.booleans()):
            if draw(st.booleans()):
                messages.append({"role": "system", "content": draw(_text())})
            else:
                parts = [maybe_mark({"type": "text", "text": draw(_text())}) for _ in range(draw(st.integers(1, 2)))]
                messages.append({"role": draw(st.sampled_from(["system", "developer"])), "content": parts})
        for turn in range(draw(st.integers(1, 8))):
            if turn % 2 == 0:
                if draw(st.booleans()):
                    messages.append({"role": "user", "content": draw(_text())})
                else:
                    parts = []
                    for _ in range(draw(st.integers(1, 3))):
                        if draw(st.integers(0, 3)) == 0:
                            parts.append(
                                maybe_mark(
                                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}
                                )
                            )
                        else:
                            parts.append(maybe_mark({"type": "text", "text": draw(_text())}))
                    messages.append({"role": "user", "content": parts})
            else:
                calls = [
                    {
                        "id": f"call_{draw(_IDS)}",
                        "type": "function",
                        "function": {"name": "tool_0", "arguments": '{"q": "x"}'},
                    }
                    for _ in range(draw(st.integers(0, 2)))
                ]
                message: dict[str, Any] = {"role": "assistant"}
                if calls and draw(st.booleans()):
                    message["content"] = None
                else:
                    message["content"] = draw(_text())
                if calls:
                    message["tool_calls"] = calls
                messages.append(message)
                for call in calls:
                    content: Any = (
                        draw(_text()) if draw(st.booleans()) else [maybe_mark({"type": "text", "text": draw(_text())})]
                    )
                    messages.append({"role": "tool", "tool_call_id": call["id"], "content": content})
        payload["messages"] = messages
        return payload

    # openai responses

    @staticmethod
    @st.composite
    def openai_responses(draw: Callable[..., Any], markers: bool = True) -> dict[str, Any]:
        def maybe_mark(part: dict[str, Any]) -> dict[str, Any]:
            if markers and draw(st.integers(0, 11)) == 0:
                part["prompt_cache_breakpoint"] = {"mode": "explicit"}
            return part

        payload: dict[str, Any] = {"model": draw(st.sampled_from(["gpt-5.6", "gpt-4.1", "gpt-5.5"]))}
        if draw(st.booleans()):
            payload["instructions"] = draw(_text())
        if draw(st.booleans()):
            payload["tools"] = [
                {"type": "function", "name": f"tool_{n}", "parameters": {"type": "object"}, "strict": False}
                for n in range(draw(st.integers(1, 2)))
            ]
        if draw(st.integers(0, 4)) == 0:
            payload["input"] = draw(_text())
            return payload
        items: list[dict[str, Any]] = []
        if draw(st.booleans()):
            items.append({"role": "developer", "content": [maybe_mark({"type": "input_text", "text": draw(_text())})]})
        for turn in range(draw(st.integers(1, 6))):
            if turn % 2 == 0:
                if draw(st.booleans()):
                    items.append({"role": "user", "content": draw(_text())})
                else:
                    parts = [
                        maybe_mark({"type": "input_text", "text": draw(_text())})
                        for _ in range(draw(st.integers(1, 2)))
                    ]
                    if draw(st.integers(0, 3)) == 0:
                        parts.append(
                            maybe_mark(
                                {
                                    "type": "input_image",
                                    "image_url": f"data:image/png;base64,{PNG_B64}",
                                    "detail": "auto",
                                }
                            )
                        )
                    items.append({"role": "user", "content": parts})
            else:
                items.append({"role": "assistant", "content": draw(_text())})
                for _ in range(draw(st.integers(0, 2))):
                    call = f"call_{draw(_IDS)}"
                    items.append({"type": "function_call", "call_id": call, "name": "tool_0", "arguments": "{}"})
                    items.append({"type": "function_call_output", "call_id": call, "output": draw(_text())})
        payload["input"] = items
        return payload

    def for_format(self, fmt: str, *, markers: bool = True) -> st.SearchStrategy[dict[str, Any]]:
        return {
            "anthropic": self.anthropic,
            "bedrock": self.bedrock,
            "openai-chat": self.openai_chat,
            "openai-responses": self.openai_responses,
        }[fmt](markers=markers)


@pytest.fixture(scope="session")
def gen() -> Gen:
    """Hypothesis strategies for random valid payloads of each format."""
    return Gen()


class WordCounter:
    """One token per whitespace-separated word: makes expected token counts easy to work out by hand."""

    def count(self, text: str) -> int:
        return len(text.split())


@pytest.fixture(scope="session")
def words() -> WordCounter:
    """A token counter whose counts are the number of words."""
    return WordCounter()


def words_text(n: int, word: str = "w") -> str:
    return " ".join([word] * n)


@pytest.fixture(scope="session")
def text_of() -> Callable[..., str]:
    """``text_of(n)``: a text of exactly ``n`` words."""
    return words_text
