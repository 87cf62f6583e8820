"""Why a request missed the cache: the causes the analyzer tells apart, and how each is told.

Two families:

- **content** causes: the request parts from the earlier request it shares the longest prefix with (or from
  the previous request of its session) at a block that differs only by something accidental: a timestamp, an
  id, whitespace, key order, tool order, a request setting, or an edit of the static prompt. Found from block
  fingerprints (`cachepoint.core.analyze.fingerprints`).
- **mechanics** causes: the prefix was shared but the simulated provider did not read it: too short to cache,
  the entry expired, the breakpoint could not look back far enough, no breakpoint closed the shared part, the
  earlier request had not answered yet, or OpenAI routed it elsewhere. Found from the simulator's outcome.

>>> CAUSES["timestamp"].title
'A timestamp in the prefix changes every request'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from cachepoint.core.analyze.fingerprints import BlockPrint, difference, volatile_cause

__all__ = ["CAUSES", "TEMPLATE_TOKENS", "Cause", "Divergence", "find_divergence", "mechanics_cause"]


@dataclass(frozen=True)
class Cause:
    """A miss cause: ``code`` (the key in reports), a one-line ``title``, and the ``fix``.

    >>> CAUSES["ttl_expired"].kind
    'mechanics'
    """

    code: str
    kind: Literal["content", "mechanics"]
    title: str
    fix: str


_VOLATILE_FIX = (
    "move it after the last cache breakpoint (into the latest user message), or leave it out; the command "
    "cachepoint lint (or cachepoint.core.prompt.lint) shows where it is"
)

#: Every cause the analyzer reports, by code.
CAUSES: dict[str, Cause] = {
    c.code: c
    for c in (
        Cause("timestamp", "content", "A timestamp in the prefix changes every request", _VOLATILE_FIX),
        Cause("date", "content", "A date in the prefix changes every day", _VOLATILE_FIX),
        Cause("id", "content", "A request, session or trace id (or a UUID) in the prefix", _VOLATILE_FIX),
        Cause("user_data", "content", "Per-user data in a prefix other users share", _VOLATILE_FIX),
        Cause("value", "content", "A number in the prefix changes (a counter, a version, a price)", _VOLATILE_FIX),
        Cause(
            "whitespace",
            "content",
            "Whitespace or line endings drift",
            "normalize whitespace and line endings (\\n) when building the prompt",
        ),
        Cause(
            "key_order",
            "content",
            "The same JSON with its keys in another order",
            "serialize tool schemas and JSON context with sorted keys (json.dumps(..., sort_keys=True))",
        ),
        Cause(
            "tool_order",
            "content",
            "The same tools in another order",
            "sort tools by name, or build the list in one fixed order (tools come first: any change misses all)",
        ),
        Cause(
            "block_order",
            "content",
            "The same blocks (documents, examples) in another order",
            "keep retrieved documents and examples in a stable order (e.g. sorted by id)",
        ),
        Cause(
            "settings",
            "content",
            "A request setting bound to the prefix changed (tool_choice, thinking, a role or name)",
            "keep tool_choice and thinking settings the same across the turns of a conversation",
        ),
        Cause(
            "content_changed",
            "content",
            "The static part of the prompt (tools or system) was edited",
            "expected after a deploy; if it changes often, split what changes from what does not",
        ),
        Cause(
            "ttl_expired",
            "mechanics",
            "The cache entry expired before the prefix was used again",
            "use the 1h TTL for prefixes reused less often than every 5 minutes (cachepoint.core.prompt.auto() "
            "does for tools and system), or keep the cache warm",
        ),
        Cause(
            "below_minimum",
            "mechanics",
            "The shared prefix is shorter than the model's minimum cacheable length",
            "move more static material (instructions, examples, documents) ahead of what changes",
        ),
        Cause(
            "lookback_exceeded",
            "mechanics",
            "More than 20 blocks since the last cache entry: the breakpoint could not look back that far",
            "add a breakpoint within 20 blocks of the previous one (cachepoint.core.prompt.auto() places lookback "
            "anchors)",
        ),
        Cause(
            "no_breakpoint",
            "mechanics",
            "No cache entry ends inside the shared prefix: no breakpoint where requests stop sharing",
            "put a breakpoint at the end of what requests share (cachepoint.core.prompt.auto() closes tools, "
            "system and stable context; mark retrieved documents stable with Request.mark_stable or "
            "PromptLayout.context, both in cachepoint.core.prompt)",
        ),
        Cause(
            "in_flight",
            "mechanics",
            "The earlier request had not started answering yet (parallel cold requests each pay the write)",
            "send one request first and fan out once its response starts (or pre-warm with max_tokens=0)",
        ),
        Cause(
            "routing",
            "mechanics",
            "OpenAI routed the request away from the cached prefix",
            "set a stable prompt_cache_key per shared prefix and keep each key under ~15 requests per minute",
        ),
        Cause(
            "evicted",
            "mechanics",
            "The engine evicted the prefix's blocks (cache capacity)",
            "give the engine more KV memory, or offload with LMCache",
        ),
    )
}


@dataclass(frozen=True)
class Divergence:
    """Where and why a request stopped sharing the earlier request's prefix.

    ``position`` is the first differing position; ``end`` the position where the two stop being "the same but
    for accidents" (tokens from ``position`` to ``end`` would have been reused); ``before`` / ``after`` short
    snippets when the fingerprints carry them.
    """

    cause: str
    position: int
    end: int
    before: str = ""
    after: str = ""


_ORDER = ("tool_order", "block_order")


#: A conversation block at least this long that matches an earlier one but for a value is a template (a
#: retrieved-context message with a timestamp in its header...), not a new question that happens to differ by
#: a number.
TEMPLATE_TOKENS = 128


def find_divergence(
    current_blocks: Sequence[str],
    earlier_blocks: Sequence[str],
    position: int,
    prints: Mapping[str, BlockPrint],
    *,
    layers: str,
    stable: str,
    block_tokens: int = 0,
    same_session: bool = False,
) -> Divergence | None:
    """Why ``current`` parts from ``earlier`` at ``position`` (both have a block there); ``None`` when the
    difference is new content in the conversation, which is how requests are supposed to differ.

    A difference counts as accidental where sameness is expected: in the static layers (tools, system, blocks
    marked stable), in a conversation's own history (``same_session``: an earlier turn was re-rendered), or in
    a conversation block of `TEMPLATE_TOKENS` or more (``block_tokens``). Reordered blocks count anywhere; an
    edit counts only in the static layers.

    >>> from cachepoint.core.analyze.fingerprints import block_print
    >>> prints = {"a": block_print({"type": "text", "text": "Now 10:15:00"}),
    ...           "b": block_print({"type": "text", "text": "Now 10:20:00"}),
    ...           "q": block_print({"type": "text", "text": "q"})}
    >>> d = find_divergence(["b", "q"], ["a", "q"], 0, prints, layers="sm", stable="10")
    >>> d.cause, d.position, d.end, d.after
    ('timestamp', 0, 2, '{"text":"Now 10:20:00","type":"te')
    >>> find_divergence(["b", "q"], ["a", "q"], 0, prints, layers="mm", stable="00") is None  # two short turns
    True
    """
    old, new = earlier_blocks[position], current_blocks[position]
    a, b = prints.get(old), prints.get(new)
    how = difference(a, b) if a is not None and b is not None else None
    before = after = ""
    limit = min(len(current_blocks), len(earlier_blocks))
    static = layers[position] in "tsy" or stable[position] == "1"
    if how is None:
        moved = new in earlier_blocks[position + 1 :] and old in current_blocks[position + 1 :]
        if moved:
            cause = "tool_order" if layers[position] == "t" else "block_order"
        elif static:
            cause = "content_changed"
        else:
            return None
    elif not (static or same_session or block_tokens >= TEMPLATE_TOKENS):
        return None
    elif how == "volatile":
        assert a is not None
        assert b is not None
        cause, before, after = volatile_cause(a, b)
    else:
        cause = how
    others = set(earlier_blocks[position:limit]) if cause in _ORDER else set()
    end = position + 1
    while end < limit:
        x, y = earlier_blocks[end], current_blocks[end]
        if x == y or y in others:
            end += 1
            continue
        px, py = prints.get(x), prints.get(y)
        if px is not None and py is not None and difference(px, py) is not None:
            end += 1
            continue
        break
    return Divergence(cause, position, end, before, after)


def mechanics_cause(  # noqa: PLR0911 - one return per cause, in order of precedence
    *,
    shared: int,
    read: int,
    min_tokens: int,
    in_flight: bool,
    lookback_exceeded: bool,
    gap: float,
    ttl: float,
    mode: str,
    entry: bool = True,
    increment: int = 1,
) -> str | None:
    """Why ``shared`` tokens (the longest prefix an earlier request sent) were not all ``read``; ``None`` when
    they were (or the loss is rounding: OpenAI's 128-token increments, an engine's block size, ``increment``).

    ``entry`` says whether the earlier request had a breakpoint closing a prefix longer than what was read and
    inside the shared part (breakpoint providers write only there); ``ttl`` is the longest lifetime of those
    entries (of the cache, for OpenAI), ``gap`` the seconds since the earlier request.

    >>> mechanics_cause(shared=3000, read=0, min_tokens=1024, in_flight=False, lookback_exceeded=False,
    ...                 gap=400.0, ttl=300.0, mode="breakpoints")
    'ttl_expired'
    >>> mechanics_cause(shared=3000, read=0, min_tokens=1024, in_flight=False, lookback_exceeded=False,
    ...                 gap=10.0, ttl=300.0, mode="breakpoints", entry=False)
    'no_breakpoint'
    """
    lost = shared - read
    if lost <= 0:
        return None
    if shared < min_tokens:
        return "below_minimum"
    if in_flight:
        return "in_flight"
    if lookback_exceeded:
        return "lookback_exceeded"
    if mode == "breakpoints" and not entry:
        return "no_breakpoint"
    if gap >= ttl:
        return "ttl_expired"
    if mode == "automatic":
        return "routing" if lost >= increment else None
    if mode == "engine":
        return "evicted" if lost >= increment else None
    return "no_breakpoint"
