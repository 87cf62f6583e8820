"""What a stored entry holds, and where tag generations live.

An entry is a codec envelope (signed with the store key as context when the codec signs) around::

    {"k": "v" | "s",            # a value, or a complete stream's chunks
     "d": <value> | [chunks],   # what `dump` made of the result
     "g": {tag: token, ...}}    # tag generations seen at write time (only when the entry has tags)

**Tags without scanning.** Each tag has a *generation token* under ``"<namespace>:#tag:<tag>"`` in the same
store (``#`` never starts a tenant segment, so it never collides with an entry). A write records the current
token of each of its tags; a read compares them with the current tokens (fetched with the entry in one
``get_many``); any difference is a stale entry, i.e. a miss. ``invalidate(tag=...)`` writes a fresh random
token: one write, whatever the number of entries, on any `CacheStore`. Random tokens (not counters) make
concurrent invalidations never cancel each other out, and a write that finds no token creates one, so an entry
always records a real token: if a token is evicted later, its entries read as stale — never as valid again.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

__all__ = ["KIND_STREAM", "KIND_VALUE", "new_tag_token", "tag_key"]

KIND_VALUE = "v"
KIND_STREAM = "s"


def tag_key(namespace: str, tag: str) -> str:
    """Store key of ``tag``'s generation token in ``namespace``.

    >>> tag_key("chat", "docs/v2")
    'chat:#tag:docs%2Fv2'
    """
    return f"{namespace}:#tag:{quote(tag, safe='')}"


def new_tag_token() -> bytes:
    """A fresh generation token (64 random bits, hex)."""
    return secrets.token_hex(8).encode("ascii")
