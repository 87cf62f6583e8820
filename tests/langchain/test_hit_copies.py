"""`copier`: every copy equals what was stored and shares nothing mutable with it or with another copy, whatever
JSON-like values an answer holds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation
from pydantic import BaseModel

from cachepoint.langchain.hit_copies import copier
from langchain_support import mutable_parts

leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
json_values = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
)
json_objects = st.dictionaries(st.text(max_size=3), json_values, max_size=3)


@settings(max_examples=150, deadline=None)
@given(
    content=st.text(max_size=5) | st.lists(json_objects | st.text(max_size=5), max_size=3),
    metadata=json_objects,
    kwargs=json_objects,
    info=st.none() | json_objects,
    extra=json_objects,
)
def test_a_copy_equals_the_stored_answer_and_shares_nothing_mutable(
    content: Any, metadata: dict[str, Any], kwargs: dict[str, Any], info: dict[str, Any] | None, extra: Any
) -> None:
    message = AIMessage(content, response_metadata=metadata, additional_kwargs=kwargs, custom=extra)
    stored = ChatGeneration(message=message, generation_info=info)
    as_stored = stored.model_dump()
    fresh = copier(stored)
    one, two = fresh(), fresh()
    assert type(one) is ChatGeneration
    assert type(one.message) is AIMessage
    assert one == two == stored
    assert one.model_dump() == as_stored
    assert one.model_fields_set == stored.model_fields_set
    for a, b in ((one, two), (one, stored), (two, stored)):
        assert not mutable_parts(a).keys() & mutable_parts(b).keys()


def test_a_plain_generation_and_a_pydantic_it_does_not_know_are_copied_too() -> None:
    class Odd(BaseModel):
        items: list[int]

        def __getstate__(self) -> dict[Any, Any]:  # a pydantic whose state has other parts
            return {**super().__getstate__(), "more": 1}

    odd = Odd(items=[1])
    copy = copier(odd)()
    assert copy == odd
    assert copy.items is not odd.items
    stored = Generation(text="a", generation_info={"k": [1]})
    fresh = copier(stored)()
    assert fresh == stored
    assert fresh.generation_info is not None
    assert fresh.generation_info["k"] is not stored.generation_info["k"]  # type: ignore[index]
