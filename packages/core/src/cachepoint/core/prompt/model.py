"""The one request shape every provider format parses into: tools, system blocks, messages of content blocks.

A block keeps its provider-native object exactly as written (``data``, without its cache marker), tagged with
the format it came from, plus a normalized ``kind`` (``text``, ``image``, ``document``, ``tool_use``,
``tool_result``, ``thinking``, ``redacted_thinking``, or ``other`` for provider-specific blocks carried as-is).
So parsing and rendering back in the same format loses nothing, and cachepoint can still reason about every
block (its tokens, whether it may carry a breakpoint, its place in the cached prefix).

Blocks built by hand (`Block.text`, `Tool.define`...) use the Anthropic shape, the neutral form cachepoint
converts from and to.

>>> from cachepoint.core.prompt import Request
>>> req = Request.parse({"model": "claude-sonnet-4-5", "max_tokens": 64,
...                      "messages": [{"role": "user", "content": "Hi"}]})
>>> req.messages[0].blocks[0].kind, req.messages[0].blocks[0].text
('text', 'Hi')
>>> req.render() == {"model": "claude-sonnet-4-5", "max_tokens": 64,
...                  "messages": [{"role": "user", "content": "Hi"}]}
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import Self

if TYPE_CHECKING:
    from cachepoint.core.prompt.positions import PrefixView
    from cachepoint.core.providers import ModelInfo, ProviderTable
    from cachepoint.core.tokens import TokenCounter

__all__ = [
    "BLOCK_KINDS",
    "Block",
    "BlockKind",
    "CacheMarker",
    "Locator",
    "Message",
    "Request",
    "Section",
    "Tool",
]

BlockKind = Literal["text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking", "other"]
BLOCK_KINDS: tuple[str, ...] = (
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "other",
)
Section = Literal["tools", "system", "messages"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class CacheMarker:
    """A cache breakpoint on a block: ``ttl`` (``"5m"``, ``"1h"``, ``"30m"``...; ``None`` = provider default).

    ``raw`` is the marker object exactly as parsed (``{"type": "ephemeral"}``), so an existing marker renders back
    unchanged; new markers leave it ``None`` and render in the provider's canonical form. ``style`` records which
    field carried it where a format accepts two (OpenAI Chat: ``prompt_cache_breakpoint`` or the
    OpenRouter/LiteLLM ``cache_control`` convention).

    >>> CacheMarker("1h")
    CacheMarker(ttl='1h')
    >>> CacheMarker("1h") == CacheMarker("1h", raw={"type": "ephemeral", "ttl": "1h"})
    True
    """

    ttl: str | None = None
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    style: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Block:
    """One content block: a system text, a message's text/image/tool call/tool result/thinking...

    ``data`` is the provider-native object without its cache marker; ``format`` names its dialect
    (``anthropic``, ``bedrock``, ``openai-chat``, ``openai-responses``); ``cache`` is its breakpoint, if any;
    ``stable`` says the caller vouches that this block does not change between requests (see `stable_prefix`);
    ``nested_markers`` counts cache markers inside it (an Anthropic tool result's inner blocks), which the
    provider counts against its limit too.

    >>> b = Block.text_block("You are a helpful assistant.", stable=True)
    >>> b.kind, b.data, b.stable
    ('text', {'type': 'text', 'text': 'You are a helpful assistant.'}, True)
    """

    kind: str
    data: Mapping[str, Any]
    format: str = "anthropic"
    cache: CacheMarker | None = None
    stable: bool | None = None
    nested_markers: int = 0

    @property
    def type(self) -> str:
        """The provider's own name for this block type (``text``, ``toolUse``, ``input_text``...)."""
        from cachepoint.core.prompt.formats import get_format

        return get_format(self.format).block_type(self)

    @property
    def text(self) -> str:
        """The text the model reads for this block (tool input as JSON, tool result text...); ``""`` for media."""
        from cachepoint.core.prompt.formats import get_format

        return get_format(self.format).describe(self).text

    def with_cache(self, marker: CacheMarker | None) -> Block:
        """A copy carrying ``marker`` (or none)."""
        return replace(self, cache=marker)

    # --- neutral (Anthropic-shaped) constructors ---

    @classmethod
    def text_block(cls, text: str, *, stable: bool | None = None) -> Block:
        """A text block (the module-level `text` function is the short spelling).

        >>> Block.text_block("Hi").data
        {'type': 'text', 'text': 'Hi'}
        """
        return cls("text", {"type": "text", "text": text}, "anthropic", stable=stable)

    @classmethod
    def image(cls, data: str, media_type: str = "image/png", *, stable: bool | None = None) -> Block:
        """An image from base64 ``data``.

        >>> Block.image("iVBORw0KGgo=").data["source"]["media_type"]
        'image/png'
        """
        source = {"type": "base64", "media_type": media_type, "data": data}
        return cls("image", {"type": "image", "source": source}, "anthropic", stable=stable)

    @classmethod
    def image_url(cls, url: str, *, stable: bool | None = None) -> Block:
        """An image by URL."""
        return cls("image", {"type": "image", "source": {"type": "url", "url": url}}, "anthropic", stable=stable)

    @classmethod
    def document(
        cls,
        text: str | None = None,
        *,
        pdf_base64: str | None = None,
        title: str | None = None,
        stable: bool | None = None,
    ) -> Block:
        """A document: plain ``text`` or a base64 PDF.

        >>> Block.document("Refund policy: 30 days.", title="policy").data["source"]["type"]
        'text'
        """
        if (text is None) == (pdf_base64 is None):
            raise ValueError("Block.document: give exactly one of text= or pdf_base64=")
        if text is not None:
            source: dict[str, Any] = {"type": "text", "media_type": "text/plain", "data": text}
        else:
            source = {"type": "base64", "media_type": "application/pdf", "data": pdf_base64}
        data: dict[str, Any] = {"type": "document", "source": source}
        if title is not None:
            data["title"] = title
        return cls("document", data, "anthropic", stable=stable)

    @classmethod
    def tool_use(cls, id: str, name: str, input: Mapping[str, Any]) -> Block:
        """A tool call made by the assistant."""
        return cls("tool_use", {"type": "tool_use", "id": id, "name": name, "input": dict(input)}, "anthropic")

    @classmethod
    def tool_result(cls, tool_use_id: str, content: str | Sequence[Block], *, is_error: bool = False) -> Block:
        """The result of a tool call (text, or text/image blocks).

        >>> Block.tool_result("call_1", "42").data
        {'type': 'tool_result', 'tool_use_id': 'call_1', 'content': '42'}
        """
        body: Any = content if isinstance(content, str) else [dict(b.data) for b in content]
        data: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id, "content": body}
        if is_error:
            data["is_error"] = True
        return cls("tool_result", data, "anthropic")


def text(value: str, *, stable: bool | None = None) -> Block:
    """Shorthand for `Block.text_block`.

    >>> text("hello").data
    {'type': 'text', 'text': 'hello'}
    """
    return Block.text_block(value, stable=stable)


@dataclass(frozen=True)
class Tool:
    """A tool definition, provider-native in ``data`` (without its cache marker).

    >>> t = Tool.define("get_weather", "Weather for a city.", {"type": "object", "properties": {}})
    >>> t.name
    'get_weather'
    """

    data: Mapping[str, Any]
    format: str = "anthropic"
    cache: CacheMarker | None = None
    stable: bool | None = None

    @property
    def name(self) -> str:
        """The tool's name ("" when the provider object has none)."""
        from cachepoint.core.prompt.formats import get_format

        return get_format(self.format).tool_name(self)

    def with_cache(self, marker: CacheMarker | None) -> Tool:
        """A copy carrying ``marker`` (or none)."""
        return replace(self, cache=marker)

    @classmethod
    def define(
        cls, name: str, description: str, input_schema: Mapping[str, Any], *, stable: bool | None = None
    ) -> Tool:
        """A custom tool (Anthropic shape; converts to every format)."""
        data = {"name": name, "description": description, "input_schema": dict(input_schema)}
        return cls(data, "anthropic", stable=stable)


MessageForm = Literal["list", "string", "none", "item"]


@dataclass(frozen=True)
class Message:
    """One conversation turn: a role and its blocks.

    ``form`` records how the content was written, so it renders back the same way: ``list`` (blocks),
    ``string`` (a plain string; becomes a list only if a breakpoint lands on it), ``none`` (OpenAI assistant
    message with only tool calls), ``item`` (an OpenAI Responses item such as ``function_call``, whose one block
    is the item). ``extra`` holds the message's other keys (``name``, ``tool_call_id``...).

    >>> Message("user", (text("Hi"),)).role
    'user'
    """

    role: str
    blocks: tuple[Block, ...]
    form: str = "list"
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    format: str = "anthropic"
    keys: tuple[str, ...] = ()

    @classmethod
    def user(cls, *content: str | Block) -> Message:
        """A user message from strings and blocks.

        >>> Message.user("What is 2+2?").blocks[0].data
        {'type': 'text', 'text': 'What is 2+2?'}
        """
        return cls("user", tuple(text(c) if isinstance(c, str) else c for c in content))

    @classmethod
    def assistant(cls, *content: str | Block) -> Message:
        """An assistant message from strings and blocks."""
        return cls("assistant", tuple(text(c) if isinstance(c, str) else c for c in content))


# Parsers make a `Block` and a `Message` per new block and message of every request. A frozen dataclass's
# ``__init__`` stores each field through ``object.__setattr__`` (to get past its own frozen ``__setattr__``), about
# twice the cost of filling the instance dictionary directly, which is what these do: the same object, every
# field given (`tests/core/prompt/test_fast_paths.py` checks them against the constructors, field by field).
_new = object.__new__


def new_block(
    kind: str, data: Mapping[str, Any], format: str, cache: CacheMarker | None = None, nested_markers: int = 0
) -> Block:
    """``Block(kind, data, format, cache, None, nested_markers)``, built without the dataclass ``__init__``."""
    block = _new(Block)
    fields = block.__dict__
    fields["kind"] = kind
    fields["data"] = data
    fields["format"] = format
    fields["cache"] = cache
    fields["stable"] = None
    fields["nested_markers"] = nested_markers
    return block


def new_message(  # noqa: PLR0917 - the constructor's fields, in its order
    role: str, blocks: tuple[Block, ...], form: str, extra: Mapping[str, Any], format: str, keys: tuple[str, ...]
) -> Message:
    """``Message(role, blocks, form, extra, format, keys)``, built without the dataclass ``__init__``."""
    message = _new(Message)
    fields = message.__dict__
    fields["role"] = role
    fields["blocks"] = blocks
    fields["form"] = form
    fields["extra"] = extra
    fields["format"] = format
    fields["keys"] = keys
    return message


@dataclass(frozen=True, slots=True)
class Locator:
    """Where a block sits: ``section`` plus indexes (``message`` only for messages; ``index`` within the list).

    >>> Locator("messages", 2, 0)
    Locator(section='messages', message=2, index=0)
    """

    section: Section
    message: int | None
    index: int


@dataclass(frozen=True)
class Request:
    """A provider request in one shape: ``tools``, ``system`` blocks, ``messages``, and every other field
    (``model``, ``max_tokens``, sampling parameters...) in ``params``, untouched.

    ``automatic`` is Anthropic's top-level ``cache_control`` (automatic caching), if present. ``layout`` is
    bookkeeping that lets the request render back exactly as it was written.

    Parse with `Request.parse`, render with `render`, look at the cached prefix with `positions`.

    >>> req = Request(format="anthropic", system=(text("Be brief."),), messages=(Message.user("Hi"),),
    ...               params={"model": "claude-sonnet-4-5", "max_tokens": 100})
    >>> req.render()["system"]
    [{'type': 'text', 'text': 'Be brief.'}]
    """

    format: str = "anthropic"
    messages: tuple[Message, ...] = ()
    system: tuple[Block, ...] = ()
    tools: tuple[Tool, ...] = ()
    params: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    automatic: CacheMarker | None = None
    layout: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    # --- parsing and rendering ---

    @classmethod
    def parse(
        cls,
        payload: Mapping[str, Any],
        *,
        format: str | None = None,
        provider: str | None = None,
        lenient: bool = False,
    ) -> Request:
        """Parse a provider payload (format detected from its shape unless given).

        ``provider`` breaks ties when a payload fits several formats (``{"messages": [{"role": "user",
        "content": "Hi"}]}`` is valid Anthropic and OpenAI Chat). ``lenient=True`` carries block types cachepoint
        does not know as opaque ``other`` blocks instead of raising.

        >>> Request.parse({"modelId": "m", "messages": [{"role": "user", "content": [{"text": "Hi"}]}]}).format
        'bedrock'
        """
        from cachepoint.core.prompt.formats import parse_request

        return parse_request(payload, format=format, provider=provider, lenient=lenient)

    def render(self, format: str | None = None) -> dict[str, Any]:
        """The provider payload, in this request's format or converted to ``format``.

        >>> Request(messages=(Message.user("Hi"),), params={"model": "gpt-5"}).render("openai-chat")
        {'model': 'gpt-5', 'messages': [{'role': 'user', 'content': [{'type': 'text', 'text': 'Hi'}]}]}
        """
        from cachepoint.core.prompt.formats import get_format

        request = self if format is None or format == self.format else self.convert(format)
        return get_format(request.format).render(request)

    def convert(self, format: str) -> Request:
        """This request in another format (raises `RenderError` for blocks that have no form there)."""
        from cachepoint.core.prompt.convert import convert_request

        return convert_request(self, format)

    # --- the cached prefix ---

    def positions(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        info: ModelInfo | None = None,
        counter: TokenCounter | None = None,
        table: ProviderTable | None = None,
    ) -> PrefixView:
        """The request as the provider's cache sees it: ordered positions tools -> system -> messages, each
        with its token count, prefix hash, and whether it can carry a breakpoint (see `PrefixView`).

        >>> view = Request.parse({"model": "claude-sonnet-4-5", "max_tokens": 5, "system": "Be brief.",
        ...                       "messages": [{"role": "user", "content": "Hi"}]}).positions()
        >>> [p.path for p in view]
        ['system', 'messages[0].content']
        """
        from cachepoint.core.prompt.positions import PrefixView

        return PrefixView.build(self, provider=provider, model=model, info=info, counter=counter, table=table)

    def locators(self) -> Iterator[tuple[Locator, Block | Tool]]:
        """Every block and tool in prefix order, with its `Locator`."""
        for i, tool in enumerate(self.tools):
            yield Locator("tools", None, i), tool
        for i, block in enumerate(self.system):
            yield Locator("system", None, i), block
        for m, message in enumerate(self.messages):
            for i, block in enumerate(message.blocks):
                yield Locator("messages", m, i), block

    def get(self, locator: Locator) -> Block | Tool:
        """The block or tool at ``locator``."""
        if locator.section == "tools":
            return self.tools[locator.index]
        if locator.section == "system":
            return self.system[locator.index]
        assert locator.message is not None
        return self.messages[locator.message].blocks[locator.index]

    def with_markers(self, markers: Mapping[Locator, CacheMarker | None]) -> Self:
        """A copy with the cache marker at each locator set (``None`` removes it); everything else shared.

        >>> req = Request(messages=(Message.user("Hi"),))
        >>> req.with_markers({Locator("messages", 0, 0): CacheMarker("5m")}).messages[0].blocks[0].cache
        CacheMarker(ttl='5m')
        """
        # Only the marked blocks (and their messages) are copied: an agent's request has hundreds of blocks and a
        # handful of markers, and going over every block (a `Locator` each) cost more than the rest of a placement.
        # Locators naming no block of this request are ignored, as they always were.
        tools: list[Tool] | None = None
        system: list[Block] | None = None
        touched: dict[int, dict[int, CacheMarker | None]] = {}
        messages = self.messages
        for loc, marker in markers.items():
            section, m, i = loc.section, loc.message, loc.index
            if not isinstance(i, int) or i < 0:
                continue
            if section == "messages":
                if isinstance(m, int) and 0 <= m < len(messages) and i < len(messages[m].blocks):
                    touched.setdefault(m, {})[i] = marker
            elif m is not None:
                continue
            elif section == "tools" and i < len(self.tools):
                tools = list(self.tools) if tools is None else tools
                tools[i] = tools[i].with_cache(marker)
            elif section == "system" and i < len(self.system):
                system = list(self.system) if system is None else system
                system[i] = system[i].with_cache(marker)
        changed = list(messages) if touched else None
        for m, marks in touched.items():
            assert changed is not None
            blocks = list(messages[m].blocks)
            for i, marker in marks.items():
                blocks[i] = blocks[i].with_cache(marker)
            changed[m] = replace(messages[m], blocks=tuple(blocks))
        return replace(
            self,
            tools=self.tools if tools is None else tuple(tools),
            system=self.system if system is None else tuple(system),
            messages=messages if changed is None else tuple(changed),
        )

    def without_markers(self) -> Self:
        """A copy with no cache markers at all (and no automatic ``cache_control``)."""
        stripped = self.with_markers(dict.fromkeys(self.marked_locators()))
        return replace(stripped, automatic=None)

    def marked_locators(self) -> list[Locator]:
        """The locators of the blocks and tools that carry a cache marker, in prefix order.

        >>> req = Request(messages=(Message.user("Hi"),))
        >>> req.with_markers({Locator("messages", 0, 0): CacheMarker("5m")}).marked_locators()
        [Locator(section='messages', message=0, index=0)]
        """
        found = [Locator("tools", None, i) for i, tool in enumerate(self.tools) if tool.cache is not None]
        found += [Locator("system", None, i) for i, block in enumerate(self.system) if block.cache is not None]
        for m, message in enumerate(self.messages):
            for i, block in enumerate(message.blocks):
                if block.cache is not None:
                    found.append(Locator("messages", m, i))
        return found

    def mark_stable(
        self,
        *,
        through: int | None = None,
        messages: Iterable[int] = (),
        tools: bool | None = None,
        system: bool | None = None,
    ) -> Self:
        """Mark blocks the caller vouches do not change between requests (for `stable_prefix` and `auto`).

        ``through=i`` marks tools, system and messages ``0..i``; ``messages=[...]`` marks whole messages
        (negative indexes count from the end); ``tools`` / ``system`` set those sections explicitly (by default
        tools and system count as stable, messages do not).

        >>> req = Request(messages=(Message.user("doc"), Message.user("q"))).mark_stable(messages=[0])
        >>> [m.blocks[0].stable for m in req.messages]
        [True, None]
        """
        n = len(self.messages)
        chosen = {i % n if n else i for i in messages}
        if through is not None:
            chosen.update(range((through % n if n and through < 0 else through) + 1))

        def mark(loc: Locator, item: Block | Tool) -> Block | Tool:
            if loc.section == "tools" and tools is not None:
                return replace(item, stable=tools)
            if loc.section == "system" and system is not None:
                return replace(item, stable=system)
            if loc.section == "messages" and loc.message in chosen:
                return replace(item, stable=True)
            return item

        return self._map(mark)

    def _map(self, fn: Callable[[Locator, Any], Any]) -> Self:
        tools = tuple(fn(Locator("tools", None, i), t) for i, t in enumerate(self.tools))
        system = tuple(fn(Locator("system", None, i), b) for i, b in enumerate(self.system))
        messages = []
        for m, message in enumerate(self.messages):
            blocks = tuple(fn(Locator("messages", m, i), b) for i, b in enumerate(message.blocks))
            changed = any(a is not b for a, b in zip(blocks, message.blocks, strict=True))
            messages.append(replace(message, blocks=blocks) if changed else message)
        return replace(self, tools=tools, system=system, messages=tuple(messages))

    @property
    def model(self) -> str | None:
        """The model id in the payload (``model`` or Bedrock's ``modelId``), if any."""
        value = self.params.get("model", self.params.get("modelId"))
        return value if isinstance(value, str) else None
