"""`CacheReport`: what `apply_cache_points` placed, merged and dropped, and why. Never silent.

Reason codes (``Decision.code``):

- ``over_budget``: the provider's marker limit was reached by breakpoints the strategy ranked higher (or by
  markers already in the request).
- ``below_minimum``: the prefix through the block is shorter than the model's minimum cacheable length; the
  provider would silently not cache it.
- ``ineligible``: the block cannot carry a marker (thinking, empty text, instructions, tool definitions on
  OpenAI or Nova...).
- ``out_of_range``: the strategy pointed past the end of the request.
- ``duplicate``: two breakpoints on one block (merged; the longer TTL wins).
- ``existing`` / ``automatic`` / ``implicit``: the block already has the user's marker, Anthropic's automatic
  breakpoint, or OpenAI's implicit one (merged).
- ``ttl_order``: the TTL was changed (or the breakpoint dropped) so that longer TTLs come first.
- ``ttl_unsupported``: the model does not take that TTL; the closest shorter one was used.
- ``no_explicit_markers``: the model takes no markers: it caches automatically (the breakpoint still chose
  the ``prompt_cache_key``), or not at all (a Bedrock model outside the Claude and Nova families).
- ``excluded``: removed by ``.excluding(...)``; other codes come from the strategy (`PlacementContext.skip`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cachepoint.core.prompt.breakpoints import Breakpoint
from cachepoint.core.prompt.positions import ExistingBreakpoint
from cachepoint.core.providers import ModelInfo

__all__ = ["CacheReport", "Decision"]

Outcome = Literal["placed", "merged", "dropped"]


@dataclass(frozen=True)
class Decision:
    """What happened to one breakpoint a strategy asked for.

    ``ttl`` is the TTL in effect after placement (``None`` for dropped ones); ``path`` and ``tokens`` locate the
    block in the payload and give the estimated prompt tokens through it (the cached prefix length).
    """

    outcome: Outcome
    breakpoint: Breakpoint
    code: str = ""
    detail: str = ""
    ttl: str | None = None
    path: str | None = None
    tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "outcome": self.outcome,
            "id": self.breakpoint.id,
            "position": self.breakpoint.position,
            "path": self.path,
            "ttl": self.ttl,
            "requested_ttl": self.breakpoint.ttl,
            "tokens": self.tokens,
            "code": self.code,
            "detail": self.detail,
            "reason": self.breakpoint.reason,
        }


@dataclass(frozen=True)
class CacheReport:
    """The full account of one `apply_cache_points` call.

    >>> from cachepoint.core.prompt import apply_cache_points
    >>> payload, report = apply_cache_points(
    ...     {"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "word " * 1500,
    ...      "messages": [{"role": "user", "content": "Hi"}]})
    >>> [(d.breakpoint.id, d.ttl, d.path) for d in report.placed]
    [('tail', '5m', 'messages[0].content[0]'), ('system', '1h', 'system[0]')]
    >>> report.total_breakpoints
    2
    """

    provider: str
    model: str
    format: str
    info: ModelInfo
    decisions: tuple[Decision, ...]
    existing: tuple[ExistingBreakpoint, ...]
    total_tokens: int
    cache_key: str | None = None
    cache_key_source: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def placed(self) -> list[Decision]:
        """Breakpoints written into the payload, most valuable first."""
        return [d for d in self.decisions if d.outcome == "placed"]

    @property
    def merged(self) -> list[Decision]:
        """Breakpoints that landed on a block already carrying one (the user's, automatic, or another's)."""
        return [d for d in self.decisions if d.outcome == "merged"]

    @property
    def dropped(self) -> list[Decision]:
        """Breakpoints not placed, each with its reason code and explanation."""
        return [d for d in self.decisions if d.outcome == "dropped"]

    @property
    def total_breakpoints(self) -> int:
        """Markers in the compiled request: those already there (explicit, automatic, nested) plus the placed."""
        counted = [e for e in self.existing if e.source != "implicit"]
        return len(counted) + len(self.placed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for logs and ``cachepoint analyze``)."""
        return {
            "provider": self.provider,
            "model": self.model,
            "format": self.format,
            "known_model": self.info.known,
            "min_cache_tokens": self.info.min_cache_tokens,
            "max_breakpoints": self.info.max_breakpoints,
            "total_tokens": self.total_tokens,
            "total_breakpoints": self.total_breakpoints,
            "existing": [{"position": e.position, "ttl": e.ttl, "source": e.source} for e in self.existing],
            "decisions": [d.to_dict() for d in self.decisions],
            "cache_key": self.cache_key,
            "cache_key_source": self.cache_key_source,
            "warnings": list(self.warnings),
        }

    def explain(self) -> str:
        """A few human-readable lines: one per decision, then warnings.

        >>> from cachepoint.core.prompt import apply_cache_points
        >>> _, report = apply_cache_points({"model": "claude-sonnet-4-5", "max_tokens": 10,
        ...     "messages": [{"role": "user", "content": "Hi"}]})
        >>> print(report.explain().splitlines()[0])
        anthropic claude-sonnet-4-5: ~4 prompt tokens, 0 of 4 breakpoints used (minimum 1024 tokens)
        >>> report.dropped[0].code
        'below_minimum'
        """
        used = self.total_breakpoints
        lines = [
            f"{self.provider} {self.model}: ~{self.total_tokens} prompt tokens, {used} of "
            f"{self.info.max_breakpoints} breakpoints used (minimum {self.info.min_cache_tokens} tokens)"
        ]
        for existing in self.existing:
            lines.append(
                f"  existing {existing.source:<8}  position {existing.position}  ttl {existing.ttl or 'default'}"
            )
        for d in self.decisions:
            where = d.path or f"position {d.breakpoint.position}"
            tokens = f"~{d.tokens} tokens" if d.tokens is not None else ""
            ttl = f"ttl {d.ttl}" if d.ttl else ""
            why = f"{d.code}: {d.detail}" if d.code else d.breakpoint.reason
            parts = [f"  {d.outcome:<8} {d.breakpoint.id or '-':<9} {where}", tokens, ttl, why]
            lines.append("  ".join(p for p in parts if p))
        if self.cache_key:
            lines.append(f"  prompt_cache_key {self.cache_key} ({self.cache_key_source})")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)
