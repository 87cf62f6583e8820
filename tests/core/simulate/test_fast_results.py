"""`new_result` and `new_outcome` (the replay's way to make a `SimResult` and a `BreakpointOutcome` without the
dataclass ``__init__``) make exactly what the constructors make: equal, same hash where there is one, same
fields in the same order, and as frozen."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cachepoint.core.simulate.result import BreakpointOutcome, SimResult, new_outcome, new_result

MAYBE_INT = st.none() | st.integers(-1, 10**6)
OUTCOMES = st.tuples(
    st.integers(0, 500),
    st.sampled_from(["5m", "1h", "in_memory"]),
    st.integers(0, 10**6),
    MAYBE_INT,
    st.booleans(),
    st.sampled_from(["", "below_minimum", "covered", "not_written", "caching_off"]),
    MAYBE_INT,
)
RESULTS = st.tuples(
    st.sampled_from(["anthropic", "bedrock", "openai", "vllm"]),
    st.text(max_size=8),
    st.text(max_size=8),
    st.sampled_from(["anthropic", "bedrock", "openai-chat", "openai-responses"]),
    st.sampled_from(["breakpoints", "automatic", "engine"]),
    st.floats(allow_nan=False),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.dictionaries(st.sampled_from(["5m", "1h"]), st.integers(0, 10**6)),
    st.integers(0, 10**5),
    MAYBE_INT,
    st.lists(OUTCOMES.map(lambda o: BreakpointOutcome(*o)), max_size=4).map(tuple),
    st.booleans(),
    st.booleans(),
)


def same(fast: Any, slow: Any) -> None:
    assert fast == slow
    assert type(fast) is type(slow)
    assert list(vars(fast).items()) == list(vars(slow).items())
    assert repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.tokens = 0


@given(OUTCOMES)
def test_new_outcome_is_the_constructors(values: tuple[Any, ...]) -> None:
    fast, slow = new_outcome(*values), BreakpointOutcome(*values)
    same(fast, slow)
    assert hash(fast) == hash(slow)


@given(RESULTS)
def test_new_result_is_the_constructors(values: tuple[Any, ...]) -> None:
    fast, slow = new_result(*values), SimResult(*values)
    same(fast, slow)
    assert (fast.hit, fast.uncached_tokens) == (slow.hit, slow.uncached_tokens)
