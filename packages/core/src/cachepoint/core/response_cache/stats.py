"""Counters of one response cache (one namespace): hits, misses, bytes, bad entries, single-flight and locks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cachepoint.core.codec import Codec, DecodeOutcome, DecodeTally

__all__ = ["CacheStats", "StatsSnapshot"]

_OK = DecodeOutcome.OK
_TAMPERED = frozenset({DecodeOutcome.BAD_SIGNATURE.value, DecodeOutcome.UNSIGNED.value})


@dataclass(frozen=True)
class StatsSnapshot:
    """A consistent copy of a cache's counters at one moment.

    - ``hits`` / ``misses``: lookups answered from the store / not (a miss is followed by an upstream call,
      a join or a wait). ``bypassed``: calls the policy does not cache (not counted as misses), and
      ``bypass_reasons`` the same calls by reason (``{"sampled: temperature unset": 3, ...}``).
    - ``upstream_calls``: calls actually made upstream (what you pay for), bypassed ones included.
    - ``joins``: calls that shared another caller's in-flight upstream call (single-flight), or, with a
      distributed lock, replayed another process's result after waiting for it.
    - ``errors``: upstream calls that raised (never cached). ``store_errors``: store operations that failed
      and were treated as misses / dropped writes.
    - ``stored``: entries written; ``unstorable``: results the codec cannot carry; ``too_large``: over
      ``max_entry_bytes``; ``interrupted_streams``: streams that ended early and were not stored.
    - ``bad_entries``: undecodable entries by `DecodeOutcome` (``corrupt`` and ``tampered`` sum them);
      ``stale``: entries retired by a tag invalidation; ``load_errors``: entries your ``load`` rejected.
    - ``lock_waits``: calls that waited for another process's lock; ``lock_timeouts``: waits that gave up after
      ``lock_wait`` and called upstream; ``lock_unstorable``: waits cut short because the holder's result could
      not be stored (the waiters call upstream at once, together); ``lock_errors``: lock backend failures (the
      call went ahead without the lock).
    - ``over_budget``: store and lock operations skipped or cut short because their call had spent its time
      budget (``ResponseCache(timeout=...)``): a read is then a miss, a write is dropped, a lock is gone without.

    >>> StatsSnapshot(namespace="chat", hits=3, misses=1).hit_rate
    0.75
    """

    namespace: str
    hits: int = 0
    misses: int = 0
    bypassed: int = 0
    upstream_calls: int = 0
    joins: int = 0
    errors: int = 0
    store_errors: int = 0
    stored: int = 0
    unstorable: int = 0
    too_large: int = 0
    interrupted_streams: int = 0
    stale: int = 0
    load_errors: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    lock_waits: int = 0
    lock_timeouts: int = 0
    lock_errors: int = 0
    lock_unstorable: int = 0
    over_budget: int = 0
    bad_entries: dict[str, int] = field(default_factory=dict)
    bypass_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float:
        """``hits / (hits + misses)``; 0.0 before the first lookup.

        >>> StatsSnapshot(namespace="chat").hit_rate
        0.0
        """
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    @property
    def tampered(self) -> int:
        """Entries refused for a bad or missing signature.

        >>> StatsSnapshot(namespace="c", bad_entries={"bad_signature": 2, "pickle": 1}).tampered
        2
        """
        return sum(n for outcome, n in self.bad_entries.items() if outcome in _TAMPERED)

    @property
    def corrupt(self) -> int:
        """Entries refused as garbage, truncated, pickled, of an unknown version/encoding, or corrupt.

        >>> StatsSnapshot(namespace="c", bad_entries={"bad_signature": 2, "pickle": 1}).corrupt
        1
        """
        return sum(n for outcome, n in self.bad_entries.items() if outcome not in _TAMPERED)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for logs and metrics exporters, with ``hit_rate``, ``corrupt`` and ``tampered`` added.

        >>> StatsSnapshot(namespace="chat", hits=1).as_dict()["hit_rate"]
        1.0
        """
        out = asdict(self)
        out.update(hit_rate=self.hit_rate, corrupt=self.corrupt, tampered=self.tampered)
        return out


_COUNTERS = tuple(
    name for name in StatsSnapshot.__dataclass_fields__ if name not in ("namespace", "bad_entries", "bypass_reasons")
)


class CacheStats:
    """Thread-safe counters behind `ResponseCache.stats`; read them with `snapshot`.

    ``codec``: the `Codec <cachepoint.core.codec.Codec>` whose decodes this cache reports. The cache verifies
    and parses with the codec's uncounted seams (`Codec.verify`, `Verified.value`) and reports each outcome here
    with `hit` / `decoded`, which count it in the codec's `DecodeTally <cachepoint.core.codec.DecodeTally>`
    (``codec.counts``) and in this cache's counters under the tally's one lock: a hit takes one lock, not two.

    >>> stats = CacheStats("chat")
    >>> stats.add(hits=1, bytes_read=120)
    >>> stats.snapshot().bytes_read
    120
    """

    def __init__(self, namespace: str, *, codec: Codec | None = None) -> None:
        self.namespace = namespace
        tally = codec.tally if codec is not None else DecodeTally()
        self._lock, self._decodes = tally.lock, tally.counts
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._bad: dict[str, int] = {}
        self._bypass: dict[str, int] = {}

    def add(self, **deltas: int) -> None:
        """Add to named counters; an unknown name is a ``KeyError``.

        >>> stats = CacheStats("chat")
        >>> stats.add(misses=2)
        >>> stats.snapshot().misses
        2
        """
        with self._lock:
            counts = self._counts
            for name, delta in deltas.items():
                counts[name] += delta

    def hit(self, nbytes: int) -> None:
        """One hit of an entry of ``nbytes`` that decoded (the hot path: one lock for the decode and the hit).

        >>> from cachepoint.core.codec import Codec
        >>> codec = Codec()
        >>> stats = CacheStats("chat", codec=codec)
        >>> stats.hit(100)
        >>> stats.snapshot().hits, codec.counts["ok"]
        (1, 1)
        """
        # acquire/release rather than `with`: on CPython 3.11 the context-manager protocol costs a third of this
        # method, which every hit calls.
        lock = self._lock
        lock.acquire()
        try:
            self._decodes[_OK] += 1
            counts = self._counts
            counts["hits"] += 1
            counts["bytes_read"] += nbytes
        finally:
            lock.release()

    def decoded(self, outcome: DecodeOutcome, *, bad: DecodeOutcome | None = None, **deltas: int) -> None:
        """One decode that ended in ``outcome`` and was not a hit, with any counters it moved (``stale=1``...).

        The entry counts as a bad entry (`StatsSnapshot.bad_entries`) under ``bad``, or under ``outcome`` when
        that is not ``OK`` (an envelope that decodes but holds no entry: ``decoded(OK, bad=CORRUPT)``).

        >>> stats = CacheStats("chat")
        >>> stats.decoded(DecodeOutcome.PICKLE)
        >>> stats.decoded(DecodeOutcome.OK, stale=1)
        >>> stats.decoded(DecodeOutcome.OK, bad=DecodeOutcome.CORRUPT)
        >>> stats.snapshot().bad_entries, stats.snapshot().stale
        ({'pickle': 1, 'corrupt': 1}, 1)
        """
        with self._lock:
            self._decodes[outcome] += 1
            if bad is None and outcome is not _OK:
                bad = outcome
            if bad is not None:
                self._bad[bad.value] = self._bad.get(bad.value, 0) + 1
            counts = self._counts
            for name, delta in deltas.items():
                counts[name] += delta

    def bypass(self, reason: str) -> None:
        """One call the policy does not cache, made upstream, for ``reason``.

        >>> stats = CacheStats("chat")
        >>> stats.bypass("sampled: temperature unset")
        >>> snapshot = stats.snapshot()
        >>> snapshot.bypassed, snapshot.upstream_calls, snapshot.bypass_reasons
        (1, 1, {'sampled: temperature unset': 1})
        """
        with self._lock:
            counts = self._counts
            counts["bypassed"] += 1
            counts["upstream_calls"] += 1
            self._bypass[reason] = self._bypass.get(reason, 0) + 1

    def snapshot(self) -> StatsSnapshot:
        """A frozen copy of every counter.

        >>> CacheStats("chat").snapshot().namespace
        'chat'
        """
        with self._lock:
            return StatsSnapshot(
                namespace=self.namespace,
                bad_entries=dict(self._bad),
                bypass_reasons=dict(self._bypass),
                **self._counts,
            )

    def reset(self) -> None:
        """Zero every counter.

        >>> stats = CacheStats("chat")
        >>> stats.add(hits=3)
        >>> stats.reset()
        >>> stats.snapshot().hits
        0
        """
        with self._lock:
            self._counts = dict.fromkeys(_COUNTERS, 0)
            self._bad = {}
            self._bypass = {}
