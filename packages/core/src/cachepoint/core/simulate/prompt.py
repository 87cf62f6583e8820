"""`SimPrompt`: the little the cache model needs to know about one request, read from a `PrefixView`.

The simulator does not parse payloads: `cachepoint.core.prompt` already turns every format into ordered
positions (tools -> system -> messages) with cumulative token counts, chained prefix hashes, Anthropic lookback
indexes and the request's breakpoints. `SimPrompt` keeps just those columns as flat tuples, so replaying a
trace touches a few small tuples per request instead of position objects, and a trace that already stores
the columns can build a `SimPrompt` directly without any payload at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from cachepoint.core.prompt import PrefixView, Request
    from cachepoint.core.providers import ModelInfo, ProviderTable
    from cachepoint.core.tokens import TokenCounter

__all__ = ["SimBreakpoint", "SimPrompt"]


class SimBreakpoint(NamedTuple):
    """A breakpoint of the request: its position, TTL label (``None`` = the model's default) and whether it is
    OpenAI's implicit breakpoint (GPT-5.6+), which is always written, unlike surplus explicit ones.

    >>> SimBreakpoint(3, "1h")
    SimBreakpoint(position=3, ttl='1h', implicit=False)
    """

    position: int
    ttl: str | None = None
    implicit: bool = False


@dataclass(frozen=True)
class SimPrompt:
    """One request as the cache model sees it.

    Attributes:
        hashes: prefix hash per position (equal prefixes, equal hashes; any hashable string works).
        cumulative: tokens of the prefix through each position (non-decreasing).
        lookback: Anthropic lookback index per position (a run of tool blocks shares one); ``None`` means
            every position counts as one.
        breakpoints: the request's breakpoints, in any order.
        format: the payload format (``anthropic``, ``bedrock``, ``openai-chat``, ``openai-responses``); it picks
            the shape of the native usage object.
        model: the model id, if the payload names it.
        cache_key: OpenAI ``prompt_cache_key``.
        retention: OpenAI ``prompt_cache_retention`` (``in_memory`` / ``24h``).
        cache_mode: OpenAI ``prompt_cache_options.mode`` (``implicit`` / ``explicit``).
        paths: payload path per position (``messages[3].content[0]``), shown in cache entries; optional.

    Build it from a payload, a `Request` or a `PrefixView`, or directly from columns a trace recorded:

    >>> p = SimPrompt(hashes=("sys", "q1"), cumulative=(2000, 2050), breakpoints=(SimBreakpoint(1),))
    >>> p.total_tokens, p.tokens_through(0)
    (2050, 2000)
    """

    hashes: Sequence[str]
    cumulative: Sequence[int]
    lookback: Sequence[int] | None = None
    breakpoints: Sequence[SimBreakpoint] = ()
    format: str = "anthropic"
    model: str | None = None
    cache_key: str | None = None
    retention: str | None = None
    cache_mode: str | None = None
    paths: Sequence[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.hashes)
        if len(self.cumulative) != n:
            raise ValueError(f"SimPrompt.cumulative: expected {n} counts (one per hash), got {len(self.cumulative)}")
        if self.lookback is not None and len(self.lookback) != n:
            raise ValueError(f"SimPrompt.lookback: expected {n} indexes (one per hash), got {len(self.lookback)}")
        if self.paths is not None and len(self.paths) != n:
            raise ValueError(f"SimPrompt.paths: expected {n} paths (one per hash), got {len(self.paths)}")
        for i, bp in enumerate(self.breakpoints):
            if not 0 <= bp.position < n:
                raise ValueError(f"SimPrompt.breakpoints[{i}]: position {bp.position} is not in 0..{n - 1}")
        if n and self.cumulative[0] < 0:
            raise ValueError("SimPrompt.cumulative: token counts must be non-negative")

    @property
    def total_tokens(self) -> int:
        """Tokens of the whole prompt."""
        return self.cumulative[-1] if self.cumulative else 0

    def tokens_through(self, position: int) -> int:
        """Tokens of the prefix through ``position``."""
        return self.cumulative[position]

    def path(self, position: int) -> str | None:
        """The payload path of ``position``, when known."""
        return self.paths[position] if self.paths is not None else None

    def with_placement(self, breakpoints: Sequence[SimBreakpoint], cache_key: str | None = None) -> SimPrompt:
        """The same request with other breakpoints and ``prompt_cache_key``: what replaying several strategies
        over one request needs. The columns are shared with this prompt and not checked again; the breakpoints
        are.

        >>> base = SimPrompt(("sys", "q"), (2000, 2040))
        >>> base.with_placement((SimBreakpoint(1, "5m"),), "agent-1").breakpoints
        (SimBreakpoint(position=1, ttl='5m', implicit=False),)
        """
        n = len(self.hashes)
        for i, bp in enumerate(breakpoints):
            if not 0 <= bp.position < n:
                raise ValueError(f"SimPrompt.breakpoints[{i}]: position {bp.position} is not in 0..{n - 1}")
        # A frozen dataclass: the copy is filled in place instead of re-running __init__ and every column check
        # (this runs once per request and strategy in a trace replay).
        clone = object.__new__(SimPrompt)
        fields = clone.__dict__
        fields.update(self.__dict__)
        fields["breakpoints"] = tuple(breakpoints)
        fields["cache_key"] = cache_key
        return clone

    # --- builders ---

    @classmethod
    def from_view(cls, view: PrefixView) -> SimPrompt:
        """The columns of a `PrefixView` (its request's OpenAI cache parameters included).

        >>> from cachepoint.core.prompt import Request
        >>> view = Request.parse({"model": "claude-sonnet-4-5", "max_tokens": 8, "system": [
        ...     {"type": "text", "text": "Rules. " * 50, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        ...     "messages": [{"role": "user", "content": "Hi"}]}).positions(provider="anthropic")
        >>> SimPrompt.from_view(view).breakpoints
        (SimBreakpoint(position=0, ttl='1h', implicit=False),)
        """
        positions = view.positions
        params = view.request.params
        options = params.get("prompt_cache_options")
        mode = options.get("mode") if isinstance(options, Mapping) else None
        key = params.get("prompt_cache_key")
        retention = params.get("prompt_cache_retention")
        return cls(
            hashes=tuple(p.prefix_hash for p in positions),
            cumulative=tuple(p.cumulative_tokens for p in positions),
            lookback=tuple(p.lookback_index for p in positions),
            breakpoints=tuple(SimBreakpoint(b.position, b.ttl, b.source == "implicit") for b in view.breakpoints),
            format=view.request.format,
            model=view.request.model,
            cache_key=key if isinstance(key, str) and key else None,
            retention=retention if isinstance(retention, str) else None,
            cache_mode=mode if isinstance(mode, str) else None,
            paths=tuple(p.path for p in positions),
        )

    @classmethod
    def from_request(
        cls,
        request: Request | Mapping[str, Any],
        *,
        provider: str,
        model: str | None = None,
        info: ModelInfo | None = None,
        counter: TokenCounter | None = None,
        table: ProviderTable | None = None,
    ) -> SimPrompt:
        """Parse a payload (or take a `Request`) and build its view for ``provider`` / ``model``.

        >>> p = SimPrompt.from_request({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
        ...                            provider="openai")
        >>> p.format, p.model, len(p.hashes)
        ('openai-chat', 'gpt-4o', 1)
        """
        from cachepoint.core.prompt import Request
        from cachepoint.core.providers import model_info

        parsed = request if isinstance(request, Request) else Request.parse(request, provider=provider)
        model = model or parsed.model
        if info is None and model:
            info = model_info(provider, model, table=table)
        return cls.from_view(parsed.positions(info=info, counter=counter))
