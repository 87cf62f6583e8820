"""MemoryStore against a deliberately naive reference model (lists and linear scans), step by step.

The model re-derives LRU/LFU eviction, TTL expiry and the byte bound from their definitions, so any divergence
in what the store returns, keeps or evicts fails the run. Hypothesis searches for the sequence that breaks it.
"""

from __future__ import annotations

import asyncio

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cachepoint.core.stores import MemoryStore

KEYS = st.sampled_from(["a", "b", "c", "d", "e", "f", "ns:a", "ns:b", "é"])
VALUES = st.binary(max_size=12)
TTLS = st.one_of(st.none(), st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.5, 10.0]))


class ModelEntry:
    def __init__(self, value: bytes, expires_at: float | None, tick: int) -> None:
        self.value = value
        self.expires_at = expires_at
        self.uses = 1
        self.tick = tick  # when it arrived at its current position (LRU) or use count (LFU)


class Model:
    """The definition of the store's behaviour, written for clarity, not speed."""

    def __init__(self, max_entries: int | None, max_bytes: int | None, policy: str) -> None:
        self.max_entries, self.max_bytes, self.policy = max_entries, max_bytes, policy
        self.entries: dict[str, ModelEntry] = {}
        self.now = 0.0
        self.tick = 0

    @staticmethod
    def size_of(key: str, value: bytes) -> int:
        return len(key.encode("utf-8")) + len(value)

    def total_bytes(self) -> int:
        return sum(self.size_of(k, e.value) for k, e in self.entries.items())

    def live(self, key: str) -> ModelEntry | None:
        entry = self.entries.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self.now:
            del self.entries[key]
            return None
        return entry

    def next_tick(self) -> int:
        self.tick += 1
        return self.tick

    def get(self, key: str) -> bytes | None:
        entry = self.live(key)
        if entry is None:
            return None
        entry.uses += 1
        entry.tick = self.next_tick()
        return entry.value

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self.entries.pop(key, None)
        if ttl is not None and ttl <= 0:
            return
        size = self.size_of(key, value)
        if self.max_bytes is not None and size > self.max_bytes:
            return
        for k in list(self.entries):
            self.live(k)
        while self.entries and (
            (self.max_entries is not None and len(self.entries) >= self.max_entries)
            or (self.max_bytes is not None and self.total_bytes() + size > self.max_bytes)
        ):
            if self.policy == "lru":
                victim = min(self.entries, key=lambda k: self.entries[k].tick)
            else:
                victim = min(self.entries, key=lambda k: (self.entries[k].uses, self.entries[k].tick))
            del self.entries[victim]
        self.entries[key] = ModelEntry(value, None if ttl is None else self.now + ttl, self.next_tick())

    def delete(self, key: str) -> bool:
        return self.live(key) is not None and self.entries.pop(key) is not None


class MemoryStoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()

    def teardown(self) -> None:
        self.loop.close()

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    @initialize(
        max_entries=st.one_of(st.none(), st.integers(1, 5)),
        max_bytes=st.one_of(st.none(), st.integers(1, 40)),
        policy=st.sampled_from(["lru", "lfu"]),
    )
    def make(self, max_entries: int | None, max_bytes: int | None, policy: str) -> None:
        if max_entries is None and max_bytes is None:
            max_entries = 3
        self.model = Model(max_entries, max_bytes, policy)
        self.store = MemoryStore(
            max_entries=max_entries, max_bytes=max_bytes, policy=policy, clock=lambda: self.model.now
        )

    @rule(key=KEYS, value=VALUES, ttl=TTLS)
    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self.run(self.store.set(key, value, ttl))
        self.model.set(key, value, ttl)

    @rule(items=st.dictionaries(KEYS, VALUES, max_size=3), ttl=TTLS)
    def set_many(self, items: dict[str, bytes], ttl: float | None) -> None:
        self.run(self.store.set_many(items, ttl))
        for key, value in items.items():
            self.model.set(key, value, ttl)

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        assert self.run(self.store.get(key)) == self.model.get(key)

    @rule(keys=st.lists(KEYS, max_size=4))
    def get_many(self, keys: list[str]) -> None:
        assert self.run(self.store.get_many(keys)) == [self.model.get(k) for k in keys]

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        assert self.run(self.store.delete(key)) == self.model.delete(key)

    @rule(key=KEYS)
    def exists(self, key: str) -> None:
        assert self.run(self.store.exists(key)) == (self.model.live(key) is not None)

    @rule(key=KEYS)
    def ttl(self, key: str) -> None:
        entry = self.model.live(key)
        expected = None if entry is None or entry.expires_at is None else entry.expires_at - self.model.now
        assert self.run(self.store.ttl(key)) == expected

    @rule(seconds=st.sampled_from([0.25, 0.5, 1.0, 3.0]))
    def advance(self, seconds: float) -> None:
        self.model.now += seconds

    @precondition(lambda self: hasattr(self, "model"))
    @rule()
    def clear_namespace(self) -> None:
        expected = [k for k in list(self.model.entries) if k.startswith("ns:") and self.model.live(k) is not None]
        assert self.run(self.store.clear("ns")) == len(expected)
        for key in [k for k in self.model.entries if k.startswith("ns:")]:
            del self.model.entries[key]

    @invariant()
    def within_bounds_and_same_contents(self) -> None:
        if not hasattr(self, "model"):
            return
        stats = self.store.stats
        if self.model.max_entries is not None:
            assert stats.entries <= self.model.max_entries
        if self.model.max_bytes is not None:
            assert stats.bytes <= self.model.max_bytes
        for key in list(self.model.entries):
            self.model.live(key)
        assert self.run(self.store.size()) == len(self.model.entries)


MemoryStoreMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestMemoryStoreAgainstModel = MemoryStoreMachine.TestCase
