"""Block fingerprints: what two versions of a block have in common, so a miss can be explained without the text.

The analyzer compares a request with the earlier request that shares the longest prefix with it. Where they
part, the two blocks differ; *how* they differ says why the cache missed. Each block is fingerprinted once (it
is memoized by the block hash from `cachepoint.core.prompt`'s prefix view) at increasing levels of leniency:

1. ``data``: the block's canonical JSON (what the prefix hash covers, minus its role and message boundary);
2. ``keys``: the same JSON with sorted keys (equal here, different above: JSON key order changed);
3. ``spaces``: that, with all whitespace and line endings removed (equal here: whitespace drift);
4. ``values``: that, with every token holding a digit masked (equal here: a timestamp, date, id or counter
   changed). The tokens' surroundings are kept (``volatile``), and the first pair that differs is named by
   the lint detectors (`cachepoint.core.prompt.lint.detectors.scan_text`), so there is one set of detectors.

Masking is one regex pass in C (a few dozen microseconds per KB); the detectors only ever see two short
snippets per explained miss.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from cachepoint.core.prompt.formats.base import dumps, dumps_sorted
from cachepoint.core.prompt.lint.detectors import scan_text

__all__ = ["VOLATILE_CAUSES", "BlockPrint", "block_print", "difference", "volatile_cause"]

# A token that holds a digit: timestamps, dates, epochs, UUIDs, request ids, counters, versions.
_VALUE = re.compile(r"(\b\w*\d[\w:.+-]*)")
_DIGIT = re.compile(r"\d")
_CONTEXT_TOKENS = 32  # surroundings kept for the first tokens of a block (enough to name what changed)
_LEFT, _RIGHT = 20, 12

#: Lint detector codes -> miss causes.
VOLATILE_CAUSES = {
    "timestamp": "timestamp",
    "date": "date",
    "uuid": "id",
    "request_id": "id",
    "user_data": "user_data",
}


class BlockPrint(NamedTuple):
    """Fingerprints of one block at four levels of leniency (see the module notes), 16 hex digits each, and
    the surroundings of its first value tokens.

    >>> a = block_print({"type": "text", "text": "Now: 2026-11-23T10:15:00Z. Be brief."})
    >>> b = block_print({"type": "text", "text": "Now: 2026-11-23T10:20:00Z. Be brief."})
    >>> a.data == b.data, a.values == b.values
    (False, True)
    """

    data: str
    keys: str
    spaces: str
    values: str
    volatile: tuple[str, ...] = ()


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def _squash(text: str) -> list[str]:
    # ``text`` is compact JSON: line breaks and tabs inside strings appear as the escapes \n, \r, \t.
    return text.replace("\\r", " ").replace("\\n", " ").replace("\\t", " ").split()


def block_print(data: Mapping[str, Any]) -> BlockPrint:
    """Fingerprint a block's provider-native data (a content block or a tool definition).

    >>> block_print({"name": "f", "input_schema": {"a": 1, "b": 2}}).keys == block_print(
    ...     {"input_schema": {"b": 2, "a": 1}, "name": "f"}).keys
    True
    """
    canonical = dumps(data)
    ordered = dumps_sorted(data)
    tokens = _squash(ordered.decode("utf-8"))
    # Whitespace equality ignores all of it (a trailing space before a closing quote too); value masking keeps
    # one space between words so that tokens keep their boundaries.
    spaces = "".join(tokens)
    joined = " ".join(tokens)
    # Most prose holds no digit at all: one scan in C instead of the token regex trying every word.
    pieces = _VALUE.split(joined) if _DIGIT.search(joined) else [joined]
    masked = "\x00".join(pieces[0::2])
    contexts = []
    for i in range(1, min(len(pieces), 2 * _CONTEXT_TOKENS), 2):
        contexts.append(pieces[i - 1][-_LEFT:] + pieces[i] + pieces[i + 1][:_RIGHT])
    return BlockPrint(
        data=_digest(canonical),
        keys=_digest(ordered),
        spaces=_digest(spaces.encode("utf-8")),
        values=_digest(masked.encode("utf-8")),
        volatile=tuple(contexts),
    )


def volatile_cause(before: BlockPrint, after: BlockPrint) -> tuple[str, str, str]:
    """For two blocks equal up to their value tokens: the cause (``timestamp``, ``date``, ``id``,
    ``user_data``, or ``value`` for a number nobody recognizes) and the two snippets that differ.

    >>> a = block_print({"type": "text", "text": "Session 6f1c2a9e-1b7d-4c3e-9a8f-0d2b4e6a8c1f. Be brief."})
    >>> b = block_print({"type": "text", "text": "Session 0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d. Be brief."})
    >>> volatile_cause(a, b)[0]
    'id'
    """
    pairs = list(zip(before.volatile, after.volatile, strict=False))
    for old, new in pairs:
        if old == new:
            continue
        for text in (new, old):
            for match in scan_text(text, codes=list(VOLATILE_CAUSES)):
                return VOLATILE_CAUSES[match.code], old, new
        return "value", old, new
    return "value", "", ""


def difference(before: BlockPrint, after: BlockPrint) -> str | None:
    """How two different blocks differ, most specific first: ``settings`` (same data: the role, message
    boundary or a request setting bound to the block changed), ``key_order``, ``whitespace``, ``volatile``
    (a value token; see `volatile_cause`), or ``None`` (the content itself changed).

    >>> difference(block_print({"type": "text", "text": "a  b"}), block_print({"type": "text", "text": "a b"}))
    'whitespace'
    >>> difference(block_print({"type": "text", "text": "refunds"}), block_print({"type": "text", "text": "returns"}))
    """
    if before.data == after.data:
        return "settings"
    if before.keys == after.keys:
        return "key_order"
    if before.spaces == after.spaces:
        return "whitespace"
    if before.values == after.values:
        return "volatile"
    return None
