"""The breakpoint cache model: Anthropic, Amazon Bedrock, and OpenAI's explicit breakpoints (GPT-5.6+).

The rules (Anthropic's prompt-caching docs, Bedrock's user guide, the OpenAI SDK's ``prompt_cache_options``):

- A request is a sequence of positions (tools -> system -> messages). Only a breakpoint writes, and it writes
  one entry: the hash of the prefix ending at its block. Below the model's minimum a breakpoint does nothing
  (no error; the request is processed without caching).
- Reading: each breakpoint looks back over at most ``lookback`` positions, counting itself, for a live
  entry (Anthropic/Bedrock: 20; a run of tool_use or tool_result blocks is one position). OpenAI looks at every
  position (no lookback limit) but keeps only the latest 80 breakpoints of a conversation. The read covers
  the longest hit, position A.
- Writing: every breakpoint after A writes; the tokens from A to the last breakpoint C are billed as writes.
  A token is billed at the longest TTL of any breakpoint at or after its block, which is Anthropic's
  A/B/C rule (B = the last 1h breakpoint: 1h write B-A, 5m write C-B) for any number of TTLs.
- An entry lives ``ttl`` seconds from the start of the request that wrote it, and a hit refreshes it for its
  own TTL from the reading request's start. It becomes readable only when the writing request starts to
  respond, so concurrent cold requests each write (`PendingWrites` are applied at first byte).
- OpenAI GPT-5.6+: the implicit breakpoint (latest user/tool message) plus the latest three explicit ones are
  written (the latest four in ``explicit`` mode, where a request without markers does not use caching).

Per request the work is (breakpoints x lookback) dictionary lookups: no loop over tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from cachepoint.core.lru import LRU
from cachepoint.core.simulate.prompt import SimPrompt
from cachepoint.core.simulate.result import BreakpointOutcome, new_outcome

__all__ = ["BreakpointPlan", "BreakpointRules", "BreakpointStore", "Entry", "plan_breakpoints"]


class Entry:
    """One stored prefix (mutable: hits refresh it).

    >>> e = Entry(key="h", tokens=2048, ttl="5m", ttl_seconds=300.0, created_at=0.0, readable_at=1.0,
    ...           expires_at=300.0, path="system[0]")
    >>> e.tokens, e.hits
    (2048, 0)
    """

    __slots__ = ("created_at", "expires_at", "hits", "key", "path", "readable_at", "tokens", "ttl", "ttl_seconds")

    def __init__(
        self,
        *,
        key: str,
        tokens: int,
        ttl: str,
        ttl_seconds: float,
        created_at: float,
        readable_at: float,
        expires_at: float,
        path: str | None,
    ) -> None:
        self.key = key
        self.tokens = tokens
        self.ttl = ttl
        self.ttl_seconds = ttl_seconds
        self.created_at = created_at
        self.readable_at = readable_at
        self.expires_at = expires_at
        self.hits = 0
        self.path = path


@dataclass(frozen=True)
class BreakpointRules:
    """The model's rules as the breakpoint model uses them.

    ``lookback``: positions a breakpoint checks, itself included (``None``: all); ``recent``: entries a
    store keeps (OpenAI: the latest 80 breakpoints; ``None``: no limit); ``written_explicit``: how many of the
    latest explicit breakpoints a request writes (``None``: all); ``ttl_seconds`` maps labels to lifetimes.

    >>> BreakpointRules(min_tokens=1024, default_ttl="5m", ttl_seconds={"5m": 300.0}).seconds(None)
    ('5m', 300.0)
    """

    min_tokens: int
    default_ttl: str
    ttl_seconds: dict[str, float]
    lookback: int | None = 20
    recent: int | None = None
    written_explicit: int | None = None
    explicit_mode: bool = False

    def seconds(self, label: str | None) -> tuple[str, float]:
        """The label (default filled in) and its lifetime in seconds."""
        label = label or self.default_ttl
        seconds = self.ttl_seconds.get(label)
        if seconds is None:
            from cachepoint.core.prompt.ttl import ttl_seconds

            try:
                seconds = float(ttl_seconds(label))
            except ValueError:
                seconds = self.ttl_seconds[self.default_ttl]
            self.ttl_seconds[label] = seconds
        return label, seconds


class BreakpointStore:
    """The entries of one cache partition (a tenant's cache for one model, or one OpenAI routing bucket).

    >>> store = BreakpointStore()
    >>> store.write("h", tokens=2048, ttl="5m", seconds=300.0, started_at=0.0, first_byte_at=1.0, path=None)
    >>> store.live("h", 0.5) is None, store.live("h", 1.0).tokens, store.live("h", 300.0) is None
    (True, 2048, True)
    """

    __slots__ = ("entries", "kept", "recent", "writes_since_purge")

    def __init__(self, recent: int | None = None) -> None:
        self.entries: LRU[str, Entry] = LRU(recent)  # by last write: ``recent`` keeps the latest writes
        self.recent = recent
        self.writes_since_purge = 0
        #: Entries the last `purge` left: the next one is due when the writes since outnumber them (`due`).
        self.kept = 0

    def live(self, key: str, at: float) -> Entry | None:
        """The entry under ``key`` if it is readable at ``at``."""
        entry = self.entries.peek(key)
        if entry is not None and entry.readable_at <= at < entry.expires_at:
            return entry
        return None

    def write(
        self,
        key: str,
        *,
        tokens: int,
        ttl: str,
        seconds: float,
        started_at: float,
        first_byte_at: float,
        path: str | None,
    ) -> None:
        """Store (or renew) the entry for ``key``, readable from ``first_byte_at``."""
        expires = started_at + seconds
        entry = self.entries.peek(key)
        if entry is not None and entry.expires_at > started_at:
            entry.expires_at = max(entry.expires_at, expires)
            entry.readable_at = min(entry.readable_at, first_byte_at)
            if seconds > entry.ttl_seconds:
                entry.ttl, entry.ttl_seconds = ttl, seconds
            if self.recent is not None:
                self.entries.touch(key)
        else:
            self.entries.put(
                key,
                Entry(
                    key=key,
                    tokens=tokens,
                    ttl=ttl,
                    ttl_seconds=seconds,
                    created_at=started_at,
                    readable_at=first_byte_at,
                    expires_at=expires,
                    path=path,
                ),
            )
        self.writes_since_purge += 1

    def due(self) -> bool:
        """Whether a `purge` is due: the writes since the last one outnumber what it left (and 1,024).

        Counted against what the last purge *left*, not against the entries held now: when every write stores a
        new entry (a new conversation each time), the entries grow exactly as fast as the writes and a purge
        measured against them would never come. This way a purge visits at most twice the writes since the
        last one (amortized O(1) per write), and the store holds at most the entries of one lifetime plus as
        many again.

        >>> store = BreakpointStore()
        >>> for n in range(1025):
        ...     store.write(f"h{n}", tokens=2048, ttl="5m", seconds=300.0, started_at=n, first_byte_at=n, path=None)
        >>> store.due()
        True
        >>> store.purge(1025.0); len(store.entries), store.kept, store.due()
        (299, 299, False)
        """
        return self.writes_since_purge > max(1024, self.kept)

    def purge(self, at: float) -> None:
        """Drop entries expired at ``at`` (amortized: called when `due`)."""
        expired = [k for k, e in self.entries.items() if e.expires_at <= at]
        for key in expired:
            self.entries.pop(key)
        self.writes_since_purge = 0
        self.kept = len(self.entries)


class BreakpointPlan(NamedTuple):
    """The result of looking a request up: what it reads, what it will write (key, tokens, ttl, seconds, path;
    applied at first byte), and each breakpoint's outcome. (A named tuple: one is made per simulated request.)

    >>> BreakpointPlan(-1, 0, {}, (), (), False).read_tokens
    0
    """

    read_position: int
    read_tokens: int
    write_by_ttl: dict[str, int]
    writes: tuple[tuple[str, int, str, float, str | None], ...]  # (key, tokens, ttl, seconds, path)
    outcomes: tuple[BreakpointOutcome, ...]
    caching: bool


def _resolve(prompt: SimPrompt, rules: BreakpointRules) -> list[tuple[int, str, float, bool]]:
    """Breakpoints as (position, ttl, seconds, implicit), one per position (the longest TTL wins), sorted."""
    by_position: dict[int, tuple[int, str, float, bool]] = {}
    known = rules.ttl_seconds
    default = rules.default_ttl
    for bp in prompt.breakpoints:
        label = bp.ttl or default
        seconds = known.get(label)
        if seconds is None:
            label, seconds = rules.seconds(label)
        current = by_position.get(bp.position)
        if current is None or seconds > current[2] or (bp.implicit and not current[3]):
            implicit = bp.implicit or (current is not None and current[3])
            by_position[bp.position] = (bp.position, label, max(seconds, current[2] if current else 0.0), implicit)
    return sorted(by_position.values())


def _openai_written(resolved: list[tuple[int, str, float, bool]], rules: BreakpointRules) -> set[int]:
    """Positions OpenAI writes: the implicit breakpoint plus the latest N explicit ones."""
    implicit = {pos for pos, _, _, imp in resolved if imp}
    explicit = [pos for pos, _, _, imp in resolved if not imp]
    keep = rules.written_explicit if rules.written_explicit is not None else len(explicit)
    return implicit | set(explicit[len(explicit) - keep :] if keep else [])


def plan_breakpoints(  # noqa: PLR0912, PLR0915 - the rules read best in one place
    prompt: SimPrompt, store: BreakpointStore, at: float, rules: BreakpointRules
) -> BreakpointPlan:
    """Look ``prompt`` up in ``store`` at time ``at``: reads, writes (to apply at first byte), refreshes.

    >>> from cachepoint.core.simulate import SimBreakpoint
    >>> rules = BreakpointRules(min_tokens=1024, default_ttl="5m", ttl_seconds={"5m": 300.0, "1h": 3600.0})
    >>> prompt = SimPrompt(("tools", "system", "q"), (1500, 3500, 3600),
    ...                    breakpoints=(SimBreakpoint(1, "1h"), SimBreakpoint(2)))
    >>> plan = plan_breakpoints(prompt, BreakpointStore(), 0.0, rules)
    >>> plan.read_tokens, plan.write_by_ttl
    (0, {'1h': 3500, '5m': 100})
    """
    hashes: Sequence[str] = prompt.hashes
    cumulative: Sequence[int] = prompt.cumulative
    resolved = _resolve(prompt, rules)
    if rules.explicit_mode and not any(not imp for _, _, _, imp in resolved):
        off = tuple(BreakpointOutcome(pos, label, cumulative[pos], note="caching_off") for pos, label, _, _ in resolved)
        return BreakpointPlan(-1, 0, {}, (), off, False)
    written_only = _openai_written(resolved, rules) if rules.written_explicit is not None else None

    found: dict[int, int | None] = {}
    beyond: dict[int, int | None] = {}
    read = -1
    hit_entries: dict[str, Entry] = {}
    window = rules.lookback
    get = store.entries.peek  # `BreakpointStore.live`, inlined: this loop is the replay's hot spot
    if window is None:
        # No lookback limit (OpenAI): the longest live prefix anywhere in the request.
        for j in range(len(hashes) - 1, -1, -1):
            entry = get(hashes[j])
            if entry is not None and entry.readable_at <= at < entry.expires_at:
                read = j
                hit_entries[entry.key] = entry
                break
        for pos, _, _, _ in resolved:
            found[pos] = read if 0 <= read <= pos else None
    else:
        lookback: Sequence[int] = prompt.lookback if prompt.lookback is not None else range(len(hashes))
        min_tokens = rules.min_tokens
        for pos, _, _, _ in resolved:
            if cumulative[pos] < min_tokens:
                continue  # nothing this short was ever written, so nothing to find
            limit = lookback[pos] - window  # positions at or below this lookback index are out of reach
            hit: int | None = None
            j = pos
            while j >= 0 and lookback[j] > limit:
                entry = get(hashes[j])
                if entry is not None and entry.readable_at <= at < entry.expires_at:
                    hit = j
                    hit_entries[entry.key] = entry
                    break
                j -= 1
            found[pos] = hit
            if hit is None and j >= 0:
                while j >= 0:
                    entry = get(hashes[j])
                    if entry is not None and entry.readable_at <= at < entry.expires_at:
                        break
                    j -= 1
                beyond[pos] = j if j >= 0 else None
            if hit is not None and hit > read:
                read = hit

    # Refresh what was hit: a hit renews the entry's lifetime from this request's start.
    for entry in hit_entries.values():
        entry.expires_at = max(entry.expires_at, at + entry.ttl_seconds)
        entry.hits += 1

    # What is written: every breakpoint after the read, long enough (and among OpenAI's latest), each billed at
    # the longest TTL at or after it. Walked from the last breakpoint back, so the longest TTL so far is at hand.
    min_tokens = rules.min_tokens
    effective: list[tuple[int, str, float]] = []
    longest_label = ""
    longest = -1.0
    for pos, label, seconds, _ in reversed(resolved):
        if pos > read and cumulative[pos] >= min_tokens and (written_only is None or pos in written_only):
            if seconds > longest or not effective:
                longest_label, longest = label, seconds
            effective.append((pos, longest_label, longest))
    effective.reverse()
    write_by_ttl: dict[str, int] = {}
    writes: list[tuple[str, int, str, float, str | None]] = []
    previous = cumulative[read] if read >= 0 else 0
    paths = prompt.paths
    for pos, label, seconds in effective:
        tokens = cumulative[pos]
        if tokens > previous:
            write_by_ttl[label] = write_by_ttl.get(label, 0) + tokens - previous
            previous = tokens
        writes.append((hashes[pos], tokens, label, seconds, paths[pos] if paths is not None else None))

    written = {pos for pos, _, _ in effective} if effective else ()
    outcomes = []
    for pos, label, _, _ in resolved:
        tokens = cumulative[pos]
        wrote = pos in written
        if tokens < min_tokens:
            note = "below_minimum"
        elif wrote:
            note = ""
        elif pos <= read:
            note = "covered"
        else:
            note = "not_written"
        outcomes.append(new_outcome(pos, label, tokens, found.get(pos), wrote, note, beyond.get(pos)))
    read_tokens = cumulative[read] if read >= 0 else 0
    return BreakpointPlan(read, read_tokens, write_by_ttl, tuple(writes), tuple(outcomes), bool(resolved))
