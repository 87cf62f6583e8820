"""The request a LangChain chat model is about to send, rebuilt as a provider payload core can place markers in,
with a note of where each block came from.

LangChain turns messages into a provider body inside the model (ChatAnthropic's and ChatBedrockConverse's
formatters are private), so cachepoint rebuilds that body the way those formatters do it: merged user turns,
string content as one text block, tool messages as tool results, tool calls as tool-use blocks, empty text
dropped. Each block of the rebuilt body has a `Slot`: which LangChain message (and which item of its content)
it comes from, and how a marker is written there so that the model sends it (or why it cannot be). The body
only has to be right where it matters for caching (order, tokens, existing markers); it is also what the
recorder writes to a trace, so it is the request as cachepoint saw it, not the wire bytes.

>>> from langchain_core.messages import HumanMessage, SystemMessage
>>> from cachepoint.langchain.targets import identify
>>> mirror = build(identify("anthropic-chat", "claude-sonnet-4-5"), [SystemMessage("Be brief."), HumanMessage("Hi")])
>>> mirror.payload["system"], mirror.payload["messages"]
('Be brief.', [{'role': 'user', 'content': [{'type': 'text', 'text': 'Hi'}]}])
"""

from __future__ import annotations

import copy
import math
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool

from cachepoint.core.prompt import Locator, Request, ViewBuilder
from cachepoint.langchain.targets import VERTEX, Target
from cachepoint.langchain.upstream import bedrock_kwarg_counts_points, vertex_sends_anthropic_images

__all__ = [
    "BEDROCK_KWARG",
    "TRACED_COPY",
    "VIEWS",
    "Mirror",
    "Slot",
    "anthropic_image",
    "build",
    "traced_copies",
    "v1_text",
]

#: One view builder for the process: an agent re-sends its tools, system prompt and conversation on every call,
#: and the builder parses and views only what is new since the last one (same `Request` and `PrefixView` as
#: `Request.parse` and `Request.positions` give).
VIEWS = ViewBuilder(lenient=True)

#: How a marker is written at a slot: ``string`` (the message's string content becomes one marked text block),
#: ``item`` (a string item of list content becomes a marked text block), ``block`` (a dict block gets the
#: marker), ``tool_result`` (a tool message becomes one marked tool result), ``tool`` (a tool definition),
#: ``v1_text`` (a text block of an ``output_version="v1"`` answer ChatAnthropic rebuilds: the marked block goes in
#: as a ``non_standard`` block, which it sends as it is).
How = Literal["string", "item", "block", "tool_result", "tool", "v1_text"]

# Anthropic rejects tool ids outside this pattern; ChatAnthropic rewrites such ids, so cachepoint leaves them alone.
_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
# Content block types LangChain and Anthropic define whose payload sits under a key named like the type.
_TYPED_PAYLOAD = {"text", "image_url", "input_audio", "refusal", "thinking", "reasoning"}
_UNSENT = {"reasoning", "function_call", "refusal"}


@dataclass(frozen=True)
class Slot:
    """Where a block of the rebuilt payload comes from: LangChain message ``message`` (``-1`` for tools), item
    ``item`` of its content (``None``: the whole content), ``how`` a marker is written there, and ``blocked``,
    the reason one cannot be (``None`` when it can)."""

    message: int
    item: int | None
    how: How
    blocked: str | None = None


#: What a message was when it was converted: a weak reference to it, its content and stamp (copies), its blocks.
_Entry = tuple["weakref.ref[BaseMessage]", Any, Any, list[tuple[Any, Slot]]]


@dataclass
class Mirror:
    """A rebuilt request: the provider ``payload``, its parsed `Request`, and the `Slot` of every block."""

    target: Target
    payload: dict[str, Any]
    slots: dict[Locator, Slot] = field(default_factory=dict)
    request: Request | None = None
    shape: tuple[int, int, list[int]] | None = None
    """How many tools, system blocks and blocks per message ``slots`` holds (``None``: not noted); the slots of
    each section are numbered densely from 0, so the shape says which locators there are."""
    ordered: list[Slot] | None = None
    """The slots in prefix order (tools, system, messages), once the parsed request is known to have exactly
    these blocks: the slot of view position ``i`` is ``ordered[i]`` (``None``: look slots up by locator)."""
    rendered: _Rendered | None = None
    """How the payload was laid out, for the conversation's next request (Anthropic only)."""


class _Builder:
    def __init__(self, target: Target, frozen: Mapping[int, str]) -> None:
        self.target = target
        self.frozen = frozen
        self.system: list[tuple[Any, Slot]] = []
        self.system_string: str | None = None
        # (role, [(block, slot)]) per turn of the payload
        self.turns: list[tuple[str, list[tuple[Any, Slot]]]] = []

    def slot(self, index: int, item: int | None, how: How, blocked: str | None = None) -> Slot:
        return Slot(index, item, how, blocked or self.frozen.get(index))

    def add(self, role: str, blocks: list[tuple[Any, Slot]], *, merge: bool) -> None:
        if merge and self.turns and self.turns[-1][0] == role:
            self.turns[-1][1].extend(blocks)
        else:
            self.turns.append((role, blocks))

    def mark(self) -> tuple[int, str | None, int, int]:
        """Where the builder is: system blocks, system string, turns, blocks of the last turn."""
        return len(self.system), self.system_string, len(self.turns), len(self.turns[-1][1]) if self.turns else 0


def build(
    target: Target,
    messages: Sequence[BaseMessage],
    tools: Sequence[Any] = (),
    *,
    kwargs: Mapping[str, Any] | None = None,
    frozen: Mapping[int, str] | None = None,
    system: Sequence[Any] = (),
) -> Mirror:
    """Rebuild what ``target``'s model sends for ``messages`` and (already provider-formatted or LangChain)
    ``tools``; ``kwargs`` are the call kwargs (``cache_control``); ``frozen`` maps message indexes to the
    reason cachepoint must not write to them; ``system`` is a Bedrock model's own ``system=`` blocks."""
    frozen = frozen or {}
    if target.kind == "anthropic":
        mirror = _anthropic(target, messages, tools, kwargs or {}, frozen)
    elif target.kind == "bedrock":
        mirror = _bedrock(target, messages, tools, frozen, system)
        model_cache_points(mirror, (kwargs or {}).get("cache_control"))
    else:
        mirror = _openai(target, messages, tools)
    mirror.request = VIEWS.parse(mirror.payload, format=target.format, provider=target.provider)
    _check(mirror)
    return mirror


def _check(mirror: Mirror) -> None:
    """The parsed request must have exactly one block per slot: otherwise markers would land on the wrong block."""
    request = mirror.request
    assert request is not None
    if mirror.target.kind == "openai":
        return
    if mirror.shape is not None:  # the slots' locators are dense: equal shapes are equal sets of locators
        parsed = (len(request.tools), len(request.system), [len(m.blocks) for m in request.messages])
        if parsed == mirror.shape:
            # The slots went in in prefix order and the sections match block for block: a view's positions
            # (one per block, in the same order) take their slots by index, no locator hashed.
            mirror.ordered = list(mirror.slots.values())
            return
    locators = {loc for loc, _ in request.locators()}
    if locators != set(mirror.slots):
        raise ValueError(
            f"cachepoint could not map the {mirror.target.format} request back to the LangChain messages "
            f"({len(locators)} blocks parsed, {len(mirror.slots)} expected)"
        )


# --- Anthropic Messages (ChatAnthropic and its Bedrock / Mantle subclasses) ---


def _anthropic(
    target: Target,
    messages: Sequence[BaseMessage],
    tools: Sequence[Any],
    kwargs: Mapping[str, Any],
    frozen: Mapping[int, str],
) -> Mirror:
    b = _Builder(target, frozen)
    end = len(messages) - 1
    # A system message after the first turn may be sent in place (see `Target.in_place_system`); such a request
    # is rebuilt whole, as ChatAnthropic does it, and not kept for the next one.
    in_place = target.in_place_system and any(isinstance(m, SystemMessage) for m in messages[1:])
    # The conversation's previous request, when this one repeats its messages (same objects, unchanged): its
    # turns, payload messages and slots are taken over up to the turn the first new message may join.
    before = None if frozen or in_place else _TURNS.find(messages)
    start, reused = before.resume(b, messages) if before is not None else (0, 0)
    seen: list[_Entry] = before.seen[:start] if before is not None else []
    after: list[tuple[int, str | None, int, int]] = before.after[:start] if before is not None else []
    pending: list[tuple[int, SystemMessage]] = []  # system messages waiting to be sent in place
    opened = start > 0  # past the leading system messages (a request rebuilt in part is: see `_Turns`)
    for index in range(start, len(messages)):
        message = messages[index]
        if isinstance(message, SystemMessage):
            if in_place and opened and (pending or _system_may_follow(b)):
                pending.append((index, message))
            else:
                _anthropic_system(b, index, message)
            seen.append(_Converted.entry(message, None))
        else:
            opened = True
            last = index == end
            entry = None if index in frozen else _CONVERTED.get(index, message, last)
            if entry is None:
                blocks = _anthropic_blocks(b, index, message, last=last)
                entry = _Converted.entry(message, blocks)
                if index not in frozen:
                    _CONVERTED.put(index, message, last, entry)
            blocks = list(entry[3])  # the turn may grow (merged user turns): the entry's list stays as it is
            if isinstance(message, AIMessage):
                if blocks or last:
                    _flush_system(b, pending, in_place=True)
                    b.add("assistant", blocks, merge=False)
            else:
                _flush_system(b, pending, in_place=False)
                b.add("user", blocks, merge=True)
            seen.append(entry)
        after.append(b.mark())
    _flush_system(b, pending, in_place=True)
    mirror = _anthropic_payload(b, tools, kwargs, before if reused else None, reused)
    if not frozen and not in_place:
        _TURNS.keep(messages, _Turns(seen, after, b, mirror))
    return mirror


def _system_may_follow(b: _Builder) -> bool:
    """Whether ChatAnthropic sends a system message in place after the turns built so far: after a user turn, or
    after an assistant turn that ends in a server tool's result."""
    if not b.turns:
        return False
    role, blocks = b.turns[-1]
    if role == "user":
        return True
    kind = blocks[-1][0].get("type") if role == "assistant" and blocks and isinstance(blocks[-1][0], dict) else None
    return isinstance(kind, str) and kind.endswith("_tool_result")


def _flush_system(b: _Builder, pending: list[tuple[int, SystemMessage]], *, in_place: bool) -> None:
    """Send the waiting system messages: in place, as one ``system`` turn (ChatAnthropic merges a run of them),
    before an assistant turn or at the end; moved into the top-level system before a user turn."""
    if not pending:
        return
    if in_place:
        blocks = [pair for index, message in pending for pair in _system_blocks(b, index, message)]
        if blocks:
            b.add("system", blocks, merge=False)
    else:
        for index, message in pending:
            _anthropic_system(b, index, message)
    pending.clear()


def _system_blocks(b: _Builder, index: int, message: SystemMessage) -> list[tuple[Any, Slot]]:
    """The text blocks of a system message sent in place (what ChatAnthropic keeps of it for a marker)."""
    content = message.content
    if isinstance(content, str):
        return [({"type": "text", "text": content}, b.slot(index, None, "string"))] if content else []
    out: list[tuple[Any, Slot]] = []
    for j, item in enumerate(content):
        if isinstance(item, str):
            out.append(({"type": "text", "text": item}, b.slot(index, j, "item")))
        elif isinstance(item, dict) and item.get("type") == "text":
            out.append((_text_block(item), b.slot(index, j, "block")))
    return out


def _anthropic_blocks(b: _Builder, index: int, message: BaseMessage, *, last: bool) -> list[tuple[Any, Slot]]:
    """The blocks (and their slots) of one non-system message of an Anthropic request."""
    if isinstance(message, ToolMessage):
        return _anthropic_tool_message(b, index, message)
    if isinstance(message, AIMessage):
        return _anthropic_ai(b, index, message, last=last)
    return _anthropic_content(b, index, message.content)


class _Converted:
    """The blocks each message converted to on earlier calls. An agent sends the same message objects again on
    every call, each time one turn longer: converting only the new ones keeps the per-call cost from growing
    with the conversation. An entry is used only for the same object, at the same index, with content (and
    tool calls, tool call id, status) equal to what was converted: a message changed in place is converted
    again. Blocks are shared between calls and never changed (a payload takes new lists of them).

    Entries hold their message weakly and go when it does (a finished conversation keeps nothing alive); at
    most ``_MAX`` are kept. Plain dict operations, no lock: a weakref callback can run at any moment, also while
    this thread would hold one."""

    _MAX = 4096

    def __init__(self) -> None:
        self._entries: dict[tuple[int, int, bool], _Entry] = {}

    @staticmethod
    def _stamp(message: BaseMessage) -> Any:
        if isinstance(message, AIMessage):
            return message.tool_calls
        if isinstance(message, ToolMessage):
            return (message.tool_call_id, message.status)
        return None

    @classmethod
    def entry(cls, message: BaseMessage, blocks: list[tuple[Any, Slot]] | None) -> _Entry:
        """What a message was when ``blocks`` were made of it (held weakly; see `unchanged`)."""
        content = message.content
        # A copy of list content and tool calls: a later change in place must not change the copy as well.
        return (
            weakref.ref(message),
            content if isinstance(content, str) else copy.deepcopy(content),
            copy.deepcopy(cls._stamp(message)),
            list(blocks or ()),
        )

    @classmethod
    def unchanged(cls, entry: _Entry, message: BaseMessage) -> bool:
        """Whether ``message`` is the object ``entry`` was made of, with the same content, tool calls, tool call
        id and status."""
        if entry[0]() is not message:
            return False
        content, now = entry[1], message.content
        if not (content is now or (not isinstance(now, str) and content == now)):
            return False
        return bool(entry[2] == cls._stamp(message))

    def get(self, index: int, message: BaseMessage, last: bool) -> _Entry | None:
        entry = self._entries.get((id(message), index, last))
        if entry is None or not self.unchanged(entry, message):
            return None
        return entry

    def put(self, index: int, message: BaseMessage, last: bool, entry: _Entry) -> None:
        key = (id(message), index, last)
        entries = self._entries

        def gone(ref: weakref.ref[BaseMessage]) -> None:
            found = entries.get(key)
            if found is not None and found[0] is ref:
                entries.pop(key, None)

        # The entry's own weak reference does not call back: the one held here does, and stands in for it.
        entry = (weakref.ref(message, gone), *entry[1:])
        if len(entries) >= self._MAX:
            entries.clear()  # the conversations still going convert their messages again, once
        entries[key] = entry


_CONVERTED = _Converted()

# The same few hundred locators (and tool slots) describe every request of a conversation: made once each.
_LOCATORS: dict[tuple[str, int | None, int], Locator] = {}
_TOOL_SLOTS: dict[int, Slot] = {}
_INTERNED_MAX = 65536


def _locator(section: Any, message: int | None, index: int) -> Locator:
    found = _LOCATORS.get((section, message, index))
    if found is None:
        if len(_LOCATORS) >= _INTERNED_MAX:
            _LOCATORS.clear()
        found = _LOCATORS[section, message, index] = Locator(section, message, index)
    return found


def _tool_slot(index: int) -> Slot:
    found = _TOOL_SLOTS.get(index)
    if found is None:
        found = _TOOL_SLOTS[index] = Slot(-1, index, "tool")
    return found


class _Rendered:
    """How `_anthropic_payload` laid out the builder's turns, for the next request of the conversation to take over:
    the payload messages (unmarked), ``kept[t]`` payload messages made of the first ``t`` turns (empty turns send
    nothing), ``ends[m]`` slots held through payload message ``m - 1`` (``ends[0]``: tools and system), the blocks
    per payload message, and the counts of tools and system blocks the slots start with."""

    __slots__ = ("blocks", "ends", "kept", "messages", "slots", "system", "tools")

    def __init__(
        self,
        *,
        messages: list[dict[str, Any]],
        kept: list[int],
        ends: list[int],
        blocks: list[int],
        slots: dict[Locator, Slot],
        tools: int,
        system: int,
    ) -> None:
        self.messages = messages
        self.kept = kept
        self.ends = ends
        self.blocks = blocks
        self.slots = slots
        self.tools = tools
        self.system = system

    def through(
        self, turns: int
    ) -> tuple[int, list[dict[str, Any]], dict[Locator, Slot], list[int], list[int], list[int]]:
        """The layout of the first ``turns`` turns (new lists to extend): payload messages made of them, those
        messages, the slots through them, and ``kept``, ``ends``, blocks per message as far as they go."""
        m = self.kept[turns]
        # A dict copy keeps the keys' hashes (a locator's hash is Python code): only the dropped ones are hashed.
        slots = self.slots.copy()
        for loc in list(slots)[self.ends[m] :]:
            del slots[loc]
        return m, self.messages[:m], slots, self.kept[: turns + 1], self.ends[: m + 1], self.blocks[:m]


def _anthropic_payload(
    b: _Builder,
    tools: Sequence[Any],
    kwargs: Mapping[str, Any],
    before: _Turns | None = None,
    reused: int = 0,
) -> Mirror:
    """The payload and slots of the builder's turns; ``before`` (the conversation's previous request) supplies the
    payload messages and slots of the first ``reused`` turns, which are the same turn objects."""
    target = b.target
    payload: dict[str, Any] = {"model": target.model, "max_tokens": 1}
    mirror = Mirror(target, payload)
    tool_defs = [dict(t) for t in tools if isinstance(t, Mapping)]
    if tool_defs:
        payload["tools"] = tool_defs
    if b.system_string is not None:
        payload["system"] = b.system_string
    elif b.system:
        payload["system"] = [block for block, _ in b.system]
    earlier = before.rendered if before is not None else None
    messages: list[dict[str, Any]]
    counts: list[int]
    if earlier is None or earlier.tools != len(tool_defs) or earlier.system != len(b.system) or not reused:
        reused, m, messages, slots = 0, 0, [], {}  # the slots start differently: numbered afresh
        for i in range(len(tool_defs)):
            slots[_locator("tools", None, i)] = _tool_slot(i)
        for i, (_, slot) in enumerate(b.system):
            slots[_locator("system", None, i)] = slot
        kept, ends, counts = [0], [len(slots)], []
    else:
        m, messages, slots, kept, ends, counts = earlier.through(reused)
    turns = b.turns
    for t in range(reused, len(turns)):
        role, blocks = turns[t]
        if blocks:
            messages.append({"role": role, "content": [block for block, _ in blocks]})
            for i, (_, slot) in enumerate(blocks):
                slots[_locator("messages", m, i)] = slot
            m += 1
            ends.append(len(slots))
            counts.append(len(blocks))
        kept.append(m)
    mirror.slots = slots
    mirror.shape = (len(tool_defs), len(b.system), list(counts))
    mirror.rendered = _Rendered(
        messages=messages, kept=kept, ends=ends, blocks=counts, slots=slots, tools=len(tool_defs), system=len(b.system)
    )
    payload["messages"] = messages
    control = kwargs.get("cache_control")
    if control and messages:
        # A `cache_control=` kwarg ends up as one marker on the last block: ChatAnthropic sends it as Anthropic's
        # top-level automatic caching (langchain-anthropic 1.4 and later; earlier versions, and the Bedrock
        # subclasses, write it on the last block themselves). Either way it is counted there. Written on copies:
        # the payload messages are the conversation's next request's too.
        last = messages[-1]
        content = [*last["content"][:-1], {**last["content"][-1], "cache_control": dict(control)}]
        payload["messages"] = [*messages[:-1], {**last, "content": content}]
    return mirror


class _Turns:
    """What building one request of a conversation left: the entry of every message (what it was then), the
    builder's state after each message, its system blocks and turns, and their layout in the payload.

    The next request of the conversation repeats these message objects and adds a few: the messages it repeats
    unchanged (each checked against its entry: same object, equal content and tool calls) are taken over up to
    the last one, whose turn is rebuilt (the next message may join it, and a request's last message converts
    differently). Nothing here is changed once made: a request takes copies of what it extends."""

    __slots__ = ("after", "anchor", "rendered", "seen", "system", "turns")

    def __init__(
        self,
        seen: list[_Entry],
        after: list[tuple[int, str | None, int, int]],
        b: _Builder,
        mirror: Mirror,
    ) -> None:
        self.seen = seen
        self.after = after
        self.system = b.system
        self.turns = b.turns
        self.rendered: _Rendered | None = mirror.rendered
        self.anchor: weakref.ref[BaseMessage] | None = None

    def resume(self, b: _Builder, messages: Sequence[BaseMessage]) -> tuple[int, int]:
        """Put ``b`` where it was after the leading messages ``messages`` repeats unchanged (not the last of
        either request); return how many messages that is and how many whole turns ``b`` took over."""
        seen = self.seen
        limit = min(len(seen), len(messages)) - 1
        start = 0
        unchanged = _Converted.unchanged
        while start < limit and unchanged(seen[start], messages[start]):
            start += 1
        if not start:
            return 0, 0
        systems, string, turns, blocks = self.after[start - 1]
        b.system = self.system[:systems]
        b.system_string = string
        if not turns:
            return start, 0
        role, last = self.turns[turns - 1]
        b.turns = [*self.turns[: turns - 1], (role, last[:blocks])]
        return start, turns - 1


class _Conversations:
    """The last request of each conversation (found by its first two message objects), at most ``_MAX``; a
    conversation goes when its opening message does (a finished conversation keeps none of its content alive:
    the request may be hundreds of kilobytes). Plain dict operations, no lock (see `_Converted`)."""

    _MAX = 256

    def __init__(self) -> None:
        self._last: dict[tuple[int, int | None], _Turns] = {}

    @staticmethod
    def _key(messages: Sequence[BaseMessage]) -> tuple[int, int | None] | None:
        if not messages:
            return None
        return id(messages[0]), id(messages[1]) if len(messages) > 1 else None

    def find(self, messages: Sequence[BaseMessage]) -> _Turns | None:
        key = self._key(messages)
        return self._last.get(key) if key is not None else None

    def keep(self, messages: Sequence[BaseMessage], turns: _Turns) -> None:
        key = self._key(messages)
        if key is None:
            return
        last = self._last

        def gone(ref: weakref.ref[BaseMessage]) -> None:
            found = last.get(key)
            if found is not None and found.anchor is ref:
                last.pop(key, None)

        # The conversation's own opening message (the first is often a system prompt every conversation shares).
        turns.anchor = weakref.ref(messages[1] if len(messages) > 1 else messages[0], gone)
        if len(last) >= self._MAX and key not in last:
            last.clear()  # the conversations still going rebuild their next request in full, once
        last[key] = turns


_TURNS = _Conversations()


def _anthropic_system(b: _Builder, index: int, message: SystemMessage) -> None:
    content = message.content
    if isinstance(content, str):
        if b.system or b.system_string is not None:  # a second system message: ChatAnthropic merges the runs
            b.system.append(({"type": "text", "text": content}, b.slot(index, None, "string")))
            b.system_string = None
        else:
            b.system_string = content
            b.system.append(({"type": "text", "text": content}, b.slot(index, None, "string")))
        return
    if b.system_string is not None:
        b.system_string = None
    for j, item in enumerate(content):
        if isinstance(item, str):
            b.system.append(({"type": "text", "text": item}, b.slot(index, j, "item")))
        elif isinstance(item, dict) and item.get("type") == "text":
            b.system.append((_text_block(item), b.slot(index, j, "block")))


def _text_block(block: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k in ("type", "text", "cache_control", "citations")}


def _copied(block: Mapping[str, Any]) -> bool:
    """LangChain hands callbacks a copy of a message holding a block without a ``type`` (it adds one); such a
    block shows up as ``{"type": K, K: ...}`` with a ``K`` no LangChain block type has."""
    kind = block.get("type")
    return isinstance(kind, str) and len(block) == 2 and kind in block and kind not in _TYPED_PAYLOAD


#: Why the callback handler leaves alone a message LangChain may hand callbacks as a copy.
TRACED_COPY = (
    "LangChain passes callbacks a copy of a message holding an image or file block in its standard format "
    "(a marker written there is never sent): use CachepointMiddleware or with_cache_points"
)


def traced_copies(messages: Sequence[BaseMessage]) -> dict[int, str]:
    """The indexes of ``messages`` (as a callback receives them) that may be copies, each with `TRACED_COPY`.

    Before ``on_chat_model_start``, langchain-core's ``_format_for_tracing`` replaces a message holding a
    standard image block (``{"type": "image", "base64" | "url": ...}``) or a base64 file block by a shallow copy
    with that block in OpenAI's ``image_url`` form or the v0 ``source_type`` form; the model sends the original,
    so what a handler swaps into the copy never reaches it. A caller's own ``image_url`` block looks exactly like
    a converted one, so a message holding one is left alone as well: its breakpoint goes to the nearest message
    before it (the middleware and `with_cache_points` write to the messages sent, and mark such blocks).

    >>> from langchain_core.messages import HumanMessage
    >>> traced_copies([HumanMessage("Hi"), HumanMessage([{"type": "image_url", "image_url": {"url": "https://x/a.png"}}])])
    {1: 'LangChain passes callbacks a copy ... with_cache_points'}
    """
    return {
        index: TRACED_COPY
        for index, message in enumerate(messages)
        if isinstance(message.content, list) and any(_converted(item) for item in message.content)
    }


def _converted(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    kind = item.get("type")
    return kind == "image_url" or (kind == "file" and item.get("source_type") == "base64" and "base64" not in item)


def _anthropic_content(  # noqa: PLR0912 - one branch per block type
    b: _Builder, index: int, content: Any, *, ai: bool = False, v1: str | None = None
) -> list[tuple[Any, Slot]]:
    """The blocks of a message's content; ``v1``: how an ``output_version="v1"`` answer's text takes a marker
    (``"v1_text"``, or the reason it cannot)."""
    if isinstance(content, str):
        return [({"type": "text", "text": content}, b.slot(index, None, "string"))] if content else []
    copied = any(isinstance(item, dict) and _copied(item) for item in content)
    blocked = "LangChain passes callbacks a copy of this message (a block has no 'type')" if copied else None
    out: list[tuple[Any, Slot]] = []
    for j, item in enumerate(content):
        if isinstance(item, str):
            out.append(({"type": "text", "text": item}, b.slot(index, j, "item", blocked)))
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in _UNSENT or (ai and kind in ("tool_use", "tool_call")):
            continue  # unsent here; an AI message's tool calls are rebuilt from tool_calls (see _anthropic_ai)
        if kind == "text":
            if not str(item.get("text", "")).strip():
                continue
            if v1 is None:
                out.append((_text_block(item), b.slot(index, j, "block", blocked)))
            elif v1 == "v1_text" and "annotations" not in item:
                out.append((v1_text(item), b.slot(index, j, "v1_text", blocked)))
            else:
                reason = v1 if v1 != "v1_text" else _V1_CITED
                out.append((v1_text(item), b.slot(index, j, "block", reason)))
        elif kind == "image_url":
            out.append((anthropic_image(item), b.slot(index, j, "block", blocked or _image_blocked(b))))
        elif kind in ("image", "file", "audio") and ("base64" in item or "url" in item or "data" in item):
            media = _image_blocked(b) if kind == "image" else None
            out.append((_media_block(item), b.slot(index, j, "block", blocked or media)))
        else:
            out.append((dict(item), b.slot(index, j, "block", blocked)))
    return out


#: Why an image block sent through an older ChatAnthropicVertex takes no marker.
_VERTEX_IMAGE = (
    "ChatAnthropicVertex (langchain-google-vertexai before 3.2.3) rebuilds every image block, dropping markers"
)


def _image_blocked(b: _Builder) -> str | None:
    """Why an image block of ``b``'s request cannot carry a marker (``None``: it can, written as `placement` does)."""
    if b.target.provider == VERTEX and not vertex_sends_anthropic_images():
        return _VERTEX_IMAGE
    return None


def anthropic_image(item: Mapping[str, Any]) -> dict[str, Any]:
    """The Anthropic image block ChatAnthropic sends for an OpenAI-style ``image_url`` block (without any marker:
    it keeps none of the block's keys but the URL).

    >>> anthropic_image({"type": "image_url", "image_url": {"url": "https://x/a.png"}})
    {'type': 'image', 'source': {'type': 'url', 'url': 'https://x/a.png'}}
    """
    url = item.get("image_url", {})
    url = url.get("url", "") if isinstance(url, dict) else str(url)
    return {"type": "image", "source": _image_source(url)}


def _image_source(url: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        head, data = url.split(";base64,", 1)
        return {"type": "base64", "media_type": head[5:], "data": data}
    return {"type": "url", "url": url}


def anthropic_media(item: Mapping[str, Any]) -> dict[str, Any]:
    """The Anthropic image or document block for a LangChain standard image / file block (without any marker).

    >>> anthropic_media({"type": "image", "url": "https://x/a.png"})
    {'type': 'image', 'source': {'type': 'url', 'url': 'https://x/a.png'}}
    """
    block = _media_block(item)
    block.pop("cache_control", None)
    return block


def _media_block(item: Mapping[str, Any]) -> dict[str, Any]:
    data = item.get("base64") or item.get("data")
    mime = item.get("mime_type") or "application/octet-stream"
    kind = "image" if item.get("type") == "image" else "document"
    source = {"type": "base64", "media_type": mime, "data": data} if data else {"type": "url", "url": item.get("url")}
    block: dict[str, Any] = {"type": kind, "source": source}
    if "cache_control" in item:
        block["cache_control"] = item["cache_control"]
    return block


#: Why a text block of another provider's ``output_version="v1"`` answer takes no marker.
_V1_FOREIGN = "ChatAnthropic rebuilds another provider's output_version='v1' answer, dropping markers"
_V1_CITED = "ChatAnthropic rebuilds a cited output_version='v1' text block, dropping markers"


def v1_text(item: Mapping[str, Any]) -> dict[str, Any]:
    """The text block ChatAnthropic sends for a text block of an ``output_version="v1"`` answer (its keys in that
    order: the cache hashes a block as it is sent).

    >>> v1_text({"type": "text", "text": "Restart it.", "id": "lc_1"})
    {'text': 'Restart it.', 'type': 'text'}
    """
    return {"text": item.get("text", ""), "type": "text"}


def _anthropic_ai(b: _Builder, index: int, message: AIMessage, *, last: bool) -> list[tuple[Any, Slot]]:
    calls = message.tool_calls
    v1 = None
    # ChatAnthropic (not ChatAnthropicVertex) converts a v1 answer's blocks back, keeping only a text block's text;
    # a ``non_standard`` block of an Anthropic answer is sent as its value.
    if message.response_metadata.get("output_version") == "v1" and b.target.provider != VERTEX:
        v1 = "v1_text" if message.response_metadata.get("model_provider") == "anthropic" else _V1_FOREIGN
    out = _anthropic_content(b, index, message.content, ai=True, v1=v1)
    if last:
        out = [(_rstrip(block), slot) for block, slot in out]
    for call in calls:
        block = {"type": "tool_use", "id": call.get("id") or "", "name": call["name"], "input": call["args"]}
        # ChatAnthropic rebuilds tool-use blocks from tool_calls, dropping any marker put on them.
        out.append((block, Slot(index, None, "block", "ChatAnthropic rebuilds tool calls from tool_calls")))
    return out


def _rstrip(block: Any) -> Any:
    if isinstance(block, dict) and block.get("type") == "text":
        return {**block, "text": str(block["text"]).rstrip()}
    return block


def _anthropic_tool_message(b: _Builder, index: int, message: ToolMessage) -> list[tuple[Any, Slot]]:
    content = message.content
    if (
        isinstance(content, list)
        and content
        and all(isinstance(x, dict) and x.get("type") == "tool_result" for x in content)
    ):
        return _anthropic_content(b, index, content)
    inner: Any = content
    if isinstance(content, list):
        inner = [{k: v for k, v in x.items() if k != "cache_control"} if isinstance(x, dict) else x for x in content]
    block: dict[str, Any] = {
        "type": "tool_result",
        "content": inner,
        "tool_use_id": message.tool_call_id,
        "is_error": message.status == "error",
    }
    if isinstance(content, list):
        control = next((x["cache_control"] for x in content if isinstance(x, dict) and "cache_control" in x), None)
        if control:
            block["cache_control"] = control
    blocked = None if _TOOL_ID.match(message.tool_call_id or "") else "ChatAnthropic rewrites this tool call id"
    return [(block, b.slot(index, None, "tool_result", blocked))]


# --- Bedrock Converse (ChatBedrockConverse) ---


def _bedrock(
    target: Target,
    messages: Sequence[BaseMessage],
    tools: Sequence[Any],
    frozen: Mapping[int, str],
    own_system: Sequence[Any],
) -> Mirror:
    merged = {i for i in range(1, len(messages)) if _same_run(messages[i - 1], messages[i])}
    runs = merged | {i - 1 for i in merged}
    frozen = {
        **dict.fromkeys(runs, "ChatBedrockConverse merges this message with its neighbour (merge_message_runs)"),
        **frozen,
    }
    b = _Builder(target, frozen)
    for block in own_system:
        entry = {"text": block} if isinstance(block, str) else dict(block)
        b.system.append((entry, Slot(-2, None, "block", "the model's own system= blocks are not the messages'")))
    for index, message in _merged_runs(messages):
        if isinstance(message, AIMessage) and message.response_metadata.get("model_provider") not in (
            None,
            "bedrock_converse",
            "bedrock",
        ):
            b.frozen = {**b.frozen, index: "ChatBedrockConverse rewrites another provider's AI message"}
        blocks = _bedrock_content(b, index, message.content)
        if isinstance(message, SystemMessage):
            b.system.extend(blocks)
        elif isinstance(message, ToolMessage):
            results = [(x, s) for x, s in blocks if "cachePoint" not in x]
            points = [(x, s) for x, s in blocks if "cachePoint" in x]
            tool_result = {
                "toolResult": {
                    "content": [x for x, _ in results] or [{"text": " "}],
                    "toolUseId": message.tool_call_id,
                    "status": message.status,
                }
            }
            b.add("user", [(tool_result, b.slot(index, None, "tool_result")), *points], merge=True)
        elif isinstance(message, AIMessage):
            if message.tool_calls and [x for x, _ in blocks] == [{"text": _EMPTY}]:
                blocks = []  # an empty answer that calls tools sends only the calls
            for call in message.tool_calls:
                use = {"toolUse": {"toolUseId": call.get("id") or "", "name": call["name"], "input": call["args"]}}
                blocks.append((use, Slot(index, None, "block", "ChatBedrockConverse rebuilds tool calls")))
            b.add("assistant", blocks, merge=False)
        else:
            b.add("user", blocks, merge=True)

    payload: dict[str, Any] = {"modelId": target.model, "inferenceConfig": {}}
    mirror = Mirror(target, payload)
    payload["system"] = _place_points(mirror, "system", None, b.system)
    turns = [(role, blocks) for role, blocks in b.turns if blocks]
    payload["messages"] = [
        {"role": role, "content": _place_points(mirror, "messages", m, blocks)}
        for m, (role, blocks) in enumerate(turns)
    ]
    specs = [(_tool_spec(t), Slot(-1, i, "tool")) for i, t in enumerate(tools)]
    if specs:
        payload["toolConfig"] = {"tools": _place_points(mirror, "tools", None, specs)}
    return mirror


#: Why cachepoint places no cache point of its own on a ChatBedrockConverse call with a ``cache_control`` kwarg.
BEDROCK_KWARG = (
    "ChatBedrockConverse places the cache points of its cache_control= kwarg itself, after the request is built "
    "(where none is yet: the system prompt, the last message, the tools, the message before): cachepoint's own "
    "would make them come out of TTL order"
)


def model_cache_points(mirror: Mirror, cache_control: Any) -> None:
    """Add to a Bedrock ``mirror`` the cache points ChatBedrockConverse appends for a ``cache_control`` kwarg
    (``_apply_cache_points``): while fewer than four are in the request, one each on the system prompt, the last
    message (not a Nova tool turn), the tools (not Nova) where none is yet, and for Claude, when the request had
    none at all, on the message before the last. Placed after cachepoint's: the handler places none then.

    Before langchain-aws 1.7 (`bedrock_kwarg_counts_points`) the model counted nothing and added no point on the
    message before the last: the first three rules, without the limit."""
    if not cache_control or not isinstance(cache_control, Mapping):
        return
    counts = bedrock_kwarg_counts_points()
    payload, model = mirror.payload, mirror.target.model.lower()
    nova, claude = "amazon.nova" in model, "anthropic" in model
    point: dict[str, Any] = {"type": "default"}
    ttl = cache_control.get("ttl")
    if ttl and ttl != "5m" and not nova:
        point["ttl"] = ttl
    system: list[Any] = payload.get("system") or []
    messages: list[dict[str, Any]] = payload.get("messages") or []
    tools: list[Any] = (payload.get("toolConfig") or {}).get("tools") or []
    contents = [m.get("content") or [] for m in messages]
    manual = sum(_is_point(b) for part in (system, tools, *contents) for b in part)
    # Before the count nothing stopped the model at four: Bedrock rejects a fifth point, with cachepoint or not.
    budget = 4 - manual if counts else math.inf

    def add(blocks: list[Any]) -> None:
        nonlocal budget
        blocks.append({"cachePoint": dict(point)})
        budget -= 1

    if budget > 0 and system and not any(map(_is_point, system)):
        add(system)
    if budget > 0 and contents:
        last = contents[-1]
        tool_turn = nova and any(isinstance(b, dict) and ("toolResult" in b or "toolUse" in b) for b in last)
        if not tool_turn and not any(map(_is_point, last)):
            add(last)
    if budget > 0 and tools and not nova and not any(map(_is_point, tools)):
        add(tools)
    # Claude's end-of-history point (Bedrock's simplified cache management), from langchain-aws 1.7.
    if counts and budget > 0 and claude and not nova and manual == 0 and len(contents) >= 2:
        before = contents[-2]
        if not any(map(_is_point, before)) and not (before and "reasoningContent" in before[-1]):
            add(before)


def _is_point(block: Any) -> bool:
    return isinstance(block, dict) and "cachePoint" in block


def _merged_runs(messages: Sequence[BaseMessage]) -> list[tuple[int, BaseMessage]]:
    """The messages as ChatBedrockConverse sends them: each run of messages of one type merged into one by
    langchain-core's ``merge_message_runs`` (string contents joined by a newline, lists concatenated), with the
    index of the run's first message."""
    from langchain_core.messages import merge_message_runs

    out: list[tuple[int, BaseMessage]] = []
    start = 0
    for end in range(1, len(messages) + 1):
        if end < len(messages) and _same_run(messages[end - 1], messages[end]):
            continue
        run = list(messages[start:end])
        out.append((start, run[0] if len(run) == 1 else merge_message_runs(run)[0]))
        start = end
    return out


def _same_run(a: BaseMessage, b: BaseMessage) -> bool:
    return type(a) is type(b) and not isinstance(a, ToolMessage)


def _place_points(mirror: Mirror, section: Any, message: int | None, blocks: list[tuple[Any, Slot]]) -> list[Any]:
    """Blocks in order; a cachePoint is a marker on the block before it, so it gets no slot of its own."""
    out: list[Any] = []
    index = 0
    for block, slot in blocks:
        out.append(block)
        if isinstance(block, dict) and "cachePoint" in block:
            continue
        mirror.slots[Locator(section, message, index)] = slot
        index += 1
    return out


#: What ChatBedrockConverse sends for empty or blank text (Bedrock rejects blank text blocks).
_EMPTY = "."


def _bedrock_content(b: _Builder, index: int, content: Any) -> list[tuple[Any, Slot]]:
    if isinstance(content, str):
        return [({"text": content if content.strip() else _EMPTY}, b.slot(index, None, "string"))]
    copied = any(isinstance(item, dict) and _copied(item) for item in content)
    blocked = "LangChain passes callbacks a copy of this message (a block has no 'type')" if copied else None
    out: list[tuple[Any, Slot]] = []
    for j, item in enumerate(content):
        if isinstance(item, str):
            out.append(({"text": item}, b.slot(index, j, "item", blocked)))
        elif isinstance(item, dict):
            block = _bedrock_block(item, copied=copied)
            if block is not None:
                out.append((block, b.slot(index, j, "block", blocked)))
    return out


def _bedrock_block(item: dict[str, Any], *, copied: bool) -> dict[str, Any] | None:
    """The Converse block LangChain sends for a content dict (``None``: nothing is sent for it)."""
    kind = item.get("type")
    if kind == "non_standard" and isinstance(item.get("value"), dict):
        return dict(item["value"]) or None
    if kind is not None and copied and kind in item and len(item) == 2:
        return {kind: item[kind]}  # the copy's rewrite of a type-less block: sent as written
    if kind is None:
        return dict(item) or None
    if kind in ("tool_use", "tool_call") or kind in _UNSENT:
        return None  # tool calls (a v1 answer's too) are rebuilt from the AI message's tool_calls
    if kind == "text":
        return {"text": item["text"] if str(item.get("text", "")).strip() else _EMPTY}
    return {"text": f"[{kind}]"}  # images, documents, reasoning...: counted as a block, carried roughly


def _tool_spec(tool: Any) -> dict[str, Any]:
    if isinstance(tool, Mapping) and ("cachePoint" in tool or "toolSpec" in tool):
        return dict(tool)
    spec = dict(convert_to_openai_tool(tool)["function"])
    spec["inputSchema"] = {"json": spec.pop("parameters", {"type": "object", "properties": {}})}
    spec["description"] = spec.get("description") or spec["name"]
    return {"toolSpec": spec}


# --- OpenAI Chat Completions (ChatOpenAI): the body for the trace and the static layers of prompt_cache_key ---


def _openai(target: Target, messages: Sequence[BaseMessage], tools: Sequence[Any]) -> Mirror:
    from langchain_core.messages import convert_to_openai_messages

    payload: dict[str, Any] = {"model": target.model, "messages": convert_to_openai_messages(list(messages))}
    if tools:
        payload["tools"] = [
            dict(t) if isinstance(t, Mapping) and t.get("type") == "function" else convert_to_openai_tool(t)
            for t in tools
        ]
    return Mirror(target, payload)
