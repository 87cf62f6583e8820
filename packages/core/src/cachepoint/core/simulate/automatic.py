"""OpenAI's automatic prompt caching (models before GPT-5.6), as its guide describes it.

- Prompts of at least 1024 tokens are cached automatically, free of charge; nothing shorter is.
- A hit covers the longest cached prefix, counted in whole increments of 128 tokens (1024, 1152, 1280...).
- Requests are routed to a machine by a hash of the prompt's first ~256 tokens combined with
  ``prompt_cache_key``; a prefix cached on one machine is invisible to another. A prefix+key combination that
  gets more than ~15 requests a minute overflows onto more machines.
- Retention: ``in_memory`` keeps a prefix 5 to 10 minutes after its last use; ``24h`` (extended retention, the
  default for organizations without zero data retention) up to 24 hours.

Documented simplifications, each chosen to stay on the conservative side:

- Prefixes match at block granularity (the positions of the `PrefixView`): a block that differs anywhere
  ends the match at its start, where the real cache would still match the block's identical leading tokens.
- Routing uses the prefix hash of the first block that reaches 256 tokens.
- Overflow is deterministic: with *n* requests in the last 60 s for a route and a limit of *r* per minute,
  the route spreads over ``ceil(n / r)`` machines and request number *k* lands on machine ``k mod`` that.
- ``in_memory`` is modelled as the low end of its range (idle expiry after 300 s, configurable); its one-hour
  cap is not modelled.

Per request: a binary search over positions (a prefix that is cached has all its shorter prefixes cached
too) and one bulk dictionary update to store the prompt's prefixes: no loop over tokens.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from cachepoint.core.simulate.prompt import SimPrompt

__all__ = ["AutomaticEntry", "AutomaticRouter", "OpenAIOptions", "lookup_automatic"]


@dataclass(frozen=True)
class OpenAIOptions:
    """How the OpenAI model behaves where the guide leaves room.

    Attributes:
        default_retention: ``24h`` (organizations without zero data retention) or ``in_memory`` (ZDR
            organizations), used when a request names none.
        in_memory_idle: seconds an ``in_memory`` prefix survives without use (the guide says 5 to 10 minutes).
        extended_retention: seconds of ``24h`` retention.
        route_tokens: how many leading tokens pick the machine.
        overflow_rpm: requests per minute one route takes before spilling onto more machines (``None``: never).
        recent_breakpoints: breakpoints of a conversation GPT-5.6+ matches against.

    >>> OpenAIOptions(default_retention="in_memory").in_memory_idle
    300.0
    """

    default_retention: str = "24h"
    in_memory_idle: float = 300.0
    extended_retention: float = 86_400.0
    route_tokens: int = 256
    overflow_rpm: float | None = 15.0
    recent_breakpoints: int = 80

    def __post_init__(self) -> None:
        if self.default_retention not in ("24h", "in_memory"):
            raise ValueError(f"default_retention: expected '24h' or 'in_memory', got {self.default_retention!r}")
        if self.overflow_rpm is not None and self.overflow_rpm <= 0:
            raise ValueError(f"overflow_rpm: expected a positive rate or None, got {self.overflow_rpm}")

    def retention_seconds(self, label: str | None) -> float:
        """Lifetime after last use for a retention label (``None``: the default)."""
        label = label or self.default_retention
        return self.in_memory_idle if label == "in_memory" else self.extended_retention


class AutomaticEntry:
    """The cached prefix of one request: every position of the prompt points at it (``cap``: cached tokens).

    >>> AutomaticEntry(key="h", cap=1920, ttl="24h", created_at=0.0, readable_at=0.0, expires_at=86400.0).cap
    1920
    """

    __slots__ = ("cap", "created_at", "expires_at", "hits", "key", "readable_at", "ttl")

    def __init__(
        self, *, key: str, cap: int, ttl: str, created_at: float, readable_at: float, expires_at: float
    ) -> None:
        self.key = key
        self.cap = cap
        self.ttl = ttl
        self.created_at = created_at
        self.readable_at = readable_at
        self.expires_at = expires_at
        self.hits = 0


class AutomaticRouter:
    """One tenant's OpenAI cache for one model: routes (``prompt_cache_key`` + leading prefix) of machines.

    >>> router = AutomaticRouter()
    >>> p = SimPrompt(("doc",), (3000,), cache_key="agent-1")
    >>> router.route(p, 0.0, OpenAIOptions())
    ('agent-1', 'doc', 0)
    """

    __slots__ = ("arrivals", "buckets", "sequence", "writes_since_purge")

    def __init__(self) -> None:
        self.buckets: dict[tuple[str | None, str, int], dict[str, AutomaticEntry]] = {}
        self.arrivals: dict[tuple[str | None, str], deque[float]] = {}
        self.sequence: dict[tuple[str | None, str], int] = {}
        self.writes_since_purge = 0

    def route(self, prompt: SimPrompt, at: float, options: OpenAIOptions) -> tuple[str | None, str, int]:
        """The machine this request lands on."""
        cumulative = prompt.cumulative
        route = ""
        for i, tokens in enumerate(cumulative):
            if tokens >= options.route_tokens or i == len(cumulative) - 1:
                route = prompt.hashes[i]
                break
        group = (prompt.cache_key, route)
        machine = 0
        if options.overflow_rpm is not None:
            window = self.arrivals.setdefault(group, deque())
            window.append(at)
            while window and window[0] <= at - 60.0:
                window.popleft()
            machines = max(1, math.ceil(len(window) / options.overflow_rpm))
            count = self.sequence.get(group, 0)
            self.sequence[group] = count + 1
            machine = count % machines
        return prompt.cache_key, route, machine

    def bucket(self, route: tuple[str | None, str, int]) -> dict[str, AutomaticEntry]:
        """The prefixes cached on one machine."""
        found = self.buckets.get(route)
        if found is None:
            found = self.buckets[route] = {}
        return found

    def purge(self, at: float) -> None:
        """Drop expired prefixes (amortized), the machines left with none, and the arrivals of routes idle for a
        minute (the next request of such a route finds them gone either way). The per-route request counters
        stay: which machine a burst lands on depends on them."""
        for route in list(self.buckets):
            bucket = self.buckets[route]
            for key in [k for k, e in bucket.items() if e.expires_at <= at]:
                del bucket[key]
            if not bucket:
                del self.buckets[route]
        self.forget_arrivals(at)
        self.writes_since_purge = 0

    def forget_arrivals(self, at: float) -> None:
        """Drop the arrival windows whose every request is a minute old at ``at`` (`route` would empty them)."""
        for group in [g for g, window in self.arrivals.items() if not window or window[-1] <= at - 60.0]:
            del self.arrivals[group]


def lookup_automatic(
    prompt: SimPrompt, bucket: dict[str, AutomaticEntry], at: float, *, min_tokens: int, increment: int
) -> tuple[int, int, AutomaticEntry | None]:
    """The cached tokens for ``prompt`` (0 or >= ``min_tokens``, a multiple of ``increment``), the position
    where the match ends (-1: none), and the entry that matched.

    >>> p = SimPrompt(("doc", "doc/q"), (1500, 2000))
    >>> bucket = dict.fromkeys(p.hashes, AutomaticEntry(key="doc/q", cap=1920, ttl="24h", created_at=0.0,
    ...                                                 readable_at=0.0, expires_at=100.0))
    >>> lookup_automatic(p, bucket, 1.0, min_tokens=1024, increment=128)[:2]
    (1920, 1)
    """
    hashes: Sequence[str] = prompt.hashes

    def live(i: int) -> AutomaticEntry | None:
        entry = bucket.get(hashes[i])
        if entry is not None and entry.readable_at <= at < entry.expires_at:
            return entry
        return None

    lo, hi, best = 0, len(hashes) - 1, -1
    best_entry: AutomaticEntry | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        entry = live(mid)
        if entry is not None:
            best, best_entry = mid, entry
            lo = mid + 1
        else:
            hi = mid - 1
    if best_entry is None:
        return 0, -1, None
    matched = min(prompt.cumulative[best], best_entry.cap)
    cached = matched - matched % increment
    if cached < min_tokens:
        return 0, best, best_entry
    return cached, best, best_entry
