"""Cache TTL labels (``"5m"``, ``"1h"``, ``"30m"``, ``"12h"``) as durations, and the ordering rule.

Anthropic and Bedrock require longer TTLs before shorter ones: "a 1-hour cache entry must appear before any
5-minute cache entries". cachepoint applies the same order everywhere (OpenAI states no rule; the order is
harmless there).

>>> ttl_seconds("1h"), ttl_seconds("5m"), ttl_seconds(None, default="5m")
(3600, 300, 300)
>>> ttl_order_ok(["1h", "1h", "5m"]), ttl_order_ok(["5m", "1h"])
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["longest", "shortest", "ttl_order_ok", "ttl_seconds"]

_LABEL = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


_KNOWN: dict[str, int] = {}  # labels parsed so far: placement asks for the same few labels millions of times


def ttl_seconds(label: str | None, *, default: str = "5m") -> int:
    """Seconds of a TTL label; ``None`` means ``default`` (the provider's default TTL)."""
    value = label if label is not None else default
    known = _KNOWN.get(value)
    if known is not None:
        return known
    match = _LABEL.match(value)
    if match is None:
        raise ValueError(f"ttl: expected a duration label such as '5m' or '1h', got {value!r}")
    seconds = int(match.group(1)) * _UNIT[match.group(2)]
    if len(_KNOWN) < 256:
        _KNOWN[value] = seconds
    return seconds


def ttl_order_ok(ttls: Iterable[str | None], *, default: str = "5m") -> bool:
    """Whether TTLs in prefix order never get longer (1h never after 5m)."""
    previous = None
    for label in ttls:
        seconds = ttl_seconds(label, default=default)
        if previous is not None and seconds > previous:
            return False
        previous = seconds
    return True


#: `longest` / `shortest` answers by (labels, default, which): strategies ask for every request, of the same few
#: tuples of labels (a model's `ModelInfo.ttls`).
_EXTREMES: dict[tuple[tuple[str, ...], str, bool], str] = {}


def longest(ttls: Sequence[str], *, default: str = "5m") -> str:
    """The longest TTL of ``ttls`` (labels that are not durations, like ``in_memory``, are ignored)."""
    return _extreme(ttls, default, True)


def shortest(ttls: Sequence[str], *, default: str = "5m") -> str:
    """The shortest TTL of ``ttls`` (labels that are not durations are ignored)."""
    return _extreme(ttls, default, False)


def _extreme(ttls: Sequence[str], default: str, longest: bool) -> str:
    key = (ttls, default, longest) if type(ttls) is tuple else None
    if key is not None:
        found = _EXTREMES.get(key)
        if found is not None:
            return found
    durations = [t for t in ttls if _LABEL.match(t)]
    pick = max if longest else min
    found = pick(durations, key=ttl_seconds) if durations else default
    if key is not None and len(_EXTREMES) < 256:
        _EXTREMES[key] = found
    return found
