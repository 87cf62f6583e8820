"""`CacheResult`: a value together with where it came from, so callers can tell a hit from a miss."""

from __future__ import annotations

import enum
from typing import Generic, TypeVar

__all__ = ["CacheResult", "Source"]

T = TypeVar("T")


class Source(str, enum.Enum):
    """Where a `CacheResult`'s value came from.

    >>> Source.HIT.value
    'hit'
    """

    HIT = "hit"
    """Replayed from the store; no upstream call."""
    MISS = "miss"
    """This caller made the upstream call (and stored the result if it could)."""
    JOINED = "joined"
    """Another caller in this process was making the same call; its result was shared (single-flight)."""
    BYPASS = "bypass"
    """Not cacheable under the policy (a sampled call): called upstream, nothing stored. The result's ``reason``
    says why (``"sampled: temperature unset"``...)."""


class CacheResult(Generic[T]):
    """A value and its `Source`. ``hit`` is ``True`` only for a replay from the store.

    ``reason`` says why a ``BYPASS`` was not cached (``"sampled: temperature unset"``, see
    `cachepoint.core.response_cache.sampling_reason`); it is ``None`` for every other source.

    >>> result = CacheResult("answer", Source.HIT, "chat:shared:v1:ab")
    >>> result.hit, result.value
    (True, 'answer')
    >>> CacheResult("sampled", Source.BYPASS, None, "sampled: temperature > 0").reason
    'sampled: temperature > 0'
    """

    __slots__ = ("key", "reason", "source", "value")

    def __init__(self, value: T, source: Source, key: str | None, reason: str | None = None) -> None:
        self.value = value
        self.source = source
        self.key = key
        """The store key (``None`` for bypassed calls)."""
        self.reason = reason
        """Why the call was bypassed (``None`` unless ``source`` is ``BYPASS``)."""

    @property
    def hit(self) -> bool:
        """Whether the value was replayed from the cache.

        >>> CacheResult(1, Source.JOINED, "k").hit
        False
        """
        return self.source is Source.HIT

    @property
    def called_upstream(self) -> bool:
        """Whether *this* caller paid for an upstream call.

        >>> CacheResult(1, Source.BYPASS, None).called_upstream
        True
        """
        return self.source is Source.MISS or self.source is Source.BYPASS

    def __repr__(self) -> str:
        reason = "" if self.reason is None else f", reason={self.reason!r}"
        return f"CacheResult(value={self.value!r}, source={self.source.value!r}, key={self.key!r}{reason})"
