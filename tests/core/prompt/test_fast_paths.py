"""Each shortcut the view path takes for speed gives exactly what the general code gives.

`ViewBuilder` and the dialects answer the common case (decoded JSON: plain dicts, repeated score tuples, blocks
seen before) without the general machinery. These tests put random request shapes through the fast path and
the general one and require the same answer; `test_builder.py` checks the builder's views against the plain
path on whole sessions.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import FrozenInstanceError, fields, replace
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cachepoint.core.prompt import Request, RequestFormatError, ViewBuilder
from cachepoint.core.prompt.builder import with_messages
from cachepoint.core.prompt.formats import detect_format
from cachepoint.core.prompt.formats.base import _default, dumps, is_mapping, reorder
from cachepoint.core.prompt.model import Block, CacheMarker, Locator, Message, Tool, new_block, new_message
from cachepoint.core.prompt.positions import Position, _message_locator, new_position
from cachepoint.core.tokens import EstimateCounter

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


def outcome(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """``("ok", result)`` or ``("error", message)`` for the parse and encode errors compared here."""
    try:
        return "ok", call(*args, **kwargs)
    except (RequestFormatError, TypeError) as error:
        return "error", f"{type(error).__name__}: {error}"


class Frozen(Mapping[str, Any]):
    """A mapping that is no dict (what an SDK's typed request object may be)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class Sub(dict[str, Any]):
    """A dict subclass: a mapping, though not exactly a dict."""


WRAPPED = (
    JSON
    | JSON.map(lambda v: (v,))
    | st.dictionaries(st.text(max_size=3), JSON, max_size=3).flatmap(
        lambda d: st.sampled_from([d, Frozen(d), MappingProxyType(d), OrderedDict(d), Sub(d), list(d.items())])
    )
)


@settings(max_examples=300)
@given(WRAPPED)
def test_is_mapping_answers_as_the_abc_check_does(value: Any) -> None:
    assert is_mapping(value) == isinstance(value, Mapping)


PROVIDERS = st.sampled_from([None, "anthropic", "openai", "bedrock", "aws.bedrock"])
MODELS = st.sampled_from([None, "claude-sonnet-4-5", "gpt-4.1", "anthropic.claude-3-haiku", "my-finetune", 7])
# Message lists every dialect's detection scores differently: plain text (any format), Anthropic tool blocks,
# OpenAI tool calls and tool messages, Bedrock content members.
MESSAGES = st.sampled_from(
    [
        [{"role": "user", "content": "Hi"}],
        [{"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]}],
        [
            {"role": "user", "content": "Where is it?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function", "function": {}}]},
            {"role": "tool", "tool_call_id": "c", "content": "here"},
        ],
        [{"role": "user", "content": [{"text": "Hi"}, {"cachePoint": {"type": "default"}}]}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(MESSAGES, PROVIDERS, MODELS, st.booleans()), min_size=1, max_size=12))
def test_the_builder_detects_each_request_as_detect_format_does(calls: list[Any]) -> None:
    # The builder remembers its verdict per (scores, provider, model): requests with equal scores but another
    # provider or model id must still get their own verdict, in any order.
    builder = ViewBuilder()
    for messages, provider, model, system in calls:
        payload: dict[str, Any] = {"messages": messages}
        if model is not None:
            payload["model"] = model
        if system:
            payload["system"] = "Be brief."
        want = detect_format(payload, provider=provider)
        got = outcome(builder.parse, payload, provider=provider)
        # The plain parser must fail the same way where the builder fails.
        assert got == outcome(Request.parse, payload, provider=provider)
        if got[0] == "ok":
            assert got[1].format == want


KEYS = st.text(max_size=3) | st.integers(-5, 5) | st.booleans() | st.none()
ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.binary(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(KEYS, inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3).map(MappingProxyType)
    ),
    max_leaves=8,
)


@settings(max_examples=400)
@given(ANY_VALUE | st.dictionaries(st.text(max_size=3), JSON, min_size=2, max_size=4))
@example({"b": 1, "a": [b"\x00", (1, 2)]})
@example({"b": {"d": 1, "c": 2}, "a": "x"})
def test_dumps_writes_what_the_general_encoder_writes(value: Any) -> None:
    # dumps tries plain orjson first (decoded JSON); bytes, tuples, mappings that are no dict and non-string keys
    # go the general way. The bytes are the canonical ones either way, or both refuse the value.
    want = outcome(orjson.dumps, value, default=_default, option=orjson.OPT_NON_STR_KEYS)
    assert outcome(dumps, value) == want


@given(st.integers(0, 300), st.integers(0, 300))
def test_shared_message_locators_equal_new_ones(message: int, index: int) -> None:
    shared = _message_locator(message, index)
    assert shared == Locator("messages", message, index)
    assert hash(shared) == hash(Locator("messages", message, index))
    assert _message_locator(message, index) == shared


def test_the_builders_request_copy_keeps_every_field() -> None:
    # with_messages spells out Request's fields: one added later must be copied too.
    shell = Request(
        format="openai-chat",
        system=(Block.text_block("Be brief."),),
        tools=(Tool.define("lookup", "Look up.", {"type": "object"}),),
        params={"model": "gpt-4.1"},
        automatic=CacheMarker("1h"),
        layout={"keys": ("model", "messages")},
    )
    unset = [f.name for f in fields(Request) if getattr(shell, f.name) == getattr(Request(), f.name)]
    assert unset == ["messages"], f"set a non-default value for {unset} here"
    messages = (Message.user("Hi"),)
    copy = with_messages(shell, messages)
    assert copy == replace(shell, messages=messages)
    assert all(getattr(copy, f.name) is getattr(shell, f.name) for f in fields(Request) if f.name != "messages")


@settings(max_examples=300)
@given(st.lists(JSON, max_size=5))
def test_a_lists_json_is_its_items_json_joined(items: list[Any]) -> None:
    # The builder cuts the last message's JSON out of the whole list's JSON rather than writing it again (a list
    # orjson refuses, such as one holding an int beyond 64 bits, takes the plain path before any cut).
    whole = outcome(orjson.dumps, items)
    if whole[0] == "ok":
        assert whole[1] == b"[" + b",".join(orjson.dumps(item) for item in items) + b"]"
    else:
        assert any(outcome(orjson.dumps, item)[0] == "error" for item in items)


TEXTS = st.text(max_size=6)
CHAT = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": TEXTS})
    | st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant"]),
            "content": st.lists(
                st.fixed_dictionaries(
                    {"type": st.just("text"), "text": TEXTS},
                    optional={"cache_control": st.just({"type": "ephemeral"})},
                ),
                min_size=1,
                max_size=2,
            ),
        }
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(CHAT, min_size=1, max_size=3), st.randoms(use_true_random=False))
def test_the_builder_keys_each_new_message_by_its_own_json(conversations: list[list[Any]], rng: Any) -> None:
    # Sessions growing turn by turn, interleaved: each message the builder remembers is keyed by exactly the JSON
    # of a message it was sent (an off-by-one in the cut would key it by a "," or "]" too), and the views agree
    # with the plain path.
    builder = ViewBuilder(provider="anthropic")
    sent: set[bytes] = set()
    turns = [(c, n) for c in conversations for n in range(1, len(c) + 1)]
    rng.shuffle(turns)
    for conversation, n in sorted(turns, key=lambda t: t[1]):
        payload = orjson.loads(orjson.dumps({"model": "claude-sonnet-4-5", "messages": conversation[:n]}))
        sent.update(orjson.dumps(m) for m in payload["messages"])
        got = builder.view(payload)
        want = Request.parse(payload).positions(provider="anthropic")
        assert got.positions == want.positions
        assert got.request == want.request
    remembered = {key for key, _ in builder._messages.items()}
    assert remembered <= sent


SHORT = st.text(max_size=4)
MARKERS = st.none() | st.builds(CacheMarker, st.none() | st.sampled_from(["5m", "1h"]), st.none() | st.just({"x": 1}))
SECTIONS = st.sampled_from(["tools", "system", "messages"])


def same_object(got: Any, want: Any) -> None:
    assert type(got) is type(want)
    assert got == want
    assert repr(got) == repr(want)
    for f in fields(want):
        assert getattr(got, f.name) is getattr(want, f.name), f.name


@given(
    st.fixed_dictionaries(
        {
            "index": st.integers(0, 500),
            "locator": st.builds(Locator, SECTIONS, st.none() | st.integers(0, 9), st.integers(0, 9)),
            "path": SHORT,
            "section": SECTIONS,
            "layer": SECTIONS,
            "role": st.none() | SHORT,
            "kind": SHORT,
            "type": SHORT,
            "tokens": st.integers(0, 10**6),
            "cumulative_tokens": st.integers(0, 10**7),
            "block_hash": SHORT,
            "prefix_hash": SHORT,
            "lookback_index": st.integers(-1, 500),
            "eligible": st.booleans(),
            "ineligible_reason": st.none() | SHORT,
            "marker": MARKERS,
            "stable": st.booleans(),
            "message_start": st.booleans(),
        }
    )
)
def test_the_position_builder_makes_what_the_constructor_makes(values: dict[str, Any]) -> None:
    # new_position fills each slot with its own setter, skipping the frozen dataclass's __init__.
    assert {f.name for f in fields(Position)} == set(values)
    values = {f.name: values[f.name] for f in fields(Position)}  # the constructor's order, for the positional call
    want = Position(**values)
    same_object(new_position(**values), want)
    same_object(new_position(*values.values()), want)
    assert hash(new_position(**values)) == hash(want)
    with pytest.raises(FrozenInstanceError):
        new_position(**values).tokens = 1  # type: ignore[misc]


BLOCK_DATA = st.dictionaries(SHORT, JSON, max_size=3)


@given(SHORT, BLOCK_DATA, SHORT, MARKERS, st.integers(0, 4))
def test_the_block_builder_makes_what_the_constructor_makes(
    kind: str, data: dict[str, Any], fmt: str, marker: CacheMarker | None, nested: int
) -> None:
    want = Block(kind, data, fmt, marker, nested_markers=nested)
    got = new_block(kind, data, fmt, marker, nested)
    same_object(got, want)
    assert vars(got) == vars(want)
    assert replace(got, stable=True) == replace(want, stable=True)
    with pytest.raises(FrozenInstanceError):
        got.kind = "x"  # type: ignore[misc]


@given(
    st.tuples(
        SHORT,
        st.lists(st.builds(new_block, SHORT, BLOCK_DATA, SHORT), max_size=3).map(tuple),
        st.sampled_from(["list", "string", "none", "item"]),
        st.dictionaries(SHORT, JSON, max_size=2),
        SHORT,
        st.lists(SHORT, max_size=3).map(tuple),
    )
)
def test_the_message_builder_makes_what_the_constructor_makes(fields_in_order: tuple[Any, ...]) -> None:
    role, blocks, form, extra, fmt, keys = fields_in_order
    want = Message(role, blocks, form, extra, fmt, keys)
    got = new_message(role, blocks, form, extra, fmt, keys)
    same_object(got, want)
    assert vars(got) == vars(want)
    with pytest.raises(FrozenInstanceError):
        got.role = "x"  # type: ignore[misc]


@settings(max_examples=300)
@given(
    st.lists(
        st.text(max_size=40) | st.sampled_from(["", "The quick brown fox.", "HTTPServer 12345 \u00e9t\u00e9"]),
        max_size=6,
    )
)
def test_the_estimate_without_the_memo_is_what_the_counter_counts(texts: list[str]) -> None:
    # The builder counts with EstimateCounter.estimate (it remembers block tokens itself); the counter answers
    # from its memo the second time: the same numbers either way.
    counter = EstimateCounter()
    for text in texts + texts:
        assert EstimateCounter.estimate(text) == counter.count(text)


class Doubled:
    """A counter of another kind: the builder must ask it, not the estimator."""

    def count(self, text: str) -> int:
        return 2 * len(text)


class Subclassed(EstimateCounter):
    """An EstimateCounter subclass counting otherwise: asked as given too."""

    def count(self, text: str) -> int:
        return 3 * len(text)


def test_the_builder_counts_with_the_counter_it_was_given() -> None:
    payload = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Hello there, how are you?"}],
    }
    for counter in (EstimateCounter(), Doubled(), Subclassed()):
        got = ViewBuilder(provider="anthropic", counter=counter).view(payload)
        want = Request.parse(payload).positions(provider="anthropic", counter=counter)
        assert [p.tokens for p in got] == [p.tokens for p in want]
        assert got.counter is counter


# --- Request.with_markers / without_markers: only the marked blocks are visited ---------------------------------

MARKERS = st.sampled_from([None, CacheMarker(None), CacheMarker("5m"), CacheMarker("1h")])


@st.composite
def marked_requests(draw: st.DrawFn) -> Request:
    """Requests of random shape with random markers already on some tools and blocks."""

    def block(i: int) -> Block:
        return Block.text_block(f"b{i}").with_cache(draw(MARKERS))

    tools = tuple(
        Tool({"name": f"t{i}", "input_schema": {}}, "anthropic").with_cache(draw(MARKERS))
        for i in range(draw(st.integers(0, 3)))
    )
    system = tuple(block(i) for i in range(draw(st.integers(0, 2))))
    roles = draw(st.lists(st.sampled_from(["user", "assistant"]), max_size=5))
    messages = tuple(Message(role, tuple(block(i) for i in range(draw(st.integers(0, 3))))) for role in roles)
    automatic = draw(st.sampled_from([None, CacheMarker(None)]))
    return Request(tools=tools, system=system, messages=messages, automatic=automatic)


LOCATORS = st.builds(
    Locator,
    st.sampled_from(["tools", "system", "messages", "other"]),
    st.none() | st.integers(-2, 6),
    st.integers(-2, 6),
)


def every_block(request: Request, fn: Callable[[Locator, Any], Any]) -> Request:
    """What `Request.with_markers` did before it visited only the marked blocks: ``fn`` on every block."""
    tools = tuple(fn(Locator("tools", None, i), t) for i, t in enumerate(request.tools))
    system = tuple(fn(Locator("system", None, i), b) for i, b in enumerate(request.system))
    messages = []
    for m, message in enumerate(request.messages):
        blocks = tuple(fn(Locator("messages", m, i), b) for i, b in enumerate(message.blocks))
        changed = any(a is not b for a, b in zip(blocks, message.blocks, strict=True))
        messages.append(replace(message, blocks=blocks) if changed else message)
    return replace(request, tools=tools, system=system, messages=tuple(messages))


@settings(max_examples=300)
@given(marked_requests(), st.dictionaries(LOCATORS, MARKERS, max_size=6))
def test_with_markers_sets_exactly_the_markers_asked_for(request: Request, markers: dict[Locator, Any]) -> None:
    # Locators naming no block of the request (out of range, negative, another section) change nothing.
    expected = every_block(request, lambda loc, item: item.with_cache(markers[loc]) if loc in markers else item)
    got = request.with_markers(markers)
    assert got == expected
    assert got.render() == expected.render()
    untouched = {m for m in range(len(request.messages)) if not any(loc.message == m for loc in markers)}
    assert all(got.messages[m] is request.messages[m] for m in untouched)  # shared, as before


@settings(max_examples=300)
@given(marked_requests())
def test_without_markers_removes_every_marker(request: Request) -> None:
    expected = replace(
        every_block(request, lambda _loc, item: item.with_cache(None) if item.cache is not None else item),
        automatic=None,
    )
    got = request.without_markers()
    assert got == expected
    assert got.marked_locators() == []
    assert [loc for loc, item in request.locators() if item.cache is not None] == request.marked_locators()


@given(
    st.dictionaries(st.sampled_from(["role", "content", "name", "x"]), st.integers(), max_size=4),
    st.permutations(["role", "content", "name", "x"]),
    st.integers(0, 4),
)
def test_reorder_of_a_dict_already_in_order_is_the_same_dict_as_before(
    out: dict[str, Any], order: list[str], size: int
) -> None:
    keys = tuple(order[:size])
    expected = {key: out[key] for key in keys if key in out} | {k: v for k, v in out.items() if k not in keys}
    got = reorder(dict(out), keys)
    assert got == expected
    assert list(got) == list(expected)
