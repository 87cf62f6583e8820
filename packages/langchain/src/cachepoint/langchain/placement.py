"""Place a strategy's breakpoints on a LangChain request: core plans on the rebuilt payload, and the plan is
written back as new content for the LangChain messages (and new tool definitions) that carry a marker.

Nothing here changes a caller's object: `Placement.contents` holds new content values, `mark_tools` returns a
new list. The callback handler swaps those contents in for the duration of a call (see
`cachepoint.langchain.patches`); the middleware and `with_cache_points` send copies of the messages.

>>> from langchain_core.messages import HumanMessage, SystemMessage
>>> from cachepoint.core.prompt import auto
>>> from cachepoint.langchain.targets import identify
>>> placement = place(identify("anthropic-chat", "claude-sonnet-4-5"),
...                   [SystemMessage("Answer from the manual. " * 300), HumanMessage("How do I reset it?")], auto())
>>> placement.contents[0][0]["cache_control"], placement.contents[1][0]["cache_control"]
({'type': 'ephemeral', 'ttl': '1h'}, {'type': 'ephemeral'})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from cachepoint.core.prompt import (
    Breakpoint,
    CacheMarker,
    CachePlan,
    PlacementContext,
    Request,
    Strategy,
    plan_cache_points,
)
from cachepoint.langchain.payload import (
    BEDROCK_KWARG,
    VIEWS,
    Mirror,
    Slot,
    anthropic_image,
    anthropic_media,
    build,
    v1_text,
)
from cachepoint.langchain.targets import VERTEX, Target
from cachepoint.langchain.upstream import vertex_flags_tool_errors

__all__ = ["TOOLS_BLOCKED", "Placement", "mark_tools", "place", "vertex_tool"]

#: Why the callback handler leaves tool definitions alone.
TOOLS_BLOCKED = (
    "a callback cannot change the tools a model is called with: use CachepointMiddleware or with_cache_points"
)


@dataclass
class Placement:
    """A plan written for LangChain: ``contents`` maps message indexes to their new content, ``tool_markers``
    tool indexes to the marker each tool gets; ``plan`` is core's `CachePlan` (``None`` for models that take no
    markers), ``mirror`` the rebuilt request."""

    mirror: Mirror
    plan: CachePlan | None
    contents: dict[int, Any] = field(default_factory=dict)
    tool_markers: dict[int, CacheMarker] = field(default_factory=dict)

    @property
    def cache_key(self) -> str | None:
        """The OpenAI ``prompt_cache_key`` derived from the static layers (``None`` for other providers)."""
        return self.plan.cache_key if self.plan is not None else None

    def request(self) -> Request:
        """The request as sent, markers included (what the recorder writes)."""
        request = self.mirror.request
        assert request is not None
        return request.with_markers(self.plan.markers()) if self.plan is not None and self.plan.placed else request


@dataclass(frozen=True)
class _Writable:
    """The strategy, minus breakpoints on blocks LangChain would not send a marker for (reported as dropped)."""

    inner: Strategy
    blocked: Mapping[int, str]

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        kept = []
        for bp in self.inner(ctx):
            reason = self.blocked.get(bp.position)
            if reason is None:
                kept.append(bp)
            else:
                ctx.skip(bp, "ineligible", reason)
        return kept


def place(
    target: Target,
    messages: Sequence[BaseMessage],
    strategy: Strategy,
    *,
    tools: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    frozen: Mapping[int, str] | None = None,
    tools_writable: bool = False,
    system: Sequence[Any] = (),
) -> Placement:
    """Plan ``strategy`` on the request ``target``'s model would send, and write the plan as LangChain values."""
    mirror = build(target, messages, tools, kwargs=kwargs, frozen=frozen, system=system)
    request = mirror.request
    assert request is not None
    view = VIEWS.positions(request, provider=target.provider)
    if target.kind == "openai":  # no markers from LangChain: only the prompt_cache_key of the static layers
        return Placement(mirror, plan_cache_points(view, lambda _ctx: [], provider=target.provider))
    blocked: dict[int, str] = {}
    ordered = mirror.ordered
    if ordered is None or len(ordered) != len(view):
        ordered = [mirror.slots[position.locator] for position in view]
    unwritable: dict[int, str] = {}
    # ChatBedrockConverse appends the points of a cache_control kwarg after cachepoint's, where none is yet (the
    # mirror holds them): its own placement, which cachepoint's would only push out of TTL order.
    model_places = target.kind == "bedrock" and bool((kwargs or {}).get("cache_control"))
    for index, slot in enumerate(ordered):
        if model_places:
            blocked[index] = BEDROCK_KWARG
        elif slot.how == "tool" and not tools_writable:
            blocked[index] = TOOLS_BLOCKED
        elif slot.blocked is not None:
            blocked[index] = unwritable[index] = slot.blocked
    # A message block cachepoint cannot write to is ineligible for the strategy, as a block the provider refuses
    # is: the conversation's breakpoint goes to the last message it can write (its prefix is still read back).
    view = view.with_ineligible(unwritable)
    plan = plan_cache_points(view, _Writable(strategy, blocked), provider=target.provider)
    placement = Placement(mirror, plan)
    writes: dict[int, list[tuple[Slot, CacheMarker]]] = {}
    for locator, marker in plan.markers().items():
        if marker is None:  # markers() only removes when asked to; a plan never does
            continue
        slot = mirror.slots[locator]
        if slot.how == "tool":
            assert slot.item is not None
            placement.tool_markers[slot.item] = marker
        else:
            writes.setdefault(slot.message, []).append((slot, marker))
    for index, marks in writes.items():
        placement.contents[index] = _write(target, messages[index], marks)
    return placement


def anthropic_marker(marker: CacheMarker) -> dict[str, Any]:
    """Anthropic's ``cache_control`` for a core marker."""
    return {"type": "ephemeral", **({"ttl": marker.ttl} if marker.ttl else {})}


def bedrock_point(marker: CacheMarker) -> dict[str, Any]:
    """A Bedrock Converse ``cachePoint`` block for a core marker."""
    return {"cachePoint": {"type": "default", **({"ttl": marker.ttl} if marker.ttl else {})}}


def _bedrock_point_in(message: BaseMessage, marker: CacheMarker) -> dict[str, Any]:
    """The cache point as ``message``'s content carries it: an answer in LangChain's v1 format is converted back
    block by block, each by its ``type``, so the point goes in as a ``non_standard`` block (sent unwrapped)."""
    point = bedrock_point(marker)
    if isinstance(message, AIMessage) and message.response_metadata.get("output_version") == "v1":
        return {"type": "non_standard", "value": point}
    return point


def _write(target: Target, message: BaseMessage, marks: list[tuple[Slot, CacheMarker]]) -> Any:
    """``message``'s content with markers at the given slots (a new value; the message is not touched)."""
    content = message.content
    whole = [(s, m) for s, m in marks if s.item is None]
    if whole:
        slot, marker = whole[0]
        return _write_whole(target, message, slot, marker)
    items: list[Any] = list(content)
    # Bedrock inserts a block after the marked one: go from the end so earlier indexes stay put.
    for slot, marker in sorted(marks, key=lambda sm: -(sm[0].item or 0)):
        assert slot.item is not None
        item = items[slot.item]
        if target.kind == "bedrock":
            items.insert(slot.item + 1, _bedrock_point_in(message, marker))
        elif isinstance(item, str):
            items[slot.item] = {"type": "text", "text": item, "cache_control": anthropic_marker(marker)}
        elif slot.how == "v1_text":
            # The text block as ChatAnthropic converts it (same keys, same order) plus the marker: it hashes like
            # the unmarked block the next turn sends, so that turn reads this prefix back.
            value = {**v1_text(item), "cache_control": anthropic_marker(marker)}
            items[slot.item] = {"type": "non_standard", "value": value}
        elif target.provider == VERTEX and item.get("type") == "image" and _plain_image(item):
            # ChatAnthropicVertex rebuilds a standard image block as an Anthropic image block, keeping no marker;
            # it sends an Anthropic image block (``source``) as it is: written as that, the marker goes out with it.
            items[slot.item] = {**anthropic_media(item), "cache_control": anthropic_marker(marker)}
        elif item.get("type") == "image_url":
            # ChatAnthropic rebuilds an OpenAI-style image as its own image block and drops every other key, a
            # marker included: written as that image block, the marker goes out with it.
            items[slot.item] = {**anthropic_image(item), "cache_control": anthropic_marker(marker)}
        else:
            items[slot.item] = {**item, "cache_control": anthropic_marker(marker)}
    return items


def _plain_image(item: Mapping[str, Any]) -> bool:
    """A standard image block of base64 data or a web URL (what `anthropic_media` renders as Vertex AI does)."""
    if "source" in item:
        return False
    return "base64" in item or not str(item.get("url", "data:")).startswith("data:")


def _write_whole(target: Target, message: BaseMessage, slot: Slot, marker: CacheMarker) -> Any:
    content = message.content
    if target.kind == "bedrock":
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        return [*blocks, _bedrock_point_in(message, marker)]
    if slot.how == "tool_result":
        assert isinstance(message, ToolMessage)
        inner: Any = content
        if isinstance(content, list):
            inner = [
                {k: v for k, v in x.items() if k != "cache_control"} if isinstance(x, dict) else x for x in content
            ]
        # Written as the tool_result block the model would build (same keys, same order), plus the marker: the
        # block it sends hashes like the unmarked one, so the next turn still reads this prefix. ChatAnthropic
        # always sends ``is_error``; ChatAnthropicVertex only when it is true, and before langchain-google-vertexai
        # 3.0.1 never (`vertex_flags_tool_errors`).
        block: dict[str, Any] = {"type": "tool_result", "content": inner, "tool_use_id": message.tool_call_id}
        if target.provider != VERTEX or (message.status == "error" and vertex_flags_tool_errors()):
            block["is_error"] = message.status == "error"
        return [{**block, "cache_control": anthropic_marker(marker)}]
    return [{"type": "text", "text": content, "cache_control": anthropic_marker(marker)}]


def mark_tools(target: Target, tools: Sequence[Any], markers: Mapping[int, CacheMarker]) -> list[Any]:
    """``tools`` with the markers of `Placement.tool_markers` (a new list; tool objects are copied, not changed).

    Anthropic: a `BaseTool` gets ``extras["cache_control"]`` (what ChatAnthropic copies into the definition), a
    dict tool is replaced by its Anthropic definition with ``cache_control``; on Vertex AI every marked tool
    becomes its Anthropic definition (ChatAnthropicVertex drops a `BaseTool`'s extras). Bedrock: a ``cachePoint`` entry
    follows the tool.
    """
    out: list[Any] = []
    for i, tool in enumerate(tools):
        marker = markers.get(i)
        if marker is None:
            out.append(tool)
        elif target.kind == "bedrock":
            out.extend([tool, bedrock_point(marker)])
        elif target.provider == VERTEX:
            out.append({**vertex_tool(tool), "cache_control": anthropic_marker(marker)})
        else:
            out.append(_anthropic_tool(tool, anthropic_marker(marker)))
    return out


def vertex_tool(tool: Any) -> dict[str, Any]:
    """The Anthropic definition ChatAnthropicVertex sends for ``tool``: its ``bind_tools`` keeps a dict that has
    ``name``, ``description`` and ``input_schema`` as it is (a marker included) and rebuilds anything else from
    the OpenAI schema, dropping a `BaseTool`'s ``extras``.

    >>> vertex_tool({"name": "lookup", "input_schema": {"type": "object"}})
    {'description': '', 'name': 'lookup', 'input_schema': {'type': 'object'}}
    """
    if isinstance(tool, Mapping) and "input_schema" in tool:
        return {"description": "", **tool}
    from langchain_core.utils.function_calling import convert_to_openai_tool

    function = convert_to_openai_tool(tool)["function"]
    return {
        "name": function["name"],
        "description": function.get("description", ""),
        "input_schema": function.get("parameters", {"type": "object", "properties": {}}),
    }


def _anthropic_tool(tool: Any, control: dict[str, Any]) -> Any:
    from langchain_core.tools import BaseTool

    if isinstance(tool, BaseTool):
        return tool.model_copy(update={"extras": {**(tool.extras or {}), "cache_control": control}})
    if isinstance(tool, Mapping) and ("input_schema" in tool or ("type" in tool and "function" not in tool)):
        return {**tool, "cache_control": control}
    from langchain_anthropic import convert_to_anthropic_tool

    return {**convert_to_anthropic_tool(tool), "cache_control": control}
