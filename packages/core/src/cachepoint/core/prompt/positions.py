"""The request as a provider's prompt cache sees it: an ordered sequence of positions, tools -> system -> messages.

Each `Position` is one block (a tool definition, a system block, a message content block) with its token count,
the running total, a content hash of the whole prefix up to and including it, whether it can carry a
breakpoint for the target provider (and why not), and where Anthropic's 20-block lookback counts it (a run of
consecutive ``tool_use`` or ``tool_result`` blocks is one lookback position). Existing breakpoints (explicit
markers, Anthropic's top-level automatic ``cache_control``, OpenAI's implicit breakpoint) are resolved to
positions. Strategies, the simulator, the analyzer and lint all read this one view.

Hashes ignore cache markers (moving a breakpoint does not change the prefix) and keep the payload's key order
(reordering a tool's JSON schema does change what the provider sees).

>>> from cachepoint.core.prompt import Request
>>> view = Request.parse({"model": "claude-sonnet-4-5", "max_tokens": 5,
...     "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
...     "messages": [{"role": "user", "content": "Hi"}]}).positions()
>>> [(p.path, p.layer, p.eligible) for p in view]
[('system[0]', 'system', True), ('messages[0].content', 'messages', True)]
>>> [(b.position, b.source) for b in view.breakpoints]
[(0, 'marker')]
"""

from __future__ import annotations

import hashlib
import itertools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, overload

from cachepoint.core.prompt.formats import get_format
from cachepoint.core.prompt.formats.base import Content, dumps
from cachepoint.core.prompt.model import Block, CacheMarker, Locator, Request, Section, Tool
from cachepoint.core.providers import ModelInfo, ProviderTable, model_info, normalize_provider
from cachepoint.core.tokens import (
    DEFAULT_COUNTER,
    UNKNOWN_MEDIA_TOKENS,
    TokenCounter,
    document_tokens,
    image_size,
    image_tokens,
)

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
    "TOOLS_PREAMBLE_TOKENS",
    "ExistingBreakpoint",
    "Position",
    "PrefixView",
    "block_tokens",
]

#: Tokens a message boundary costs (role markers); a rough constant, documented rather than hidden.
MESSAGE_OVERHEAD_TOKENS = 3
#: Tokens Anthropic adds to the system prompt when tools are present (Claude 4.x with tool_choice auto/none, per
#: Anthropic's tool-use pricing table); counted at the first tool because it sits in the cached prefix.
TOOLS_PREAMBLE_TOKENS = 346

_SEED = hashlib.sha256(b"cachepoint/prefix/v1").digest()
#: Anthropic's default TTL, for comparing markers when no model rules are given.
_ANTHROPIC_DEFAULT_TTL = "5m"


@dataclass(frozen=True, slots=True)
class Position:
    """One block of the cached prefix.

    Attributes:
        index: place in prefix order (0 = first tool, or first system block...).
        locator: where the block is in the `Request`.
        path: where it is in the rendered payload (``messages[3].content[1]``, ``toolConfig.tools[0]``).
        section: ``tools``, ``system`` or ``messages``; ``layer`` is the same except that leading
            system/developer messages of OpenAI formats belong to the ``system`` layer.
        role: the message role (``None`` for tools and system blocks).
        kind: normalized block kind; ``type`` the provider's own type name.
        tokens: estimated tokens of this block; ``cumulative_tokens`` of the prefix through it.
        block_hash: SHA-256 of the block (with its message boundary); ``prefix_hash`` of everything up to and
            including it.
        lookback_index: Anthropic lookback count; a breakpoint at position *b* finds an entry at *a* when
            ``lookback_index[b] - lookback_index[a] < 20``.
        eligible: whether the format (and model) let a marker go on this block; ``ineligible_reason`` says why
            not. A model with automatic caching only (``ModelInfo.explicit`` false) takes no markers at all.
        marker: the block's existing explicit marker.
        stable: the caller vouches the block does not change between requests (tools and system by default).
        message_start: first block of its message.
    """

    index: int
    locator: Locator
    path: str
    section: Section
    layer: Section
    role: str | None
    kind: str
    type: str
    tokens: int
    cumulative_tokens: int
    block_hash: str
    prefix_hash: str
    lookback_index: int
    eligible: bool
    ineligible_reason: str | None
    marker: CacheMarker | None
    stable: bool
    message_start: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for traces, the analyzer's output, the emulator's logs)."""
        return {
            "index": self.index,
            "path": self.path,
            "section": self.section,
            "layer": self.layer,
            "role": self.role,
            "kind": self.kind,
            "type": self.type,
            "tokens": self.tokens,
            "cumulative_tokens": self.cumulative_tokens,
            "block_hash": self.block_hash,
            "prefix_hash": self.prefix_hash,
            "lookback_index": self.lookback_index,
            "eligible": self.eligible,
            "ineligible_reason": self.ineligible_reason,
            "marker_ttl": self.marker.ttl if self.marker else None,
            "has_marker": self.marker is not None,
            "stable": self.stable,
        }


# A view builds a `Position` per new block. The frozen dataclass's ``__init__`` stores its 18 fields one
# ``object.__setattr__`` each (a name lookup every time); `new_position` calls each slot's own setter instead, about
# three times faster, the same object. Unpacking fails at import if `Position` gains or loses a field, and
# `tests/core/prompt/test_fast_paths.py` checks the result against the constructor.
(
    _set_index,
    _set_locator,
    _set_path,
    _set_section,
    _set_layer,
    _set_role,
    _set_kind,
    _set_type,
    _set_tokens,
    _set_cumulative_tokens,
    _set_block_hash,
    _set_prefix_hash,
    _set_lookback_index,
    _set_eligible,
    _set_ineligible_reason,
    _set_marker,
    _set_stable,
    _set_message_start,
) = (vars(Position)[f.name].__set__ for f in fields(Position))
_new = object.__new__


def new_position(  # noqa: PLR0917 - one argument per field, in the constructor's order
    index: int,
    locator: Locator,
    path: str,
    section: Section,
    layer: Section,
    role: str | None,
    kind: str,
    type: str,
    tokens: int,
    cumulative_tokens: int,
    block_hash: str,
    prefix_hash: str,
    lookback_index: int,
    eligible: bool,
    ineligible_reason: str | None,
    marker: CacheMarker | None,
    stable: bool,
    message_start: bool,
) -> Position:
    """``Position(...)`` of these fields, in this order, built without the dataclass ``__init__``."""
    position: Position = _new(Position)
    _set_index(position, index)
    _set_locator(position, locator)
    _set_path(position, path)
    _set_section(position, section)
    _set_layer(position, layer)
    _set_role(position, role)
    _set_kind(position, kind)
    _set_type(position, type)
    _set_tokens(position, tokens)
    _set_cumulative_tokens(position, cumulative_tokens)
    _set_block_hash(position, block_hash)
    _set_prefix_hash(position, prefix_hash)
    _set_lookback_index(position, lookback_index)
    _set_eligible(position, eligible)
    _set_ineligible_reason(position, ineligible_reason)
    _set_marker(position, marker)
    _set_stable(position, stable)
    _set_message_start(position, message_start)
    return position


@dataclass(frozen=True, slots=True)
class ExistingBreakpoint:
    """A breakpoint the request already has, resolved to a position.

    ``source``: ``marker`` (an explicit block marker), ``automatic`` (Anthropic top-level ``cache_control``,
    resolved to the last eligible block), ``nested`` (a marker inside a block, e.g. in an Anthropic tool result,
    counted at its parent), ``implicit`` (OpenAI GPT-5.6+ implicit breakpoint on the latest user/tool message).
    ``ttl`` is the marker's TTL (``None`` = provider default). ``redundant`` flags an automatic breakpoint that
    lands on a block whose explicit marker has the same TTL: Anthropic treats it as a no-op (one cache entry is
    written there either way), so it adds no breakpoint of its own to the cache model; it is still listed, because
    the request's four-marker limit counts it when Anthropic checks "4 explicit markers already" (research notes).

    >>> ExistingBreakpoint(3, "1h", "marker")
    ExistingBreakpoint(position=3, ttl='1h', source='marker', redundant=False)
    """

    position: int
    ttl: str | None
    source: Literal["marker", "automatic", "nested", "implicit"]
    redundant: bool = False


def _element(section: str, data: Mapping[str, Any], extra: Sequence[Any] = ()) -> bytes:
    return dumps([section, *extra, data])


def block_tokens(content: Content, counter: TokenCounter) -> int:
    """Tokens of a block's content: text by ``counter``, media by the rules in `cachepoint.core.tokens`."""
    total = counter.count(content.text) + content.extra_tokens
    for media in content.media:
        if media.kind == "image":
            size = image_size(media.data) if media.data else None
            total += image_tokens(*size) if size else image_tokens(None, None)
        elif media.kind == "document":
            total += document_tokens(media.data, media_type=media.media_type or "application/pdf")
        else:
            total += UNKNOWN_MEDIA_TOKENS
    return total


class PrefixView(Sequence[Position]):
    """The ordered positions of a request and its existing breakpoints (build with `Request.positions`).

    Indexing and iteration give `Position` objects. ``info`` is the model's caching rules when a provider and
    model were given (eligibility then follows them, e.g. Amazon Nova's uncacheable tools).
    """

    def __init__(
        self,
        request: Request,
        positions: Sequence[Position],
        breakpoints: Sequence[ExistingBreakpoint],
        info: ModelInfo | None,
        counter: TokenCounter,
    ) -> None:
        self.request = request
        self.positions: tuple[Position, ...] = tuple(positions)
        self.breakpoints: tuple[ExistingBreakpoint, ...] = tuple(breakpoints)
        self.info = info
        self.counter = counter
        # Position indexes by layer and by message, built on first use: strategies ask several times per view.
        self._by_layer: dict[str, list[int]] | None = None
        self._by_message: dict[int | None, list[int]] | None = None
        #: `resolve_target` answers for message indexes and layer names, by (type, target): the analyzer places
        #: five strategies on one view and they ask for the same few ends ("tools", "system", -1). A view never
        #: changes (its positions and request are immutable), so an answer stays true.
        self._targets: dict[tuple[type, int | str], int | None] = {}

    @classmethod
    def build(
        cls,
        request: Request,
        *,
        provider: str | None = None,
        model: str | None = None,
        info: ModelInfo | None = None,
        counter: TokenCounter | None = None,
        table: ProviderTable | None = None,
    ) -> PrefixView:
        """Compute the positions of ``request`` (token counts by ``counter``, eligibility by ``info``)."""
        counter = counter or DEFAULT_COUNTER
        if info is None and provider is not None:
            model = model or request.model
            info = model_info(provider, model, table=table) if model else None
        walk = Walk(request, info, counter)
        positions = walk.tools() + walk.system()
        for m in range(len(request.messages)):
            positions += walk.message(m)
        breakpoints = [*walk.marked, *implied_breakpoints(request, positions, info)]
        return cls(request, positions, breakpoints, info, counter)

    # --- Sequence protocol ---

    @overload
    def __getitem__(self, index: int) -> Position: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Position]: ...
    def __getitem__(self, index: int | slice) -> Position | Sequence[Position]:
        return self.positions[index]

    def __len__(self) -> int:
        return len(self.positions)

    def __iter__(self) -> Iterator[Position]:
        return iter(self.positions)

    def __repr__(self) -> str:
        return f"PrefixView({len(self.positions)} positions, {self.total_tokens} tokens)"

    # --- questions strategies ask ---

    @property
    def total_tokens(self) -> int:
        """Estimated tokens of the whole prompt."""
        return self.positions[-1].cumulative_tokens if self.positions else 0

    def tokens_through(self, index: int) -> int:
        """Estimated tokens of the prefix through position ``index``."""
        return self.positions[index].cumulative_tokens

    def prefix_hash(self, index: int) -> str:
        """Hex SHA-256 of the prefix through position ``index`` (equal prefixes, equal hashes)."""
        return self.positions[index].prefix_hash

    def layer_end(self, layer: Section) -> int | None:
        """Index of the last position of ``layer`` (``tools``, ``system``, ``messages``), or ``None``."""
        found = self._layer(layer)
        return found[-1] if found else None

    def layer_indexes(self, layer: str) -> list[int]:
        """Indexes of the positions of ``layer``, in order (a new list).

        >>> from cachepoint.core.prompt import Request
        >>> Request.parse({"model": "m", "max_tokens": 5, "system": "Be brief.",
        ...                "messages": [{"role": "user", "content": "Hi"}]}).positions().layer_indexes("messages")
        [1]
        """
        return list(self._layer(layer))

    def _layer(self, layer: str) -> Sequence[int]:
        """`layer_indexes` without the copy (the view's own index: not to be changed), for the strategies, which
        only read it and ask several times per view."""
        by_layer = self._by_layer
        if by_layer is None:
            # A view has three layers or fewer: a pass in C per layer costs less than a Python step per position.
            positions = self.positions
            layers = list(map(_LAYER, positions))
            indexes = list(map(_INDEX, positions))
            by_layer = {
                name: [i for i, at in zip(indexes, layers, strict=True) if at == name] for name in dict.fromkeys(layers)
            }
            self._by_layer = by_layer
        return by_layer.get(layer, ())

    def _message(self, message: int) -> Sequence[int]:
        """The indexes of message ``message``'s positions (``message`` >= 0; the view's own list: not to be
        changed)."""
        by_message = self._by_message
        if by_message is None:
            by_message = {}
            blocks = [p for p in self.positions if p.section == "messages"]
            # A message's blocks come together: one group each (`extend` keeps it right if they did not).
            for number, group in itertools.groupby(blocks, _MESSAGE):
                by_message.setdefault(number, []).extend(map(_INDEX, group))
            self._by_message = by_message
        return by_message.get(message, ())

    def message_positions(self, message: int) -> list[Position]:
        """Positions of message ``message`` (negative counts from the end)."""
        count = len(self.request.messages)
        if count == 0:
            return []
        target = message % count if message < 0 else message
        positions = self.positions
        return [positions[i] for i in self._message(target)]

    def with_ineligible(self, reasons: Mapping[int, str]) -> PrefixView:
        """This view with the positions of ``reasons`` (index -> why) ineligible: the same request, tokens and
        hashes, for a caller that cannot write a marker there (a strategy then takes the last eligible position,
        as it does for a block the provider refuses). Positions not named are shared with this view.

        >>> from cachepoint.core.prompt import Request
        >>> view = Request.parse({"model": "claude-sonnet-4-5", "max_tokens": 9,
        ...                       "messages": [{"role": "user", "content": "Hi"}]}).positions(provider="anthropic")
        >>> narrowed = view.with_ineligible({0: "the caller cannot write here"})
        >>> (view[0].eligible, narrowed[0].eligible, narrowed[0].ineligible_reason)
        (True, False, 'the caller cannot write here')
        """
        if not reasons:
            return self
        positions = list(self.positions)
        for index, reason in reasons.items():
            p = positions[index]
            if p.eligible or p.ineligible_reason != reason:
                # `new_position`, not `dataclasses.replace` (a tenth of the LangChain handler's time per call)
                positions[index] = new_position(
                    p.index, p.locator, p.path, p.section, p.layer, p.role, p.kind, p.type, p.tokens,
                    p.cumulative_tokens, p.block_hash, p.prefix_hash, p.lookback_index, False, reason, p.marker,
                    p.stable, p.message_start,
                )  # fmt: skip
        return PrefixView(self.request, positions, self.breakpoints, self.info, self.counter)

    def eligible_at_or_before(self, index: int, *, floor: int = 0) -> int | None:
        """The last eligible position at or before ``index`` and not before ``floor``, or ``None``."""
        for i in range(min(index, len(self.positions) - 1), floor - 1, -1):
            if self.positions[i].eligible:
                return i
        return None

    def find(self, path: str) -> Position | None:
        """The position with this payload path, or ``None``."""
        return next((p for p in self.positions if p.path == path), None)

    def lookback_distance(self, earlier: int, later: int) -> int:
        """Lookback positions from ``earlier`` to ``later`` (0 when they share one: a run of tool blocks)."""
        return self.positions[later].lookback_index - self.positions[earlier].lookback_index

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every position as a JSON-friendly dict."""
        return [p.to_dict() for p in self.positions]


_LAYER = operator.attrgetter("layer")
_INDEX = operator.attrgetter("index")
_MESSAGE = operator.attrgetter("locator.message")


def _tools_preamble(request: Request, info: ModelInfo | None) -> int:
    if request.format == "anthropic":
        return TOOLS_PREAMBLE_TOKENS
    if request.format == "bedrock":
        model = (info.model if info else None) or request.model or ""
        return TOOLS_PREAMBLE_TOKENS if ("claude" in model or "anthropic" in model) else 0
    return 0


#: Message locators by (message, block): a frozen `Locator` costs a microsecond to build, and the same few hundred
#: recur in every request of a trace, so they are shared (immutable, compared by value).
_LOCATORS: dict[tuple[int, int], Locator] = {}
_MAX_LOCATORS = 1 << 16


def _message_locator(message: int, index: int) -> Locator:
    locator = _LOCATORS.get((message, index))
    if locator is None:
        if len(_LOCATORS) >= _MAX_LOCATORS:
            _LOCATORS.clear()
        locator = _LOCATORS[message, index] = Locator("messages", message, index)
    return locator


#: What a `Walk` carries from one block to the next: prefix hash, tokens so far, lookback index, kind of the last
#: position, whether the conversation has started (OpenAI system layer), positions so far, whether the next
#: message block is the first one (it carries the level salt).
WalkState = tuple[bytes, int, int, "str | None", bool, int, bool]
#: Per-block memo: canonical bytes of a block (with its message boundary) -> (SHA-256 digest, tokens of its content).
BlockMemo = Callable[[bytes], "tuple[bytes, int] | None"]


class Walk:
    """One pass over a request's blocks in prefix order, making a `Position` per block.

    `PrefixView.build` walks a whole request; `ViewBuilder` walks only the blocks it has not seen after the
    same prefix, resuming from a saved `state` (``preamble`` and ``salt`` are then given, as the builder keeps
    them per request shape). ``memo`` / ``remember`` look up and store a block's digest and content tokens by its
    canonical bytes, which is all that depends on the block's content alone.
    """

    __slots__ = (
        "collapses",
        "counter",
        "cumulative",
        "dialect",
        "first_message",
        "index",
        "info",
        "last_kind",
        "lookback",
        "marked",
        "memo",
        "preamble",
        "prefix",
        "remember",
        "request",
        "salt",
        "started",
        "system_layer",
    )

    def __init__(
        self,
        request: Request,
        info: ModelInfo | None,
        counter: TokenCounter,
        *,
        preamble: int | None = None,
        salt: Mapping[str, Any] | None = None,
        memo: BlockMemo | None = None,
        remember: Callable[[bytes, tuple[bytes, int]], None] | None = None,
    ) -> None:
        self.request = request
        self.dialect = get_format(request.format)
        self.info = info
        self.counter = counter
        self.preamble = _tools_preamble(request, info) if preamble is None else preamble
        self.salt = dict(self.dialect.level_salt(request) if salt is None else salt)
        self.system_layer = self.dialect.system_messages_are_system_layer
        self.collapses = self.dialect.collapses_tool_runs
        self.memo = memo
        self.remember = remember
        #: Breakpoints found so far: explicit markers and markers nested in blocks, in prefix order.
        self.marked: list[ExistingBreakpoint] = []
        self.prefix = _SEED
        self.cumulative = 0
        self.lookback = -1
        self.last_kind: str | None = None
        self.started = False
        self.index = 0
        self.first_message = True

    @property
    def state(self) -> WalkState:
        """Everything the next position depends on besides its own block."""
        return (
            self.prefix,
            self.cumulative,
            self.lookback,
            self.last_kind,
            self.started,
            self.index,
            self.first_message,
        )

    @state.setter
    def state(self, state: WalkState) -> None:
        (
            self.prefix,
            self.cumulative,
            self.lookback,
            self.last_kind,
            self.started,
            self.index,
            self.first_message,
        ) = state

    def tools(self) -> list[Position]:
        """Positions of the tool definitions."""
        return [
            self._add(Locator("tools", None, i), tool, None, _element("tools", tool.data), False)
            for i, tool in enumerate(self.request.tools)
        ]

    def system(self) -> list[Position]:
        """Positions of the system blocks."""
        return [
            self._add(Locator("system", None, i), block, None, _element("system", block.data), False)
            for i, block in enumerate(self.request.system)
        ]

    def message(self, m: int) -> list[Position]:
        """Positions of message ``m``'s blocks."""
        message = self.request.messages[m]
        out = []
        for i, block in enumerate(message.blocks):
            start = i == 0
            extra: list[Any] = [message.role if start else None]
            if start:
                extra.append(dict(message.extra))
            if self.first_message:
                extra.append(self.salt)
                self.first_message = False
            element = _element("messages", block.data, extra)
            out.append(self._add(_message_locator(m, i), block, message.role, element, start))
        return out

    def _add(  # noqa: PLR0912 - one step per position, kept together on purpose
        self, locator: Locator, item: Block | Tool, role: str | None, element: bytes, start: bool
    ) -> Position:
        dialect = self.dialect
        if isinstance(item, Tool):
            kind, type_name = "tool", dialect.tool_name(item) or "tool"
        else:
            kind, type_name = item.kind, dialect.block_type(item)
        known = self.memo(element) if self.memo is not None else None
        if known is None:
            content = dialect.describe_tool(item) if isinstance(item, Tool) else dialect.describe(item)
            known = (hashlib.sha256(element).digest(), block_tokens(content, self.counter))
            if self.remember is not None:
                self.remember(element, known)
        block_hash, tokens = known
        section = locator.section
        if section == "tools" and locator.index == 0:
            tokens += self.preamble
        if start:
            tokens += MESSAGE_OVERHEAD_TOKENS
        self.cumulative += tokens
        self.prefix = hashlib.sha256(self.prefix + block_hash).digest()
        if not (self.collapses and kind in ("tool_use", "tool_result") and self.last_kind == kind):
            self.lookback += 1
        self.last_kind = kind
        layer: Section = section
        if section == "messages":
            if self.system_layer and role in ("system", "developer") and not self.started:
                layer = "system"
            else:
                self.started = True
        reason = dialect.ineligible(self.request, locator, self.info)
        if reason is None and self.info is not None and section not in self.info.cacheable:
            reason = f"{self.info.model} does not cache {section}"
        stable = item.stable if item.stable is not None else layer in ("tools", "system")
        index = self.index
        self.index += 1
        if item.cache is not None:
            self.marked.append(ExistingBreakpoint(index, item.cache.ttl, "marker"))
        if isinstance(item, Block) and item.nested_markers:
            self.marked.extend(ExistingBreakpoint(index, None, "nested") for _ in range(item.nested_markers))
        return new_position(
            index,
            locator,
            dialect.path(self.request, locator),
            section,
            layer,
            role,
            kind,
            type_name,
            tokens,
            self.cumulative,
            block_hash.hex(),
            self.prefix.hex(),
            self.lookback,
            reason is None,
            reason,
            item.cache,
            bool(stable),
            start,
        )


def implied_breakpoints(
    request: Request, positions: Sequence[Position], info: ModelInfo | None
) -> list[ExistingBreakpoint]:
    """Breakpoints the request implies beyond its block markers: Anthropic's top-level automatic
    ``cache_control`` and OpenAI's implicit breakpoint, resolved to positions.

    The automatic marker "applies a cache_control marker to the last cacheable block", walking back past
    ineligible ones. When that block already carries an explicit marker with the same TTL, the automatic one is a
    no-op for the provider's cache and is flagged ``redundant``; with a different TTL it is a conflict (Anthropic
    rejects the request; the emulator answers 400).
    """
    found: list[ExistingBreakpoint] = []
    automatic = request.automatic
    if automatic is not None and positions:
        target = next((p for p in reversed(positions) if p.eligible), None)
        if target is not None:
            default = info.default_ttl if info is not None else _ANTHROPIC_DEFAULT_TTL
            marker = target.marker
            redundant = marker is not None and (marker.ttl or default) == (automatic.ttl or default)
            found.append(ExistingBreakpoint(target.index, automatic.ttl, "automatic", redundant))
    implicit = _openai_implicit(request, positions, info)
    if implicit is not None:
        found.append(implicit)
    return found


def _openai_implicit(
    request: Request, positions: Sequence[Position], info: ModelInfo | None
) -> ExistingBreakpoint | None:
    if request.format not in ("openai-chat", "openai-responses") or info is None or not info.explicit:
        return None
    if normalize_provider(info.provider) != "openai":
        return None
    options = request.params.get("prompt_cache_options")
    if isinstance(options, Mapping) and options.get("mode") == "explicit":
        return None
    # The last block of the latest user/tool message (a message's positions are contiguous).
    last = next((p for p in reversed(positions) if p.section == "messages" and p.role in ("user", "tool")), None)
    if last is None:
        return None
    index = last.index
    while index + 1 < len(positions) and positions[index + 1].locator.message == last.locator.message:
        index += 1
    ttl = options.get("ttl") if isinstance(options, Mapping) else None
    return ExistingBreakpoint(index, ttl if isinstance(ttl, str) else None, "implicit")
