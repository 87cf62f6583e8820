"""Cache-marker checks the real APIs make before they answer (the ones a caching library can get wrong).

Anthropic and Bedrock (Claude) reject: a marker on a block that cannot carry one (thinking, empty text), a TTL
the model does not take, more than four breakpoints (explicit, nested and the top-level automatic one
together), and a longer TTL after a shorter one in prefix order. Each problem is returned as a `Problem`; the
protocol modules word it the way their API does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cachepoint.core.prompt import PrefixView
from cachepoint.core.prompt.ttl import ttl_seconds
from cachepoint.core.providers import ModelInfo

__all__ = ["Problem", "cache_marker_problem", "dotted"]

_INDEX = re.compile(r"\[(\d+)\]")


def dotted(path: str) -> str:
    """A payload path in the dotted form the Anthropic API uses in its messages.

    >>> dotted("messages[3].content[0]")
    'messages.3.content.0'
    """
    return _INDEX.sub(r".\1", path)


@dataclass(frozen=True)
class Problem:
    """A request the provider rejects. ``kind`` is one of ``thinking_marker``, ``empty_text_marker``,
    ``ineligible_marker``, ``ttl_unsupported``, ``caching_unsupported`` (a marker on a model that takes none),
    ``too_many``, ``automatic_conflict``, ``ttl_order``.

    >>> Problem("too_many", "", count=5, limit=4).count
    5
    """

    kind: str
    path: str
    block_type: str = ""
    reason: str = ""
    ttl: str = ""
    other_ttl: str = ""
    allowed: tuple[str, ...] = ()
    count: int = 0
    limit: int = 0


def _seconds(label: str) -> int:
    try:
        return ttl_seconds(label)
    except ValueError:
        return 0


def cache_marker_problem(view: PrefixView, info: ModelInfo) -> Problem | None:  # noqa: PLR0911, PLR0912 - rule by rule
    """The first cache-marker problem of an Anthropic or Bedrock request, or ``None``.

    >>> from cachepoint.core.prompt import Request
    >>> from cachepoint.core.providers import model_info
    >>> info = model_info("anthropic", "claude-sonnet-4-5")
    >>> marked = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    >>> view = Request.parse({"model": "claude-sonnet-4-5", "max_tokens": 5,
    ...     "messages": [{"role": "user", "content": [marked] * 5}]}).positions(info=info)
    >>> cache_marker_problem(view, info)
    Problem(kind='too_many', path='', block_type='', reason='', ttl='', other_ttl='', allowed=(), count=5, limit=4)
    """
    for p in view:
        if p.marker is None:
            continue
        if not p.eligible:
            if p.kind in ("thinking", "redacted_thinking"):
                return Problem("thinking_marker", p.path, block_type=p.type)
            if p.kind == "text" and "empty" in (p.ineligible_reason or ""):
                return Problem("empty_text_marker", p.path, block_type=p.type)
            return Problem("ineligible_marker", p.path, block_type=p.type, reason=p.ineligible_reason or "")
        if p.marker.ttl is not None and p.marker.ttl not in info.ttls:
            return Problem("ttl_unsupported", p.path, ttl=p.marker.ttl, allowed=info.ttls)
    automatic = view.request.automatic
    if automatic is not None and automatic.ttl is not None and automatic.ttl not in info.ttls:
        return Problem("ttl_unsupported", "cache_control", ttl=automatic.ttl, allowed=info.ttls)
    counted = [b for b in view.breakpoints if b.source != "implicit"]
    # Automatic caching on a block that already has a marker with the same TTL is a no-op, not a fifth slot.
    counted = [b for b in counted if not b.redundant]
    if counted and not info.explicit and not info.automatic:
        return Problem("caching_unsupported", view[counted[0].position].path)
    if len(counted) > info.max_breakpoints:
        return Problem("too_many", "", count=len(counted), limit=info.max_breakpoints)
    for b in counted:
        if b.source == "automatic":
            marker = view[b.position].marker
            if marker is not None and (marker.ttl or info.default_ttl) != (b.ttl or info.default_ttl):
                return Problem(
                    "automatic_conflict",
                    view[b.position].path,
                    ttl=b.ttl or info.default_ttl,
                    other_ttl=marker.ttl or info.default_ttl,
                )
    shortest: str | None = None
    for b in sorted(counted, key=lambda b: b.position):
        label = b.ttl or info.default_ttl
        if shortest is not None and _seconds(label) > _seconds(shortest):
            path = "cache_control" if b.source == "automatic" else view[b.position].path
            return Problem("ttl_order", path, ttl=label, other_ttl=shortest)
        if shortest is None or _seconds(label) < _seconds(shortest):
            shortest = label
    return None
