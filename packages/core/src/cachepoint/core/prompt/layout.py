"""`PromptLayout`: build prompts stable-first, then render them for any provider with cache points placed.

The order is the cache's order: tools, system instructions, stable context (reference documents, examples),
then the conversation and the dynamic parts. Everything before the dynamic parts is marked stable, so `auto`
and `stable_prefix` know what they may cache for long; ``cache_point()`` pins an explicit breakpoint.

>>> from cachepoint.core.prompt import PromptLayout
>>> layout = (
...     PromptLayout()
...     .system("You are the support agent for Acme routers.")
...     .context("Manual: to reset, hold the button for 10 seconds. " * 200, title="manual")
...     .user("How do I reset my router?")
... )
>>> payload, report = layout.render("bedrock", model="us.anthropic.claude-sonnet-4-5-20250929-v1:0", max_tokens=300)
>>> payload["messages"][0]["content"][1]
{'cachePoint': {'type': 'default', 'ttl': '1h'}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cachepoint.core.prompt.breakpoints import Strategy
from cachepoint.core.prompt.compile import apply_cache_points
from cachepoint.core.prompt.formats import format_for_provider
from cachepoint.core.prompt.lint import Finding, lint
from cachepoint.core.prompt.model import Block, CacheMarker, Message, Request, Tool, text
from cachepoint.core.prompt.report import CacheReport
from cachepoint.core.providers import ModelInfo, normalize_provider
from cachepoint.core.tokens import TokenCounter

__all__ = ["PromptLayout"]


def _block(value: str | Block, *, stable: bool | None) -> Block:
    block = text(value) if isinstance(value, str) else value
    return replace(block, stable=stable) if stable is not None else block


@dataclass
class PromptLayout:
    """A stable-first prompt builder. Each method appends and returns the layout, so calls chain.

    Stable parts: `tools`, `system`, `context` (and `examples`). Then `cache_point` (optional: an explicit
    breakpoint after everything added so far), `history` (earlier turns) and the dynamic `user` / `assistant`
    turns. `build` gives a `Request`; `render` places breakpoints and writes the payload for a provider.
    """

    _tools: list[Tool] = field(default_factory=list)
    _system: list[Block] = field(default_factory=list)
    _context: list[Block] = field(default_factory=list)
    _turns: list[Message] = field(default_factory=list)
    _pins: list[tuple[str, int]] = field(default_factory=list)
    _pin_ttl: dict[tuple[str, int], str | None] = field(default_factory=dict)

    # --- stable parts ---

    def tools(self, *tools: Tool | Mapping[str, Any]) -> PromptLayout:
        """Tool definitions (`Tool`, or Anthropic-shaped dicts ``{"name", "description", "input_schema"}``)."""
        for tool in tools:
            self._tools.append(tool if isinstance(tool, Tool) else Tool(dict(tool), "anthropic"))
        return self

    def system(self, *parts: str | Block) -> PromptLayout:
        """System instructions (stable)."""
        self._system.extend(_block(p, stable=True) for p in parts)
        return self

    def context(self, content: str | Block, *, title: str | None = None) -> PromptLayout:
        """Stable reference material (a document, a policy, a schema): sent at the start of the first user
        turn, marked stable. A string becomes a text document titled ``title``."""
        block = Block.document(content, title=title) if isinstance(content, str) else content
        self._context.append(replace(block, stable=True))
        return self

    def examples(self, *parts: str | Block) -> PromptLayout:
        """Stable few-shot examples or other text, sent with the context."""
        self._context.extend(_block(p, stable=True) for p in parts)
        return self

    def cache_point(self, *, ttl: str | None = None) -> PromptLayout:
        """An explicit breakpoint after everything added so far (it counts against the provider's budget)."""
        if self._turns:
            where = ("turn", len(self._turns) - 1)
        elif self._context:
            where = ("context", len(self._context) - 1)
        elif self._system:
            where = ("system", len(self._system) - 1)
        elif self._tools:
            where = ("tools", len(self._tools) - 1)
        else:
            raise ValueError("cache_point: add something to cache first")
        self._pins.append(where)
        self._pin_ttl[where] = ttl
        return self

    # --- the conversation ---

    def history(self, messages: Sequence[Message | Mapping[str, Any]]) -> PromptLayout:
        """Earlier turns: `Message` objects or Anthropic-shaped dicts (``{"role", "content"}``)."""
        for message in messages:
            if isinstance(message, Message):
                self._turns.append(message)
            else:
                parsed = Request.parse({"messages": [dict(message)]}, format="anthropic")
                self._turns.append(parsed.messages[0])
        return self

    def user(self, *content: str | Block) -> PromptLayout:
        """A user turn (dynamic)."""
        self._turns.append(Message.user(*content))
        return self

    def assistant(self, *content: str | Block) -> PromptLayout:
        """An assistant turn (dynamic)."""
        self._turns.append(Message.assistant(*content))
        return self

    # --- output ---

    def build(self, **params: Any) -> Request:
        """The `Request` (Anthropic-shaped; any format via `Request.render`), ``params`` as request fields.

        >>> request = PromptLayout().system("Be brief.").user("Hi").build(model="claude-sonnet-4-5", max_tokens=50)
        >>> request.render()["system"]
        [{'type': 'text', 'text': 'Be brief.'}]
        """
        tools = [self._pinned(t, ("tools", i)) for i, t in enumerate(self._tools)]
        system = [self._pinned(b, ("system", i)) for i, b in enumerate(self._system)]
        context = [self._pinned(b, ("context", i)) for i, b in enumerate(self._context)]
        turns = list(self._turns)
        for where, ttl in self._pin_ttl.items():
            if where[0] == "turn":
                message = turns[where[1]]
                last = message.blocks[-1].with_cache(CacheMarker(ttl))
                turns[where[1]] = replace(message, blocks=(*message.blocks[:-1], last))
        if context:
            # Context opens the first user turn (providers want turns to alternate, so it does not get its own).
            if turns and turns[0].role == "user":
                turns[0] = replace(turns[0], blocks=(*context, *turns[0].blocks), form="list")
            else:
                turns.insert(0, Message("user", tuple(context)))
        return Request(
            format="anthropic",
            messages=tuple(turns),
            system=tuple(system),
            tools=tuple(tools),
            params=dict(params),
        )

    def _pinned(self, item: Any, where: tuple[str, int]) -> Any:
        if where in self._pin_ttl:
            return item.with_cache(CacheMarker(self._pin_ttl[where]))
        return item

    def render(
        self,
        provider: str = "anthropic",
        *,
        model: str,
        format: str | None = None,
        strategy: Strategy | None = None,
        info: ModelInfo | None = None,
        counter: TokenCounter | None = None,
        **params: Any,
    ) -> tuple[dict[str, Any], CacheReport]:
        """The provider payload with breakpoints placed (by `auto` unless ``strategy`` is given), and the report.

        ``params`` are request fields in Anthropic spelling (``max_tokens``...), converted for the format.
        """
        provider = normalize_provider(provider)
        target = format or format_for_provider(provider)
        request = self.build(model=model, **params).convert(target)
        return apply_cache_points(request, strategy, provider=provider, model=model, info=info, counter=counter)

    def lint(self, *, provider: str = "anthropic", model: str | None = None, **params: Any) -> list[Finding]:
        """`lint` findings for the built prompt (timestamps in the system prompt, below-minimum prefix...)."""
        request = self.build(**({"model": model} if model else {}), **params)
        return lint(request, provider=provider, model=model)
