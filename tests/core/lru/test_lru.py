"""`LRU`, the bounded memo behind the token counters, the analyzer, the simulator, the prefix cache and the view
builder: it behaves as a plain list kept in order of use does, under any sequence of operations."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachepoint.core.lru import LRU

KEYS = st.sampled_from("abcdefgh")
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), KEYS, st.text(max_size=6)),
        st.tuples(st.just("get"), KEYS, st.none()),
        st.tuples(st.just("peek"), KEYS, st.none()),
        st.tuples(st.just("touch"), KEYS, st.none()),
        st.tuples(st.just("pop"), KEYS, st.none()),
    ),
    max_size=80,
)


def _size(key: str, value: str) -> int:
    return 1 + len(value)


class _Reference:
    """What an LRU means, written the slow and obvious way: a list, least recently used first."""

    def __init__(self, entries: int | None, nbytes: int | None) -> None:
        self.order: list[tuple[str, str]] = []
        self.entries, self.nbytes, self.evictions = entries, nbytes, 0

    def _find(self, key: str) -> int | None:
        return next((i for i, (k, _) in enumerate(self.order) if k == key), None)

    def use(self, key: str) -> str | None:
        i = self._find(key)
        if i is None:
            return None
        self.order.append(self.order.pop(i))
        return self.order[-1][1]

    def put(self, key: str, value: str) -> None:
        i = self._find(key)
        if i is not None:
            self.order.pop(i)
        self.order.append((key, value))
        while (self.entries is not None and len(self.order) > self.entries) or (
            self.nbytes is not None and self.order and sum(_size(k, v) for k, v in self.order) > self.nbytes
        ):
            self.order.pop(0)
            self.evictions += 1


@settings(max_examples=300, deadline=None)
@given(OPS, st.one_of(st.none(), st.integers(0, 5)), st.one_of(st.none(), st.integers(0, 20)))
def test_an_lru_is_a_list_in_order_of_use(
    ops: list[tuple[str, str, str | None]], entries: int | None, nbytes: int | None
) -> None:
    memo: LRU[str, str] = LRU(entries, max_bytes=nbytes, size=_size if nbytes is not None else None)
    model = _Reference(entries, nbytes)
    for op, key, value in ops:
        if op == "put":
            assert value is not None
            memo.put(key, value)
            model.put(key, value)
        elif op == "get":
            assert memo.get(key) == model.use(key)
        elif op == "touch":
            assert memo.touch(key) == (model.use(key) is not None)
        elif op == "peek":
            i = model._find(key)
            assert memo.peek(key) == (model.order[i][1] if i is not None else None)
        else:
            i = model._find(key)
            assert memo.pop(key) == (model.order.pop(i)[1] if i is not None else None)
        assert list(memo.items()) == model.order
        assert memo.evictions == model.evictions
        if nbytes is not None:
            assert memo.bytes == sum(_size(k, v) for k, v in model.order)


def test_a_byte_budget_needs_a_size() -> None:
    with pytest.raises(ValueError, match=r"max_bytes: needs size"):
        LRU(max_bytes=10)
    with pytest.raises(ValueError, match=r"max_entries: expected >= 0"):
        LRU(-1)


def test_threads_sharing_one_never_see_an_error() -> None:
    # The view builder shares its memos between threads without a lock: a race may cost a miss, never a failure.
    memo: LRU[int, int] = LRU(64)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for n in range(20_000):
                key = (n * 7 + seed) % 200
                if memo.get(key) is None:
                    memo.put(key, key)
                memo.touch(key + 1)
                assert memo.peek(key) in (None, key)
        except BaseException as exc:  # reported below, from the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(memo) <= 64
