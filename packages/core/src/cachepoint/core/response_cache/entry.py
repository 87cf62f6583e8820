"""What a stored entry holds, and where tag generations live.

An entry is a codec envelope (signed with the store key as context when the codec signs) around::

    {"k": "v" | "s",            # a value, or a complete stream's chunks
     "d": <value> | [chunks],   # what `dump` made of the result
     "g": {tag: token, ...}}    # tag generations seen at write time (only when the entry has tags)

or, for a few seconds after a lock holder's result could not be stored, ``{"k": "x"}``: a marker that tells the
processes waiting for that result to stop waiting and call themselves (see `UNSTORABLE_MARK_TTL`).

**Tags without scanning.** Each tag has a *generation token* under ``"<namespace>:#tag:<tag>"`` in the same
store (``#`` never starts a tenant segment, so it never collides with an entry). A write records the current
token of each of its tags; a read compares them with the current tokens (fetched with the entry in one
``get_many``); any difference is a stale entry, i.e. a miss. ``invalidate(tag=...)`` writes a fresh random
token: one write, whatever the number of entries, on any `CacheStore`. Random tokens (not counters) make
concurrent invalidations never cancel each other out, and a write that finds no token creates one, so an entry
always records a real token: if a token is evicted later, its entries read as stale — never as valid again.

Freshness is judged from the tags the **entry** recorded (`fresh`), whatever tags the reader names: a reader
that names no tags, or only some of them, never gets an entry one of whose tags was invalidated since. A tag the
reader names that the entry did not record makes it stale too (the entry cannot vouch for that tag).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

__all__ = [
    "KIND_STREAM",
    "KIND_UNSTORABLE",
    "KIND_VALUE",
    "UNSTORABLE_MARK_TTL",
    "fresh",
    "new_tag_token",
    "tag_key",
    "tags_to_check",
]

KIND_VALUE = "v"
KIND_STREAM = "s"
KIND_UNSTORABLE = "x"
UNSTORABLE_MARK_TTL = 5.0
"""Seconds an "unstorable" marker lives: long enough for every process polling for the result to see it (they
poll at least every quarter second), short enough that a result that becomes storable is soon cached again."""


def tag_key(namespace: str, tag: str) -> str:
    """Store key of ``tag``'s generation token in ``namespace``.

    >>> tag_key("chat", "docs/v2")
    'chat:#tag:docs%2Fv2'
    """
    return f"{namespace}:#tag:{quote(tag, safe='')}"


def new_tag_token() -> bytes:
    """A fresh generation token (64 random bits, hex)."""
    return secrets.token_hex(8).encode("ascii")


def tags_to_check(body: Any, tags: tuple[str, ...]) -> tuple[str, ...]:
    """The tags whose current tokens decide whether an entry ``body`` is fresh for a reader naming ``tags``: every
    tag the entry recorded, then the reader's others.

    >>> tags_to_check({"k": "v", "d": 1, "g": {"A": "1", "B": "2"}}, ("A", "C"))
    ('A', 'B', 'C')
    >>> tags_to_check({"k": "v", "d": 1}, ())
    ()
    """
    recorded = body.get("g") if type(body) is dict else None
    if type(recorded) is not dict:
        return tags
    names = tuple(name for name in recorded if type(name) is str)
    return names + tuple(name for name in tags if name not in recorded)


def fresh(recorded: Any, tags: tuple[str, ...], current: Mapping[str, bytes | None]) -> bool:
    """Whether an entry that recorded the tag generations ``recorded`` (its ``"g"``, or ``None``) is fresh for a
    reader naming ``tags``, given the ``current`` token of each tag `tags_to_check` named (``None``: no token).

    >>> fresh({"A": "1", "B": "2"}, (), {"A": b"1", "B": b"2"})
    True
    >>> fresh({"A": "1", "B": "2"}, ("A",), {"A": b"1", "B": b"9"})  # B was invalidated
    False
    >>> fresh(None, ("A",), {"A": b"1"})  # the reader names a tag the entry never recorded
    False
    """
    if recorded is None:
        return not tags
    if type(recorded) is not dict:
        return False
    for name in (*recorded, *tags):
        token = current.get(name)
        if token is None or recorded.get(name) != token.decode("ascii", "replace"):
            return False
    return True
