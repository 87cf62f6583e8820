"""Argument checks shared by every store, so bad input fails the same way everywhere.

A caller's mistake (a ``str`` value, a negative ``max_entries``, a NaN ttl) is a bug in the caller, not a sick
backend: these raise ``TypeError`` / ``ValueError`` naming the argument, before any backend is touched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["check_items", "check_key", "check_keys", "check_namespace", "check_ttl", "check_value"]


def check_key(key: object, field: str = "key") -> str:
    """``key`` if it is a ``str``; else ``TypeError`` naming ``field``."""
    if type(key) is str:
        return key
    if isinstance(key, str):
        return str(key)
    raise TypeError(f"{field}: expected str, got {type(key).__name__}")


def check_value(value: object, field: str = "value") -> bytes:
    """``value`` as ``bytes`` (``bytearray`` / ``memoryview`` are copied); else ``TypeError`` naming ``field``."""
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{field}: expected bytes, got {type(value).__name__} (encode it with cachepoint.core.codec)")


def check_ttl(ttl: object, field: str = "ttl") -> float | None:
    """A validated ttl in seconds: ``None`` (no expiry) or a finite float; ``<= 0`` means "already expired".

    ``inf`` is the same as ``None``. NaN, booleans and non-numbers raise.
    """
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise TypeError(f"{field}: expected seconds as int or float or None, got {type(ttl).__name__}")
    seconds = float(ttl)
    if math.isnan(seconds):
        raise ValueError(f"{field}: expected seconds, got NaN")
    if math.isinf(seconds):
        if seconds < 0:
            raise ValueError(f"{field}: expected seconds, got -inf")
        return None
    return seconds


def check_keys(keys: object, field: str = "keys") -> list[str]:
    """A list of validated keys from a sequence (a bare ``str`` is refused: it is almost always a bug)."""
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
        raise TypeError(f"{field}: expected a sequence of str, got {type(keys).__name__}")
    return [check_key(k, f"{field}[{i}]") for i, k in enumerate(keys)]


def check_items(items: object, field: str = "items") -> dict[str, bytes]:
    """A dict of validated key -> bytes from a mapping."""
    if not isinstance(items, Mapping):
        raise TypeError(f"{field}: expected a mapping of str to bytes, got {type(items).__name__}")
    out: dict[str, bytes] = {}
    for k, v in items.items():
        key = check_key(k, f"{field} key")
        out[key] = check_value(v, f"{field}[{key!r}]")
    return out


def check_namespace(namespace: object, field: str = "namespace") -> str | None:
    """``None`` or a non-empty ``str``; ``clear(namespace)`` removes keys starting with ``"<namespace>:"``."""
    if namespace is None:
        return None
    if not isinstance(namespace, str):
        raise TypeError(f"{field}: expected str or None, got {type(namespace).__name__}")
    if not namespace:
        raise ValueError(f"{field}: expected a non-empty namespace (use None to clear the whole store)")
    return namespace
