"""OpenAI Responses API payloads (``client.responses.create(**payload)``).

``instructions`` is the system layer (it cannot carry a breakpoint: OpenAI answers 400); ``input`` is a string
or a list of items. Message items hold content parts; ``prompt_cache_breakpoint`` may go on ``input_text``,
``input_image`` and ``input_file`` parts (openai SDK ``response_input_*_param``), not on assistant
``output_text``. Every other item (``function_call``, ``function_call_output``, ``reasoning``...) is carried as
one block of its own.
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
    data_url_media,
    dumps,
    expect_list,
    expect_mapping,
    expect_str,
    is_mapping,
    reorder,
)
from cachepoint.core.prompt.formats.openai_chat import part_with_marker, split_part_marker
from cachepoint.core.prompt.model import Block, Locator, Message, Request, Tool
from cachepoint.core.providers import ModelInfo

__all__ = ["ITEM_TYPES", "MARKABLE_PARTS", "OpenAIResponsesDialect"]

_PARTS = {
    "input_text": "text",
    "input_image": "image",
    "input_file": "document",
    "output_text": "text",
    "refusal": "text",
}
MARKABLE_PARTS = frozenset({"input_text", "input_image", "input_file"})
_ROLES = ("user", "assistant", "system", "developer")
#: Item types of ``ResponseInputItemParam`` (openai SDK) other than messages, with their kind and role.
ITEM_TYPES: Mapping[str, tuple[str, str]] = {
    "function_call": ("tool_use", "assistant"),
    "custom_tool_call": ("tool_use", "assistant"),
    "function_call_output": ("tool_result", "tool"),
    "custom_tool_call_output": ("tool_result", "tool"),
    "reasoning": ("thinking", "assistant"),
    **{
        name: ("other", "tool" if name.endswith("_output") or name == "mcp_approval_response" else "assistant")
        for name in (
            "file_search_call",
            "computer_call",
            "computer_call_output",
            "web_search_call",
            "tool_search_call",
            "tool_search_output",
            "additional_tools",
            "configuration_update",
            "compaction",
            "compaction_trigger",
            "image_generation_call",
            "code_interpreter_call",
            "local_shell_call",
            "local_shell_call_output",
            "shell_call",
            "shell_call_output",
            "apply_patch_call",
            "apply_patch_call_output",
            "mcp_list_tools",
            "mcp_approval_request",
            "mcp_approval_response",
            "mcp_call",
            "item_reference",
            "program",
            "program_output",
        )
    },
}


def _part_content(data: Mapping[str, Any]) -> Content:
    kind = data.get("type")
    if kind in ("input_text", "output_text"):
        return Content(text=str(data.get("text", "")))
    if kind == "refusal":
        return Content(text=str(data.get("refusal", "")))
    if kind == "input_image":
        url = data.get("image_url")
        media_type, b64 = data_url_media(url) if isinstance(url, str) else (None, None)
        return Content(media=(Media("image", b64, media_type),))
    if kind == "input_file":
        raw = data.get("file_data")
        media_type, b64 = data_url_media(raw) if isinstance(raw, str) else (None, None)
        return Content(media=(Media("document", b64 if b64 is not None else raw, media_type or "application/pdf"),))
    return Content(text=dumps(data).decode())


class OpenAIResponsesDialect(Dialect):
    """OpenAI Responses API."""

    name = "openai-responses"
    system_messages_are_system_layer = True

    messages_key = "input"

    def detect_payload(self, payload: Mapping[str, Any]) -> int:
        score = 0
        if "input" in payload:
            score += 80
        if "instructions" in payload or "previous_response_id" in payload or "max_output_tokens" in payload:
            score += 60
        # OpenAI's cache parameters, shared with Chat Completions (which scores each the same): evidence against
        # the other providers' formats, neutral between OpenAI's two.
        for key in ("prompt_cache_key", "prompt_cache_options"):
            if key in payload:
                score += 40
        if "messages" in payload:
            score -= 100
        return score

    def parse(self, payload: Mapping[str, Any], *, lenient: bool = False) -> Request:
        payload = expect_mapping(payload, "", "a JSON object (the request body)")
        params = {k: v for k, v in payload.items() if k not in ("input", "instructions", "tools")}
        layout: dict[str, Any] = {"keys": tuple(payload)}
        tools = []
        if "tools" in payload:
            for i, item in enumerate(expect_list(payload["tools"], "tools")):
                tools.append(Tool(dict(expect_mapping(item, f"tools[{i}]", "a tool object")), self.name))
        system = []
        if "instructions" in payload:
            value = payload["instructions"]
            if isinstance(value, str):
                system.append(Block("text", {"type": "instructions", "text": value}, self.name))
            else:
                params["instructions"] = value  # null, or a prompt object we carry as-is
        messages: list[Message] = []
        value = payload.get("input")
        if isinstance(value, str):
            layout["input_form"] = "string"
            messages.append(
                Message(
                    "user",
                    (Block("text", {"type": "input_text", "text": value}, self.name),),
                    "string",
                    format=self.name,
                )
            )
        elif "input" in payload:
            layout["input_form"] = "list"
            for i, raw in enumerate(expect_list(value, "input", "a string or a list of input items")):
                messages.append(self.parse_message(raw, f"input[{i}]", lenient=lenient))
        return Request(
            format=self.name,
            messages=tuple(messages),
            system=tuple(system),
            tools=tuple(tools),
            params=params,
            layout=layout,
        )

    def parse_message(self, raw: Any, path: str, *, lenient: bool = False) -> Message:
        item = expect_mapping(raw, path, "an input item object")
        kind = item.get("type")
        if "role" in item and kind in (None, "message"):
            role = check_role(item.get("role"), path, _ROLES)
            extra = {k: v for k, v in item.items() if k not in ("role", "content")}
            content = item.get("content")
            if isinstance(content, str):
                block = Block("text", {"type": "input_text", "text": content}, self.name)
                return Message(role, (block,), "string", extra, self.name, tuple(item))
            blocks = []
            for j, raw_part in enumerate(
                expect_list(content, f"{path}.content", "a string or a list of content parts")
            ):
                part_path = f"{path}.content[{j}]"
                part = expect_mapping(raw_part, part_path, "a content part object")
                part_kind = part.get("type")
                if part_kind not in _PARTS and not lenient:
                    raise RequestFormatError(part_path, f"unknown content part type {part_kind!r}")
                if part_kind in ("input_text", "output_text"):
                    expect_str(part.get("text"), f"{part_path}.text")
                data, marker = split_part_marker(part, part_path)
                blocks.append(Block(_PARTS.get(str(part_kind), "other"), data, self.name, marker))
            return Message(role, tuple(blocks), "list", extra, self.name, tuple(item))
        if kind is None and "id" in item:
            kind = "item_reference"
        if kind not in ITEM_TYPES:
            if not lenient:
                raise RequestFormatError(path, f"unknown item type {kind!r}")
            return Message("assistant", (Block("other", dict(item), self.name),), "item", format=self.name)
        block_kind, role = ITEM_TYPES[str(kind)]
        return Message(role, (Block(block_kind, dict(item), self.name),), "item", format=self.name)

    def render(self, request: Request) -> dict[str, Any]:
        out: dict[str, Any] = dict(request.params)
        if request.tools or "tools" in request.layout.get("keys", ()):
            out["tools"] = [dict(t.data) for t in request.tools]
        if request.system:
            out["instructions"] = "\n".join(str(b.data.get("text", "")) for b in request.system)
        form = request.layout.get("input_form", "list")
        first = request.messages[0] if request.messages else None
        if (
            form == "string"
            and first is not None
            and len(request.messages) == 1
            and first.form == "string"
            and first.blocks[0].cache is None
        ):
            out["input"] = first.blocks[0].data["text"]
        elif request.messages or form == "list":
            out["input"] = [self._render_item(m) for m in request.messages]
        return reorder(out, request.layout.get("keys", ()))

    def _render_item(self, message: Message) -> dict[str, Any]:
        if message.form == "item":
            return dict(message.blocks[0].data)
        out: dict[str, Any] = {"role": message.role}
        blocks = message.blocks
        if message.form == "string" and len(blocks) == 1 and blocks[0].cache is None:
            out["content"] = blocks[0].data["text"]
        else:
            out["content"] = [part_with_marker(b.data, b.cache, "prompt_cache_breakpoint") for b in blocks]
        out.update(message.extra)
        return reorder(out, message.keys)

    def describe(self, block: Block) -> Content:  # noqa: PLR0911 - one return per type
        data = block.data
        kind = data.get("type")
        if kind == "instructions":
            return Content(text=str(data.get("text", "")))
        if kind in _PARTS:
            return _part_content(data)
        if kind in ("function_call", "custom_tool_call"):
            return Content(text=f"{data.get('name', '')} {data.get('arguments', data.get('input', ''))}")
        if kind in ("function_call_output", "custom_tool_call_output"):
            output = data.get("output")
            if isinstance(output, str):
                return Content(text=output)
            texts: list[str] = []
            media: list[Media] = []
            for part in output if isinstance(output, list) else []:
                if is_mapping(part):
                    inner = _part_content(part)
                    texts.append(inner.text)
                    media.extend(inner.media)
            return Content(text="\n".join(texts), media=tuple(media))
        if kind == "reasoning":
            summary = data.get("summary")
            texts = [str(s.get("text", "")) for s in summary if is_mapping(s)] if isinstance(summary, list) else []
            encrypted = data.get("encrypted_content")
            size = len(encrypted) * 3 // 16 if isinstance(encrypted, str) else 0
            return Content(text="\n".join(texts), extra_tokens=size)
        return super().describe(block)

    def tool_name(self, tool: Tool) -> str:
        name = tool.data.get("name")
        return name if isinstance(name, str) else str(tool.data.get("type", ""))

    def ineligible(self, request: Request, locator: Locator, info: ModelInfo | None) -> str | None:
        if locator.section == "tools":
            return "OpenAI takes no cache marker on tool definitions (they are part of the cached prefix)"
        if locator.section == "system":
            return "OpenAI rejects prompt_cache_breakpoint on instructions (put stable text in a developer message)"
        block = request.get(locator)
        assert isinstance(block, Block)
        kind = block.data.get("type")
        if kind not in MARKABLE_PARTS:
            return f"{kind!r} takes no prompt_cache_breakpoint (only input_text, input_image and input_file parts)"
        if kind == "input_text" and not block.data.get("text"):
            return "empty text parts cannot be cached"
        return None

    def path(self, request: Request, locator: Locator) -> str:
        if locator.section == "tools":
            return f"tools[{locator.index}]"
        if locator.section == "system":
            return "instructions"
        assert locator.message is not None
        message = request.messages[locator.message]
        plain = message.form == "string" and message.blocks[0].cache is None
        if request.layout.get("input_form") == "string" and plain:
            return "input"
        if message.form == "item":
            return f"input[{locator.message}]"
        if plain:
            return f"input[{locator.message}].content"
        return f"input[{locator.message}].content[{locator.index}]"
