"""`PrefixCache` answers exactly what a naive scan of every stored sequence answers, for the tokens users bring.

Integer token ids (any 64-bit value) are packed and compared as bytes; anything else (block hashes, strings,
floats, integers past 64 bits) switches the cache to comparing the tokens themselves. Either way the match must
be the longest prefix shared with any stored sequence, to the token, by Python's ``==`` on tokens.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from cachepoint.core.prefix import PrefixCache

INT64 = st.integers(-(2**63), 2**63 - 1)
# A few values repeat so that sequences share prefixes; the rest spread over all 64 bits.
IDS = st.one_of(st.sampled_from([0, 1, 255, 256, 257, 50_000, -1, 2**63 - 1, -(2**63)]), INT64)
OTHER_TOKENS = st.one_of(
    st.sampled_from(["tools", "system", "q1", "q2"]),  # the analyzer's block hashes
    st.integers(2**63, 2**64),  # integers that do not fit in 64 bits
    st.sampled_from([1.0, 2.0, 0.5]),  # floats equal to ids (1.0 == 1) and not
    st.booleans(),  # True == 1, False == 0
)


def lcp(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


@st.composite
def related(draw: st.DrawFn, token: st.SearchStrategy[Hashable]) -> list[tuple[Hashable, ...]]:
    """Sequences that share long prefixes, as prompts do: each one a prefix of an earlier one (or of a fresh
    base), then a tail of its own."""
    sequences: list[tuple[Hashable, ...]] = []
    for _ in range(draw(st.integers(1, 12))):
        base = draw(st.sampled_from(sequences)) if sequences and draw(st.booleans()) else ()
        keep = draw(st.integers(0, len(base)))
        tail = draw(st.lists(token, max_size=40))
        sequences.append(tuple(base[:keep]) + tuple(tail))
    return sequences


def check_against_scan(stored: list[tuple[Hashable, ...]], queries: list[tuple[Hashable, ...]]) -> None:
    cache: PrefixCache[int] = PrefixCache()
    for n, seq in enumerate(stored):
        before = cache.peek(seq)
        expected_before = max((lcp(seq, s) for s in stored[:n]), default=0)
        assert before.length == expected_before, (seq, stored[:n])
        assert cache.put(seq, n) == (len(seq) >= 1)
    kept = {seq: n for n, seq in enumerate(stored) if seq}  # later puts of an equal sequence replace earlier
    assert dict(cache.items()) == kept
    for tokens, payload in cache.items():
        assert cache.get(tokens) == payload
    for query in queries:
        match = cache.peek(query)
        expected = max((lcp(query, s) for s in kept), default=0)
        assert match.length == expected, (query, kept)
        assert match.remaining == tuple(query[expected:])
        if expected:
            # The entry answering shares exactly that prefix with the query.
            entry = next(s for s, n in kept.items() if n == match.payload)
            assert lcp(query, entry) == expected
            assert match.entry_length == len(entry)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), stored=related(IDS))
def test_integer_ids_match_the_longest_shared_prefix_exactly(
    data: st.DataObject, stored: list[tuple[Hashable, ...]]
) -> None:
    queries = [
        *stored,
        *(s[:k] for s in stored for k in {0, len(s) // 2, max(len(s) - 1, 0)}),
        *data.draw(related(IDS)),  # new sequences, partly sharing with each other only
        *((*s, data.draw(IDS)) for s in stored),
    ]
    # One token changed anywhere: the match ends exactly there (or later, if another sequence continues).
    for s in stored:
        if s:
            at = data.draw(st.integers(0, len(s) - 1))
            queries.append((*s[:at], data.draw(IDS), *s[at + 1 :]))
    check_against_scan(stored, queries)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), stored=related(st.one_of(IDS, OTHER_TOKENS)))
def test_any_hashable_tokens_match_by_equality(data: st.DataObject, stored: list[tuple[Hashable, ...]]) -> None:
    queries = [*stored, *data.draw(related(st.one_of(IDS, OTHER_TOKENS)))]
    check_against_scan(stored, queries)


def test_the_cache_answers_the_same_before_and_after_other_tokens_arrive() -> None:
    # Integer ids first (packed), then one sequence of strings: every earlier answer stays the same.
    cache: PrefixCache[str] = PrefixCache()
    system = list(range(1000, 1400))
    cache.put([*system, 7, 8, 9], "turn-1")
    cache.put([*system, 7, 5], "turn-1b")
    before = [cache.peek([*system, 7, 8, 1]), cache.peek([*system, 7, 5, 5]), cache.peek([1000, 3])]
    cache.put(["tools", "system"], "blocks")
    after = [cache.peek([*system, 7, 8, 1]), cache.peek([*system, 7, 5, 5]), cache.peek([1000, 3])]
    assert [(m.length, m.payload) for m in after] == [(m.length, m.payload) for m in before]
    assert [(m.length, m.payload) for m in after] == [(402, "turn-1"), (402, "turn-1b"), (1, "turn-1b")]
    # Equal tokens of other types match, as Python's == says: 1000.0 == 1000, True == 1.
    assert cache.peek([1000.0, 1001, 1002.0]).length == 3
    assert sorted(tokens for tokens, _ in cache.items() if tokens[0] != "tools")[0][-1] == 5


def test_ids_at_the_edges_of_64_bits_and_past_them() -> None:
    cache: PrefixCache[str] = PrefixCache()
    low, high = -(2**63), 2**63 - 1
    cache.put([low, high, 0], "edges")
    assert cache.lookup([low, high, 1]).length == 2
    assert cache.lookup([low, high - 1]).length == 1  # differs in the last bit only
    assert cache.lookup([high + 1]).hit is False  # does not fit in 64 bits: compared as itself
    assert cache.lookup([low, high, 0, high + 1]).length == 3
    assert dict(cache.items()) == {(low, high, 0): "edges"}
