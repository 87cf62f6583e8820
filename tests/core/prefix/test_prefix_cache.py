"""`PrefixCache` against a brute-force model (hypothesis), plus the cases a KV user meets first."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cachepoint.core.prefix import PrefixCache, analyze_batch

TOKENS = st.lists(st.integers(0, 3), min_size=0, max_size=7).map(tuple)


def lcp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


@dataclass
class ModelEntry:
    payload: int
    size: int
    used: int
    hits: int
    seq: int


class Model:
    """The obvious, slow version: a dict of sequences, every question answered by scanning all of them."""

    def __init__(self, max_entries: int | None, max_bytes: int | None, policy: str, ttl: int | None, min_len: int):
        self.entries: dict[tuple[int, ...], ModelEntry] = {}
        self.max_entries, self.max_bytes, self.policy, self.ttl, self.min_len = (
            max_entries,
            max_bytes,
            policy,
            ttl,
            min_len,
        )
        self.now = 0
        self.seq = 0

    def expire(self) -> None:
        if self.ttl is None:
            return
        for key in [k for k, e in self.entries.items() if self.now - e.used >= self.ttl]:
            del self.entries[key]

    def touch(self, key: tuple[int, ...]) -> None:
        self.seq += 1
        entry = self.entries[key]
        entry.seq, entry.used, entry.hits = self.seq, self.now, entry.hits + 1

    def match(self, query: tuple[int, ...]) -> tuple[int, tuple[int, ...] | None]:
        self.expire()
        best_len, best_key = 0, None
        for key, entry in self.entries.items():
            n = lcp(query, key)
            if n > best_len or (n == best_len and best_key is not None and entry.seq > self.entries[best_key].seq):
                best_len, best_key = n, key
        if best_key is None or best_len < self.min_len or best_len == 0:
            return 0, None
        return best_len, best_key

    def lookup(self, query: tuple[int, ...]) -> tuple[int, int | None, int]:
        n, key = self.match(query)
        if key is None:
            return 0, None, 0
        self.touch(key)
        return n, self.entries[key].payload, len(key)

    def put(self, query: tuple[int, ...], payload: int, size: int) -> bool:
        self.expire()
        if len(query) < self.min_len or (self.max_bytes is not None and size > self.max_bytes):
            return False
        if query in self.entries:
            self.entries[query].payload, self.entries[query].size = payload, size
        else:
            self.entries[query] = ModelEntry(payload, size, self.now, 0, 0)
        self.touch(query)
        while (self.max_entries is not None and len(self.entries) > self.max_entries) or (
            self.max_bytes is not None and sum(e.size for e in self.entries.values()) > self.max_bytes
        ):
            others = [(k, e) for k, e in self.entries.items() if k != query]
            if not others:
                break
            if self.policy == "lru":
                victim = min(others, key=lambda kv: kv[1].seq)[0]
            else:
                victim = min(others, key=lambda kv: (kv[1].hits, kv[1].seq))[0]
            del self.entries[victim]
        return True


class PrefixCacheMachine(RuleBasedStateMachine):
    @initialize(
        max_entries=st.one_of(st.none(), st.integers(1, 5)),
        max_bytes=st.one_of(st.none(), st.integers(0, 12)),
        policy=st.sampled_from(["lru", "lfu"]),
        ttl=st.one_of(st.none(), st.integers(1, 6)),
        min_len=st.integers(1, 3),
    )
    def setup(self, max_entries: int | None, max_bytes: int | None, policy: str, ttl: int | None, min_len: int) -> None:
        self.model = Model(max_entries, max_bytes, policy, ttl, min_len)
        self.cache: PrefixCache[int] = PrefixCache(
            max_entries=max_entries,
            max_bytes=max_bytes,
            policy=policy,  # type: ignore[arg-type]
            ttl=ttl,
            min_prefix_length=min_len,
            sizeof=lambda _: 0,
            clock=lambda: float(self.model.now),
        )
        self.payloads = 0

    @rule(tokens=TOKENS, size=st.integers(0, 5))
    def put(self, tokens: tuple[int, ...], size: int) -> None:
        self.payloads += 1
        before = self.model.match(tokens)
        expected_match = (before[0], self.model.entries[before[1]].payload if before[1] else None)
        self.model.put(tokens, self.payloads, size)
        found = self.cache.insert(tokens, self.payloads, size=size)
        assert (found.length, found.payload) == expected_match
        assert (tokens in self.cache) == (tokens in self.model.entries)

    @rule(tokens=TOKENS)
    def lookup(self, tokens: tuple[int, ...]) -> None:
        expected = self.model.lookup(tokens)
        m = self.cache.lookup(tokens)
        assert (m.length, m.payload, m.entry_length) == expected
        assert m.remaining == (tokens[m.length :] if m.hit else tokens)

    @rule(tokens=TOKENS)
    def peek(self, tokens: tuple[int, ...]) -> None:
        n, key = self.model.match(tokens)
        m = self.cache.peek(tokens)
        assert (m.length, m.payload) == (n, self.model.entries[key].payload if key else None)

    @precondition(lambda self: bool(self.model.entries))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        self.model.expire()
        if not self.model.entries:
            return
        key = data.draw(st.sampled_from(sorted(self.model.entries)))
        del self.model.entries[key]
        assert self.cache.delete(key)
        assert not self.cache.delete(key)

    @rule(tokens=TOKENS)
    def get(self, tokens: tuple[int, ...]) -> None:
        self.model.expire()
        entry = self.model.entries.get(tokens)
        if entry is not None:
            self.model.touch(tokens)
        assert self.cache.get(tokens) == (entry.payload if entry else None)

    @rule(seconds=st.integers(0, 4))
    def advance(self, seconds: int) -> None:
        self.model.now += seconds

    @invariant()
    def same_contents(self) -> None:
        if not hasattr(self, "model"):
            return
        self.model.expire()
        assert {k: e.payload for k, e in self.model.entries.items()} == dict(self.cache.items())
        assert len(self.cache) == len(self.model.entries)


PrefixCacheMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestPrefixCacheAgainstModel = PrefixCacheMachine.TestCase


@settings(max_examples=300, deadline=None)
@given(
    stored=st.lists(TOKENS, max_size=4),
    batch=st.lists(TOKENS, max_size=8),
    min_len=st.integers(1, 3),
)
def test_analyze_batch_is_the_best_earlier_or_cached_prefix(
    stored: list[tuple[int, ...]], batch: list[tuple[int, ...]], min_len: int
) -> None:
    cache: PrefixCache[str] = PrefixCache(min_prefix_length=min_len)
    for seq in stored:
        cache.put(seq, "x")
    cached = [s for s in stored if len(s) >= min_len]
    expected = []
    for i, seq in enumerate(batch):
        best = max([lcp(seq, other) for other in cached + [s for s in batch[:i] if len(s) >= min_len]], default=0)
        expected.append(best if best >= min_len else 0)
    result = cache.analyze_batch(batch)
    assert result.reused == tuple(expected)
    assert result.total_tokens == sum(len(s) for s in batch)
    assert result.saved_tokens == sum(expected)
    assert len(cache) == len(set(cached))  # untouched
    assert cache.stats.lookups == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(TOKENS, max_size=10))
def test_analyze_batch_without_minimum_counts_distinct_prefixes(batch: list[tuple[int, ...]]) -> None:
    # Without a minimum, the tokens computed are exactly the distinct non-empty prefixes (trie nodes).
    distinct = {seq[:n] for seq in batch for n in range(1, len(seq) + 1)}
    assert analyze_batch(batch).computed_tokens == len(distinct)


def test_kv_user_reuses_a_prefix_of_a_longer_entry() -> None:
    cache: PrefixCache[str] = PrefixCache(min_prefix_length=4)
    system = list(range(100, 140))  # a 40-token system prompt
    cache.put([*system, 1, 2, 3], "kv-turn-1")
    match = cache.lookup([*system, 9, 9])
    # The stored KV covers 43 tokens; the new prompt shares the first 40: slice the KV to 40.
    assert (match.length, match.entry_length, match.exact, match.remaining) == (40, 43, False, (9, 9))
    assert cache.lookup([100, 101, 102, 7]).hit is False  # 3 tokens < min_prefix_length


def test_budget_in_bytes_evicts_least_recently_used_and_rejects_oversized() -> None:
    cache: PrefixCache[bytes] = PrefixCache(max_bytes=10)
    assert cache.put([1, 1], b"aaaa")
    assert cache.put([2, 2], b"bbbb")
    cache.lookup([1, 1])  # [1, 1] is now the most recent
    assert cache.put([3, 3], b"cccc")  # 12 bytes > 10: evict [2, 2]
    assert sorted(p for _, p in cache.items()) == [b"aaaa", b"cccc"]
    assert not cache.put([4], b"x" * 11)  # larger than the whole budget: not stored
    stats = cache.stats
    assert (stats.evicted, stats.rejected, stats.bytes) == (1, 1, 8)


def test_lfu_keeps_the_frequently_used_entry_and_never_evicts_the_new_one() -> None:
    cache: PrefixCache[str] = PrefixCache(max_entries=2, policy="lfu")
    cache.put("system-A", "a")
    cache.put("system-B", "b")
    for _ in range(3):
        cache.lookup("system-A + question")
    cache.put("system-C", "c")  # B has the fewest uses; C is new and protected
    assert sorted(p for _, p in cache.items()) == ["a", "c"]


def test_idle_ttl_is_refreshed_by_hits() -> None:
    now = [0.0]
    cache: PrefixCache[str] = PrefixCache(ttl=10, clock=lambda: now[0])
    cache.put("abc", "x")
    now[0] = 9.0
    assert cache.lookup("abcd").hit  # refreshed at 9
    now[0] = 18.0
    assert cache.lookup("abcd").hit
    now[0] = 28.0
    assert not cache.lookup("abcd").hit
    assert cache.stats.expired == 1


def test_removal_merges_and_keeps_answers_right() -> None:
    cache: PrefixCache[str] = PrefixCache()
    cache.put("abcdef", "1")
    cache.put("abcxyz", "2")
    cache.put("abc", "3")
    assert cache.delete("abc")
    assert cache.peek("abcd").payload == "1"
    assert cache.delete("abcdef")
    assert (cache.peek("abcd").payload, cache.peek("abcd").length) == ("2", 3)


def test_block_hashes_work_as_tokens() -> None:
    # The analyzer's use: sequences of prompt block hashes, not token ids.
    cache: PrefixCache[int] = PrefixCache()
    cache.insert(("tools", "system", "q1"), 1)
    found = cache.insert(("tools", "system", "q2"), 2)
    assert (found.length, found.payload) == (2, 1)
    assert cache.peek(("tools", "system", "q3")).payload == 2  # the freshest sharing request


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_entries": 0}, "max_entries"),
        ({"policy": "fifo"}, "policy"),
        ({"ttl": 0}, "ttl"),
        ({"min_prefix_length": 0}, "min_prefix_length"),
    ],
)
def test_bad_settings_name_the_argument(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrefixCache(**kwargs)  # type: ignore[arg-type]
